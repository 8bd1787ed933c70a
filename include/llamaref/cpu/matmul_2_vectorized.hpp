// llamaref/cpu/matmul_2_vectorized.hpp — the matrix product's ladder, step 2: one register, eight lanes.
//
// Step 1 (matmul_1_blocked.hpp) keeps eight partial sums per block of columns. An AVX2 register
// holds eight floats, so the eight lanes become one register and one instruction,
// _mm256_fmadd_ps, makes all eight multiply-adds of a step: lanes[j] = fma(w[k+j], x[k+j], lanes[j])
// for j = 0..7 at once, each lane rounded exactly as step 1 rounds it. At a block's end the
// register is added up in step 1's pairwise order (avx2::hsum, the fast kernels' own), so the
// result is bit-identical to step 1 — and eight times fewer arithmetic instructions.
//
// What is still slow: each output reads its weight row and its token row from memory or cache
// again, two loads for one FMA; step 3 lets one load serve several FMAs.
#pragma once

#include <cmath>
#include <cstddef>

#include "matmul.hpp"  // avx2::hsum (the fast kernels' horizontal sum)
#include "matmul_1_blocked.hpp"

namespace llamaref::cpu {

#if LLAMAREF_HAVE_AVX2_KERNELS
// dot_blocked with the eight lanes in one register.   w, x: [n] float32
LLAMAREF_AVX2 inline float dot_vectorized(const float* w, const float* x, std::size_t n) {
    const std::size_t n8 = n / 8 * 8;
    float y = 0.0f;
    for (std::size_t k0 = 0; k0 < n8; k0 += kKBlock) {
        __m256 lanes = _mm256_setzero_ps();
        for (std::size_t k = k0; k < std::min(n8, k0 + kKBlock); k += 8)
            lanes = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), lanes);  // 8 FMAs
        y += avx2::hsum(lanes);  // ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7))
    }
    for (std::size_t k = n8; k < n; ++k) y = std::fma(w[k], x[k], y);
    return y;
}

// Step 2: Y = X · Wᵀ, each output a dot_vectorized.   W: [out, in] F32   X: [T, in]   Y: [T, out]
// Needs AVX2 (use_avx2()).
LLAMAREF_AVX2 inline void matmul_vectorized(const TensorView& W, const float* X, float* Y, std::size_t T) {
    const std::size_t out = W.rows(), in = W.cols();
    const float* w = f32_weights(W, "matmul_vectorized");
    for (std::size_t r = 0; r < out; ++r)
        for (std::size_t t = 0; t < T; ++t) Y[t * out + r] = dot_vectorized(w + r * in, X + t * in, in);
}
#endif

}  // namespace llamaref::cpu
