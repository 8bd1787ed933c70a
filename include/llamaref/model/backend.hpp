// llamaref/model/backend.hpp — the table of operations the forward pass is written against.
//
// transformer.hpp tells the forward pass once. Where it multiplies by a weight, runs the gated
// feed-forward network or attends over the KV cache, it calls an operation of a Backend:
//
//   linear     Y = X · Wᵀ                                  W: [out, in]  X: [T, in]  Y: [T, out]
//   swiglu     out = W2 · (SiLU(W1·x) ⊙ W3·x)              x: [T, D]  out: [T, D]  (feed_forward.hpp)
//   geglu      out = W2 · (GELU_tanh(W1·x) ⊙ W3·x)         the same for Gemma
//   attention  softmax(q·kᵀ/√Dh)·v over the cache          q: [T, H·Dh]  out: [T, H·Dh]  (attention.hpp)
//
// Everything else of the forward pass (RMSNorm, RoPE, the residual adds, soft-capping) is the
// same plain code for every backend. A backend has two tables: `exact` computes the model as
// written, in float32 activations; `llamacpp_rounding` first rounds the activations before every
// weight product as llama.cpp's CPU backend does (core/quant_activations.hpp), so that `compare`
// can tell llama.cpp's rounding from a bug.
//
// This file holds the specification's table, reference_backend: the plain functions of core/ and
// model/, the ones a student reads. The fast table (SIMD, blocked, threaded kernels and their
// dispatch on dtype and CPU) is cpu::fast_backend in cpu/backend.hpp, tested against this one;
// the model never includes it.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "../core/ops.hpp"
#include "../core/quant_activations.hpp"
#include "attention.hpp"
#include "feed_forward.hpp"

namespace llamaref {

// out [T, D] = W2 · (act(W1·x) ⊙ W3·x); gate, up, hidden: [T, F] buffers the caller may read after.
using GatedFfnFn = void (*)(const TensorView& w1, const TensorView& w2, const TensorView& w3, const float* x,
                            float* out, std::size_t T, float* gate, float* up, float* hidden);
// out [T, H·Dh] = attention of q [T, H·Dh] over kv; probs: null, or [T, H, start_pos+T] to fill.
using AttentionFn = void (*)(const float* q, const KVSpan& kv, int start_pos, int T, const Heads& heads,
                             const AttentionOptions& opt, float* out, float* probs);

struct Ops {
    MatMulFn linear;
    GatedFfnFn swiglu, geglu;
    AttentionFn attention;
};

struct Backend {
    std::string_view name;  // "reference", "fast"
    Ops exact;              // the model as written: float32 activations
    Ops llamacpp_rounding;  // activations rounded as llama.cpp's CPU backend does before each product
    bool chunked_prefill;   // runs a long prompt in chunks (Transformer::set_prefill_chunk)

    const Ops& ops(bool rounding) const { return rounding ? llamacpp_rounding : exact; }
    bool operator==(const Backend& other) const { return name == other.name; }
};

// Y = X' · Wᵀ with X' each row of X rounded as llama.cpp rounds activations for a weight of W's
// dtype (to Q8_0 / Q8_K blocks, F16, BF16; core/quant_activations.hpp); Q4_1 / Q5_1 add Q8_1's
// block-sum correction.   W: [out, in]   X: [T, in]   Y: [T, out]
inline void linear_llamacpp_rounded(const TensorView& W, const float* X, float* Y, std::size_t T) {
    thread_local std::vector<float> rounded;  // [T, in]
    const std::size_t in = W.cols();
    rounded.resize(T * in);
    for (std::size_t t = 0; t < T; ++t)
        round_activations_like_llamacpp(W.dtype, X + t * in, rounded.data() + t * in, in);
    matmul(W, rounded.data(), Y, T);
    llamacpp_q8_1_correction(W, X, Y, T);
}

// The gated FFNs with each of their three products rounded first.
inline void swiglu_llamacpp_rounded(const TensorView& w1, const TensorView& w2, const TensorView& w3, const float* x,
                                    float* out, std::size_t T, float* gate, float* up, float* hidden) {
    gated_ffn<silu>(linear_llamacpp_rounded, w1, w2, w3, x, out, T, gate, up, hidden);
}
inline void geglu_llamacpp_rounded(const TensorView& w1, const TensorView& w2, const TensorView& w3, const float* x,
                                   float* out, std::size_t T, float* gate, float* up, float* hidden) {
    gated_ffn<gelu_tanh>(linear_llamacpp_rounded, w1, w2, w3, x, out, T, gate, up, hidden);
}

// The specification: the plain functions, one product at a time.
inline constexpr Backend reference_backend{
    "reference",
    Ops{matmul, swiglu, geglu, attention},
    Ops{linear_llamacpp_rounded, swiglu_llamacpp_rounded, geglu_llamacpp_rounded, attention},
    false,
};

}  // namespace llamaref
