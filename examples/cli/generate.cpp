// llamaref generate — greedy text generation, streamed to stdout.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include <llamaref/core/ops.hpp>
#include <llamaref/model/transformer.hpp>

#include "commands.hpp"
#include "common.hpp"

namespace llamaref::cli {

int cmd_generate(int argc, char** argv) {
    ArgParser args("generate", "[-m MODEL] [-z TOKENIZER] [-p PROMPT] [-n N] [--temp 0]",
                   "Generate text from PROMPT (after BOS) by picking the most likely token each step.\n"
                   "Without -m, runs the stories260K model (from the shared test data, or downloaded once).");
    args.option("-m,--model", "MODEL", "llama2.c .bin file or Hugging Face folder")
        .option("-z,--tokenizer", "FILE", "llama2.c tokenizer.bin (default: tokenizer.bin or tok<V>.bin beside MODEL)")
        .option("-p,--prompt", "TEXT", "prompt text", "")
        .option("-n,--n-predict", "N", "number of tokens to generate", "256")
        .option("--temp", "T", "temperature; 0 = greedy (the only mode of this build)", "0")
        .option("-c,--ctx-size", "N", "context length (default: the model's)")
        .option("-t,--threads", "N", "threads", "1");
    args.parse(argc, argv);
    const int n = int(args.integer("-n", 0, 1 << 30));
    if (args.real("--temp", 0, 1e6) != 0.0)
        throw UsageError("llamaref generate: only --temp 0 (greedy decoding) is implemented in this build");
    set_num_threads(int(args.integer("-t", 1, 1024)));

    const std::string path = model_path(args);
    auto model = std::shared_ptr<const Model>(load_model(path));
    const int ctx = args.given("-c") ? int(args.integer("-c", 1, 1 << 30)) : model->config.max_seq_len;
    const auto tok = load_tokenizer(args, path, model->config.vocab_size);
    Transformer tf(model, ctx);

    // Stop tokens: EOS; llama2.c's models also end a story with BOS (as llama2.c's run.c does).
    std::vector<int> stop{tok.eos_id};
    if (model->format.rfind("llama2c", 0) == 0) stop.push_back(tok.bos_id);

    const std::vector<int> prompt = tok.encode(args.str("-p"), /*bos=*/true, /*eos=*/false);
    if (int(prompt.size()) > ctx)
        fail("the prompt is ", prompt.size(), " tokens, longer than the context of ", ctx, " tokens");

    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    int prev = prompt[0];
    for (std::size_t i = 1; i < prompt.size(); ++i) {
        std::fputs(tok.decode(prev, prompt[i]).c_str(), stdout);
        prev = prompt[i];
    }
    std::fflush(stdout);

    Tensor2 logits = tf.forward(prompt, 0);
    const auto t1 = clock::now();
    int pos = int(prompt.size()), generated = 0;
    const std::size_t V = logits.shape(1);
    while (generated < n) {
        const int next = int(argmax(&logits(logits.shape(0) - 1, 0), V));
        if (std::find(stop.begin(), stop.end(), next) != stop.end()) break;
        std::fputs(tok.decode(prev, next).c_str(), stdout);
        std::fflush(stdout);
        prev = next;
        if (++generated == n) break;
        if (pos >= ctx) {
            std::fprintf(stderr, "\n[context full: %d tokens; stopping]\n", ctx);
            break;
        }
        const int one[1] = {next};
        logits = tf.forward(one, pos++);
    }
    std::fputs("\n", stdout);
    const auto t2 = clock::now();
    const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
    const double decode_s = std::chrono::duration<double>(t2 - t1).count();
    std::fprintf(stderr, "prompt: %zu tokens (%.1f tok/s); generated: %d tokens (%.1f tok/s)\n", prompt.size(),
                 prompt.size() / std::max(prefill_s, 1e-9), generated, generated / std::max(decode_s, 1e-9));
    return 0;
}

}  // namespace llamaref::cli
