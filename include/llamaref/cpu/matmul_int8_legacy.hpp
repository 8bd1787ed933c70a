// llamaref/cpu/matmul_int8_legacy.hpp — Y = round(X)·Wᵀ on AVX-512 VNNI's integer dot products for
// the formats of 32-weight blocks: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (core/quant_legacy.hpp) and IQ4_NL
// (core/quant_iq4.hpp), whose activations llama.cpp rounds to Q8_0 blocks (Q8_1 for Q4_1 / Q5_1:
// the same q and d, plus a block sum). Included by cpu/matmul_int8.hpp, which opens with the
// method; read its equation (1) first.
//
// Specification: the reference matmul (core/ops.hpp) of X rounded as core/quant_activations.hpp
// rounds it for W's type, plus, for Q4_1 / Q5_1, llamacpp_q8_1_correction. Every format here is
// w = d_w·c + m_w per weight, with c a small integer (m_w = 0 but for Q4_1 / Q5_1), so a block's
// share of a dot product with x' = d_x·q_x is
//
//     (d_w·d_x) · Σ_k c_k·q_x,k   +   m_w·s_x                                                  (4)
//
// with s_x the activations' Q8_1 block sum (d_x·Σ q_x before F16 rounding, stored in F16: what
// llama.cpp's product adds, see core/quant_activations.hpp). VPDPBUSD wants its first factor
// unsigned, so each format gives c as an unsigned byte u = c + o and the lane starts at
// −o·Σ_{i<4} q_x[4j+i]:
//
//     format     c                        u = c + o                        o
//     Q8_0       q (int8)                 q XOR 0x80                       128
//     Q4_0       nibble − 8               nibble                           8
//     Q5_0       nibble + 16·bit − 16     nibble + 16·bit                  16
//     Q4_1       nibble                   nibble                           0
//     Q5_1       nibble + 16·bit          nibble + 16·bit                  0
//     IQ4_NL     level[nibble]            level[nibble] + 128 (VPSHUFB)    128
//
// The starts −128·Σ q_x are computed once per token (Q8Activations); o = 8 and 16 divide 128, so
// their starts are that one shifted right (exact: a multiple of 128). A register holds two blocks
// in value order, lanes 0–7 block b, 8–15 block b + 1: the nibble formats put byte j's low nibble
// at value j and its high nibble at value j + 16, so the 16 bytes of a block fill the 32 bytes of
// its eight lanes as [low nibbles | high nibbles]; Q5_0 / Q5_1's 32 bits qh (bit i: value i) become a 64-bit mask
// for the two blocks that adds 16 where set.
//
// The order, fixed whatever the thread count: per output, the pairs of blocks in column order dealt
// round-robin to four accumulators, a last odd block as a pair with an empty upper half; then
// (acc0 + acc1) + (acc2 + acc3), summed as avx2::hsum of each half, low + high; Q4_1 / Q5_1 add
// the m_w·s_x terms, one accumulator of its own (each lane m_w·s_x / 8: the eight lanes of a block
// sum to m_w·s_x), last.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/quant_activations.hpp"
#include "../core/quant_iq4.hpp"
#include "../core/quant_legacy.hpp"
#include "matmul.hpp"
#include "quant_activations.hpp"  // cpu::quantize_block_q8_0: core's, vectorized
#include "simd.hpp"

namespace llamaref::cpu {

// Rows of activations as Q8_0 blocks, laid out for the kernels; a row's blocks are padded to an
// even number with a zero block (q = 0, d = 0, s = 0), so every block has a partner.
struct Q8Activations {
    std::size_t blocks = 0;      // per row, padded (even)
    std::vector<int8_t> q;       // [T, blocks·32]   q_x
    std::vector<int32_t> start;  // [T, blocks·8]    each lane's start, −128·Σ of its four q_x
    std::vector<float> d;        // [T, blocks·8]    d_x, once for each of its block's eight lanes
    std::vector<float> s8;       // [T, blocks·8]    Q8_1's block sum s_x / 8 in each lane (if asked for)

