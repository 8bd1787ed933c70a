// examples/cli/common.hpp — what several subcommands share: finding the model and its tokenizer.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include <llamaref/cpu/backend.hpp>
#include <llamaref/formats/load.hpp>
#include <llamaref/model/transformer.hpp>
#include <llamaref/sampling/sampler.hpp>
#include <llamaref/tokenizer/chat_format.hpp>
#include <llamaref/tokenizer/tokenizer.hpp>

#include "args.hpp"

namespace llamaref::cli {

namespace fs = std::filesystem;

// The default model of the main job: stories260K (Karpathy's tinyllamas), from the shared test
// data when present, else from ~/.cache/llamaref, downloaded there once with curl.
inline std::string default_model(bool download = true) {
    const std::string rel = "models/stories260K/stories260K.bin";
    if (const char* d = std::getenv("LLAMAREF_TEST_DATA"); d && *d && fs::exists(fs::path(d) / rel))
        return (fs::path(d) / rel).string();
    if (fs::exists(fs::path("..") / "shared" / rel)) return (fs::path("..") / "shared" / rel).string();

    const char* home = std::getenv("HOME");
    const fs::path cache = fs::path(home && *home ? home : "/tmp") / ".cache" / "llamaref" / "stories260K";
    const fs::path model = cache / "stories260K.bin", tok = cache / "tok512.bin";
    if (fs::exists(model) && fs::exists(tok)) return model.string();
    if (!download)
        throw UsageError(
            "no model given (-m) and stories260K, the default, is not on this machine yet (in ../shared, "
            "$LLAMAREF_TEST_DATA or " +
            cache.string() + "): give -m MODEL");
    const std::string base = "https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/";
    std::fprintf(stderr,
                 "llamaref: no model given (-m) and stories260K is not in %s;\n"
                 "          downloading it once from %s (about 1 MB) ...\n",
                 cache.c_str(), base.c_str());
    fs::create_directories(cache);
    for (const char* f : {"tok512.bin", "stories260K.bin"}) {
        const fs::path dst = cache / f, part = cache / (std::string(f) + ".part");
        const std::string cmd = "curl -fsSL -o '" + part.string() + "' '" + base + f + "'";
        if (std::system(cmd.c_str()) != 0) {
            fs::remove(part);
            fail("could not download ", base, f,
                 " with curl; download stories260K.bin and tok512.bin yourself and "
                 "pass -m FILE -z FILE");
        }
        fs::rename(part, dst);
    }
    return model.string();
}

inline std::string model_path(const ArgParser& args) { return args.given("-m") ? args.str("-m") : default_model(); }

// -m's help line, the same in every command that runs a model.
inline std::string model_help(const std::string& fallback = "stories260K, downloaded once if it is not here") {
    return "a .gguf or llama2.c .bin file, or a Hugging Face or Meta folder (default: " + fallback + ")";
}

// The model's tokenizer: -z (a tokenizer file, or a model whose tokenizer to use), else the
// vocabulary inside a .gguf, else the tokenizer file beside the model (tokenizer/tokenizer.hpp).
// It may not have more tokens than the model; with `decodes` (generate, chat: every id the model
// can produce must become text) not fewer either, so a mismatch stops the run before it starts.
inline Tokenizer load_tokenizer(const ArgParser& args, const std::string& model, int vocab_size, bool decodes = false) {
    const std::string path = args.given("-z") ? args.str("-z") : model;
    std::optional<Tokenizer> tok;
    try {
        tok.emplace(llamaref::load_tokenizer(path, vocab_size));  // GGUF vocabularies included
    } catch (const Error& e) {
        if (args.given("-z")) throw;  // else the model brought none: say how to give one
        fail(e.what(),
             "; give the tokenizer with -z FILE (tokenizer.model, tokenizer.json, a llama2.c "
             "tokenizer.bin or a .gguf with a vocabulary)");
    }
    if (tok->vocab_size() > vocab_size)
        fail("the tokenizer has ", tok->vocab_size(), " tokens but the model only ", vocab_size,
             " (a tokenizer of another model?)");
    if (decodes && tok->vocab_size() < vocab_size)
        fail("the tokenizer has ", tok->vocab_size(), " tokens but the model ", vocab_size,
             ": ids it cannot turn into text could be generated (a tokenizer of another model?)");
    return std::move(*tok);
}

// --- sampling flags, shared by generate and chat ------------------------------------------

// llama.cpp's defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, no penalties.
inline SamplingParams llama_cpp_sampling_defaults() {
    SamplingParams p;
    p.temperature = 0.8, p.top_k = 40, p.top_p = 0.95, p.min_p = 0.05;
    return p;
}

inline void add_sampling_options(ArgParser& args, const std::string& note = "") {
    const SamplingParams d = llama_cpp_sampling_defaults();
    auto dflt = [&](double v) {
        std::ostringstream o;
        o << v << note;
        return o.str();
    };
    args.option("--temp", "T", "temperature, 0 = greedy", dflt(d.temperature))
        .option("--top-k", "K", "keep the K most likely tokens, 0 = off", dflt(d.top_k))
        .option("--top-p", "P", "nucleus: keep tokens until the probability before them exceeds P, 1 = off",
                dflt(d.top_p))
        .option("--min-p", "P", "keep tokens with probability >= P * max, 0 = off", dflt(d.min_p))
        .option("--repeat-penalty", "R", "divide positive / multiply negative logits of recent tokens", "1")
        .option("--repeat-last-n", "N", "window of recent tokens for the penalties", "64")
        .option("--frequency-penalty", "F", "subtract F x count of each recent token", "0")
        .option("--presence-penalty", "P", "subtract P from each recent token", "0")
        .option("-s,--seed", "SEED", "random seed (default: from the clock, printed)");
}

// The flags that were given, over `defaults`, each checked against the range SamplingParams::validate
// allows, so that a bad value names its flag. top_p_zero_is_off: llama2.c's reading of --top-p 0.
inline SamplingParams sampling_from(const ArgParser& args, SamplingParams p, bool top_p_zero_is_off = false) {
    if (args.given("--temp")) p.temperature = args.real("--temp", 0, 1e9);
    if (args.given("--top-k")) p.top_k = int(args.integer("--top-k", 0, 1 << 30));
    if (args.given("--top-p")) {
        p.top_p = args.real("--top-p", 0, 1, /*lo_open=*/!top_p_zero_is_off);
        if (p.top_p == 0) p.top_p = 1;  // (top_p_zero_is_off)
    }
    if (args.given("--min-p")) p.min_p = args.real("--min-p", 0, 1);
    if (args.given("--repeat-penalty")) p.repeat_penalty = args.real("--repeat-penalty", 0, 1e9, /*lo_open=*/true);
    if (args.given("--repeat-last-n")) p.penalty_last_n = int(args.integer("--repeat-last-n", 0, 1 << 30));
    if (args.given("--frequency-penalty")) p.frequency_penalty = args.real("--frequency-penalty", -1e9, 1e9);
    if (args.given("--presence-penalty")) p.presence_penalty = args.real("--presence-penalty", -1e9, 1e9);
    return p;
}

// -t N, --backend KIND, -ctk / -ctv TYPE and --no-mmap: how the CPU runs the model, for every command that runs one.
inline void add_cpu_options(ArgParser& args) {
    args.option("-t,--threads", "N",
                "CPU threads (default: the number of cores, " + std::to_string(default_num_threads()) + " here)")
        .option("--backend", "KIND", "fast (the SIMD kernels of include/llamaref/cpu) or ref (the reference functions)",
                "fast")
        .option("-ctk,--cache-type-k", "TYPE",
                "precision of the KV cache's keys: f32 (exact), f16 (llama.cpp's default) or bf16", "f32")
        .option("-ctv,--cache-type-v", "TYPE", "precision of the KV cache's values: f32, f16 or bf16", "f32")
        .option("--no-mmap", "",
                "read the model file into memory instead of mapping it (faster on some machines; "
                "core/mmap.hpp)")
        .option("--llamacpp-rounding", "",
                "round activations as llama.cpp does before each weight product "
                "(docs/quantization.md; BF16 prefill then multiplies bf16 by bf16)");
}

// What add_cpu_options' flags ask for.
struct CpuOptions {
    Backend backend = cpu::fast_backend;
    DType cache_k = DType::F32, cache_v = DType::F32;  // model/kv_cache.hpp: round_kv
    bool llamacpp_rounding = false;                    // core/quant_activations.hpp

