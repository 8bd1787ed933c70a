// llamaref convert — rewrite any checkpoint llamaref reads as GGUF, safetensors or llama2.c.
#include <cstdio>
#include <filesystem>

#include <llamaref/formats/load.hpp>
#include <llamaref/formats/write_gguf.hpp>
#include <llamaref/formats/write_llama2c.hpp>
#include <llamaref/formats/write_safetensors.hpp>

#include "commands.hpp"
#include "common.hpp"

namespace llamaref::cli {

int cmd_convert(int argc, char** argv) {
    ArgParser args("convert", "-m MODEL --out OUT.gguf|OUT/model.safetensors|OUT.bin [--type f32|f16|bf16|q8_0]",
                   "Write the model in another format. .gguf: llama.cpp's layout (a source GGUF's tokenizer is kept);\n"
                   ".safetensors: a Hugging Face folder (config.json is written beside the file); .bin: llama2.c\n"
                   "(version 1 for f32, version 2 for q8_0).");
    args.option("-m,--model", "MODEL", "input checkpoint (any format llamaref reads)")
        .option("--out", "FILE", "output file; its extension picks the format")
        .option("--type", "TYPE", "weight dtype: f32, f16, bf16 or q8_0", "f32");
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

    auto model = load_model(in);
    const std::string ext = std::filesystem::path(out).extension().string();
    if (ext == ".gguf") {
        std::vector<std::pair<std::string, GgufValue>> extra;
        if (detect_format(in) == "gguf") extra = gguf_tokenizer_metadata(GgufFile(in));
        write_gguf(*model, out, dt, extra);
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
