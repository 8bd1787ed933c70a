// llamaref/cpu/matmul_avx512.hpp — the AVX-512 kernels of the fast Y = X·Wᵀ.
//
// Part of cpu/matmul.hpp, which includes it after the constants and the portable kernel; read
// that file's opening first. Compiled whatever the build flags (LLAMAREF_AVX512, cpu/simd.hpp),
// run when the CPU has AVX-512 F, DQ, BW and VL.
//
// Two chains per register. Every output is summed in dot_blocked's order: one chain of eight
// lanes per 256-column block. A 16-lane register cannot hold 16 columns of one chain without
// changing that order (columns k and k + 8 would land in different lanes), so it holds two
// chains side by side instead: in prefill two outputs (the low eight lanes belong to weight row
// r, the high eight to row r + 1, both multiplied by the same x[k..k+7]), in decode two column
// blocks of one output (see "decode" below):
//
//     prefill:  acc = [ w[r][k..k+7] | w[r+1][k..k+7] ]  ·  [ x[k..k+7] | x[k..k+7] ]  +  acc
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
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>
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

// All 16 lanes. The masked forms with it are the plain instructions; GCC 12's unmasked
// shuffle/permute/broadcast intrinsics pass an "undefined" register its -Wmaybe-uninitialized reports.
constexpr __mmask16 kAll = 0xFFFF;

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
        s[k] = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(kAll, r[2 * k], r[2 * k + 1], 0x88),
                             _mm512_maskz_shuffle_f32x4(kAll, r[2 * k], r[2 * k + 1], 0xDD));
    for (int k = 0; k < 2; ++k)  // each quarter: [s2k's two partial sums, s2k+1's two]
        v[k] = _mm512_add_ps(_mm512_shuffle_ps(s[2 * k], s[2 * k + 1], 0x44),
                             _mm512_shuffle_ps(s[2 * k], s[2 * k + 1], 0xEE));
    // quarter q, lane m: s[m]'s quarter q, i.e. register 2m + q / 2, half q % 2
    const __m512 z = _mm512_add_ps(_mm512_shuffle_ps(v[0], v[1], 0x88), _mm512_shuffle_ps(v[0], v[1], 0xDD));
    // so output 2n + h is z[4·(2·(n % 2) + h) + n / 2]: one permutation puts them in order
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    _mm512_storeu_ps(out, _mm512_maskz_permutexvar_ps(kAll, order, z));
}

// x[k..k+7] in both halves.
LLAMAREF_AVX512 inline __m512 broadcast8(const float* x) {
    return _mm512_maskz_broadcast_f32x8(kAll, _mm256_loadu_ps(x));
}

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
                    for (int g = 0; g < 4; ++g)
                        _mm256_storeu_ps(pair_slot(panel, j, c + 32 * s + 8 * g), block.group(s, g));
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
                                std::size_t t, std::size_t k0, std::size_t k1, float* Y, std::size_t out,
                                std::size_t r) {
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
    for (; q + kTilePairs <= npairs; q += kTilePairs)
        pairs_into<RM, kTilePairs>(panel, q, nrows, X, in, t, k0, k1, Y, out, r);
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
// Decode reads one row at a time, front to back, its column blocks as independent chains (see
// avx2's note at kDecodeAhead). Here a 16-lane register holds two column blocks side by side —
// the low eight lanes block b, the high eight block b + 1 — so each instruction converts and
// multiplies 16 weights, half the instructions of the AVX2 kernel:
//
//     acc  = [ w[k0+c .. k0+c+7] | w[k0+256+c .. k0+256+c+7] ]  ·  [ x[k0+c ..] | x[k0+256+c ..] ]  +  acc
//
// Each lane still sums one column of one block, step after step, so every block sum — and the
// order they are added in — is dot_blocked's. x is repacked once per call in this order
// (pack_pairs: the pair of blocks at column K, columns c..c+7 of each, at xp[K + 2c]), so the FMA
// reads it with one load. R::kPairs pairs (2·kPairs blocks, kPairs chains) are read at a time for
// one token (two for two or three tokens: 32 registers hold no more), then two, then one; what is
// left of the row after its last whole pair (one block, a short block, a tail) is AVX2's.
// Formats: BF16, F16 and Q8_0; the others decode with the AVX2 kernel (an F32 pair reader was
// measured no faster: F32 decode is bound by memory, not instructions).
// Measured alone (bench_kernels 16384 4096 1 5 1, 1 thread, Zen 5, GB/s of W, medians of 5
// alternating runs, AVX2 → AVX-512): BF16 26–33 → 32–36, F16 24–26 → 28–31, Q8_0 18.5–19.4 →
// 20.7–22.1; on a matrix in cache BF16 28 → 55, Q8_0 15 → 23. BF16: two pairs at a time beat
// one and three or four (in cache BF16 56 vs 36 / 47 / 49). Q8_0 spends four times the
// instructions per weight, and each step's four FMAs into one chain wait on each other: four
// pairs at a time, W [256, 2048] in L2 24.1 → 26.0 GB/s, [16384, 4096] 21.6 → 22.6.

// 32 bytes in the low half of a 512-bit register, zeros above. (GCC 12's own casts and zero
// extensions leave the rest "undefined" in a way its -Wuninitialized reports; a masked insert
// into zeros does not.)
LLAMAREF_AVX512 inline __m512i widen(const std::byte* p) {
    return _mm512_maskz_inserti64x4(0xFF, _mm512_setzero_si512(),
                                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), 0);
}

