// Where the tests find shared data: $LLAMAREF_TEST_DATA, else ../shared beside the repository.
// A test that needs a file calls LLAMAREF_REQUIRE_DATA(path): when the file is absent the test
// prints "SKIPPED: ..." (CTest reports it as skipped) and returns.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

namespace llamaref::test {

inline std::filesystem::path data_dir() {
    if (const char* env = std::getenv("LLAMAREF_TEST_DATA"); env && *env) return env;
    return std::filesystem::path(LLAMAREF_SOURCE_DIR) / ".." / "shared";
}

inline std::string data(const std::string& rel) { return (data_dir() / rel).string(); }

// A scratch folder for files a test writes (removed and re-created per name).
inline std::filesystem::path scratch(const std::string& name) {
    auto p = std::filesystem::temp_directory_path() / ("llamaref-test-" + name);
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    return p;
}

}  // namespace llamaref::test

#define LLAMAREF_REQUIRE_DATA(rel)                                                                       \
    do {                                                                                                 \
        if (!std::filesystem::exists(::llamaref::test::data(rel))) {                                     \
            WARN("SKIPPED: test data " << ::llamaref::test::data(rel)                                    \
                                       << " not found (set LLAMAREF_TEST_DATA to the shared data folder)"); \
            return;                                                                                      \
        }                                                                                                \
    } while (0)