    // X: [T, in] float32, in a multiple of 32 (the weight's row length). sums: fill s8 (Q4_1, Q5_1).
    void prepare(const float* X, std::size_t T, std::size_t in, bool sums = false) {
        const std::size_t n = in / 32;
        blocks = (n + 1) / 2 * 2;
        q.resize(T * blocks * 32);  // (keeps the capacity: no allocation per token)
        start.resize(T * blocks * 8);
        d.resize(T * blocks * 8);
        s8.resize(sums ? T * blocks * 8 : 0);
        for (std::size_t t = 0; t < T; ++t) {
            if (n < blocks) {  // the padding block: zeros
                std::fill_n(&q[(t * blocks + n) * 32], 32, int8_t(0));
                std::fill_n(&start[(t * blocks + n) * 8], 8, 0);
                std::fill_n(&d[(t * blocks + n) * 8], 8, 0.0f);
                if (sums) std::fill_n(&s8[(t * blocks + n) * 8], 8, 0.0f);
            }
            for (std::size_t b = 0; b < n; ++b) {
                int8_t* qb = &q[(t * blocks + b) * 32];
                const float* x = X + t * in + 32 * b;
                const float db = cpu::quantize_block_q8_0(x, qb);
                const float sb = sums ? q8_1_block_sum(x, qb) / 8.0f : 0.0f;
                for (std::size_t j = 0; j < 8; ++j) {
                    start[(t * blocks + b) * 8 + j] =
                        -128 * (qb[4 * j] + qb[4 * j + 1] + qb[4 * j + 2] + qb[4 * j + 3]);
                    d[(t * blocks + b) * 8 + j] = db;
                    if (sums) s8[(t * blocks + b) * 8 + j] = sb;
                }
            }
        }
    }
};

// IQ4_NL's and IQ4_XS's levels + 128, as unsigned bytes for VPDPBUSD (a VPSHUFB table).
alignas(16) inline constexpr uint8_t kIq4LevelsPlus128[16] = {
    uint8_t(kIq4Levels[0] + 128),  uint8_t(kIq4Levels[1] + 128),  uint8_t(kIq4Levels[2] + 128),
    uint8_t(kIq4Levels[3] + 128),  uint8_t(kIq4Levels[4] + 128),  uint8_t(kIq4Levels[5] + 128),
    uint8_t(kIq4Levels[6] + 128),  uint8_t(kIq4Levels[7] + 128),  uint8_t(kIq4Levels[8] + 128),
    uint8_t(kIq4Levels[9] + 128),  uint8_t(kIq4Levels[10] + 128), uint8_t(kIq4Levels[11] + 128),
    uint8_t(kIq4Levels[12] + 128), uint8_t(kIq4Levels[13] + 128), uint8_t(kIq4Levels[14] + 128),
    uint8_t(kIq4Levels[15] + 128)};

// Whether type t is one of this header's: 32-weight blocks whose activations are Q8_0 / Q8_1.
constexpr bool is_int8_legacy(DType t) {
    return t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q4_1 || t == DType::Q5_0 || t == DType::Q5_1 ||
           t == DType::IQ4_NL;
}

#if LLAMAREF_HAVE_AVX2_KERNELS
namespace avx512vnni {

// The weights' side of (4) for each format: the block layout, u for two blocks (64 bytes, lanes as
// above; hi = nullptr: block b alone, zeros above), the start's shift (o = 128 >> shift) and
// whether the block has a minimum m (F16 bits at offset 2, as the scale d at 0).
// Q4_0, Q4_1, Q5_*, IQ4_NL: the 16 bytes of nibbles of blocks b (lo) and b + 1 (hi; nullptr: zeros)
// as [low nibbles of b | high nibbles of b | the same of b + 1].
LLAMAREF_AVX512VNNI inline __m512i nibbles(const uint8_t* lo, const uint8_t* hi) {
    const __m256i a = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lo)));
    const __m256i b = hi ? _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(hi)))
                         : _mm256_setzero_si256();
    const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);  // [b, b, b + 1, b + 1] by 16 bytes
    // the second and fourth 16 bytes (quadwords 2, 3, 6, 7) take the high nibbles
    return _mm512_and_si512(_mm512_mask_blend_epi64(0xCC, both, _mm512_srli_epi16(both, 4)), _mm512_set1_epi8(0x0F));
}
// Q5_0 / Q5_1: the nibbles, plus 16 where bit i of the block's qh is set (value i).
template <class Block>
LLAMAREF_AVX512VNNI inline __m512i with_fifth_bit(__m512i u, const Block* lo, const Block* hi) {
    uint32_t h_lo, h_hi = 0;
    std::memcpy(&h_lo, lo->qh, 4);
    if (hi) std::memcpy(&h_hi, hi->qh, 4);
    const __mmask64 k = _cvtu64_mask64(uint64_t(h_lo) | uint64_t(h_hi) << 32);
    return _mm512_mask_add_epi8(u, k, u, _mm512_set1_epi8(16));
}