// Pair readers: columns c..c+31 of blocks b and b + 1 as four registers, w[g] = columns c + 8g ..
// c + 8g + 7 of each; `a` is column c of block b in the row's storage, block b + 1 lies kKBlock
// columns (kKBlock / 32 units) further.
struct PairBF16 {
    using Single = avx2::LoadBF16;
    static constexpr std::size_t kUnitBytes = 64;  // bytes of 32 columns
    static constexpr int kPairs = 2;               // pairs of blocks decode reads at a time
    LLAMAREF_AVX512 static void read(const std::byte* a, __m512 (&w)[4]) {
        // 16 words of each block at a time (block b's are words 0..15 of the permutation's
        // table, b + 1's 32..47); lane j of w[g] takes word (j < 8 ? 8g' + j : 32 + 8g' + j − 8),
        // g' = g % 2, as its top half and zeros below.
        const __m512i first =
            _mm512_setr_epi32(0 << 16, 1 << 16, 2 << 16, 3 << 16, 4 << 16, 5 << 16, 6 << 16, 7 << 16, 32 << 16,
                              33 << 16, 34 << 16, 35 << 16, 36 << 16, 37 << 16, 38 << 16, 39 << 16);
        const __m512i second = _mm512_add_epi32(first, _mm512_set1_epi32(8 << 16));
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            const __m512i lo = widen(a + 32 * h), hi = widen(a + kKBlock / 32 * kUnitBytes + 32 * h);
            w[2 * h] = _mm512_castsi512_ps(_mm512_maskz_permutex2var_epi16(0xAAAAAAAAu, lo, first, hi));
            w[2 * h + 1] = _mm512_castsi512_ps(_mm512_maskz_permutex2var_epi16(0xAAAAAAAAu, lo, second, hi));
        }
    }
};
struct PairF16 {
    using Single = avx2::LoadF16;
    static constexpr std::size_t kUnitBytes = 64;
    static constexpr int kPairs = 2;
    LLAMAREF_AVX512 static void read(const std::byte* a, __m512 (&w)[4]) {
#pragma GCC unroll 4
        for (int g = 0; g < 4; ++g) {
            const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 16 * g));
            const __m128i hi =
                _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + kKBlock / 32 * kUnitBytes + 16 * g));
            w[g] = _mm512_maskz_cvtph_ps(0xFFFF, _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
        }
    }
};
struct PairQ8_0 {  // one block of each: d · q, as avx2::ReadQ8_0
    using Single = avx2::ReadQ8_0;
    static constexpr std::size_t kUnitBytes = sizeof(BlockQ8_0);
    static constexpr int kPairs = 4;
    LLAMAREF_AVX512 static void read(const std::byte* a, __m512 (&w)[4]) {
        const std::byte* b = a + kKBlock / 32 * kUnitBytes;
        // Each q is placed in the top byte of its lane (q · 2²⁴, zeros below), so d is taken
        // times 2⁻²⁴: both products are exact (d has 11 significant bits, q 8), so d · q is the
        // same float as avx2::ReadQ8_0's. The two float16 scales are broadcast into the halves
        // and converted together.
        uint16_t da, db;
        std::memcpy(&da, a, 2), std::memcpy(&db, b, 2);
        const __m256i dh =
            _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(short(da))), _mm_set1_epi16(short(db)), 1);
        const __m512 d = _mm512_mul_ps(_mm512_maskz_cvtph_ps(0xFFFF, dh), _mm512_set1_ps(0x1p-24f));
        // 128-bit quarters: q[0..16) and q[16..32) of block b, then of block b + 1.
        const __m512i q = _mm512_maskz_inserti64x4(0xFF, widen(a + 2),
                                                   _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2)), 1);
        // Lane 4·Q + m (quarter Q) of step g takes byte 8·(g % 2) + 4·(Q % 2) + m of its quarter;
        // vpshufb zeroes the bytes whose index has the top bit set.
        const __m512i top = _mm512_setr_epi32(0x00808080, 0x01808080, 0x02808080, 0x03808080, 0x04808080, 0x05808080,
                                              0x06808080, 0x07808080, 0x00808080, 0x01808080, 0x02808080, 0x03808080,
                                              0x04808080, 0x05808080, 0x06808080, 0x07808080);
        const __m512i top_second = _mm512_add_epi32(top, _mm512_set1_epi32(0x08000000));
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {  // steps 2h and 2h + 1: quarters (h, h, 2 + h, 2 + h)
            const __m512i u = h == 0 ? _mm512_maskz_shuffle_i32x4(0xFFFF, q, q, 0xA0)
                                     : _mm512_maskz_shuffle_i32x4(0xFFFF, q, q, 0xF5);
            w[2 * h] = _mm512_mul_ps(d, _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_shuffle_epi8(u, top)));
            w[2 * h + 1] = _mm512_mul_ps(d, _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_shuffle_epi8(u, top_second)));
        }
    }
};
template <class L>
struct PairOf {
    using type = void;
};
template <>
struct PairOf<avx2::LoadBF16> {
    using type = PairBF16;
};
template <>
struct PairOf<avx2::LoadF16> {
    using type = PairF16;
};
template <>
struct PairOf<avx2::ReadQ8_0> {
    using type = PairQ8_0;
};

