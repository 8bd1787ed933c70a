// llamaref convert — rewrite any checkpoint llamaref reads as GGUF, safetensors or llama2.c.
#include <cstdio>
#include <filesystem>

#include <llamaref/formats/load.hpp>
#include <llamaref/formats/write_gguf.hpp>
#include <llamaref/formats/write_llama2c.hpp>
#include <llamaref/formats/write_safetensors.hpp>
#include <llamaref/tokenizer/gguf_vocab.hpp>

#include "commands.hpp"
#include "common.hpp"

namespace llamaref::cli {

int cmd_convert(int argc, char** argv) {
    ArgParser args(
        "convert", "-m MODEL --out OUT.gguf|OUT/model.safetensors|OUT.bin [--type f32|f16|bf16|q8_0] [-z TOKENIZER]",
        "Write the model in another format. .gguf: llama.cpp's layout, with the vocabulary inside (-z, else a\n"
        "source GGUF's, else a SentencePiece tokenizer found beside MODEL), so that llama.cpp can run it;\n"
        ".safetensors: a Hugging Face folder (config.json is written beside the file); .bin: llama2.c\n"
        "(version 1 for f32, version 2 for q8_0).");
    args.option("-m,--model", "MODEL", "input checkpoint (any format llamaref reads)")
        .option("--out", "FILE", "output file; its extension picks the format")
        .option("--type", "TYPE", "weight dtype: f32, f16, bf16 or q8_0", "f32")
        .option("-z,--tokenizer", "FILE",
                ".gguf only: the vocabulary to write (SentencePiece: tokenizer.model, tokenizer.json, llama2.c "
                "tokenizer.bin)");
    args.parse(argc, argv);
    const std::string in = model_path(args), out = args.str("--out"), type = args.str("--type");
    DType dt;
    if (type == "f32")
        dt = DType::F32;
    else if (type == "f16")
        dt = DType::F16;
    else if (type == "bf16")
        dt = DType::BF16;
    else if (type == "q8_0")
        dt = DType::Q8_0;
    else
        throw UsageError("llamaref convert: --type must be f32, f16, bf16 or q8_0, got '" + type + "'");

    const std::string ext = std::filesystem::path(out).extension().string();
    if (args.given("-z") && ext != ".gguf")
        throw UsageError("llamaref convert: -z writes a vocabulary into a .gguf file; " + ext + " files carry none");
    auto model = load_model(in);
    if (ext == ".gguf") {
        std::vector<std::pair<std::string, GgufValue>> extra;
        std::string vocab = "no vocabulary (give one with -z)";
        if (args.given("-z")) {
            extra = gguf_vocab_metadata(load_tokenizer(args, in, model->config.vocab_size, /*decodes=*/true));
            vocab = "the vocabulary of " + args.str("-z");
        } else if (detect_format(in) == "gguf") {
            extra = gguf_tokenizer_metadata(GgufFile(in));
            vocab = extra.empty() ? vocab : "the source GGUF's vocabulary";
        } else {
            try {  // a SentencePiece tokenizer beside the model, of the model's size
                const Tokenizer tok = llamaref::load_tokenizer(in, model->config.vocab_size);
                if (tok.vocab_size() == model->config.vocab_size) {
                    extra = gguf_vocab_metadata(tok);
                    vocab = "the vocabulary found beside " + in;
                }
            } catch (const Error&) {}  // none there, or one GGUF cannot hold yet: the file says "none"
        }
        write_gguf(*model, out, dt, extra);
        std::fprintf(stderr, "vocabulary: %s\n", vocab.c_str());
    } else if (ext == ".safetensors") {
        if (std::filesystem::path(out).filename() != "model.safetensors")
            throw UsageError("llamaref convert: a Hugging Face folder's weights must be named model.safetensors");
        write_hf(*model, std::filesystem::path(out).parent_path().string(), dt);
    } else if (ext == ".bin") {
        if (dt != DType::F32 && dt != DType::Q8_0)
            throw UsageError("llamaref convert: llama2.c files hold f32 (version 1) or q8_0 (version 2)");
        write_llama2c(*model, out, dt == DType::F32 ? 1 : 2);
    } else {
        throw UsageError("llamaref convert: --out must end in .gguf, .safetensors or .bin");
    }
    std::fprintf(stderr, "wrote %s (%s, %s)\n", out.c_str(), ext.c_str() + 1, type.c_str());
    return 0;
}

}  // namespace llamaref::cli
