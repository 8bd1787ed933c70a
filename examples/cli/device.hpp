// examples/cli/device.hpp — `--device cpu|cuda` and the Engine that runs a model there.
//
// The one place where the CLI chooses between llamaref's CPU path (model/transformer.hpp, with
// --backend fast|ref) and the CUDA path (cuda::Runner, cuda/llamaref/cuda/runner.hpp). The Runner
// exists only when the CLI was built with nvcc (CMake defines LLAMAREF_WITH_CUDA then); asking for
// cuda without it, or without a usable device, is an error with the reason, before any model is
// loaded. generate, logits and bench run whatever make_engine returns. With --ranks, each rank runs
// its slice: on the CPU (ModelParallelEngine) or on a GPU of its own over NCCL (CudaModelParallelEngine,
// where the CLI was built with NCCL: LLAMAREF_WITH_NCCL).
#pragma once

#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <llamaref/cpu/backend.hpp>
#include <llamaref/cpu/simd.hpp>
#include <llamaref/model/transformer.hpp>
#include <llamaref/model_parallel/transformer.hpp>
#include <llamaref/sampling/sampler.hpp>

#ifdef LLAMAREF_WITH_CUDA
#include <llamaref/cuda/runner.hpp>
#endif
#ifdef LLAMAREF_WITH_NCCL
#include <llamaref/cuda/rank_runner.hpp>
#endif

#include "args.hpp"
#include "common.hpp"
#include "ranks.hpp"

namespace llamaref::cli {

enum class Device { cpu, cuda };

struct EngineOptions {
    int context = 0;  // positions of the KV cache (0: the model's max_seq_len)
    CpuOptions cpu;   // --backend, -ctk / -ctv, --llamacpp-rounding (the CPU path's)
    // The CUDA path's kernels (bench's --decode-path and --prefill-gemm; cuda::RunnerOptions).
    bool fused_decode = true, cuda_graph = true, fast_prefill = true;
    bool plain_attention = false;  // attention_plain.cuh (version 1) instead of the flash kernels
};

inline void add_device_option(ArgParser& args) {
    args.option("--device", "DEV", "cpu or cuda (needs a build with CUDA and a GPU)", "cpu")
        .option("--decode-path", "KIND",
                "cuda: graph (fused kernels in a CUDA graph), fused, or plain (kernel by kernel)", "graph")
        .option("--prefill-gemm", "KIND", "cuda: cublas (tensor cores for 16-bit weights) or own (float32 activations)",
                "cublas")
        .option("--attention", "KIND",
                "cuda: flash (attention.cuh) or plain (attention_plain.cuh: one thread per head)", "flash");
}

// The engine's options from the flags, checked: the CPU options given, the CUDA path's kernels
// (--decode-path, --prefill-gemm, --attention); the context is the caller's to set.
inline EngineOptions engine_options_from(const ArgParser& args, const std::string& command, const CpuOptions& cpu) {
    auto choice = [&](const std::string& flag, std::initializer_list<const char*> kinds) {
        const std::string v = args.str(flag);
        std::string list;
        for (const char* k : kinds) {
            if (v == k) return v;
            list += std::string(list.empty() ? "" : ", ") + k;
        }
        throw UsageError("llamaref " + command + ": " + flag + " must be one of " + list + ", got '" + v + "'");
    };
    const std::string decode_path = choice("--decode-path", {"graph", "fused", "plain"});
    EngineOptions o;
    o.cpu = cpu;
    o.fused_decode = decode_path != "plain";
    o.cuda_graph = decode_path == "graph";
    o.fast_prefill = choice("--prefill-gemm", {"cublas", "own"}) == "cublas";
    o.plain_attention = choice("--attention", {"flash", "plain"}) == "plain";
    return o;
}

// The --device flag, checked: a cuda request needs CUDA in this build and a usable device.
inline Device device_from(const ArgParser& args, const std::string& command) {
    const std::string d = args.str("--device");
    if (d == "cpu") return Device::cpu;
    if (d != "cuda") throw UsageError("llamaref " + command + ": --device must be cpu or cuda, got '" + d + "'");
#ifdef LLAMAREF_WITH_CUDA
    std::string why;
    if (!cuda::device_available(&why)) fail("no usable CUDA device: ", why);
#else
    fail("this llamaref was built without CUDA: configure with -DLLAMAREF_CUDA=ON and nvcc available");
#endif
    return Device::cuda;
}

// One model on one device, as the commands use it. A position's keys and values stay in the
// engine's cache, so a decode step passes one token and its position.
class Engine {
  public:
    virtual ~Engine() = default;
    // The logits [T, V] of every position of `tokens`, row-major.
    virtual std::vector<float> forward(std::span<const int> tokens, int start_pos) = 0;
    // The logits [V] of the last position only (valid until the next call).
    virtual std::span<const float> forward_last(std::span<const int> tokens, int start_pos) = 0;
    // Whether next_token can draw from `sp` itself, where the logits are (the GPU's sampler:
    // temperature, top-k, top-p, min-p; no penalties). Otherwise the caller samples forward_last's.
    virtual bool samples(const SamplingParams& sp) const { return false; }
    // The next token, sampled by the engine (only where samples(sp)); coin in [0, 1) when it samples.
    virtual int next_token(std::span<const int> tokens, int start_pos, const SamplingParams& sp, double coin) {
        fail("this engine has no sampler of its own");
    }
    // The token every rank continues with: rank 0's choice (model parallel), else `id` itself.
    virtual int agree(int id) { return id; }
    virtual void synchronize() {}              // waits until queued work is done (timings)
    virtual std::string describe() const = 0;  // the bench table's device line
    // What a decode step at position `pos` reads, as the engine counts it (0: not counted).
    virtual double decode_bytes(int pos) const { return 0; }
    // The device memory's copy bandwidth in bytes/s (read + write), measured (0: the host's, by bench).
    virtual double device_copy_bandwidth() { return 0; }
};

// The first "model name" of /proc/cpuinfo.
inline std::string cpu_name() {
    std::ifstream f("/proc/cpuinfo");
    for (std::string line; std::getline(f, line);)
        if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos)
            return line.substr(line.find_first_not_of(" \t", line.find(':') + 1));
    return "unknown CPU";
}

