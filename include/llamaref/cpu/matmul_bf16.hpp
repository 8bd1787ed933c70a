// llamaref/cpu/matmul_bf16.hpp — Y = bf16(X)·Wᵀ for BF16 weights on AVX-512 BF16's dot-product
// instruction: the prefill of a BF16 model under llama.cpp's activation rounding.
//
// Specification: the reference matmul (core/ops.hpp) of X rounded to bfloat16, as
// core/quant_activations.hpp rounds it for a BF16 weight (ActivationRounding::bf16: what
// llama.cpp does before every BF16 product, `--llamacpp-rounding`). Both factors then have 8
// significant bits, so every product w·x is exact in float32 (16 bits) and this kernel differs
// from the specification only in the order of the additions — as llama.cpp, which runs the same
// instruction, does in its own order. VDPBF16PS adds two products to each of 16 float32 lanes:
//
//     acc[j] = acc[j] + w[2j]·x[2j] + w[2j+1]·x[2j+1]        j = 0..15: 32 columns per instruction
//
// twice the columns of a float32 FMA, with no conversion of the weights (they are multiplied as
// stored). That is why llama.cpp's BF16 prefill runs at twice its float32 rate, and why llamaref's
// exact one (float32 activations, every product in dot_blocked's order, cpu/matmul.hpp) cannot:
// it does the float32 work. This kernel is the one fast kernel that does not keep dot_blocked's
// order, so it runs only when asked for (llama.cpp's rounding on, T ≥ 4, a CPU with AVX512_BF16)
// and is tested against the specification within a reassociation's error, not bit for bit.
// (The instruction reads subnormal inputs as zero and flushes subnormal results: magnitudes
// below 1e-38, which a model's activations and weights do not reach.)
//
// The order, fixed whatever the thread count (tests check it): per output, the columns in blocks
// of kColumns; per block, 16 lanes as above (a row's last columns padded with zeros), summed as
// avx2::hsum of each half, low + high; the block sums added into y in column order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/parallel.hpp"
#include "matmul.hpp"
#include "simd.hpp"

