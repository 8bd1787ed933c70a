// llamaref/cuda/runner.hpp — the whole model on a CUDA device, behind a plain C++ interface.
//
// This header has no CUDA and no xtensor in it, so ordinary C++ code (the CLI, the tests) can
// drive the GPU path. Its implementation is cuda/llamaref/cuda/runner.cuh, compiled once by nvcc
// (cuda/runner.cu, the CMake target llamaref::cuda_runner). It runs the same forward pass as
// model/transformer.hpp, kernel by kernel (see transformer.cuh), for Llama and its peers Mistral
// and Gemma 1 / 2 (every switch of ModelConfig, require_supported below):
//
//   weights are uploaded once, in their stored dtype (F32, F16, BF16 or Q8_0);
//   activations and the KV cache are float32 on the device;
//   a decode step runs entirely on the device and copies back one int (the chosen token).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <llamaref/core/dtype.hpp>
#include <llamaref/model/config.hpp>
#include <llamaref/model/probe.hpp>
#include <llamaref/model/weights.hpp>

namespace llamaref::cuda {

// What the device sampler supports: temperature, top-k, top-p (Meta's rule), min-p — the chain
// of sampling/sampler.hpp without penalties. temperature 0 is argmax.
struct DeviceSampling {
    double temperature = 0.0;
    int top_k = 0;
    double top_p = 1.0;
    double min_p = 0.0;
};

struct RunnerOptions {
    int context_len = 0;  // positions the device KV cache may hold (0: the model's max_seq_len)
    int device = 0;       // CUDA device ordinal
    // Prefill GEMMs for F16/BF16 weights: true = cuBLAS on tensor cores with the activations
    // rounded to the weight dtype (fast, what other engines do); false = llamaref's own matmul
    // kernel with float32 activations (the CPU path's arithmetic). F32 weights always use
    // float32 arithmetic (cuBLAS SGEMM without TF32), Q8_0 always the own kernel.
    bool fast_prefill = true;
    // Decode steps (one token) with the fused kernels of decode.cuh (6 launches per block instead
    // of 13, the same arithmetic); false runs the step kernel by kernel like a prefill.
    bool fused_decode = true;
    // Replay the fused decode step as a CUDA graph (one launch instead of ~100; the position is
    // read from device memory). Only with fused_decode.
    bool cuda_graph = true;
    // Attention by attention_plain.cuh's kernel (one thread per query head, the CPU function's
    // loops, scores in a [T·H, S] scratch) instead of the flash kernels of attention.cuh: the
    // version to read beside model/attention.hpp, slow and memory-hungry. Decode steps then run
    // kernel by kernel (no fused step, no graph).
    bool plain_attention = false;
};

// The largest head_dim the attention kernels take (attention.cuh, kMaxHeadDim: a warp keeps a
// query's output in registers, 8 values per lane).
constexpr int kMaxCudaHeadDim = 256;

// The CUDA kernels implement every switch of the family that ModelConfig has: Llama, Mistral's
// sliding window (a mask over a full-length device cache, not a rolling buffer), Gemma's GeGLU,
// (1 + w) norms, embeddings × √D, and Gemma 2's post-norms, score scale and soft-caps. A config
// they cannot run is an Error naming what is missing, rather than wrong logits on the GPU: a
// head_dim above kMaxCudaHeadDim, and any activation or sliding-layer pattern added to
// ModelConfig later without a kernel. Called by Runner's constructor.
inline void require_supported(const ModelConfig& c) {
    auto refuse = [&](const std::string& what) {
        fail("the CUDA path does not implement ", what, " (this ", c.arch, " model; run it with --device cpu)");
    };
    if (c.head_dim > kMaxCudaHeadDim)
        refuse("head_dim " + std::to_string(c.head_dim) + " (at most " + std::to_string(kMaxCudaHeadDim) + ")");
    if (c.activation != Activation::silu && c.activation != Activation::gelu_tanh) refuse("this FFN activation");
    if (c.sliding_layers != SlidingLayers::all && c.sliding_layers != SlidingLayers::even)
        refuse("this pattern of sliding-window layers");
}

// The same for a loaded model: its config, and weights the kernels load — F32, F16, BF16 and Q8_0
// matrices (common.cuh); another block format is refused here rather than read as the wrong type.
// Norm weights are converted to float32 on the host (any dtype). Called by Runner's constructor.
inline void require_supported(const Model& m) {
    require_supported(m.config);
    auto check = [](const TensorView& t) {
        if (is_quantized(t.dtype) && t.dtype != DType::Q8_0)
            fail("the CUDA path computes with F32, F16, BF16 and Q8_0 weights, not ", dtype_name(t.dtype),
                 " (use the CPU path: --device cpu)");
    };
    check(m.weights.tok_embeddings);
    check(m.weights.output);
    for (const LayerWeights& L : m.weights.layers)
        for (const LayerTensorName& n : layer_tensor_names(m.config.post_norms))
            if (n.kind != WeightKind::norm) check(L.*n.field);
}

// Whether a CUDA device can be used; `why` receives the reason when not.
bool device_available(std::string* why = nullptr);
// "NVIDIA H100 80GB HBM3, 132 SMs, 79.2 GiB, sm_90" for the bench table.
std::string device_name(int device = 0);
// Measured device-to-device copy bandwidth in bytes/s: cudaMemcpy of a `bytes` buffer, counting
// bytes read + bytes written (as CUDA's bandwidthTest does), median of `repeats` runs.
double device_copy_bandwidth(std::size_t bytes = std::size_t(1) << 30, int repeats = 10, int device = 0);

class Runner {
  public:
    // Uploads the weights of a loaded Model (formats/load.hpp: the same views the CPU path runs),
    // each in its stored dtype; the Model need not outlive the constructor. F32, F16, BF16 and Q8_0
    // weights only (common.cuh); other block formats are refused with a message.
    explicit Runner(const Model& model, RunnerOptions options = {});
    ~Runner();
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;