// The CPU path: a Transformer with the CPU options applied.
class CpuEngine final : public Engine {
  public:
    CpuEngine(std::shared_ptr<const Model> model, const EngineOptions& o)
        : tf_(std::move(model), o.context), cpu_(o.cpu) {
        cpu_.apply(tf_);
    }
    std::vector<float> forward(std::span<const int> tokens, int start_pos) override {
        const Tensor2 logits = tf_.forward(tokens, start_pos);  // [T, V]
        return {logits.begin(), logits.end()};
    }
    std::span<const float> forward_last(std::span<const int> tokens, int start_pos) override {
        return tf_.forward_last(tokens, start_pos);
    }
    std::string describe() const override {
        const CpuOptions& c = cpu_;
        std::string s =
            "CPU: " + cpu_name() + ", " + std::to_string(num_threads()) + " of " +
            std::to_string(std::thread::hardware_concurrency()) + " threads, backend " +
            (c.backend == cpu::fast_backend ? "fast (" + std::string(cpu::isa_name(cpu::isa())) + ")" : "ref");
        if (c.cache_k != DType::F32 || c.cache_v != DType::F32)
            s += ", KV cache K " + std::string(dtype_name(c.cache_k)) + " / V " + std::string(dtype_name(c.cache_v));
        if (c.llamacpp_rounding) s += ", activations rounded as llama.cpp's (--llamacpp-rounding)";
        return s +
               (file_loading() == FileLoading::read ? ", weights read into memory (--no-mmap)" : ", weights mapped");
    }

  private:
    Transformer tf_;
    CpuOptions cpu_;
};

// The token every rank continues with: rank 0's sample, broadcast (the ranks' logits are equal, but
// a sampler's coins need not be).
inline int rank0_token(Communicator& comm, int id) {
    int32_t x = id;
    comm.broadcast(&x, 1, "the sampled token");
    return x;
}

// One rank of Meta's model-parallel layout (model_parallel/transformer.hpp) in an MPI job: every
// rank computes the same logits; rank 0's sampled token is the one every rank continues with.
class ModelParallelEngine final : public Engine {
  public:
    ModelParallelEngine(std::shared_ptr<const RankModel> slice, Communicator& comm, const EngineOptions& o)
        : tf_(std::move(slice), comm, o.context), comm_(comm) {
        if (o.cpu.cache_k != DType::F32 || o.cpu.cache_v != DType::F32 || o.cpu.llamacpp_rounding)
            throw UsageError("-ctk / -ctv and --llamacpp-rounding are not available with --ranks");
        tf_.set_backend(o.cpu.backend);
    }
    std::vector<float> forward(std::span<const int> tokens, int start_pos) override {
        const Tensor2 logits = tf_.forward(tokens, start_pos);  // [T, V], on every rank
        return {logits.begin(), logits.end()};
    }
    std::span<const float> forward_last(std::span<const int> tokens, int start_pos) override {
        const Tensor2 logits = tf_.forward(tokens, start_pos, LogitRows::last);  // [1, V]
        last_.assign(logits.begin(), logits.end());
        return last_;
    }
    int agree(int id) override { return rank0_token(comm_, id); }
    std::string describe() const override {
        const Partition& p = tf_.partition();
        return "CPU, model parallel (MPI): " + std::to_string(p.ranks()) + " ranks, " +
               std::to_string(p.local_heads().n_heads) + " query / " + std::to_string(p.local_heads().n_kv_heads) +
               " KV heads and " + std::to_string(p.ffn_units().size()) + " FFN units per rank, " +
               std::to_string(num_threads()) + " threads per rank";
    }

  private:
    ModelParallelTransformer tf_;
    Communicator& comm_;
    std::vector<float> last_;
};

#ifdef LLAMAREF_WITH_CUDA
// The CUDA runners' options from the CLI's (a model-parallel rank ignores the decode path).
inline cuda::RunnerOptions runner_options(const EngineOptions& o) {
    cuda::RunnerOptions r;
    r.context_len = o.context;
    r.fused_decode = o.fused_decode;
    r.cuda_graph = o.cuda_graph;
    r.fast_prefill = o.fast_prefill;
    r.plain_attention = o.plain_attention;
    return r;
}

