// tests/fuzz/fuzz_common.hpp — what every libFuzzer harness in tests/fuzz/ shares.
//
// The readers take paths, so each harness writes the input bytes to a file in a folder of its
// own process (/tmp/llamaref-fuzz-<pid>/, removed at exit) and calls the reader on it. The
// contract under test (issue 11): a hostile file is a llamaref::Error, nothing else. So
// `only_errors` catches llamaref::Error and nothing more; any other exception is reported
// with its message and aborts, which libFuzzer records as a finding — as it does a crash, a
// sanitizer report, a time-out (-timeout) or memory over -rss_limit_mb / -malloc_limit_mb.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <typeinfo>

#include <llamaref/core/error.hpp>

namespace llamaref::fuzz {

// This process's scratch folder, created on first use and removed when the process exits.
inline const std::filesystem::path& scratch_dir() {
    struct Dir {
        std::filesystem::path path;
        Dir() : path(std::filesystem::temp_directory_path() / ("llamaref-fuzz-" + std::to_string(::getpid()))) {
            std::filesystem::create_directories(path);
        }
        ~Dir() {
            std::error_code ec;
            std::filesystem::remove_all(path, ec);
        }
    };
    static Dir dir;
    return dir.path;
}

// A sub-folder of the scratch folder (e.g. a model folder holding config.json + weights).
inline std::filesystem::path scratch_subdir(const std::string& name) {
    auto p = scratch_dir() / name;
    std::filesystem::create_directories(p);
    return p;
}

inline void write_bytes(const std::filesystem::path& path, const void* data, std::size_t size) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(static_cast<const char*>(data), std::streamsize(size));
    f.close();
    if (!f) {
        std::fprintf(stderr, "fuzz harness: cannot write %s\n", path.c_str());
        std::abort();
    }
}

// Writes the fuzzer's input to `name` inside `dir` (default: the scratch folder) and returns the path.
inline std::string input_file(const uint8_t* data, std::size_t size, const std::string& name,
                              const std::filesystem::path& dir = scratch_dir()) {
    const auto path = dir / name;
    write_bytes(path, data, size);
    return path.string();
}

// Runs f(); a llamaref::Error is the expected outcome of a bad file, any other exception a finding.
template <class F>
void only_errors(const char* what, F&& f) {
    try {
        f();
    } catch (const llamaref::Error&) {
        // a clear error: what a hostile file must produce
    } catch (const std::exception& e) {
        std::fprintf(stderr, "FINDING: %s let a foreign exception escape: %s: %s\n", what, typeid(e).name(), e.what());
        std::abort();
    } catch (...) {
        std::fprintf(stderr, "FINDING: %s let a non-std exception escape\n", what);
        std::abort();
    }
}

}  // namespace llamaref::fuzz
