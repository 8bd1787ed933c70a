// llamaref logits — the raw logits [T, V] of given token ids, as a float32 .npy file.
#include <cstdio>

#include <xtensor/xnpy.hpp>

#include <llamaref/model/transformer.hpp>
#include <llamaref/sampling/sampler.hpp>

#include "commands.hpp"
#include "common.hpp"
#include "device.hpp"

namespace llamaref::cli {

int cmd_logits(int argc, char** argv) {
    ArgParser args(
        "logits", "-m MODEL (--tokens 1,2,3 | -p TEXT) [--out FILE.npy] [--mode prefill|decode] [--top K]",
        "Run exactly these token ids (no BOS is added; -p TEXT is tokenized with BOS) and write the float32\n"
        "logits [T, V]. prefill: all tokens in one forward call; decode: one at a time through the KV cache.\n"
        "--top K prints the K most likely next tokens after the last position.\n"
        "--device cuda computes them on the GPU (cuda::Runner::forward) and writes the same file.\n"
        "--ranks N computes them over N processes in Meta's model-parallel layout (MPI; docs/parallel.md);\n"
        "with --device cuda, a GPU per rank and NCCL's collectives.");
    args.option("-m,--model", "MODEL", model_help())
        .option("-z,--tokenizer", "FILE", "tokenizer for -p and for printing pieces (default: beside MODEL)")
        .option("--tokens", "IDS", "comma-separated token ids")
        .option("-p,--prompt", "TEXT", "text to tokenize (with BOS) instead of --tokens")
        .option("--out", "FILE", "output .npy file")
        .option("--top", "K", "print the K most likely next tokens with probabilities")
        .option("--mode", "MODE", "prefill or decode", "prefill")
        .option("-c,--ctx-size", "N", "context length (default: the model's)");
    add_cpu_options(args);
    add_device_option(args);
    add_ranks_option(args);
    args.parse(argc, argv);
    check_ranks(args, "logits");
    const Device device = device_from(args, "logits");
    if (args.given("--tokens") == args.given("-p"))
        throw UsageError("llamaref logits: give exactly one of --tokens and -p");
    if (!args.given("--out") && !args.given("--top"))
        throw UsageError("llamaref logits: nothing to do: give --out FILE.npy and/or --top K");
    const std::string mode = args.str("--mode");
    if (mode != "prefill" && mode != "decode")
        throw UsageError("llamaref logits: --mode must be prefill or decode, got '" + mode + "'");
    const CpuOptions cpu = cpu_options_from(args, "logits");
    EngineOptions eo = engine_options_from(args, "logits", cpu);
    if (device == Device::cuda) cpu.require_cuda_compatible("logits");

    const std::string path = model_path(args);
    const CliModel model = load_cli_model(path);  // the whole model, or this rank's slice (--ranks)
    std::optional<Tokenizer> tok;                 // for -p, and for showing pieces with --top when one is found
    if (args.given("-p") || args.given("-z")) {
        tok = load_tokenizer(args, path, model.config().vocab_size);
    } else if (args.given("--top")) {
        try {
            tok = load_tokenizer(args, path, model.config().vocab_size);
        } catch (const Error&) {}
    }
    const std::vector<int> tokens =
        args.given("-p") ? tok->encode(args.str("-p"), true, false) : args.int_list("--tokens");
    const int ctx = args.given("-c") ? int(args.integer("-c", 1, 1 << 30)) : 0;  // 0: the model's
    const std::size_t V = model.config().vocab_size;
    Tensor2 logits = Tensor2::from_shape({tokens.size(), V});
    // The engine checks ids and context as Transformer does; its KV cache grows as used.
    eo.context = ctx;
    const auto engine = make_engine(device, model, eo);
    if (mode == "prefill") {
        const std::vector<float> all = engine->forward(tokens, 0);  // [T, V]
        std::copy(all.begin(), all.end(), logits.begin());
    } else {
        for (std::size_t t = 0; t < tokens.size(); ++t) {
            const std::span<const float> row = engine->forward_last(std::span(tokens).subspan(t, 1), int(t));  // [V]
            std::copy(row.begin(), row.end(), &logits(t, 0));
        }
    }
    if (args.given("--out") && is_rank0()) {  // --ranks: every rank has the logits; rank 0 writes them
        const std::string out = args.str("--out");
        try {
            xt::dump_npy(out, logits);
        } catch (const std::exception& e) { fail(out, ": cannot write: ", e.what()); }
        std::fprintf(stderr, "wrote %s: float32 [%zu, %zu]\n", out.c_str(), logits.shape(0), logits.shape(1));
    }
    if (args.given("--top")) {  // softmax of the last row, most likely first
        const auto k = std::size_t(args.integer("--top", 1, 1 << 30));
        SamplingParams greedy_view;                           // temperature 1, no cutoffs: the model's own distribution
        const float* last = &logits(logits.shape(0) - 1, 0);  // [V]
        const auto dist = sampling_distribution(std::vector<float>(last, last + V), {}, greedy_view);
        std::printf("%5s %8s %10s %10s  %s\n", "rank", "id", "prob", "logit", "piece");
        for (std::size_t i = 0; i < std::min(k, dist.size()); ++i) {
            const int id = dist[i].id;
            std::string piece = tok ? tok->piece(id) : "";
            for (auto& ch : piece)
                if (ch == '\n') ch = ' ';
            std::printf("%5zu %8d %10.6f %10.4f  '%s'\n", i + 1, id, dist[i].p, logits(logits.shape(0) - 1, id),
                        piece.c_str());
        }
    }
    return 0;
}

}  // namespace llamaref::cli
