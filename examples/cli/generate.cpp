// llamaref generate — text generation with the sampler chain, streamed to stdout.
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <llamaref/generate.hpp>
#include <llamaref/sampling/sampler.hpp>

#include "commands.hpp"
#include "common.hpp"

namespace llamaref::cli {

namespace {

std::string read_text_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail(path, ": cannot open prompt file");
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

// llama2.c's safe_printf: a piece that is one unprintable byte (a raw byte token) is not printed.
bool llama2c_prints(const std::string& piece) {
    if (piece.size() != 1) return !piece.empty();
    const unsigned char b = piece[0];
    return std::isprint(b) || std::isspace(b);
}

}  // namespace

int cmd_generate(int argc, char** argv) {
    ArgParser args("generate", "[-m MODEL] [-z TOKENIZER] [-p PROMPT | -f FILE] [-n N] [sampling flags]",
                   "Generate text after PROMPT. Sampling chain: penalties -> temperature -> top-k -> top-p -> min-p\n"
                   "(see include/llamaref/sampling/sampler.hpp); --temp 0 is greedy.\n"
                   "--rng llama2c reproduces llama2.c's run: its xorshift64* generator and top-p variant, -n counting\n"
                   "all positions including the prompt (llama2.c's -n steps), defaults --temp 1 --top-p 0.9.\n"
                   "Without -m, runs the stories260K model (from the shared test data, or downloaded once).");
    args.option("-m,--model", "MODEL", "llama2.c .bin file or Hugging Face folder")
        .option("-z,--tokenizer", "FILE", "tokenizer.model, tokenizer.json or tokenizer.bin (default: the model's own)")
        .option("-p,--prompt", "TEXT", "prompt text", "")
        .option("-f,--file", "FILE", "read the prompt from FILE")
        .option("-n,--n-predict", "N", "number of tokens to generate", "256")
        .option("--temp", "T", "temperature, 0 = greedy", "0.8 (llama2c: 1.0)")
        .option("--top-k", "K", "keep the K most likely tokens, 0 = off", "40 (llama2c: off)")
        .option("--top-p", "P", "nucleus: keep tokens until the probability before them exceeds P, 1 = off", "0.95 (llama2c: 0.9)")
        .option("--min-p", "P", "keep tokens with probability >= P * max, 0 = off", "0.05 (llama2c: off)")
        .option("--repeat-penalty", "R", "divide positive / multiply negative logits of recent tokens", "1.0")
        .option("--repeat-last-n", "N", "window of recent tokens for the penalties", "64")
        .option("--frequency-penalty", "F", "subtract F x count of each recent token", "0")
        .option("--presence-penalty", "P", "subtract P from each recent token", "0")
        .option("-s,--seed", "SEED", "random seed (default: from the clock, printed)")
        .option("--rng", "KIND", "default (mt19937-64) or llama2c", "default")
        .option("-c,--ctx-size", "N", "context length (default: the model's)")
        .option("-t,--threads", "N", "threads", "1");
    args.parse(argc, argv);

    const std::string rng_kind = args.str("--rng");
    if (rng_kind != "default" && rng_kind != "llama2c")
        throw UsageError("llamaref generate: --rng must be default or llama2c, got '" + rng_kind + "'");
    const bool llama2c = rng_kind == "llama2c";
    auto real = [&](const char* flag, double fallback, double lo, double hi) {
        return args.given(flag) ? args.real(flag, lo, hi) : fallback;
    };
    SamplingParams sp;
    sp.temperature = real("--temp", llama2c ? 1.0 : 0.8, 0, 1e9);
    sp.top_k = args.given("--top-k") ? int(args.integer("--top-k", 0, 1 << 30)) : (llama2c ? 0 : 40);
    sp.top_p = real("--top-p", llama2c ? 0.9 : 0.95, 0, 1);
    sp.min_p = real("--min-p", llama2c ? 0.0 : 0.05, 0, 1);
    sp.repeat_penalty = real("--repeat-penalty", 1.0, 0, 1e9);
    sp.penalty_last_n = int(args.integer("--repeat-last-n", 0, 1 << 30));
    sp.frequency_penalty = real("--frequency-penalty", 0.0, -1e9, 1e9);
    sp.presence_penalty = real("--presence-penalty", 0.0, -1e9, 1e9);
    if (llama2c && sp.top_p == 0) sp.top_p = 1;  // llama2.c: top-p 0 means off
    sp.validate();
    if (llama2c && (sp.top_k != 0 || sp.min_p != 0 || sp.repeat_penalty != 1 || sp.frequency_penalty != 0 ||
                    sp.presence_penalty != 0))
        throw UsageError("llamaref generate: --rng llama2c supports only --temp and --top-p (as llama2.c does)");
    const uint64_t seed = args.given("-s") ? uint64_t(args.integer("-s", 0, INT64_MAX))
                                           : uint64_t(std::chrono::system_clock::now().time_since_epoch().count());
    if (!args.given("-s")) std::fprintf(stderr, "seed: %llu\n", (unsigned long long)seed);
    int n = int(args.integer("-n", 0, 1 << 30));
    set_num_threads(int(args.integer("-t", 1, 1024)));

    const std::string path = model_path(args);
    auto model = std::shared_ptr<const Model>(load_model(path));
    const int ctx = args.given("-c") ? int(args.integer("-c", 1, 1 << 30)) : model->config.max_seq_len;
    const auto tok = load_tokenizer(args, path, model->config.vocab_size);
    Transformer tf(model, ctx);

    const std::string text = args.given("-f") ? read_text_file(args.str("-f")) : args.str("-p");
    const std::vector<int> prompt = tok.encode(text, /*bos=*/true, /*eos=*/false);
    if (int(prompt.size()) > ctx)
        fail("the prompt is ", prompt.size(), " tokens, longer than the context of ", ctx, " tokens");

    // Stop tokens: the family's; llama2.c's models end a story with BOS, and llama2.c stops only on BOS.
    std::vector<int> stop = stop_tokens(tok);
    if (model->format.rfind("llama2c", 0) == 0) stop.push_back(tok.bos_id());
    if (llama2c) {
        stop = {tok.bos_id()};
        if (n == 0 || n > ctx) n = ctx;                    // llama2.c clamps steps to seq_len
        n = std::max(0, n - int(prompt.size()) + 1);       // steps count the prompt's positions
    }

    Mt19937Rng mt(seed);
    Llama2cRng xorshift(seed);
    Sampler sampler(sp, mt);
    auto pick = [&](const float* logits, std::size_t V, std::span<const int> history) {
        if (llama2c) return sample_llama2c(std::vector<float>(logits, logits + V), float(sp.temperature), float(sp.top_p), xorshift);
        return sampler.next(logits, V, history);
    };

    Utf8Stream stream;
    int prev = prompt[0];
    auto emit = [&](int id) {
        const std::string piece = tok.decode(prev, id);
        prev = id;
        if (llama2c && !llama2c_prints(piece)) return;
        std::fputs(stream.push(piece).c_str(), stdout);
        std::fflush(stdout);
    };
    for (std::size_t i = 1; i < prompt.size(); ++i) emit(prompt[i]);  // echo the prompt

    GenerationStats st;
    generate(tf, prompt, n, stop, pick, emit, &st);
    std::fputs((stream.flush() + "\n").c_str(), stdout);
    if (st.context_full) std::fprintf(stderr, "[stopped: the context of %d tokens is full]\n", ctx);
    std::fprintf(stderr, "prompt: %zu tokens, %.1f tok/s | generated: %zu tokens, %.1f tok/s | first token after %.1f ms\n",
                 st.prompt_tokens, st.prompt_tokens / std::max(st.prefill_seconds, 1e-9), st.generated_tokens,
                 st.generated_tokens / std::max(st.decode_seconds, 1e-9), st.time_to_first_token * 1e3);
    return 0;
}

}  // namespace llamaref::cli
