// llamaref/cpu/matmul_1_blocked.hpp — the matrix product's ladder, step 1: a fixed order of additions.
//
// Y = X · Wᵀ is 95% of a forward pass's time. The ladder shows how the specification's 14 lines
// (llamaref::matmul, core/ops.hpp) become the fast path, one idea per step, each step in its own
// short header and tested equal to the step before (tests/test_matmul_ladder.cpp), each timed by
// examples/bench_matmul_ladder.cpp (docs/performance.md, "The ladder"). Float32 weights throughout;
// the fast path adds the other dtypes as loaders of 8 weights at a time.
//
//   0  core/ops.hpp             llamaref::matmul     one dot product per output, columns in order
//   1  matmul_1_blocked.hpp     matmul_blocked       8 partial sums per block of 256 columns: the
//                                                    order of additions every later step keeps
//   2  matmul_2_vectorized.hpp  matmul_vectorized    the 8 partial sums in one AVX2 register
//   3  matmul_3_tiled.hpp       matmul_tiled         4 tokens × 3 rows per tile: a load feeds 3–4 FMAs
//   4  matmul_4_threaded.hpp    matmul_threaded      the rows shared among the threads
//   5  matmul.hpp               cpu::matmul          the fast path: every dtype, AVX-512, weights
//                                                    converted once per L2 panel, decode streaming
//   6  matmul_int8.hpp          matmul_int8_rounded  under llama.cpp's rounding: integer products
//
// Step 1 changes no speed, only the order: step 0 adds the products of a row in column order;
// here, within each block of kKBlock columns, product k goes to lane k mod 8, the eight lanes are
// added pairwise at the block's end, and the blocks in order:
//
//   y = 0
//   for each block of kKBlock = 256 columns (the last may be shorter), k in steps of 8:
//       lanes[0..7] = 0;   lanes[j] = fma(w[k+j], x[k+j], lanes[j])   for each group of 8
//       y += ((lanes0+lanes4) + (lanes2+lanes6)) + ((lanes1+lanes5) + (lanes3+lanes7))
//   for the last in % 8 columns:  y = fma(w[k], x[k], y)
//
// Eight independent sums are what a vector register (step 2) holds, and fixing the order now
// makes every later step bit-identical to this one, whatever the ISA or the thread count. Against
// step 0 the result differs only by float32 rounding: |Δ| ≤ 2·γ_n·Σ|w·x| with γ_n = n·2⁻²⁴ (both
// are sums of the same n products; Higham, Accuracy and Stability of Numerical Algorithms, §3.1).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "../core/ops.hpp"

namespace llamaref::cpu {

constexpr std::size_t kKBlock = 256;  // columns per block: a 4-token block of X is 4 KiB (L1)

// The sum of w[0..n) · x[0..n) in the order stated above.   w, x: [n] float32
inline float dot_blocked(const float* w, const float* x, std::size_t n) {
    const std::size_t n8 = n / 8 * 8;
    float y = 0.0f;
    for (std::size_t k0 = 0; k0 < n8; k0 += kKBlock) {
        float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (std::size_t k = k0; k < std::min(n8, k0 + kKBlock); k += 8)
            for (int j = 0; j < 8; ++j) lanes[j] = std::fma(w[k + j], x[k + j], lanes[j]);
        y += ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
    }
    for (std::size_t k = n8; k < n; ++k) y = std::fma(w[k], x[k], y);
    return y;
}

// The ladder's steps take float32 weights only.
inline const float* f32_weights(const TensorView& W, const char* step) {
    if (W.dtype != DType::F32) fail(step, ": the ladder's steps take F32 weights, got ", dtype_name(W.dtype));
    return reinterpret_cast<const float*>(W.data);
}

// Step 1: Y = X · Wᵀ, each output a dot_blocked.   W: [out, in] F32   X: [T, in]   Y: [T, out]
inline void matmul_blocked(const TensorView& W, const float* X, float* Y, std::size_t T) {
    const std::size_t out = W.rows(), in = W.cols();
    const float* w = f32_weights(W, "matmul_blocked");
    for (std::size_t r = 0; r < out; ++r)
        for (std::size_t t = 0; t < T; ++t) Y[t * out + r] = dot_blocked(w + r * in, X + t * in, in);
}

}  // namespace llamaref::cpu
