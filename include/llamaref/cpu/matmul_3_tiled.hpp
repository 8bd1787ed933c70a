// llamaref/cpu/matmul_3_tiled.hpp — the matrix product's ladder, step 3: register tiles.
//
// Step 2 (matmul_2_vectorized.hpp) loads 8 weights and 8 activations for every 8-lane FMA: two
// loads per FMA, and the CPU can load only two registers per cycle but could run two FMAs. A
// prefill multiplies the same weights by many tokens, so compute a tile of outputs together:
//
//   for each block of columns, 8 at a time:
//       w_0 .. w_{RN−1}  = 8 weights of each of RN rows             (RN loads)
//       x_0 .. x_{RM−1}  = 8 activations of each of RM tokens       (RM loads)
//       acc[i][j] = fma(w_j, x_i, acc[i][j])  for every pair        (RM·RN FMAs)
//
// With RM = 4 tokens and RN = 3 rows that is 7 loads for 12 FMAs, and the 12 accumulators fill
// 12 of AVX2's 16 registers. Every accumulator is step 2's `lanes` for its output, added up the
// same way at the block's end (avx2::tile, the fast path's own kernel), so every output is
// bit-identical to steps 1 and 2 whatever tile it falls in. Tiles at the edges (T mod 4 tokens,
// out mod 3 rows) are smaller tiles of the same kernel.
//
// Still one thread; and the fast path (step 5) also converts 16-bit or quantized weights once per
// panel of rows into float32 kept in L2, which F32 weights do not need.
#pragma once

#include <algorithm>
#include <cstddef>

#include "matmul.hpp"  // avx2::tile, avx2::tail: the fast path's tile kernel and column tail
#include "matmul_2_vectorized.hpp"

namespace llamaref::cpu {

#if LLAMAREF_HAVE_AVX2_KERNELS
namespace ladder {
// The RM × RN outputs of tokens t0 .. t0+RM−1 and rows r0 .. r0+RN−1: every column block, then the
// last in % 8 columns.   Y[t, r]: [T, out]
template <int RM, int RN>
LLAMAREF_AVX2 void tile_outputs(const TensorView& W, const float* X, float* Y, std::size_t t0, std::size_t r0) {
    const std::size_t out = W.rows(), in = W.cols(), n8 = in / 8 * 8;
    const std::byte* w[RN];  // the RN weight rows
    const float* x[RM];      // the RM token rows
    for (int j = 0; j < RN; ++j) w[j] = W.row(r0 + std::size_t(j));
    for (int i = 0; i < RM; ++i) x[i] = X + (t0 + std::size_t(i)) * in;
    float s[RM][RN] = {};
    for (std::size_t k0 = 0; k0 < n8; k0 += kKBlock)
        avx2::tile<avx2::LoadF32, RM, RN>(w, 0, x, k0, std::min(n8, k0 + kKBlock), s);  // s[i][j] += block sum
    for (int i = 0; i < RM; ++i)
        for (int j = 0; j < RN; ++j)
            Y[(t0 + std::size_t(i)) * out + r0 + std::size_t(j)] =
                avx2::tail(W, r0 + std::size_t(j), x[i], n8, in, s[i][j]);
}

// A tile of m ≤ 4 tokens × n ≤ 3 rows: the kernel instantiated for that size.
template <int RM>
LLAMAREF_AVX2 void tile_rows(const TensorView& W, const float* X, float* Y, std::size_t t0, std::size_t r0,
                             std::size_t n) {
    if (n == 3) return tile_outputs<RM, 3>(W, X, Y, t0, r0);
    if (n == 2) return tile_outputs<RM, 2>(W, X, Y, t0, r0);
    tile_outputs<RM, 1>(W, X, Y, t0, r0);
}
LLAMAREF_AVX2 inline void tile_any(const TensorView& W, const float* X, float* Y, std::size_t t0, std::size_t r0,
                                   std::size_t m, std::size_t n) {
    switch (m) {
        case 4: return tile_rows<4>(W, X, Y, t0, r0, n);
        case 3: return tile_rows<3>(W, X, Y, t0, r0, n);
        case 2: return tile_rows<2>(W, X, Y, t0, r0, n);
        default: return tile_rows<1>(W, X, Y, t0, r0, n);
    }
}
}  // namespace ladder

// Step 3 on rows [r0, r1) of W: tiles of 3 rows × 4 tokens.   Y: [T, out]
LLAMAREF_AVX2 inline void matmul_tiled_rows(const TensorView& W, const float* X, float* Y, std::size_t T,
                                            std::size_t r0, std::size_t r1) {
    f32_weights(W, "matmul_tiled");
    for (std::size_t r = r0; r < r1; r += 3)
        for (std::size_t t = 0; t < T; t += 4)
            ladder::tile_any(W, X, Y, t, r, std::min<std::size_t>(4, T - t), std::min<std::size_t>(3, r1 - r));
}

// Step 3: Y = X · Wᵀ in register tiles.   W: [out, in] F32   X: [T, in]   Y: [T, out]   Needs AVX2.
LLAMAREF_AVX2 inline void matmul_tiled(const TensorView& W, const float* X, float* Y, std::size_t T) {
    matmul_tiled_rows(W, X, Y, T, 0, W.rows());
}
#endif

}  // namespace llamaref::cpu
