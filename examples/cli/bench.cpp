// llamaref bench — prefill and decode speed of a model, and how close decode comes to the memory
// bandwidth of the machine.
//
// Per repetition, from an empty KV cache (a new Transformer on the CPU; position 0 again on the
// GPU, whose cache is simply overwritten):
//
//   prefill   P prompt tokens in one forward call, and the greedy pick of the first new token
//   decode    N steps of one token each at positions P .. P+N−1, each a forward call + argmax
//
// Reported: the median over R repetitions of prefill and decode tokens per second, with min–max.
// The prompt is P pseudo-random ids in [0, V) (the same every run): speed does not depend on them.
//
// Decode reads every weight once per token, so it is bound by memory bandwidth:
//
//   bytes / token  = weight bytes as stored (a tied output head counted once; norms included)
//                  + KV bytes read: 2·L·KV·Dh·4 bytes (float32 K and V) per position 0 .. pos,
//                    at the mean decode position (P + (N+1)/2 positions on average)
//   achieved GB/s  = bytes / token × decode tok/s
//   copy GB/s      = a plain copy on the same device, bytes read + bytes written per second (the
//                    convention of CUDA's bandwidthTest): cuda::device_copy_bandwidth() on the GPU;
//                    on the CPU a 1 GiB memcpy split over the -t threads, median of 5
//   fraction       = achieved / copy GB/s
//   read GB/s      = on the CPU, summing a 1 GiB buffer split over the -t threads (AVX2 loads),
//                    median of 5: the ceiling for decode, which only reads weights
//
// GB are 10⁹ bytes. --random PRESET writes a folder of random bf16 weights in a published model's
// shape first (examples/random_checkpoint.hpp), so no download is needed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <set>

#include <llamaref/cpu/simd.hpp>
#include <llamaref/model/transformer.hpp>
#include <llamaref/model/weights.hpp>

#include "../random_checkpoint.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "device.hpp"

namespace llamaref::cli {

namespace {

using clock = std::chrono::steady_clock;

double seconds_since(clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); }

struct Spread {
    double median, min, max;
};

Spread spread(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v.front(), v.back()};
}

// P deterministic pseudo-random token ids in [0, V) (splitmix64 from a fixed seed).
std::vector<int> bench_prompt(int P, int V) {
    std::vector<int> ids(P);
    uint64_t s = 0x5EED;
    for (int& id : ids) {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        id = int((z ^ (z >> 31)) % uint64_t(V));
    }
    return ids;
}

// Where a --random checkpoint goes when no -m is given: ~/.cache/llamaref/random/PRESET.
std::string default_random_dir(const std::string& preset) {
    const char* home = std::getenv("HOME");
    return (fs::path(home && *home ? home : "/tmp") / ".cache" / "llamaref" / "random" / preset).string();
}

// Writes the preset to `dir` unless the folder is there already (then it must hold that preset).
void ensure_random_checkpoint(const std::string& preset, std::string dir) {
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    const ModelConfig c = examples::random_preset(preset);
    if (fs::exists(dir) && !fs::is_empty(dir)) {
        const ModelConfig there = load_model(dir)->config;
        if (there.describe() != c.describe())
            fail(dir, " already holds another model than the preset ", preset, ": ", there.describe());
        std::fprintf(stderr, "bench: using the random %s checkpoint in %s\n", preset.c_str(), dir.c_str());
        return;
    }
    std::fprintf(stderr, "bench: writing a random %s checkpoint (bf16) to %s ...\n", preset.c_str(), dir.c_str());
    const std::string part = dir + ".partial";  // renamed when complete: never a half-written folder
    fs::remove_all(part);
    examples::write_random_checkpoint(c, part);
    fs::create_directories(fs::path(dir).parent_path().empty() ? "." : fs::path(dir).parent_path());
    fs::remove(dir);  // an empty folder, if any
    fs::rename(part, dir);
    std::fprintf(stderr, "bench: wrote %s\n", dir.c_str());
}

