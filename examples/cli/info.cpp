// llamaref info — what a checkpoint holds: detected format, configuration, dtypes, size.
#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include <llamaref/formats/gguf.hpp>
#include <llamaref/formats/load.hpp>

#include "commands.hpp"
#include "common.hpp"

namespace llamaref::cli {

// Format, configuration, dtypes per kind of tensor, parameters and bytes (model/weights.hpp: summarize).
static std::string summary_text(const Model& m) {
    const ModelSummary s = summarize(m);
    const ModelConfig& c = m.config;
    std::ostringstream o;
    o << "path:        " << m.path << "\n"
      << "format:      " << m.format << "\n"
      << "config:      " << c.describe() << "\n";
    for (const auto& [kind, set] : s.dtypes) {
        o << "  " << kind << ":" << std::string(12 - std::min<std::size_t>(11, kind.size()), ' ');
        bool first = true;
        for (const auto& d : set) o << (first ? "" : ", ") << d, first = false;
        o << "\n";
    }
    o << "parameters:  " << s.parameters << (c.tied_embeddings ? " (output tied to the embeddings)" : "") << "\n"
      << "bytes:       " << s.bytes << " (" << double(s.bytes) / (1 << 20) << " MiB of weights, "
      << (s.parameters ? 8.0 * double(s.bytes) / double(s.parameters) : 0.0) << " bits per weight)\n";
    return o.str();
}

// The ggml type of the tensors of a GGUF file, counted per type (and listed one by one when
// `all`): printed before the model is loaded, so a file with types llamaref cannot compute with
// still shows what it holds.
static void print_gguf_types(const GgufFile& g, bool all) {
    std::map<std::string, std::pair<const GgmlTypeInfo*, std::size_t>> per_type;  // name -> type, tensors
    auto bits = [](const GgmlTypeInfo* info) { return 8.0 * info->block_bytes / info->block_values; };
    for (const auto& t : g.tensors()) {
        const GgmlTypeInfo* info = ggml_type_info(t.type);  // known: the reader checked it
        auto& [type, count] = per_type[info->name];
        type = info;
        ++count;
        if (all) {
            std::string shape;
            for (std::size_t d : t.shape) shape += (shape.empty() ? "" : "x") + std::to_string(d);
            std::printf("tensor %-32s %-7s %-14s %.5g bits/weight%s\n", t.name.c_str(), info->name, shape.c_str(),
                        bits(info), info->dtype ? "" : "  (not computed by llamaref)");
        }
    }
    std::printf("ggml types:  ");
    bool first = true;
    for (const auto& [name, tc] : per_type) {
        std::printf("%s%s × %zu (%.5g bits/weight)", first ? "" : ", ", name.c_str(), tc.second, bits(tc.first));
        first = false;
    }
    std::printf("\n");
}

// The vocabulary a GGUF file carries (tokenizer.ggml.*), if any.
static void print_vocabulary(const GgufFile& g) {
    if (g.has("tokenizer.ggml.tokens"))
        std::printf("vocabulary:  %zu tokens (%s) in the file\n", g.string_array("tokenizer.ggml.tokens").size(),
                    g.has("tokenizer.ggml.model") ? g.get_string("tokenizer.ggml.model").c_str() : "?");
    else
        std::printf("vocabulary:  none in the file (give a tokenizer with -z)\n");
}

int cmd_info(int argc, char** argv) {
    ArgParser args("info", "-m MODEL",
                   "Print the detected format, configuration, dtype per tensor kind, parameter count and bytes.");
    args.option("-m,--model", "MODEL", model_help("stories260K, if it is already on this machine"));
    args.option("--tensors", "", "GGUF: also list every tensor with its ggml type, shape and bits per weight");
    args.parse(argc, argv);
    const std::string path = args.given("-m") ? args.str("-m") : default_model(/*download=*/false);
    const bool gguf = detect_format(path) == "gguf";
    if (gguf) {  // a vocabulary-only GGUF (llama.cpp's ggml-vocab-*.gguf) is a tokenizer, not a model
        const GgufFile g(path);
        if (g.tensors().empty()) {
            std::printf("format:      gguf, a vocabulary without weights (use it as a tokenizer: -z %s)\n",
                        path.c_str());
            print_vocabulary(g);
            return 0;
        }
    }
    std::shared_ptr<const Model> model;
    try {
        model = load_model(path);
    } catch (const Error&) {  // a file llamaref cannot run may still say what it holds
        if (gguf) print_gguf_types(GgufFile(path), args.has("--tensors"));
        throw;
    }
    std::fputs(summary_text(*model).c_str(), stdout);
    if (gguf) {
        GgufFile g(path);
        print_gguf_types(g, args.has("--tensors"));
        print_vocabulary(g);
    }
    return 0;
}

}  // namespace llamaref::cli