    const ModelConfig& config() const;

    // Logits of tokens at positions start_pos .. start_pos+T−1, copied to the host.   -> [T·V]
    std::vector<float> forward(std::span<const int> tokens, int start_pos);

    // Runs the tokens (prefill when T > 1, a decode step when T = 1) and picks the next token
    // from the last position's logits on the device with `coin` ∈ [0, 1) (ignored for greedy).
    // Only the chosen id comes back to the host.
    int next_token(std::span<const int> tokens, int start_pos, const DeviceSampling& sampling, double coin);

    // The last position's logits of the latest next_token call, copied to the host.   -> [V]
    std::vector<float> last_logits() const;

    // How a decode step runs: "graph" (fused kernels replayed as a CUDA graph), "fused", or
    // "plain" (kernel by kernel: asked for, or rows of the model not a multiple of 8 values).
    std::string decode_path() const;

    // Bytes of weights on the device, and KV-cache bytes one position adds (all layers, K and V).
    std::size_t weight_bytes() const;
    std::size_t kv_bytes_per_position() const;
    // Bytes one decode step at position `pos` reads from device memory: every weight once (the
    // tied embedding table counts as the output head; the embedding row is negligible) plus the
    // K and V of positions 0 .. pos.
    std::size_t decode_bytes(int pos) const;

    void synchronize() const;
    // Called with every intermediate tensor of the next forward calls, copied to the host, by
    // Meta's module names as the CPU forward pass names them (model/probe.hpp; Trace::record takes a
    // Runner). Observed runs take the plain path, kernel by kernel. The device does not record
    // attention probabilities (with_attention_probs is ignored) nor Gemma 2's post-norm outputs.
    // Null: no observer.
    void set_observer(Observer fn, bool with_attention_probs = false);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace llamaref::cuda
