// llamaref/cpu/backend.hpp — the fast CPU backend: the kernels of cpu/ as the forward pass's table.
//
// Specification: reference_backend in model/backend.hpp (the plain functions). This table puts
// the fast kernels in their place, and all the choices of which kernel runs for which weight
// live here, not in the model:
//
//   linear     cpu::matmul: blocked, vectorized (AVX2 / AVX-512), threaded; every stored dtype
//   swiglu     cpu::swiglu: three cpu::matmul products, the gate with a vectorized exp
//   geglu      cpu::geglu
//   attention  cpu::attention: key blocks with an online softmax (no [T, S] score matrix); a trace
//              that asks for the probabilities gets the reference's, which holds them
//
// Under llama.cpp's rounding (linear_llamacpp_rounded below) the products may take shortcuts
// that give the same numbers as rounding first: BF16 × BF16 dot products for a BF16 prefill,
// integer dot products for a decode with block-quantized weights.
//
// A long prompt runs in chunks of Transformer::set_prefill_chunk positions, so that the
// activations never grow beyond one chunk's.
#pragma once

#include <cstddef>
#include <vector>

#include "../model/backend.hpp"
#include "attention.hpp"
#include "feed_forward.hpp"
#include "matmul.hpp"
#include "matmul_bf16.hpp"
#include "matmul_int8.hpp"
#include "quant_activations.hpp"

namespace llamaref::cpu {

// Attention by key blocks; the probabilities (a trace) from the reference, which computes them.
inline void attention_or_reference(const float* q, const KVSpan& kv, int start_pos, int T, const Heads& heads,
                                   const AttentionOptions& opt, float* out, float* probs) {
    if (probs) return llamaref::attention(q, kv, start_pos, T, heads, opt, out, probs);
    cpu::attention(q, kv, start_pos, T, heads, opt, out);
}

// llamaref::linear_llamacpp_rounded on the fast kernels.   W: [out, in]   X: [T, in]   Y: [T, out]
inline void linear_llamacpp_rounded(const TensorView& W, const float* X, float* Y, std::size_t T) {
    // A BF16 prefill multiplies bf16 by bf16 where the CPU can (matmul_bf16.hpp: the same exact
    // products, summed in another order, twice as fast as the float32 kernel).
    if (W.dtype == DType::BF16 && T >= 4 && has_bf16_dot()) return matmul_bf16_rounded(W, X, Y, T);
    // A decode with block-quantized weights multiplies integers, as llama.cpp does (matmul_int8.hpp:
    // the same products, one rounding per block, fewer instructions: docs/performance.md).
    if (T < 4 && has_int8_dot(W.dtype)) return matmul_int8_rounded(W, X, Y, T);
    thread_local std::vector<float> rounded;  // [T, in]
    rounded.resize(T * W.cols());
    cpu::round_activations_like_llamacpp(W.dtype, X, rounded.data(), T, W.cols());  // vectorized, threaded
    cpu::matmul(W, rounded.data(), Y, T);
    cpu::llamacpp_q8_1_correction(W, X, Y, T);  // Q4_1 / Q5_1 (threaded, in float32)
}

// The gated FFNs on rounded products; the gate is the reference's scalar activation.
inline void swiglu_llamacpp_rounded(const TensorView& w1, const TensorView& w2, const TensorView& w3, const float* x,
                                    float* out, std::size_t T, float* gate, float* up, float* hidden) {
    gated_ffn<silu>(cpu::linear_llamacpp_rounded, w1, w2, w3, x, out, T, gate, up, hidden);
}
inline void geglu_llamacpp_rounded(const TensorView& w1, const TensorView& w2, const TensorView& w3, const float* x,
                                   float* out, std::size_t T, float* gate, float* up, float* hidden) {
    gated_ffn<gelu_tanh>(cpu::linear_llamacpp_rounded, w1, w2, w3, x, out, T, gate, up, hidden);
}

inline constexpr Backend fast_backend{
    "fast",
    Ops{cpu::matmul, cpu::swiglu, cpu::geglu, attention_or_reference},
    Ops{cpu::linear_llamacpp_rounded, cpu::swiglu_llamacpp_rounded, cpu::geglu_llamacpp_rounded,
        attention_or_reference},
    true,
};

}  // namespace llamaref::cpu
