// llamaref/cpu/matmul_avx512.hpp — the AVX-512 kernels of the fast Y = X·Wᵀ.
//
// Part of cpu/matmul.hpp, which includes it after the constants and the portable kernel; read
// that file's opening first. Compiled whatever the build flags (LLAMAREF_AVX512, cpu/simd.hpp),
// run when the CPU has AVX-512 F, DQ, BW and VL.
//
// Two outputs per register. Every output is summed in dot_blocked's order: one chain of eight
// lanes per 256-column block. A 16-lane register cannot hold 16 columns of one output without
// changing that order (columns k and k + 8 would land in different lanes), so it holds two
// outputs side by side instead: the low eight lanes belong to weight row r, the high eight to row
// r + 1, and both are multiplied by the same eight x values (x[k..k+7] broadcast to both halves):
//
//     acc  = [ w[r][k..k+7]   | w[r+1][k..k+7] ]  ·  [ x[k..k+7] | x[k..k+7] ]  +  acc
//
// One instruction then does the work of two AVX2 ones, and the results are bit for bit those of
// the AVX2 and portable kernels (tests/test_cpu_kernels.cpp checks it).
//
// Prefill: the float32 panel is stored in row pairs, interleaved eight columns at a time,
//     pair p, columns c..c+7  →  16 floats [ row 2p: c..c+7 | row 2p+1: c..c+7 ]
// so one load gives a pair's weights. A tile is 4 tokens × 4 pairs (8 rows): 16 accumulators of
// the 32 registers, each weight load feeding 4 FMAs and each x load 4. A tile's 32 block sums
// are reduced eight registers at a time (hsum16), and added into Y eight outputs at a time.
// Measured alone (bench_kernels 2048 2048 128, 1 thread, Zen 5, GFLOP/s of the fastest run, AVX2
// → AVX-512): F32 68–69 → 124–126, BF16 74–75 → 140–144, Q8_0 87 → 146–152, Q4_K 86–89 → 150–156.
// Decode keeps the AVX2 kernel (see the note at "decode" below).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../core/ops.hpp"
#include "dequantize.hpp"
#include "matmul_avx2.hpp"
#include "simd.hpp"