template <DType T>
struct Legacy;
template <>
struct Legacy<DType::Q8_0> {
    using Block = BlockQ8_0;
    static constexpr int kShift = 0;
    static constexpr bool kMin = false;
    LLAMAREF_AVX512VNNI static __m512i u(const Block* lo, const Block* hi) {
        const __m512i w =
            hi ? _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo->q))),
                                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi->q)), 1)
               : _mm512_maskz_loadu_epi8(0xFFFFFFFFull, lo->q);    // block b + 1 absent: zeros
        return _mm512_xor_si512(w, _mm512_set1_epi8(char(0x80)));  // q + 128, unsigned
    }
};
template <>
struct Legacy<DType::Q4_0> {
    using Block = BlockQ4_0;
    static constexpr int kShift = 4;  // o = 8
    static constexpr bool kMin = false;
    LLAMAREF_AVX512VNNI static __m512i u(const Block* lo, const Block* hi) {
        return nibbles(lo->qs, hi ? hi->qs : nullptr);
    }
};
template <>
struct Legacy<DType::Q4_1> {
    using Block = BlockQ4_1;
    static constexpr int kShift = -1;  // o = 0: the lanes start at zero
    static constexpr bool kMin = true;
    LLAMAREF_AVX512VNNI static __m512i u(const Block* lo, const Block* hi) {
        return nibbles(lo->qs, hi ? hi->qs : nullptr);
    }
};
template <>
struct Legacy<DType::Q5_0> {
    using Block = BlockQ5_0;
    static constexpr int kShift = 3;  // o = 16
    static constexpr bool kMin = false;
    LLAMAREF_AVX512VNNI static __m512i u(const Block* lo, const Block* hi) {
        return with_fifth_bit(nibbles(lo->qs, hi ? hi->qs : nullptr), lo, hi);
    }
};
template <>
struct Legacy<DType::Q5_1> {
    using Block = BlockQ5_1;
    static constexpr int kShift = -1;
    static constexpr bool kMin = true;
    LLAMAREF_AVX512VNNI static __m512i u(const Block* lo, const Block* hi) {
        return with_fifth_bit(nibbles(lo->qs, hi ? hi->qs : nullptr), lo, hi);
    }
};
template <>
struct Legacy<DType::IQ4_NL> {
    using Block = BlockIQ4_NL;
    static constexpr int kShift = 0;  // o = 128
    static constexpr bool kMin = false;
    LLAMAREF_AVX512VNNI static __m512i u(const Block* lo, const Block* hi) {
        const __m512i table =
            _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(kIq4LevelsPlus128)));
        return _mm512_shuffle_epi8(table, nibbles(lo->qs, hi ? hi->qs : nullptr));  // (nibbles < 16)
    }
};
static_assert(offsetof(BlockQ4_1, m) == 2 && offsetof(BlockQ5_1, m) == 2);

// acc + (d_w·d_x)·Σ c·q_x of blocks b and b + 1 of a row (or block b alone: Two = false) with one
// token's activations, lanes as above; acc_m + m_w·s_x / 8 per lane (formats with a minimum).
template <DType Type, bool Two>
LLAMAREF_AVX512VNNI inline __m512 pair(const std::byte* row, std::size_t b, const int8_t* q, const int32_t* start,
                                       const float* d, const float* s8, __m512 acc, __m512& acc_m) {
    using F = Legacy<Type>;
    using Block = typename F::Block;
    const Block* lo = reinterpret_cast<const Block*>(row) + b;
    const Block* hi = Two ? lo + 1 : nullptr;
    uint16_t d_lo, d_hi = 0;  // the weights' scales, float16 bits
    std::memcpy(&d_lo, lo, 2);
    if constexpr (Two) std::memcpy(&d_hi, hi, 2);
    __m512i first = _mm512_setzero_si512();  // the lanes' start: −o·Σ of their four q_x
    if constexpr (F::kShift >= 0) {
        first = _mm512_loadu_si512(start + 8 * b);
        if constexpr (F::kShift > 0) first = _mm512_srai_epi32(first, F::kShift);
    }
    const __m512i sum = _mm512_dpbusd_epi32(first, F::u(lo, hi), _mm512_loadu_si512(q + 32 * b));  // Σ c·q_x, exact
    const __m256i dh =
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(short(d_lo))), _mm_set1_epi16(short(d_hi)), 1);
    const __m512 scale = _mm512_mul_ps(_mm512_cvtph_ps(dh), _mm512_loadu_ps(d + 8 * b));  // d_w·d_x, exact
    if constexpr (F::kMin) {
        uint16_t m_lo, m_hi = 0;
        std::memcpy(&m_lo, reinterpret_cast<const std::byte*>(lo) + 2, 2);
        if constexpr (Two) std::memcpy(&m_hi, reinterpret_cast<const std::byte*>(hi) + 2, 2);
        const __m256i mh = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(short(m_lo))),
                                                   _mm_set1_epi16(short(m_hi)), 1);
        acc_m = _mm512_fmadd_ps(_mm512_cvtph_ps(mh), _mm512_loadu_ps(s8 + 8 * b), acc_m);
    }
    return _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(sum), acc);
}

