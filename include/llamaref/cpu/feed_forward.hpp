// llamaref/cpu/feed_forward.hpp — the fast SwiGLU feed-forward network.
//
// Specification: llamaref::swiglu in model/feed_forward.hpp,  FFN(x) = W2 · ( SiLU(W1·x) ⊙ (W3·x) ).
// The three products are cpu::matmul; the gate SiLU(g)·u = g / (1 + e^−g) · u runs eight values
// at a time with exp_poly8 (T·F exponentials per call: about 4% of a prefill with std::exp).
#pragma once

#include <cstddef>

#include "../model/feed_forward.hpp"
#include "exp.hpp"
#include "matmul.hpp"

namespace llamaref::cpu {

// hidden[i] = gate[i] / (1 + e^−gate[i]) · up[i] for n values (the same bits with or without AVX2).
inline void silu_mul_portable(const float* gate, const float* up, float* hidden, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) hidden[i] = gate[i] / (1.0f + exp_poly(-gate[i])) * up[i];
}

#if LLAMAREF_HAVE_AVX2_KERNELS
namespace avx2 {
LLAMAREF_AVX2 inline void silu_mul(const float* gate, const float* up, float* hidden, std::size_t n) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = exp_poly8(_mm256_sub_ps(_mm256_setzero_ps(), g));
        const __m256 s = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_storeu_ps(hidden + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
    }
    silu_mul_portable(gate + i, up + i, hidden + i, n - i);
}
}  // namespace avx2
#endif

inline void silu_mul(const float* gate, const float* up, float* hidden, std::size_t n) {
#if LLAMAREF_HAVE_AVX2_KERNELS
    if (use_avx2()) return avx2::silu_mul(gate, up, hidden, n);
#endif
    silu_mul_portable(gate, up, hidden, n);
}

// x: [T, D] -> out: [T, D]; gate, up, hidden: [T, F] buffers as in llamaref::swiglu.
inline void swiglu(const TensorView& w1, const TensorView& w2, const TensorView& w3, const float* x, float* out,
                   std::size_t T, float* gate, float* up, float* hidden) {
    const std::size_t F = w1.rows();
    cpu::matmul(w1, x, gate, T);  // [T, F]
    cpu::matmul(w3, x, up, T);    // [T, F]
    silu_mul(gate, up, hidden, T * F);
    cpu::matmul(w2, hidden, out, T);  // [T, D]
}

// GeGLU (Gemma): llamaref::geglu with the three products by cpu::matmul; the gate is the
// reference's gelu_tanh (std::tanh per value: T·F calls, a small part of the time next to the
// products).
inline void geglu(const TensorView& w1, const TensorView& w2, const TensorView& w3, const float* x, float* out,
                  std::size_t T, float* gate, float* up, float* hidden) {
    gated_ffn<gelu_tanh>(cpu::matmul, w1, w2, w3, x, out, T, gate, up, hidden);
}

}  // namespace llamaref::cpu