namespace llamaref::cpu {

#if LLAMAREF_HAVE_AVX2_KERNELS
namespace avx512bf16 {

// Blocks: 2048 columns (4 KiB of a row and of a token) × 128 tokens (512 KiB of X: L2). Measured
// (W [2048, 2048] and [2048, 5632], T = 128, 1 thread, Zen 5, GFLOP/s, two alternating rounds):
// 2048 × 128: 229–258; 1024 × 128: 214–224; 512 × 128: 167–169; 4096 × 64–128: 173–245.
constexpr std::size_t kColumns = 2048;
constexpr std::size_t kTokenBlock = 128;

// A tile: RM tokens × RN weight rows, 16 float32 accumulators each (RM·RN ≤ 24 of 32 registers).
// sums[i·RN + j] = token i's sum with row j over columns [0, n), w[j] and x[i] at column 0.
template <int RM, int RN>
LLAMAREF_AVX512BF16 inline void tile(const uint16_t* const* w, const uint16_t* const* x, std::size_t n, float* sums) {
    __m512 acc[RM * RN];
#pragma GCC unroll 24
    for (int a = 0; a < RM * RN; ++a) acc[a] = _mm512_setzero_ps();
    for (std::size_t k = 0; k < n; k += 32) {
        // 32 columns; past the row's end the mask reads zeros, which add nothing (a separate
        // unmasked main loop measured no faster)
        const __mmask32 m = k + 32 <= n ? ~__mmask32(0) : __mmask32((uint64_t(1) << (n - k)) - 1);
        __m512bh wv[RN];
#pragma GCC unroll 8
        for (int j = 0; j < RN; ++j) wv[j] = __m512bh(_mm512_maskz_loadu_epi16(m, w[j] + k));
#pragma GCC unroll 8
        for (int i = 0; i < RM; ++i) {
            // x from L2, asked for four lines ahead (W [2048, 2048], T = 128, 1 thread, three
            // alternating rounds: 205–208 → 220–226 GFLOP/s; 1 KiB ahead 215–217)
            _mm_prefetch(reinterpret_cast<const char*>(x[i] + k) + 256, _MM_HINT_T0);
            const __m512bh xv = __m512bh(_mm512_maskz_loadu_epi16(m, x[i] + k));
#pragma GCC unroll 8
            for (int j = 0; j < RN; ++j) acc[i * RN + j] = _mm512_dpbf16_ps(acc[i * RN + j], xv, wv[j]);
        }
    }
    // (Every loop over acc is unrolled: indexed at run time, acc would live in memory, and GCC
    // then stores all 16 registers after every step — half the speed.)
    if constexpr (RM * RN % 8 == 0) {
#pragma GCC unroll 3
        for (int a = 0; a < RM * RN; a += 8) {
            __m512 r[8];
            float halves[16];  // [2b], [2b + 1]: register a + b's low and high half
#pragma GCC unroll 8
            for (int b = 0; b < 8; ++b) r[b] = acc[a + b];
            avx512::hsum16(r, halves);
#pragma GCC unroll 8
            for (int b = 0; b < 8; ++b) sums[a + b] = halves[2 * b] + halves[2 * b + 1];
        }
    } else {
#pragma GCC unroll 24
        for (int a = 0; a < RM * RN; ++a)
            sums[a] = avx2::hsum(_mm512_extractf32x8_ps(acc[a], 0)) + avx2::hsum(_mm512_extractf32x8_ps(acc[a], 1));
    }
}

// Tokens [t, t + RM) × rows [r, r + RN), columns [k0, k0 + n): y += the block's sums.
template <int RM, int RN>
LLAMAREF_AVX512BF16 inline void tile_into(const TensorView& W, const uint16_t* X, std::size_t in, std::size_t t,
                                          std::size_t r, std::size_t k0, std::size_t n, float* Y, std::size_t out) {
    const uint16_t *w[RN], *x[RM];
    for (int j = 0; j < RN; ++j) w[j] = reinterpret_cast<const uint16_t*>(W.row(r + j)) + k0;
    for (int i = 0; i < RM; ++i) x[i] = X + (t + i) * in + k0;
    float sums[RM * RN];
    tile<RM, RN>(w, x, n, sums);
    for (int i = 0; i < RM; ++i)
        for (int j = 0; j < RN; ++j) Y[(t + i) * out + r + j] += sums[i * RN + j];
}

// The tile: 4 tokens × 6 rows (24 accumulators + 6 weight registers + 1 of x; each weight load
// feeds 4 dot products, each x load 6). W [2048, 2048], T = 128, 1 thread, GFLOP/s, 1024-column
// blocks: 4 × 6 213–220, 6 × 4 214–220, 4 × 4 196–197, 8 × 3 187–191, 3 × 8 178–181.
constexpr int kTileTokens = 4, kTileRows = 6;

// Tokens [t0, t1) × rows [r, r + RN), one column block; `next`: the stored weights to prefetch
// meanwhile, a share per tile.
template <int RN>
LLAMAREF_AVX512BF16 void rows_block(const TensorView& W, const uint16_t* X, std::size_t in, std::size_t t0,
                                    std::size_t t1, std::size_t r, std::size_t k0, std::size_t n, float* Y,
                                    std::size_t out, const avx2::NextPanel& next) {
    std::size_t t = t0, tile_index = 0;
    for (; t + kTileTokens <= t1; t += kTileTokens, ++tile_index) {
        next.prefetch(tile_index);
        tile_into<kTileTokens, RN>(W, X, in, t, r, k0, n, Y, out);
    }
    if (t < t1) next.prefetch(tile_index);
    for (; t < t1; ++t) tile_into<1, RN>(W, X, in, t, r, k0, n, Y, out);
}

// Rows [r0, r1) of Y = X·Wᵀ, X already in bfloat16.   X: [T, in] bf16   Y: [T, out]
LLAMAREF_AVX512BF16 inline void prefill_rows(const TensorView& W, const uint16_t* X, float* Y, std::size_t T,
                                             std::size_t r0, std::size_t r1) {
    const std::size_t in = W.cols(), out = W.rows(), tiles = (std::min(T, kTokenBlock) + kTileTokens - 1) / kTileTokens;
    for (std::size_t t = 0; t < T; ++t) std::fill(Y + t * out + r0, Y + t * out + r1, 0.0f);
    for (std::size_t k0 = 0; k0 < in; k0 += kColumns) {
        const std::size_t n = std::min(kColumns, in - k0);
        for (std::size_t t0 = 0; t0 < T; t0 += kTokenBlock) {
            const std::size_t t1 = std::min(T, t0 + kTokenBlock);
            // In the first token block each row group's weights come from memory: the next group's
            // are prefetched (into L2) while this one's tiles run, as in cpu/matmul_avx2.hpp.
            auto next_group = [&](std::size_t r, std::size_t rows) {
                const bool first = t0 == 0 && r < r1;
                return avx2::NextPanel(W, r, first ? std::min(rows, r1 - r) : 0, k0, k0 + n, tiles);
            };
            std::size_t r = r0;
            for (; r + kTileRows <= r1; r += kTileRows)
                rows_block<kTileRows>(W, X, in, t0, t1, r, k0, n, Y, out, next_group(r + kTileRows, kTileRows));
            for (; r < r1; ++r) rows_block<1>(W, X, in, t0, t1, r, k0, n, Y, out, next_group(r + 1, 1));
        }
    }
}

// X rounded to bfloat16: round to nearest even as f32_to_bf16, except that the instruction flushes
// subnormal inputs to zero (see the opening).   X: [n] float32 → out: [n] bf16
LLAMAREF_AVX512BF16 inline void round_to_bf16(const float* X, uint16_t* out, std::size_t n) {
    std::size_t k = 0;
    for (; k + 16 <= n; k += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + k), __m256i(_mm512_cvtneps_pbh(_mm512_loadu_ps(X + k))));
    for (; k < n; ++k) out[k] = f32_to_bf16(X[k]);
}

}  // namespace avx512bf16
#endif