// Rows [r0, r1) of Y = q8_0(X)·Wᵀ for the T rows of A; each weight row is read from memory once
// (for the first token; the others find it in L1).
template <DType Type>
LLAMAREF_AVX512VNNI inline void rows_legacy(const TensorView& W, const Q8Activations& A, float* Y, std::size_t T,
                                            std::size_t r0, std::size_t r1) {
    using Block = typename Legacy<Type>::Block;
    const std::size_t n = W.cols() / 32, out = W.rows(), row_bytes = W.row_bytes(), size = W.nbytes();
    constexpr std::size_t step_bytes = 8 * sizeof(Block);  // four pairs
    for (std::size_t r = r0; r < r1; ++r) {
        const std::byte* row = W.data + r * row_bytes;
        avx2::touch_pages(W.data, size, r * row_bytes + avx2::kTouchAhead, (r + 1) * row_bytes + avx2::kTouchAhead);
        for (std::size_t t = 0; t < T; ++t) {
            const int8_t* q = &A.q[t * A.blocks * 32];
            const int32_t* start = &A.start[t * A.blocks * 8];
            const float* d = &A.d[t * A.blocks * 8];
            const float* s8 = A.s8.empty() ? nullptr : &A.s8[t * A.blocks * 8];
            const char* ahead = reinterpret_cast<const char*>(row) + avx2::kDecodeAhead;  // (a prefetch never faults)
            __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            __m512 acc_m = _mm512_setzero_ps();
            std::size_t b = 0;
            for (; b + 8 <= n; b += 8, ahead += step_bytes) {
                if (t == 0)
#pragma GCC unroll 4
                    for (std::size_t o = 0; o < step_bytes; o += 64) _mm_prefetch(ahead + o, _MM_HINT_T0);
#pragma GCC unroll 4
                for (int u = 0; u < 4; ++u) acc[u] = pair<Type, true>(row, b + 2 * u, q, start, d, s8, acc[u], acc_m);
            }
            int u = 0;  // the last pairs continue the round
            for (; b + 2 <= n; b += 2, ++u) acc[u] = pair<Type, true>(row, b, q, start, d, s8, acc[u], acc_m);
            if (b < n) acc[u] = pair<Type, false>(row, b, q, start, d, s8, acc[u], acc_m);
            const __m512 s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
            float y = avx2::hsum(_mm512_extractf32x8_ps(s, 0)) + avx2::hsum(_mm512_extractf32x8_ps(s, 1));
            if constexpr (Legacy<Type>::kMin)
                y += avx2::hsum(_mm512_extractf32x8_ps(acc_m, 0)) + avx2::hsum(_mm512_extractf32x8_ps(acc_m, 1));
            Y[t * out + r] = y;
        }
    }
}

// Y = q8_0(X)·Wᵀ for a W of one of this header's types (is_int8_legacy), threads over rows.
inline void matmul_int8_legacy(const TensorView& W, const float* X, float* Y, std::size_t T) {
    thread_local Q8Activations acts;  // grows once
    acts.prepare(X, T, W.cols(), W.dtype == DType::Q4_1 || W.dtype == DType::Q5_1);
    const Q8Activations* A = &acts;  // (in the workers `acts` would name their own, empty one)
    parallel_for_chunks(W.rows(), 64, [&](std::size_t r0, std::size_t r1) {
        switch (W.dtype) {
            case DType::Q8_0: return rows_legacy<DType::Q8_0>(W, *A, Y, T, r0, r1);
            case DType::Q4_0: return rows_legacy<DType::Q4_0>(W, *A, Y, T, r0, r1);
            case DType::Q4_1: return rows_legacy<DType::Q4_1>(W, *A, Y, T, r0, r1);
            case DType::Q5_0: return rows_legacy<DType::Q5_0>(W, *A, Y, T, r0, r1);
            case DType::Q5_1: return rows_legacy<DType::Q5_1>(W, *A, Y, T, r0, r1);
            case DType::IQ4_NL: return rows_legacy<DType::IQ4_NL>(W, *A, Y, T, r0, r1);
            default: fail("matmul_int8_legacy: ", dtype_name(W.dtype), " is not a 32-block format");
        }
    });
}

}  // namespace avx512vnni
#endif

}  // namespace llamaref::cpu
