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
#include "device.hpp"

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
    ArgParser args(
        "generate", "[-m MODEL] [-z TOKENIZER] [-p PROMPT | -f FILE] [-n N] [sampling flags]",
        "Generate text after PROMPT. Sampling chain: penalties -> temperature -> top-k -> top-p -> min-p\n"
        "(see include/llamaref/sampling/sampler.hpp); --temp 0 is greedy.\n"
        "--rng llama2c reproduces llama2.c's run: its xorshift64* generator and top-p variant, -n counting\n"
        "all positions including the prompt (llama2.c's -n steps), defaults --temp 1 --top-p 0.9.\n"
        "Without -m, runs the stories260K model (from the shared test data, or downloaded once).\n"
        "--device cuda samples on the GPU (same seed, same coins as on the CPU); with penalties or\n"
        "--rng llama2c the GPU computes the logits and the CPU samples.\n"
        "--ranks N splits the model over N processes as Meta's model parallel does (MPI; docs/parallel.md);\n"
        "with --device cuda each rank runs on a GPU of its own and the ranks meet in NCCL's collectives.");
    args.option("-m,--model", "MODEL", model_help())
        .option("-z,--tokenizer", "FILE", "tokenizer.model, tokenizer.json or tokenizer.bin (default: the model's own)")
        .option("-p,--prompt", "TEXT", "prompt text", "")
        .option("-f,--file", "FILE", "read the prompt from FILE")
        .option("-n,--n-predict", "N", "number of tokens to generate", "256");
    add_sampling_options(args, " (llama2c: see above)");
    args.option("--rng", "KIND", "default (mt19937-64) or llama2c", "default")
        .option("-c,--ctx-size", "N", "context length (default: the model's)");
    add_cpu_options(args);
    add_device_option(args);
    add_ranks_option(args);
    args.parse(argc, argv);
    check_ranks(args, "generate");
    const Device device = device_from(args, "generate");

    const std::string rng_kind = args.str("--rng");
    if (rng_kind != "default" && rng_kind != "llama2c")
        throw UsageError("llamaref generate: --rng must be default or llama2c, got '" + rng_kind + "'");
    const bool llama2c = rng_kind == "llama2c";
    SamplingParams llama2c_defaults;  // llama2.c's run: temperature 1, top-p 0.9, nothing else
    llama2c_defaults.top_p = 0.9;
    SamplingParams sp = sampling_from(args, llama2c ? llama2c_defaults : llama_cpp_sampling_defaults(),
                                      /*top_p_zero_is_off=*/llama2c);  // as in llama2.c
    sp.validate();
    if (llama2c && (sp.top_k != 0 || sp.min_p != 0 || sp.repeat_penalty != 1 || sp.frequency_penalty != 0 ||
                    sp.presence_penalty != 0))
        throw UsageError("llamaref generate: --rng llama2c supports only --temp and --top-p (as llama2.c does)");
    const uint64_t seed = seed_from(args);
    int n = int(args.integer("-n", 0, 1 << 30));
    const CpuOptions cpu = cpu_options_from(args, "generate");
    EngineOptions eo = engine_options_from(args, "generate", cpu);
    if (device == Device::cuda) cpu.require_cuda_compatible("generate");

    const std::string path = model_path(args);
    const CliModel model = load_cli_model(path);  // the whole model, or this rank's slice (--ranks)
    const int ctx = args.given("-c") ? int(args.integer("-c", 1, 1 << 30)) : model.config().max_seq_len;
    const auto tok = load_tokenizer(args, path, model.config().vocab_size, /*decodes=*/true);

    const std::string text = args.given("-f") ? read_text_file(args.str("-f")) : args.str("-p");
    const std::vector<int> prompt = tok.encode(text, /*bos=*/true, /*eos=*/false);
    if (int(prompt.size()) > ctx)
        fail("the prompt is ", prompt.size(), " tokens, longer than the context of ", ctx, " tokens");
    print_seed(args, seed);  // only now: bad input above is one error line

    // Stop tokens: the family's; llama2.c's models end a story with BOS, and llama2.c stops only on BOS.
    std::vector<int> stop = stop_tokens(tok);
    if (model.format().rfind("llama2c", 0) == 0) stop.push_back(tok.bos_id());
    if (llama2c) {
        stop = {tok.bos_id()};
        if (n == 0 || n > ctx) n = ctx;               // llama2.c clamps steps to seq_len
        n = std::max(0, n - int(prompt.size()) + 1);  // steps count the prompt's positions
    }

    Mt19937Rng mt(seed);
    Llama2cRng xorshift(seed);
    Sampler sampler(sp, mt);
    auto pick = [&](const float* logits, std::size_t V, std::span<const int> history) {
        if (llama2c)
            return sample_llama2c(std::vector<float>(logits, logits + V), float(sp.temperature), float(sp.top_p),
                                  xorshift);
        return sampler.next(logits, V, history);
    };

    Utf8Stream stream;
    int prev = prompt[0];
    bool line_open = false;  // the text printed so far does not end in a newline
    auto print = [&](const std::string& bytes) {
        if (bytes.empty()) return;
        std::fputs(bytes.c_str(), stdout);
        std::fflush(stdout);
        line_open = bytes.back() != '\n';
    };
    auto emit = [&](int id) {
        const std::string piece = tok.decode(prev, id);
        prev = id;
        if (llama2c && !llama2c_prints(piece)) return;
        print(stream.push(piece));
    };
    for (std::size_t i = 1; i < prompt.size(); ++i) emit(prompt[i]);  // echo the prompt

    // One step: the engine's own sampler where it has one for these settings (the GPU's, same seed
    // and coins as the CPU's: Sampler::next draws one coin per token when it samples, none when
    // greedy), else the logits [V] of the last position through the sampler chain here.
    eo.context = ctx;
    const auto engine = make_engine(device, model, eo);
    const bool engine_samples = !llama2c && engine->samples(sp);
    GenerationStep step = [&](std::span<const int> tokens, int pos, std::span<const int> history) {
        if (n <= 0) return (engine->forward_last(tokens, pos), -1);  // the prompt runs; nothing to pick
        if (engine_samples) return engine->next_token(tokens, pos, sp, sp.temperature > 0 ? mt.coin() : 0.0);
        const std::span<const float> logits = engine->forward_last(tokens, pos);
        return engine->agree(pick(logits.data(), logits.size(), history));  // --ranks: rank 0's token
    };
    GenerationStats st;
    generate_steps(step, ctx, prompt, n, stop, emit, &st);
    // The statistics go to stderr, often the same file or terminal: the text ends its line first
    // (flushed, since stdout into a file is buffered and stderr is not).
    print(stream.flush());
    if (line_open) print("\n");
    if (st.context_full) std::fprintf(stderr, "[stopped: the context of %d tokens is full]\n", ctx);
    std::fprintf(stderr,
                 "prompt: %zu tokens, %.1f tok/s | generated: %zu tokens, %.1f tok/s | first token after %.1f ms\n",
                 st.prompt_tokens, double(st.prompt_tokens) / std::max(st.prefill_seconds, 1e-9), st.generated_tokens,
                 double(st.generated_tokens) / std::max(st.decode_seconds, 1e-9), st.time_to_first_token * 1e3);
    return 0;
}

}  // namespace llamaref::cli