// The CUDA path: cuda::Runner, its KV cache grown as positions are used.
class CudaEngine final : public Engine {
  public:
    CudaEngine(const Model& model, const EngineOptions& o) : runner_(model, runner_options(o)), options_(o) {}
    std::vector<float> forward(std::span<const int> tokens, int start_pos) override {
        return runner_.forward(tokens, start_pos);
    }
    std::span<const float> forward_last(std::span<const int> tokens, int start_pos) override {
        last_ = runner_.forward(tokens, start_pos);  // [T, V]
        return std::span<const float>(last_).last(std::size_t(runner_.config().vocab_size));
    }
    bool samples(const SamplingParams& sp) const override {  // DeviceSampling has no penalties
        return sp.repeat_penalty == 1 && sp.frequency_penalty == 0 && sp.presence_penalty == 0;
    }
    int next_token(std::span<const int> tokens, int start_pos, const SamplingParams& sp, double coin) override {
        return runner_.next_token(tokens, start_pos, cuda::DeviceSampling{sp.temperature, sp.top_k, sp.top_p, sp.min_p},
                                  coin);
    }
    void synchronize() override { runner_.synchronize(); }
    std::string describe() const override {
        return "CUDA: " + cuda::device_name() + "; decode " + runner_.decode_path() + ", prefill GEMM " +
               (options_.fast_prefill ? "cublas" : "own") + ", attention " +
               (options_.plain_attention ? "plain" : "flash");
    }
    double decode_bytes(int pos) const override { return double(runner_.decode_bytes(pos)); }
    double device_copy_bandwidth() override { return cuda::device_copy_bandwidth(); }

  private:
    cuda::Runner runner_;
    EngineOptions options_;
    std::vector<float> last_;
};
#endif

#ifdef LLAMAREF_WITH_NCCL
// One rank of Meta's model-parallel layout on a GPU of its own (cuda::RankRunner: the CUDA kernels on
// the rank's slices, NCCL's collectives); rank 0's sampled token is the one every rank continues with.
class CudaModelParallelEngine final : public Engine {
  public:
    CudaModelParallelEngine(std::shared_ptr<const RankModel> slice, Communicator& comm, const EngineOptions& o)
        : runner_(std::move(slice), comm, runner_options(o)), comm_(comm), options_(o) {}
    std::vector<float> forward(std::span<const int> tokens, int start_pos) override {
        return runner_.forward(tokens, start_pos);  // [T, V], on every rank
    }
    std::span<const float> forward_last(std::span<const int> tokens, int start_pos) override {
        last_ = runner_.forward(tokens, start_pos, /*last_only=*/true);  // [V]
        return last_;
    }
    int agree(int id) override { return rank0_token(comm_, id); }
    std::string describe() const override {
        const Partition& p = runner_.partition();
        return "CUDA, model parallel (NCCL): " + std::to_string(p.ranks()) + " ranks, a GPU each (rank " +
               std::to_string(p.rank()) + ": " + runner_.device_name() + "), " +
               std::to_string(p.local_heads().n_heads) + " query / " + std::to_string(p.local_heads().n_kv_heads) +
               " KV heads and " + std::to_string(p.ffn_units().size()) + " FFN units per rank; kernel by kernel, " +
               "prefill GEMM " + (options_.fast_prefill ? "cublas" : "own") + ", attention " +
               (options_.plain_attention ? "plain" : "flash");
    }

  private:
    cuda::RankRunner runner_;
    Communicator& comm_;
    EngineOptions options_;
    std::vector<float> last_;
};
#endif

// The engine of a model as load_cli_model gave it: one rank's slice runs model parallel.
inline std::unique_ptr<Engine> make_engine(Device device, const CliModel& model, const EngineOptions& o);

// The engine --device asked for (device_from has checked that it exists).
inline std::unique_ptr<Engine> make_engine(Device device, std::shared_ptr<const Model> model, const EngineOptions& o) {
    if (device == Device::cpu) return std::make_unique<CpuEngine>(std::move(model), o);
#ifdef LLAMAREF_WITH_CUDA
    return std::make_unique<CudaEngine>(*model, o);
#else
    fail("this llamaref was built without CUDA");
#endif
}

inline std::unique_ptr<Engine> make_engine(Device device, const CliModel& model, const EngineOptions& o) {
    if (model.whole) return make_engine(device, model.whole, o);
    if (device == Device::cpu) return std::make_unique<ModelParallelEngine>(model.slice, *world(), o);
#ifdef LLAMAREF_WITH_NCCL
    return std::make_unique<CudaModelParallelEngine>(model.slice, *world(), o);
#else
    fail(
        "--ranks with --device cuda needs NCCL: this llamaref was built without it (NCCL's nccl.h and libnccl "
        "in the CUDA toolkit or NCCL_ROOT, and MPI); --device cpu runs the ranks on the CPU");
#endif
}

}  // namespace llamaref::cli
