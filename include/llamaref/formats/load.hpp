// llamaref/formats/load.hpp — open whatever checkpoint a path names.
//
//   a folder with config.json          Hugging Face (safetensors)          formats/hf.hpp
//   a folder with params.json          Meta original (consolidated.NN.pth) formats/meta.hpp
//   a .gguf file                       GGUF (llama.cpp)                    formats/gguf_llama.hpp
//   a .bin file                        llama2.c checkpoint, versions 0-2   formats/llama2c.hpp
#pragma once

#include <filesystem>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "gguf_llama.hpp"
#include "hf.hpp"
#include "llama2c.hpp"
#include "meta.hpp"

namespace llamaref {

// Which reader load_model() uses for `path`: "hf", "meta", "gguf" or "llama2c" (throws if none).
inline std::string detect_format(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path, ec)) fail(path, ": no such file or folder");
    if (fs::is_directory(path, ec)) {
        if (fs::exists(fs::path(path) / "config.json")) return "hf";
        if (fs::exists(fs::path(path) / "params.json")) return "meta";
        fail(path, ": folder has neither config.json (Hugging Face) nor params.json (Meta)");
    }
    const std::string ext = fs::path(path).extension().string();
    if (ext == ".gguf") return "gguf";
    if (ext == ".bin") return "llama2c";
    fail(path, ": unknown model format (expected a .gguf or llama2.c .bin file, or a Hugging Face or Meta folder)");
}

// Run a reader; only llamaref::Error leaves, and it names `path`. The readers check sizes and
// types at the root (core/limits.hpp, core/json.hpp); this is the safety net for what slips
// through: an allocation that fails, a foreign exception from a library.
template <class F>
auto guarded_read(const std::string& path, F&& read) -> decltype(read()) {
    try {
        return read();
    } catch (const Error&) { throw; } catch (const std::bad_alloc&) {
        fail(path, ": out of memory while reading (a size in the file is larger than this machine can hold)");
    } catch (const std::length_error& e) {
        fail(path, ": a size in the file is too large (", e.what(), ")");
    } catch (const nlohmann::json::exception& e) { fail(path, ": ", e.what()); }
}

inline std::shared_ptr<Model> load_model(const std::string& path) {
    const std::string f = detect_format(path);
    return guarded_read(path, [&] {
        if (f == "hf") return load_hf(path);
        if (f == "meta") return load_meta(path);
        if (f == "gguf") return load_gguf(path);
        return load_llama2c(path);
    });
}

}  // namespace llamaref