// Reads n bytes and returns their sum, so that the reads cannot be optimized away.
uint64_t read_all_portable(const char* p, std::size_t n) {
    uint64_t s = 0, w;
    for (std::size_t i = 0; i + 8 <= n; i += 8) s += (std::memcpy(&w, p + i, 8), w);
    return s;
}
#if LLAMAREF_HAVE_AVX2_KERNELS
LLAMAREF_AVX2 uint64_t read_all_avx2(const char* p, std::size_t n) {  // n: a multiple of 128
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (std::size_t i = 0; i + 128 <= n; i += 128) {
        a = _mm256_add_epi64(a, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
        b = _mm256_add_epi64(b, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
        c = _mm256_add_epi64(c, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
        d = _mm256_add_epi64(d, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
    }
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                       _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif
uint64_t read_all(const char* p, std::size_t n) {
#if LLAMAREF_HAVE_AVX2_KERNELS
    if (cpu::use_avx2()) return read_all_avx2(p, n);
#endif
    return read_all_portable(p, n);
}

// The process's peak resident memory so far in bytes (/proc/self/status VmHWM; 0 if unknown):
// the mapped weights that were touched, the KV cache, the activations.
double peak_resident_bytes() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0) return 1024.0 * std::strtod(line.c_str() + 6, nullptr);  // "VmHWM: N kB"
    return 0;
}

// Reading a 1 GiB buffer, one contiguous chunk per thread (what decode does with the weights):
// bytes read / s, median of `repeats` after one untimed pass.
double cpu_read_bandwidth(int threads, std::size_t bytes = std::size_t(1) << 30, int repeats = 5) {
    std::unique_ptr<char[]> src(new char[bytes]);
    std::memset(src.get(), 1, bytes);
    const std::size_t chunk = (bytes + threads - 1) / threads / 128 * 128;
    std::vector<uint64_t> sums(threads);
    auto read = [&] {
        parallel_for(
            std::size_t(threads),
            [&](std::size_t b, std::size_t e) {
                for (std::size_t i = b; i < e; ++i) {
                    const std::size_t lo = i * chunk, hi = i + 1 == std::size_t(threads) ? bytes : lo + chunk;
                    sums[i] += read_all(src.get() + lo, hi - lo);
                }
            },
            1);
    };
    read();
    std::vector<double> rates;
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = clock::now();
        read();
        rates.push_back(double(bytes) / seconds_since(t0));
    }
    if (sums[0] == 42) std::fprintf(stderr, " ");  // uses the sums
    return spread(rates).median;
}

// memcpy of a 1 GiB buffer, one contiguous chunk per thread: (bytes read + bytes written) / s,
// median of `repeats` after one untimed copy.
double cpu_copy_bandwidth(int threads, std::size_t bytes = std::size_t(1) << 30, int repeats = 5) {
    std::unique_ptr<char[]> src(new char[bytes]), dst(new char[bytes]);
    std::memset(src.get(), 1, bytes);  // touch every page before timing
    std::memset(dst.get(), 2, bytes);
    const std::size_t chunk = (bytes + threads - 1) / threads;
    auto copy = [&] {
        parallel_for(
            std::size_t(threads),
            [&](std::size_t b, std::size_t e) {
                for (std::size_t i = b; i < e; ++i) {
                    const std::size_t lo = i * chunk, hi = std::min(bytes, lo + chunk);
                    if (lo < hi) std::memcpy(dst.get() + lo, src.get() + lo, hi - lo);
                }
            },
            1);
    };
    copy();
    std::vector<double> rates;
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = clock::now();
        copy();
        rates.push_back(2.0 * double(bytes) / seconds_since(t0));
    }
    return spread(rates).median;
}

// "BF16", or "embeddings F16, attention Q8_0, ..." when the kinds differ.
std::string dtype_summary(const ModelSummary& s) {
    std::set<std::string> all;
    for (const auto& [kind, set] : s.dtypes) all.insert(set.begin(), set.end());
    std::string out;
    if (all.size() == 1) return *all.begin();
    for (const auto& [kind, set] : s.dtypes) {
        out += (out.empty() ? "" : ", ") + kind;
        for (const auto& d : set) out += " " + d;
    }
    return out;
}

std::string fmt(const char* f, double a, double b = 0, double c = 0) {
    char buf[128];
    std::snprintf(buf, sizeof buf, f, a, b, c);
    return buf;
}

// Runs prompt-then-greedy-decode `reps` times (after `warmup` untimed runs); restart() empties
// the KV state, step(tokens, pos) runs tokens and returns the greedy next id.
struct Timings {
    std::vector<double> prefill_tps, decode_tps;
};
Timings time_runs(const std::function<int(std::span<const int>, int)>& step, const std::function<void()>& sync,
                  const std::vector<int>& prompt, int n, int reps, int warmup) {
    Timings t;
    const int P = int(prompt.size());
    for (int r = 0; r < warmup + reps; ++r) {
        sync();
        auto t0 = clock::now();
        int next = step(prompt, 0);
        sync();
        const double prefill = seconds_since(t0);
        t0 = clock::now();
        for (int i = 0; i < n; ++i) {
            const int one[1] = {next};
            next = step(one, P + i);
        }
        sync();
        const double decode = seconds_since(t0);
        std::fprintf(stderr, "bench: %s %d: prefill %d tokens %.2f ms, decode %d tokens %.2f ms\n",
                     r < warmup ? "warm-up" : "run", r < warmup ? r + 1 : r - warmup + 1, P, prefill * 1e3, n,
                     decode * 1e3);
        if (r < warmup) continue;
        t.prefill_tps.push_back(P / std::max(prefill, 1e-12));
        t.decode_tps.push_back(n / std::max(decode, 1e-12));
    }
    return t;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
    ArgParser args("bench", "(-m MODEL | --random PRESET [-m DIR]) [--device cpu|cuda] [-p P] [-n N] [-r R] [-t T]",
                   "Prefill and greedy-decode speed, median of R repetitions from an empty cache, and decode's\n"
                   "bytes per token against the measured copy bandwidth of the device (see examples/cli/bench.cpp).\n"
                   "--random PRESET writes random bf16 weights in that shape to MODEL (default\n"
                   "~/.cache/llamaref/random/PRESET) if the folder does not exist yet; presets: tiny,\n"
                   "stories110m, tinyllama-1.1b, llama3.2-1b, llama3-8b.");
    args.option("-m,--model", "MODEL", "the model to run (with --random: the folder for the random weights)")
        .option("--random", "PRESET",
                "random bf16 weights in a preset's shape (tiny, stories110m, tinyllama-1.1b, llama3.2-1b, llama3-8b)");
    add_device_option(args);
    args.option("-p,--prompt-len", "P", "prompt tokens for the prefill measurement", "512")
        .option("-n,--n-decode", "N", "decode tokens per repetition", "128")
        .option("-r,--repetitions", "R", "timed repetitions (median, min and max are reported)", "5")
        .option("--warmup", "W", "untimed repetitions first", "1")
        .option("-c,--ctx-size", "N", "context length (default: P + N)");
    add_cpu_options(args);  // -t (model and memcpy), --backend
    args.parse(argc, argv);

    if (!args.given("-m") && !args.given("--random"))
        throw UsageError("llamaref bench: give -m MODEL or --random PRESET (see llamaref bench --help)");
    const int P = int(args.integer("-p", 1, 1 << 24));
    const int n = int(args.integer("-n", 1, 1 << 24));
    const int reps = int(args.integer("-r", 1, 1 << 20));
    const int ctx = args.given("-c") ? int(args.integer("-c", 1, 1 << 30)) : P + n;
    if (ctx < P + n) fail("the context of ", ctx, " positions is shorter than prompt + decode = ", P + n);
    const Device device = device_from(args, "bench");
    const int warmup = int(args.integer("--warmup", 0, 1 << 20));
    const CpuOptions cpu = cpu_options_from(args, "bench");
    EngineOptions eo = engine_options_from(args, "bench", cpu);
    if (device == Device::cuda) cpu.require_cuda_compatible("bench");
    const int threads = num_threads();

    std::string path;
    if (args.given("--random")) {
        const std::string preset = args.str("--random");
        examples::random_preset(preset);  // an unknown name fails before anything is written
        path = args.given("-m") ? args.str("-m") : default_random_dir(preset);
        ensure_random_checkpoint(preset, path);
    } else {
        path = args.str("-m");
    }
    auto model = std::shared_ptr<const Model>(load_model(path));
    const ModelConfig& c = model->config;
    const std::vector<int> prompt = bench_prompt(P, c.vocab_size);
    const ModelSummary summary = summarize(*model);
    const double kv_per_position = double(c.n_layers) * double(dtype_bytes(cpu.cache_k, std::size_t(c.kv_dim())) +
                                                               dtype_bytes(cpu.cache_v, std::size_t(c.kv_dim())));
    const double mean_positions = P + (n + 1) / 2.0;  // the step at position p reads p + 1 positions
    double bytes_per_token = double(summary.bytes) + kv_per_position * mean_positions;

    // One engine for every run, as llama-bench keeps one context: a run starts at position 0 and
    // writes each position of the cache before reading it, and the buffers are allocated (their
    // pages touched) once, in the first run, not in every timed one (a fresh Transformer's first
    // prefill, stories110M, 128 tokens, 2 threads: 153 ms against 118, mostly page faults).
    eo.context = ctx;
    auto engine = make_engine(device, model, eo);
    SamplingParams greedy;
    greedy.temperature = 0;
    auto step = [&](std::span<const int> tokens, int pos) {
        if (engine->samples(greedy)) return engine->next_token(tokens, pos, greedy, 0.0);  // on the device
        const std::span<const float> logits = engine->forward_last(tokens, pos);           // [V]
        return int(argmax(logits.data(), logits.size()));
    };
    const Timings t = time_runs(
        step, [&] { engine->synchronize(); }, prompt, n, reps, warmup);
    const std::string device_text = engine->describe();
    if (engine->decode_bytes(P) > 0) {  // the device's own count of what a decode step reads
        double sum = 0;
        for (int i = 0; i < n; ++i) sum += engine->decode_bytes(P + i);
        bytes_per_token = sum / n;
    }
    double copy_bandwidth = engine->device_copy_bandwidth(), read_bandwidth = 0, peak_bytes = 0;
    if (device == Device::cpu) {             // the host's memory: what the process holds, then its bandwidths
        peak_bytes = peak_resident_bytes();  // before the bandwidth buffers below
        engine.reset();                      // its KV cache and buffers are freed first
        std::fprintf(stderr, "bench: measuring memcpy bandwidth (1 GiB, %d threads) ...\n", threads);
        copy_bandwidth = cpu_copy_bandwidth(threads);
        read_bandwidth = cpu_read_bandwidth(threads);
    }

    // --- the table
    const Spread pre = spread(t.prefill_tps), dec = spread(t.decode_tps);
    const double achieved = bytes_per_token * dec.median;
    std::string shape = fmt("L %g, D %g, H %g", c.n_layers, c.dim, c.n_heads) +
                        fmt(" / KV %g × Dh %g", c.n_kv_heads, c.head_dim) +
                        fmt(", F %g, V %g", c.hidden_dim, c.vocab_size) + (c.tied_embeddings ? ", tied output" : "") +
                        (c.rope_scaling.enabled ? ", scaled RoPE" : "") + ", context " + std::to_string(ctx);
    std::vector<std::pair<std::string, std::string>> rows{
        {"device", device_text},
        {"model", path + " (" + model->format + ")"},
        {"shape", shape},
        {"weight dtype", dtype_summary(summary)},
        {"weights", fmt("%.4g GB", double(summary.bytes) / 1e9)},
        {"prefill tokens", std::to_string(P)},
        {"prefill tok/s, median [min–max] of " + std::to_string(reps),
         fmt("%.1f [%.1f–%.1f]", pre.median, pre.min, pre.max)},
        {"decode tokens", std::to_string(n) + fmt(" (positions %g–%g)", P, P + n - 1)},
        {"decode tok/s, median [min–max] of " + std::to_string(reps),
         fmt("%.2f [%.2f–%.2f]", dec.median, dec.min, dec.max)},
        {"bytes / decode token", fmt("%.4g MB (KV cache at the mean position: %.4g MB)", bytes_per_token / 1e6,
                                     kv_per_position * mean_positions / 1e6)},
        {"achieved GB/s (decode)", fmt("%.3g", achieved / 1e9)},
        {"copy bandwidth GB/s (read + write)", fmt("%.3g", copy_bandwidth / 1e9)},
        {"fraction of copy bandwidth", fmt("%.1f %%", 100 * achieved / copy_bandwidth)},
    };
    if (peak_bytes > 0)
        rows.push_back({"peak resident memory (weights mapped + KV cache + activations)",
                        fmt("%.4g GB (KV cache at the last position: %.4g GB)", peak_bytes / 1e9,
                            kv_per_position * (P + n) / 1e9)});
    if (read_bandwidth > 0) {
        rows.push_back({"read bandwidth GB/s", fmt("%.3g", read_bandwidth / 1e9)});
        rows.push_back({"fraction of read bandwidth", fmt("%.1f %%", 100 * achieved / read_bandwidth)});
    }
    std::printf("| quantity | value |\n|---|---|\n");
    for (const auto& [k, v] : rows) std::printf("| %s | %s |\n", k.c_str(), v.c_str());
    return 0;
}

}  // namespace llamaref::cli
