// Where the tests find shared data: $LLAMAREF_TEST_DATA, else ../shared beside the repository.
// A test that needs a file calls LLAMAREF_REQUIRE_DATA(path): when the file is absent the test
// prints "SKIPPED: ..." (CTest reports it as skipped) and returns.
#pragma once

#include <unistd.h>
#include <cstdlib>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace llamaref::test {

inline std::filesystem::path data_dir() {
    if (const char* env = std::getenv("LLAMAREF_TEST_DATA"); env && *env) return env;
    return std::filesystem::path(LLAMAREF_SOURCE_DIR) / ".." / "shared";
}

inline std::string data(const std::string& rel) { return (data_dir() / rel).string(); }

// A scratch folder for files a test writes (removed and re-created per name). The process id is
// part of the name: CTest runs test cases as parallel processes that must not share folders.
// The folders are removed when the test program exits.
inline std::filesystem::path scratch(const std::string& name) {
    struct Cleanup {
        std::vector<std::filesystem::path> dirs;
        ~Cleanup() {
            std::error_code ec;
            for (const auto& d : dirs) std::filesystem::remove_all(d, ec);
        }
    };
    static Cleanup cleanup;
    auto p = std::filesystem::temp_directory_path() / ("llamaref-test-" + std::to_string(::getpid()) + "-" + name);
    cleanup.dirs.push_back(p);
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    return p;
}

// Whole files as bytes, and little-endian integers as bytes, for tests that build broken files.
inline std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}
inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes.data(), std::streamsize(bytes.size()));
}
inline std::string u64(uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }

// Whitespace-separated integers of a text file (e.g. expected/greedy_n256_ids.txt).
inline std::vector<int> read_ints(const std::string& path) {
    std::ifstream f(path);
    std::vector<int> v;
    for (int x; f >> x;) v.push_back(x);
    return v;
}

}  // namespace llamaref::test

#define LLAMAREF_REQUIRE_DATA(rel)                                                                          \
    do {                                                                                                    \
        if (!std::filesystem::exists(::llamaref::test::data(rel))) {                                        \
            WARN("SKIPPED: test data " << ::llamaref::test::data(rel)                                       \
                                       << " not found (set LLAMAREF_TEST_DATA to the shared data folder)"); \
            return;                                                                                         \
        }                                                                                                   \
    } while (0)