// Whether matmul_bf16_rounded runs here: AVX512_BF16, and the kernels not held below AVX-512.
inline bool has_bf16_dot() {
#if LLAMAREF_HAVE_AVX2_KERNELS
    static const bool cpu_has = detect_avx512_bf16();  // asked once: CPUID is slow in a virtual machine
    return isa() == Isa::avx512 && cpu_has;
#else
    return false;
#endif
}

// Y = bf16(X) · Wᵀ (the specification: core/ops.hpp's matmul of X rounded to bfloat16), W BF16,
// with the dot-product instruction above; call only where has_bf16_dot().
//   W: [out, in] BF16   X: [T, in] float32   Y: [T, out]
inline void matmul_bf16_rounded(const TensorView& W, const float* X, float* Y, std::size_t T) {
#if LLAMAREF_HAVE_AVX2_KERNELS
    if (W.dtype != DType::BF16 || !has_bf16_dot())
        fail("matmul_bf16_rounded: needs BF16 weights and a CPU with AVX512_BF16");
    const std::size_t in = W.cols();
    thread_local std::vector<uint16_t> xb;  // [T, in] bf16; grows once
    xb.resize(T * in);
    avx512bf16::round_to_bf16(X, xb.data(), T * in);
    const uint16_t* Xb = xb.data();  // (in the workers `xb` would name their own, empty buffers)
    parallel_for_chunks(W.rows(), 2 * kPanelRows,
                        [&](std::size_t r0, std::size_t r1) { avx512bf16::prefill_rows(W, Xb, Y, T, r0, r1); });
#else
    (void)W, (void)X, (void)Y, (void)T;
    fail("matmul_bf16_rounded: needs an x86 CPU with AVX512_BF16");
#endif
}

}  // namespace llamaref::cpu
