// llamaref/formats/load.hpp — open whatever checkpoint a path names.
//
//   a folder with config.json          Hugging Face (safetensors)         formats/hf.hpp
//   a .bin file                        llama2.c checkpoint                formats/llama2c.hpp
//   a folder with params.json, .gguf   Meta original / GGUF: the formats issue (clear error now)
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "hf.hpp"
#include "llama2c.hpp"

namespace llamaref {

inline std::shared_ptr<Model> load_model(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path, ec)) fail(path, ": no such file or folder");
    if (fs::is_directory(path, ec)) {
        if (fs::exists(fs::path(path) / "config.json")) return load_hf(path);
        if (fs::exists(fs::path(path) / "params.json"))
            fail(path, ": Meta checkpoints (params.json + consolidated.*.pth) are not supported by this build yet");
        fail(path, ": folder has neither config.json (Hugging Face) nor params.json (Meta)");
    }
    const std::string ext = fs::path(path).extension().string();
    if (ext == ".bin") return load_llama2c(path);
    if (ext == ".gguf") fail(path, ": GGUF files are not supported by this build yet");
    fail(path, ": unknown model format (expected a .bin llama2.c file or a Hugging Face folder)");
}

}  // namespace llamaref
