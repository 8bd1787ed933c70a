// examples/cli/common.hpp — what several subcommands share: finding the model and its tokenizer.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <llamaref/formats/load.hpp>
#include <llamaref/tokenizer/chat_format.hpp>
#include <llamaref/tokenizer/gguf_vocab.hpp>
#include <llamaref/tokenizer/tokenizer.hpp>

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

// The model's tokenizer: -z (a tokenizer file, or a model whose tokenizer to use), else the
// vocabulary inside a .gguf, else the tokenizer file beside the model (tokenizer/tokenizer.hpp).
inline Tokenizer load_tokenizer(const ArgParser& args, const std::string& model, int vocab_size) {
    const std::string path = args.given("-z") ? args.str("-z") : model;
    Tokenizer tok = fs::path(path).extension() == ".gguf" ? tokenizer_from_gguf(GgufFile(path))
                                                          : llamaref::load_tokenizer(path, vocab_size);
    if (tok.vocab_size() > vocab_size)
        fail("the tokenizer has ", tok.vocab_size(), " tokens but the model only ", vocab_size,
             " (a tokenizer of another model?)");
    return tok;
}

// The tokens that end generation for this tokenizer: EOS (Llama 2), end_of_text / eot / eom (Llama 3).
inline std::vector<int> stop_tokens(const Tokenizer& tok) {
    return tok.visit([](const auto& t) { return llamaref::stop_tokens(t); });
}

}  // namespace llamaref::cli
