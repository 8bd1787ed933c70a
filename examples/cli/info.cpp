// llamaref info — what a checkpoint holds: detected format, configuration, dtypes, size.
#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include <llamaref/formats/gguf.hpp>
#include <llamaref/formats/load.hpp>
#include <llamaref/formats/meta.hpp>
#include <llamaref/model_parallel/partition.hpp>

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

// --ranks N: what each rank of Meta's model-parallel layout holds and sends (model_parallel/partition.hpp).
static void print_ranks(const ModelConfig& c, int ranks, DType dtype, int context) {
    const EmbeddingSplit split = meta_embedding_split(c);
    const Partition p(c, 0, ranks, split), one(c, 0, 1, split);
    const RankFootprint f = rank_footprint(p, dtype, DType::BF16), whole = rank_footprint(one, dtype, DType::BF16);
    const RankFootprint f32 = rank_footprint(p, dtype, DType::F32);
    const double GiB = double(1 << 30);
    std::printf("model parallel over %d ranks (Meta's layout; the embedding split by %s):\n", ranks,
                embedding_split_name(split));
    std::printf("  per rank:  %zu of %d query heads, %zu of %d KV heads, %zu of %d FFN units, %zu of %d output rows\n",
                p.q_heads().size(), c.n_heads, p.kv_heads().size(), c.n_kv_heads, p.ffn_units().size(), c.hidden_dim,
                p.vocab().size(), c.vocab_size);
    std::printf("  weights:   %.2f GiB per rank in %s (the whole model: %.2f GiB)\n", double(f.weight_bytes) / GiB,
                std::string(dtype_name(dtype)).c_str(), double(whole.weight_bytes) / GiB);
    std::printf(
        "  KV cache:  %.1f KiB per position per rank in bf16 (%.1f KiB in f32, as llamaref keeps it): "
        "%.2f GiB (%.2f GiB) at %d positions\n",
        double(f.kv_bytes_per_position) / 1024, double(f32.kv_bytes_per_position) / 1024,
        double(f.kv_bytes_per_position) * context / GiB, double(f32.kv_bytes_per_position) * context / GiB, context);
    std::printf(
        "  per token: %d all-reduces of %d floats (2 per block: %.1f KiB per block), the embedding's %s, "
        "an all-gather of %zu logits per rank\n",
        2 * c.n_layers, c.dim, 2.0 * c.dim * 4 / 1024,
        split == EmbeddingSplit::vocab
            ? ("all-reduce of " + std::to_string(c.dim) + " floats").c_str()
            : ("all-gather of " + std::to_string(f.embedding_floats) + " floats per rank").c_str(),
        f.logits_floats);
}

int cmd_info(int argc, char** argv) {
    ArgParser args("info", "-m MODEL [--ranks N]",
                   "Print the detected format, configuration, dtype per tensor kind, parameter count and bytes.");
    args.option("-m,--model", "MODEL", model_help("stories260K, if it is already on this machine"));
    args.option("--tensors", "", "GGUF: also list every tensor with its ggml type, shape and bits per weight");
    args.option("--ranks", "N",
                "what each of N model-parallel ranks holds: weights, KV cache, bytes sent per token (MODEL may be "
                "a Meta params.json alone: its weights counted in bf16)");
    args.option("-c,--ctx-size", "N", "--ranks: the KV cache's positions (default: the model's context)");
    args.parse(argc, argv);
    const std::string path = args.given("-m") ? args.str("-m") : default_model(/*download=*/false);
    const int ranks = args.given("--ranks") ? int(args.integer("--ranks", 1, 4096)) : 0;
    auto context = [&](const ModelConfig& c) {
        return args.given("-c") ? int(args.integer("-c", 1, 1 << 30)) : c.max_seq_len;
    };
    if (path.ends_with(".json")) {  // a Meta params.json: the configuration only (real sizes without the weights)
        const ModelConfig c = parse_meta_params(read_json_file(path), path);
        in_context(path + ": ", [&] { c.validate(); });
        std::printf("path:        %s\nformat:      meta params.json (no weights)\nconfig:      %s\n", path.c_str(),
                    c.describe().c_str());
        if (ranks) print_ranks(c, ranks, DType::BF16, context(c));
        return 0;
    }
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
    if (ranks) print_ranks(model->config, ranks, model->weights.layers.at(0).wq.dtype, context(model->config));
    if (gguf) {
        GgufFile g(path);
        print_gguf_types(g, args.has("--tensors"));
        print_vocabulary(g);
    }
    return 0;
}

}  // namespace llamaref::cli