// x in pair order, for columns [0, end) (end a multiple of 2·kKBlock).   x, xp: [end]
inline void pack_pairs(const float* x, std::size_t end, float* xp) {
    for (std::size_t K = 0; K < end; K += 2 * kKBlock)
        for (std::size_t c = 0; c < kKBlock; c += 8) {
            std::copy(x + K + c, x + K + c + 8, xp + K + 2 * c);
            std::copy(x + K + kKBlock + c, x + K + kKBlock + c + 8, xp + K + 2 * c + 8);
        }
}

// NP pairs of whole blocks of one row, columns [k0, k0 + 2·NP·kKBlock), for RM tokens: s[i] gets
// the 2·NP block sums added in column order. `ahead` is the storage kDecodeAhead past column k0.
template <class R, int RM, int NP>
LLAMAREF_AVX512 inline void pair_group(const std::byte* row, const float* const* xp, std::size_t k0, float (&s)[RM],
                                       const char* ahead) {
    __m512 acc[RM][NP];
#pragma GCC unroll 4
    for (int i = 0; i < RM; ++i)
#pragma GCC unroll 4
        for (int p = 0; p < NP; ++p) acc[i][p] = _mm512_setzero_ps();
    constexpr std::size_t step_bytes = 2 * NP * R::kUnitBytes;  // read per 32 columns
    const std::byte* w_at = row + k0 / 32 * R::kUnitBytes;      // column k0 + c of the row's storage
    const float* x_at[RM];                                      // column k0 + c of each token's xp
    for (int i = 0; i < RM; ++i) x_at[i] = xp[i] + k0;
    for (std::size_t c = 0; c < kKBlock; c += 32, w_at += R::kUnitBytes, ahead += step_bytes) {
#pragma GCC unroll 8
        for (std::size_t b = 0; b < step_bytes; b += 64) _mm_prefetch(ahead + b, _MM_HINT_T0);
        __m512 w[NP][4];
#pragma GCC unroll 4
        for (int p = 0; p < NP; ++p) R::read(w_at + 2 * p * kKBlock / 32 * R::kUnitBytes, w[p]);
#pragma GCC unroll 4
        for (int g = 0; g < 4; ++g)
#pragma GCC unroll 4
            for (int i = 0; i < RM; ++i)
#pragma GCC unroll 4
                for (int p = 0; p < NP; ++p) {
                    const __m512 xv = _mm512_loadu_ps(x_at[i] + 2 * p * kKBlock + 16 * g);
                    acc[i][p] = _mm512_fmadd_ps(w[p][g], xv, acc[i][p]);
                }
#pragma GCC unroll 4
        for (int i = 0; i < RM; ++i) x_at[i] += 64;
    }
#pragma GCC unroll 4
    for (int i = 0; i < RM; ++i)
#pragma GCC unroll 4
        for (int p = 0; p < NP; ++p) {
            s[i] += avx2::hsum(_mm512_extractf32x8_ps(acc[i][p], 0));
            s[i] += avx2::hsum(_mm512_extractf32x8_ps(acc[i][p], 1));
        }
}