    void apply(Transformer& tf) const {
        tf.set_backend(backend);
        tf.set_kv_cache_types(cache_k, cache_v);
        tf.set_llamacpp_rounding(llamacpp_rounding);
    }
    // The CUDA runner keeps its cache in float32 only and computes with float32 activations.
    void require_cuda_compatible(const std::string& command) const {
        if (cache_k != DType::F32 || cache_v != DType::F32)
            throw UsageError("llamaref " + command +
                             ": -ctk / -ctv f16 or bf16 are CPU options; --device cuda keeps the KV cache in f32");
        if (llamacpp_rounding)
            throw UsageError("llamaref " + command +
                             ": --llamacpp-rounding is a CPU option; --device cuda computes with float32 activations");
    }
};

// Sets the thread count and how files are loaded; returns the rest of add_cpu_options' flags.
inline CpuOptions cpu_options_from(const ArgParser& args, const std::string& command) {
    set_num_threads(args.given("-t") ? int(args.integer("-t", 1, 1024)) : default_num_threads());
    set_file_loading(args.given("--no-mmap") ? FileLoading::read : FileLoading::mapped);
    CpuOptions o;
    const std::string b = args.str("--backend");
    if (b == "ref")
        o.backend = reference_backend;
    else if (b != "fast")
        throw UsageError("llamaref " + command + ": --backend must be fast or ref, got '" + b + "'");
    auto cache_type = [&](const std::string& flag) {
        const std::string t = args.str(flag);
        if (t == "f32") return DType::F32;
        if (t == "f16") return DType::F16;
        if (t == "bf16") return DType::BF16;
        throw UsageError("llamaref " + command + ": " + flag + " must be f32, f16 or bf16, got '" + t + "'");
    };
    o.cache_k = cache_type("--cache-type-k");
    o.cache_v = cache_type("--cache-type-v");
    o.llamacpp_rounding = args.has("--llamacpp-rounding");
    return o;
}

// -s SEED, or one from the clock (see print_seed).
inline uint64_t seed_from(const ArgParser& args) {
    if (args.given("-s")) return uint64_t(args.integer("-s", 0, INT64_MAX));
    return uint64_t(std::chrono::system_clock::now().time_since_epoch().count());
}

// A seed taken from the clock, printed on stderr so the run can be repeated. Called once the
// model and tokenizer have loaded, so that bad input stays one `error:` line on stderr.
inline void print_seed(const ArgParser& args, uint64_t seed) {
    if (!args.given("-s")) std::fprintf(stderr, "seed: %llu\n", (unsigned long long)seed);
}

// The tokens that end generation for this tokenizer: EOS (Llama 2), end_of_text / eot / eom (Llama 3).
inline std::vector<int> stop_tokens(const Tokenizer& tok) {
    return tok.visit([](const auto& t) { return llamaref::stop_tokens(t); });
}

}  // namespace llamaref::cli
