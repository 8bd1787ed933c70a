// llamaref info — what a checkpoint holds: detected format, configuration, dtypes, size.
#include <cstdio>

#include <llamaref/formats/gguf.hpp>
#include <llamaref/formats/load.hpp>
#include <llamaref/formats/summary.hpp>

#include "commands.hpp"
#include "common.hpp"

namespace llamaref::cli {

int cmd_info(int argc, char** argv) {
    ArgParser args("info", "-m MODEL", "Print the detected format, configuration, dtype per tensor kind, parameter count and bytes.");
    args.option("-m,--model", "MODEL", "a .gguf or llama2.c .bin file, or a Hugging Face or Meta folder");
    args.parse(argc, argv);
    const std::string path = model_path(args);
    auto model = load_model(path);
    std::fputs(summary_text(*model).c_str(), stdout);
    if (detect_format(path) == "gguf") {
        GgufFile g(path);
        if (g.has("tokenizer.ggml.tokens"))
            std::printf("vocabulary:  %zu tokens (%s) in the file\n", g.string_array("tokenizer.ggml.tokens").size(),
                        g.has("tokenizer.ggml.model") ? g.get_string("tokenizer.ggml.model").c_str() : "?");
    }
    return 0;
}

}  // namespace llamaref::cli
