// llamaref/cpu/matmul.hpp — the fast Y = X·Wᵀ: SIMD, cache-blocked, threaded.
//
// Specification: llamaref::matmul in core/ops.hpp (same arguments, same result up to the order
// of additions). W [out, in] is a weight view of any dtype, X [T, in] and Y [T, out] float32.
// This is step 5 of the ladder that matmul_1_blocked.hpp opens: read steps 1–4 first (the order
// of additions, one register, register tiles, threads), then what this file adds to them.
//
// Why it is fast
//   Decode (T = 1..3) is bound by memory: every weight is read once per token. The kernel reads
//   the stored bytes (2 per weight for BF16/F16, 34 per 32 for Q8_0, 144 per 256 for Q4_K …)
//   and converts them in registers (the block formats through cpu/dequantize.hpp's readers) —
//   never into a float32 copy in memory. It reads one row at a time, front to back (memory
//   serves one forward stream much faster than several), computing up to 4 of the row's
//   column blocks at once so the FMA chains overlap. Threads take chunks of rows.
//   Prefill (T ≥ 4) is bound by arithmetic: 2·T·in·out FLOPs. Weights are converted once per
//   panel of 48 rows × 256 columns into a float32 buffer that stays in L2, and reused by every
//   token; each 4-token × 3-row tile keeps 12 sums in 12 AVX registers (the 4 token vectors come
//   from L1, the 3 weight vectors from L2), so every load feeds several FMAs.
//   Those are the AVX2 kernels (cpu/matmul_avx2.hpp). On a CPU with AVX-512 the prefill tiles are
//   4 tokens × 8 rows, two rows per 16-lane register, and BF16/F16/Q8_0 decode holds two column
//   blocks of a row per register (cpu/matmul_avx512.hpp); the rest runs the AVX2 code.
//   (Under llama.cpp's activation rounding a BF16 prefill may instead multiply bf16 by bf16, and
//   a Q8_0, Q4_K, Q5_K or Q6_K decode integers, in another order: cpu/matmul_bf16.hpp and
//   cpu/matmul_int8.hpp, called by the Transformer, not here.)
//
// The arithmetic (the same in every kernel, portable, AVX2 or AVX-512, decode or prefill, whatever
// the thread count — so results are bit-identical between them, and tests check it; it is
// dot_blocked's, matmul_1_blocked.hpp):
//
//   y = 0
//   for each block of kKBlock = 256 columns (the last may be shorter), k in steps of 8:
//       lanes[0..7] = 0;   lanes[j] = fma(w[k+j], x[k+j], lanes[j])   for each group of 8
//       y += ((lanes0+lanes4) + (lanes2+lanes6)) + ((lanes1+lanes5) + (lanes3+lanes7))
//   for the last in % 8 columns:  y = fma(w[k], x[k], y)
//
// where w[k] is the stored weight converted to float32 exactly as core/dtype.hpp does it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../core/ops.hpp"
#include "dequantize.hpp"
#include "matmul_1_blocked.hpp"  // kKBlock, dot_blocked: the order of additions
#include "simd.hpp"

namespace llamaref::cpu {

constexpr std::size_t kPanelRows = 48;  // weight rows converted at once: 48 KiB of float32 (L2)

// --- the portable kernel: the arithmetic above (dot_blocked, matmul_1_blocked.hpp), threaded --

inline void matmul_portable(const TensorView& W, const float* X, float* Y, std::size_t T) {
    const std::size_t out = W.rows(), in = W.cols();
    parallel_for(out, [&](std::size_t r0, std::size_t r1) {
        thread_local std::vector<float> row;
        row.resize(in);
        for (std::size_t r = r0; r < r1; ++r) {
            W.row_to_f32(r, row.data());
            for (std::size_t t = 0; t < T; ++t) Y[t * out + r] = dot_blocked(row.data(), X + t * in, in);
        }
    });
}

}  // namespace llamaref::cpu

// The vector kernels, each in its own file: they use the constants above and must equal
// matmul_portable bit for bit.
#include "matmul_avx2.hpp"
#include "matmul_avx512.hpp"

namespace llamaref::cpu {

#if LLAMAREF_HAVE_AVX2_KERNELS
// The vector kernels of isa() (AVX-512 or AVX2), every dtype, decode and prefill: about a hundred
// instantiations that -O3 takes most of a minute to compile, in every file that runs the model
// (examples/tutorials/layer_norms.cpp: 100 s, 26 s without them). Header-only, each file compiles
// them (inline, as here by default). A program can compile them once instead: LLAMAREF_MATMUL_EXTERN
// in every file makes this a declaration, and the one file that also defines LLAMAREF_MATMUL_DEFINE
// holds the definition — the project's tests and examples do this (CMake target llamaref_matmul).
#if defined(LLAMAREF_MATMUL_EXTERN) && !defined(LLAMAREF_MATMUL_DEFINE)
void matmul_vector(const TensorView& W, const float* X, float* Y, std::size_t T);
#else
#ifdef LLAMAREF_MATMUL_DEFINE
void matmul_vector(const TensorView& W, const float* X, float* Y, std::size_t T) {  // the program's one copy
#else
inline void matmul_vector(const TensorView& W, const float* X, float* Y, std::size_t T) {
#endif
    if (isa() == Isa::avx512) return avx512::matmul(W, X, Y, T);
    avx2::matmul(W, X, Y, T);
}
#endif
#endif

// Y = X · Wᵀ with the fastest kernels this CPU has.   W: [out, in]   X: [T, in]   Y: [T, out]
inline void matmul(const TensorView& W, const float* X, float* Y, std::size_t T) {
    if (T == 0) return;  // no tokens: nothing to compute
#if LLAMAREF_HAVE_AVX2_KERNELS
    if (isa() != Isa::portable) return matmul_vector(W, X, Y, T);
#endif
    matmul_portable(W, X, Y, T);
}

}  // namespace llamaref::cpu
