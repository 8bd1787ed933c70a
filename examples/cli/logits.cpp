// llamaref logits — the raw logits [T, V] of given token ids, as a float32 .npy file.
#include <cstdio>

#include <xtensor/xnpy.hpp>

#include <llamaref/model/transformer.hpp>

#include "commands.hpp"
#include "common.hpp"

namespace llamaref::cli {

int cmd_logits(int argc, char** argv) {
    ArgParser args("logits", "-m MODEL --tokens 1,2,3 --out FILE.npy [--mode prefill|decode]",
                   "Run exactly these token ids (no BOS is added) and write the float32 logits [T, V].\n"
                   "prefill: all tokens in one forward call; decode: one at a time through the KV cache.");
    args.option("-m,--model", "MODEL", "llama2.c .bin file or Hugging Face folder")
        .option("--tokens", "IDS", "comma-separated token ids")
        .option("--out", "FILE", "output .npy file")
        .option("--mode", "MODE", "prefill or decode", "prefill")
        .option("-c,--ctx-size", "N", "context length (default: the model's)")
        .option("-t,--threads", "N", "threads", "1");
    args.parse(argc, argv);
    const auto tokens = args.int_list("--tokens");
    const std::string out = args.str("--out"), mode = args.str("--mode");
    if (mode != "prefill" && mode != "decode")
        throw UsageError("llamaref logits: --mode must be prefill or decode, got '" + mode + "'");
    set_num_threads(int(args.integer("-t", 1, 1024)));

    auto model = std::shared_ptr<const Model>(load_model(model_path(args)));
    Transformer tf(model, args.given("-c") ? int(args.integer("-c", 1, 1 << 30)) : 0);
    Tensor2 logits;
    if (mode == "prefill") {
        logits = tf.forward(tokens, 0);
    } else {
        logits = Tensor2::from_shape({tokens.size(), std::size_t(model->config.vocab_size)});
        for (std::size_t t = 0; t < tokens.size(); ++t) {
            Tensor2 row = tf.forward(std::span(tokens).subspan(t, 1), int(t));
            std::copy(row.begin(), row.end(), &logits(t, 0));
        }
    }
    try {
        xt::dump_npy(out, logits);
    } catch (const std::exception& e) {
        fail(out, ": cannot write: ", e.what());
    }
    std::fprintf(stderr, "wrote %s: float32 [%zu, %zu]\n", out.c_str(), logits.shape(0), logits.shape(1));
    return 0;
}

}  // namespace llamaref::cli