namespace llamaref::cpu {

#if LLAMAREF_HAVE_AVX2_KERNELS
namespace avx512 {

// s_lo += the low half's sum, s_hi += the high half's, each in dot_blocked's order.
LLAMAREF_AVX512 inline void hsum2(__m512 v, float& s_lo, float& s_hi) {
    s_lo += avx2::hsum(_mm512_extractf32x8_ps(v, 0));  // (not the cast: GCC 12 warns in its header)
    s_hi += avx2::hsum(_mm512_extractf32x8_ps(v, 1));
}

// The same sums for the 16 outputs of eight registers r[0..8) at once, with the additions of all
// of them done side by side: each step pairs up 128-bit quarters (or lanes) of two registers and
// adds, so 21 instructions do what 16 hsum calls do in ~160. The association is hsum's:
//   step 1: q[j] = l[j] + l[j+4]            (quarters 0+1 of each half: l0..3 + l4..7)
//   step 2: (q0 + q2), (q1 + q3)
//   step 3: (q0 + q2) + (q1 + q3)
// out[2n] = the sum of register n's low half, out[2n + 1] of its high half.
LLAMAREF_AVX512 inline void hsum16(const __m512* r, float* out) {
    __m512 s[4], v[2];
    for (int k = 0; k < 4; ++k)  // quarters of s[k]: [r2k lo, r2k hi, r2k+1 lo, r2k+1 hi]
        s[k] = _mm512_add_ps(_mm512_shuffle_f32x4(r[2 * k], r[2 * k + 1], 0x88), _mm512_shuffle_f32x4(r[2 * k], r[2 * k + 1], 0xDD));
    for (int k = 0; k < 2; ++k)  // each quarter: [s2k's two partial sums, s2k+1's two]
        v[k] = _mm512_add_ps(_mm512_shuffle_ps(s[2 * k], s[2 * k + 1], 0x44), _mm512_shuffle_ps(s[2 * k], s[2 * k + 1], 0xEE));
    // quarter q, lane m: s[m]'s quarter q, i.e. register 2m + q / 2, half q % 2
    const __m512 z = _mm512_add_ps(_mm512_shuffle_ps(v[0], v[1], 0x88), _mm512_shuffle_ps(v[0], v[1], 0xDD));
    // so output 2n + h is z[4·(2·(n % 2) + h) + n / 2]: one permutation puts them in order
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    _mm512_storeu_ps(out, _mm512_permutexvar_ps(order, z));
}

// x[k..k+7] in both halves.
LLAMAREF_AVX512 inline __m512 broadcast8(const float* x) { return _mm512_broadcast_f32x8(_mm256_loadu_ps(x)); }

// --- prefill ---------------------------------------------------------------------------------

// Where the eight weights of panel row j, columns c..c+7 (c relative to the panel's k0, a
// multiple of 8) lie in a pair-interleaved panel.
inline float* pair_slot(float* panel, std::size_t j, std::size_t c) {
    return panel + (j / 2) * 2 * kKBlock + 2 * c + (j % 2) * 8;
}

// Converts rows [p, p + nrows), columns [k0, k1) of W into the panel (an odd last row's partner: zeros).
template <class L>
LLAMAREF_AVX512 void fill_pairs(const TensorView& W, std::size_t p, std::size_t nrows, std::size_t k0, std::size_t k1,
                                float* panel) {
    for (std::size_t j = 0; j < nrows; ++j) {
        const std::byte* row = W.row(p + j);
        if constexpr (avx2::BlockFormat<L>) {
            const std::byte* blocks = row + dtype_bytes(W.dtype, k0);
            for (std::size_t c = 0; c < k1 - k0; c += L::kValues) {
                L block;
                block.start(blocks + c / L::kValues * L::kBytes);
                for (int s = 0; s < int(L::kValues / 32); ++s)
#pragma GCC unroll 4
                    for (int g = 0; g < 4; ++g) _mm256_storeu_ps(pair_slot(panel, j, c + 32 * s + 8 * g), block.group(s, g));
            }
        } else {
            for (std::size_t c = 0; c < k1 - k0; c += 8) _mm256_storeu_ps(pair_slot(panel, j, c), L::load(row, k0 + c));
        }
    }
    if (nrows % 2)
        for (std::size_t c = 0; c < k1 - k0; c += 8) _mm256_storeu_ps(pair_slot(panel, nrows, c), _mm256_setzero_ps());
}

// RM tokens × RP pairs over columns [k0, k1): sums[2·RP·i + 2q + h] = the block's sum for token
// i and row 2q + h of the pairs. `pairs` is the first pair's 2·kKBlock floats; the next follows.
template <int RM, int RP>
LLAMAREF_AVX512 inline void pair_tile(const float* pairs, const float* const* x, std::size_t k0, std::size_t k1,
                                      float* sums) {
    __m512 acc[RM * RP];  // token i, pair q at i·RP + q
#pragma GCC unroll 16
    for (int a = 0; a < RM * RP; ++a) acc[a] = _mm512_setzero_ps();
    for (std::size_t k = k0; k < k1; k += 8) {
        const float* w = pairs + 2 * (k - k0);
        __m512 wv[RP];
#pragma GCC unroll 8
        for (int q = 0; q < RP; ++q) wv[q] = _mm512_loadu_ps(w + q * 2 * kKBlock);
#pragma GCC unroll 8
        for (int i = 0; i < RM; ++i) {
            const __m512 xv = broadcast8(x[i] + k);
#pragma GCC unroll 8
            for (int q = 0; q < RP; ++q) acc[i * RP + q] = _mm512_fmadd_ps(wv[q], xv, acc[i * RP + q]);
        }
    }
    if constexpr (RM * RP % 8 == 0) {
        for (int a = 0; a < RM * RP; a += 8) hsum16(acc + a, sums + 2 * a);
    } else {
        for (int a = 0; a < RM * RP; ++a) {
            sums[2 * a] = sums[2 * a + 1] = 0.0f;
            hsum2(acc[a], sums[2 * a], sums[2 * a + 1]);
        }
    }
}

// Tokens [t, t + RM) × the panel's pairs [q0, q0 + RP): each output y += its block's sum (rows
// past nrows skipped).
template <int RM, int RP>
LLAMAREF_AVX512 void pairs_into(const float* panel, std::size_t q0, std::size_t nrows, const float* X, std::size_t in,
                                std::size_t t, std::size_t k0, std::size_t k1, float* Y, std::size_t out, std::size_t r) {
    const float* x[RM];
    for (int i = 0; i < RM; ++i) x[i] = X + (t + i) * in;
    float sums[2 * RM * RP];
    pair_tile<RM, RP>(panel + q0 * 2 * kKBlock, x, k0, k1, sums);
    const std::size_t j0 = 2 * q0, n = std::min<std::size_t>(2 * RP, nrows - j0);
    for (int i = 0; i < RM; ++i) {
        float* y = Y + (t + i) * out + r + j0;
        if (RP == 4 && n == 8)
            _mm256_storeu_ps(y, _mm256_add_ps(_mm256_loadu_ps(y), _mm256_loadu_ps(sums + 8 * i)));
        else
            for (std::size_t c = 0; c < n; ++c) y[c] += sums[2 * RP * i + c];
    }
}

// The tile: 4 tokens × 4 pairs (16 accumulators). Measured beside 6 × 4, 8 × 3 and 4 × 6 (24
// accumulators): 6 × 4 was 0–3 % faster, within the machine's noise, the others slower.
constexpr int kTileTokens = 4, kTilePairs = 4;

template <int RM>
LLAMAREF_AVX512 void panel_rows(const float* panel, std::size_t nrows, const float* X, std::size_t in, std::size_t t,
                                std::size_t k0, std::size_t k1, float* Y, std::size_t out, std::size_t r) {
    const std::size_t npairs = (nrows + 1) / 2;
    std::size_t q = 0;
    for (; q + kTilePairs <= npairs; q += kTilePairs) pairs_into<RM, kTilePairs>(panel, q, nrows, X, in, t, k0, k1, Y, out, r);
    for (; q < npairs; ++q) pairs_into<RM, 1>(panel, q, nrows, X, in, t, k0, k1, Y, out, r);
}

// As avx2::prefill_rows, with the pair-interleaved panel.
template <class L>
LLAMAREF_AVX512 void prefill_rows(const TensorView& W, const float* X, float* Y, std::size_t T, std::size_t r0,
                                  std::size_t r1) {
    const std::size_t in = W.cols(), out = W.rows(), n8 = in / 8 * 8;
    thread_local std::vector<float> panel_buffer;
    panel_buffer.resize(kPanelRows * kKBlock);  // kPanelRows is even: whole pairs
    float* panel = panel_buffer.data();
    for (std::size_t t = 0; t < T; ++t) std::fill(Y + t * out + r0, Y + t * out + r1, 0.0f);
    for (std::size_t k0 = 0; k0 < n8; k0 += kKBlock) {
        const std::size_t k1 = std::min(n8, k0 + kKBlock);
        for (std::size_t p = r0; p < r1; p += kPanelRows) {
            const std::size_t nrows = std::min(kPanelRows, r1 - p);
            fill_pairs<L>(W, p, nrows, k0, k1, panel);
            const bool more_rows = p + kPanelRows < r1;  // the next panel, prefetched as in AVX2
            const std::size_t next_r = more_rows ? p + kPanelRows : r0, next_k0 = more_rows ? k0 : k1;
            const avx2::NextPanel next(W, next_r, std::min(kPanelRows, r1 - next_r), next_k0,
                                       std::min(n8, next_k0 + kKBlock), (T + kTileTokens - 1) / kTileTokens);
            std::size_t t = 0, tile_index = 0;
            for (; t + kTileTokens <= T; t += kTileTokens, ++tile_index) {
                next.prefetch(tile_index);
                panel_rows<kTileTokens>(panel, nrows, X, in, t, k0, k1, Y, out, p);
            }
            if (t < T) next.prefetch(tile_index);
            for (; t < T; ++t) panel_rows<1>(panel, nrows, X, in, t, k0, k1, Y, out, p);
        }
    }
    if (n8 != in)
        for (std::size_t t = 0; t < T; ++t)
            for (std::size_t r = r0; r < r1; ++r) Y[t * out + r] = avx2::tail(W, r, X + t * in, n8, in, Y[t * out + r]);
}

// --- decode ----------------------------------------------------------------------------------
// Decode runs the AVX2 kernel. A 16-lane Q8_0 decode (two rows' blocks interleaved by 8-byte
// halves, then widened, converted and scaled on 16 lanes) was written and measured: 13 % faster
// on a matrix in L2, no faster from memory or in the model (TinyLlama, 1 thread, --no-mmap:
// 10.8 / 8.9 tok/s AVX2, 10.4 / 9.5 with it), so it was not kept. F32 and BF16 decode are bound
// by memory.

// The same chunks as avx2::matmul_as: every output is computed the same way wherever it falls.
template <class L>
void matmul_as(const TensorView& W, const float* X, float* Y, std::size_t T) {
    parallel_for_chunks(W.rows(), T <= 3 ? 64 : 2 * kPanelRows, [&](std::size_t r0, std::size_t r1) {
        switch (T) {
            case 1: avx2::decode_rows<L, 1>(W, X, Y, r0, r1); break;
            case 2: avx2::decode_rows<L, 2>(W, X, Y, r0, r1); break;
            case 3: avx2::decode_rows<L, 3>(W, X, Y, r0, r1); break;
            default: prefill_rows<L>(W, X, Y, T, r0, r1);
        }
    });
}

inline void matmul(const TensorView& W, const float* X, float* Y, std::size_t T) {
    avx2::with_reader(W.dtype, [&](auto reader) { matmul_as<decltype(reader)>(W, X, Y, T); });
}

}  // namespace avx512
#endif

}  // namespace llamaref::cpu
