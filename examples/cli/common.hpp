// examples/cli/common.hpp — what several subcommands share: finding the model and its tokenizer.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <llamaref/formats/load.hpp>
#include <llamaref/tokenizer/sentencepiece.hpp>

#include "args.hpp"

namespace llamaref::cli {

namespace fs = std::filesystem;

// The default model of the main job: stories260K (Karpathy's tinyllamas), from the shared test
// data when present, else from ~/.cache/llamaref, downloaded there once with curl.
inline std::string default_model() {
    const std::string rel = "models/stories260K/stories260K.bin";
    if (const char* d = std::getenv("LLAMAREF_TEST_DATA"); d && *d && fs::exists(fs::path(d) / rel))
        return (fs::path(d) / rel).string();
    if (fs::exists(fs::path("..") / "shared" / rel)) return (fs::path("..") / "shared" / rel).string();

    const char* home = std::getenv("HOME");
    const fs::path cache = fs::path(home && *home ? home : "/tmp") / ".cache" / "llamaref" / "stories260K";
    const fs::path model = cache / "stories260K.bin", tok = cache / "tok512.bin";
    if (fs::exists(model) && fs::exists(tok)) return model.string();
    const std::string base = "https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/";
    std::fprintf(stderr, "llamaref: no model given (-m) and stories260K is not in %s;\n"
                         "          downloading it once from %s (about 1 MB) ...\n", cache.c_str(), base.c_str());
    fs::create_directories(cache);
    for (const char* f : {"tok512.bin", "stories260K.bin"}) {
        const fs::path dst = cache / f, part = cache / (std::string(f) + ".part");
        const std::string cmd = "curl -fsSL -o '" + part.string() + "' '" + base + f + "'";
        if (std::system(cmd.c_str()) != 0) {
            fs::remove(part);
            fail("could not download ", base, f, " with curl; download stories260K.bin and tok512.bin yourself and "
                 "pass -m FILE -z FILE");
        }
        fs::rename(part, dst);
    }
    return model.string();
}

inline std::string model_path(const ArgParser& args) {
    return args.given("-m") ? args.str("-m") : default_model();
}

// A tokenizer file beside the model: tokenizer.bin, or tok<V>.bin (llama2.c's custom vocabularies).
inline std::optional<std::string> find_tokenizer(const std::string& model, int vocab_size) {
    const fs::path dir = fs::is_directory(model) ? fs::path(model) : fs::path(model).parent_path();
    for (const std::string& name : {std::string("tokenizer.bin"), "tok" + std::to_string(vocab_size) + ".bin"})
        if (fs::exists(dir / name)) return (dir / name).string();
    return std::nullopt;
}

inline SentencePieceTokenizer load_tokenizer(const ArgParser& args, const std::string& model, int vocab_size) {
    std::string path;
    if (args.given("-z")) {
        path = args.str("-z");
    } else if (auto found = find_tokenizer(model, vocab_size)) {
        path = *found;
    } else {
        fail("no tokenizer found beside ", model, " (looked for tokenizer.bin and tok", vocab_size,
             ".bin); pass one with -z");
    }
    return SentencePieceTokenizer::from_llama2c(path, vocab_size);
}

}  // namespace llamaref::cli