// Decode: T = RM ≤ 3 tokens, rows [r0, r1). XP: the tokens' x in pair order, [RM, pairs_end].
template <class R, int RM>
LLAMAREF_AVX512 void decode_rows(const TensorView& W, const float* X, const float* XP, float* Y, std::size_t r0,
                                 std::size_t r1) {
    using L = typename R::Single;
    constexpr int NP = RM == 1 ? R::kPairs : 2;
    const std::size_t in = W.cols(), n8 = in / 8 * 8, pairs_end = n8 / (2 * kKBlock) * 2 * kKBlock;
    const float *x[RM], *xp[RM];
    for (int i = 0; i < RM; ++i) x[i] = X + i * in, xp[i] = XP + i * pairs_end;
    const std::size_t row_bytes = W.row_bytes(), size = W.nbytes();
    for (std::size_t r = r0; r < r1; ++r) {
        const std::byte* row = W.data + r * row_bytes;
        avx2::touch_pages(W.data, size, r * row_bytes + avx2::kTouchAhead, (r + 1) * row_bytes + avx2::kTouchAhead);
        const char* ahead = reinterpret_cast<const char*>(row) + avx2::kDecodeAhead;  // (never faults: a prefetch)
        float s[RM] = {};
        std::size_t k0 = 0;
        for (; k0 + 2 * NP * kKBlock <= pairs_end; k0 += 2 * NP * kKBlock)
            pair_group<R, RM, NP>(row, xp, k0, s, ahead + k0 / 32 * R::kUnitBytes);
        if constexpr (NP > 2)
            for (; k0 + 4 * kKBlock <= pairs_end; k0 += 4 * kKBlock)
                pair_group<R, RM, 2>(row, xp, k0, s, ahead + k0 / 32 * R::kUnitBytes);
        for (; k0 < pairs_end; k0 += 2 * kKBlock) pair_group<R, RM, 1>(row, xp, k0, s, ahead + k0 / 32 * R::kUnitBytes);
        avx2::finish_row<L, RM>(W, r, x, k0, s, Y);  // the last block, a short one, the tail
    }
}

// The same chunks as avx2::matmul_as: every output is computed the same way wherever it falls.
template <class L>
void matmul_as(const TensorView& W, const float* X, float* Y, std::size_t T) {
    using R = typename PairOf<L>::type;
    if constexpr (!std::is_void_v<R>) {
        const std::size_t in = W.cols(), pairs_end = in / 8 * 8 / (2 * kKBlock) * 2 * kKBlock;
        if (T >= 1 && T <= 3 && pairs_end > 0) {
            thread_local std::vector<float> packed;  // grows once; no allocation per token after that
            packed.resize(T * pairs_end);
            for (std::size_t t = 0; t < T; ++t) pack_pairs(X + t * in, pairs_end, packed.data() + t * pairs_end);
            const float* XP = packed.data();
            parallel_for_chunks(W.rows(), 64, [&](std::size_t r0, std::size_t r1) {
                switch (T) {
                    case 1: decode_rows<R, 1>(W, X, XP, Y, r0, r1); break;
                    case 2: decode_rows<R, 2>(W, X, XP, Y, r0, r1); break;
                    case 3: decode_rows<R, 3>(W, X, XP, Y, r0, r1); break;
                }
            });
            return;
        }
    }
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
