// llamaref/model/feed_forward.hpp — the gated feed-forward network: SwiGLU and GeGLU.
//
// Shazeer 2020, "GLU Variants Improve Transformer", eq. 5 (FFN_SwiGLU); LLaMA paper §2.2:
//     FFN(x) = W2 · ( SiLU(W1·x) ⊙ (W3·x) )
// Names: Meta w1 / w3 / w2 = Hugging Face gate_proj / up_proj / down_proj = GGUF ffn_gate /
// ffn_up / ffn_down. The hidden size F comes from the checkpoint (see ffn_hidden_dim in
// config.hpp for Meta's rule).
//
// Gemma (arXiv 2403.08295 §2, "GeGLU Activations"; Shazeer 2020 eq. 5, FFN_GEGLU) gates with GELU
// instead of SiLU, and in its tanh approximation (Hendrycks & Gimpel 2016, §2; PyTorch's
// gelu(approximate="tanh"), transformers' "gelu_pytorch_tanh"):
//     FFN(x) = W2 · ( GELU_tanh(W1·x) ⊙ (W3·x) )
//     GELU_tanh(g) = 0.5·g·(1 + tanh( √(2/π) · (g + 0.044715·g³) ))
// The exact erf GELU differs from it by up to ~1e-3 per value: enough to fail a 1e-4 logit check.
#pragma once

#include <cmath>
#include <cstddef>

#include "../core/ops.hpp"

namespace llamaref {

// GELU, tanh approximation, in float32 as PyTorch computes it.
inline float gelu_tanh(float g) {
    constexpr float kBeta = 0.7978845608028654f;  // √(2/π)
    constexpr float kKappa = 0.044715f;
    const float inner = kBeta * (g + kKappa * g * g * g);
    return 0.5f * g * (1.0f + std::tanh(inner));
}

// Y = X · Wᵀ   W: [out, in]   X: [T, in]   Y: [T, out]   (matmul, or another way to compute it)
using MatMulFn = void (*)(const TensorView& W, const float* X, float* Y, std::size_t T);

// FFN(x) = W2 · ( act(W1·x) ⊙ (W3·x) ), each product computed by `mm`.
// x: [T, D] -> out: [T, D]. The caller provides three [T, F] buffers and may read them after
// the call (tracing): gate = W1·x, up = W3·x, hidden = act(gate) ⊙ up.
template <float (*act)(float)>
inline void gated_ffn(MatMulFn mm, const TensorView& w1, const TensorView& w2, const TensorView& w3, const float* x,
                      float* out, std::size_t T, float* gate, float* up, float* hidden) {
    const std::size_t F = w1.rows();
    mm(w1, x, gate, T);  // [T, F]
    mm(w3, x, up, T);    // [T, F]
    for (std::size_t i = 0; i < T * F; ++i) hidden[i] = act(gate[i]) * up[i];
    mm(w2, hidden, out, T);  // [T, D]
}

// LLaMA's SwiGLU: hidden = SiLU(gate) ⊙ up.
inline void swiglu(const TensorView& w1, const TensorView& w2, const TensorView& w3, const float* x, float* out,
                   std::size_t T, float* gate, float* up, float* hidden) {
    gated_ffn<silu>(matmul, w1, w2, w3, x, out, T, gate, up, hidden);
}

// Gemma's GeGLU: hidden = GELU_tanh(gate) ⊙ up.
inline void geglu(const TensorView& w1, const TensorView& w2, const TensorView& w3, const float* x, float* out,
                  std::size_t T, float* gate, float* up, float* hidden) {
    gated_ffn<gelu_tanh>(matmul, w1, w2, w3, x, out, T, gate, up, hidden);
}

}  // namespace llamaref
