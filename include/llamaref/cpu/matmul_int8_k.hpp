// llamaref/cpu/matmul_int8_k.hpp — Y = round(X)·Wᵀ on AVX-512 VNNI's integer dot products for the
// formats of 256-weight super-blocks: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (core/quant_k.hpp) and IQ4_XS
// (core/quant_iq4.hpp), whose activations llama.cpp rounds to Q8_K blocks. Included by
// cpu/matmul_int8.hpp, which opens with the method (read its equation (1) first).
//
// Specification: the reference matmul (core/ops.hpp) of X rounded as core/quant_activations.hpp
// rounds it for W's type. Each format's block share is an integer sum of small products times
// float scales, equations (2), (3), (5)–(7) below: the weights' integers are unsigned (or made so),
// VPMADDUBSW multiplies them by q_x into 16-bit pairs (|pair| ≤ 2·63·127), VPDPWSSD multiplies the
// pairs by the sub-block scales into 32-bit lanes; the parts that depend on a sub-block's sum of
// q_x alone (minimums, offsets) are taken once per block from the activations' sums. One float
// rounding per block (two where a block has minimums), blocks in column order per output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../core/parallel.hpp"
#include "../core/quant_activations.hpp"
#include "../core/quant_iq4.hpp"
#include "../core/quant_k.hpp"
#include "matmul.hpp"
#include "matmul_int8_legacy.hpp"  // kIq4LevelsPlus128
#include "quant_activations.hpp"   // cpu::quantize_block_q8_K: core's, vectorized
#include "simd.hpp"

namespace llamaref::cpu {

// Rows of activations as Q8_K blocks of 256 (Q2_K … Q6_K and IQ4_XS weights), laid out for the kernel of
// the weights' type: each block's q in the order its weights come in registers, and the sums of q
// over the sub-blocks in column order (Q4_K / Q5_K's minimums and IQ4_XS's offset: 8 of 32; Q2_K's
// minimums, Q3_K's and Q6_K's offsets: 16 of 16).
struct Q8KActivations {
    std::size_t blocks = 0;     // per row
    std::vector<int8_t> q;      // [T, blocks·256]  q_x (for Q4_K / Q5_K reordered: see q45_K_block)
    std::vector<int16_t> sums;  // [T, blocks·16]   Σ q_x per sub-block (|Σ| ≤ 32·127)
    std::vector<float> d;       // [T, blocks]      d_x

    // X: [T, in] float32, in a multiple of 256; w: Q2_K … Q6_K or IQ4_XS.
    void prepare(const float* X, std::size_t T, std::size_t in, DType w) {
        blocks = in / 256;
        q.resize(T * blocks * 256), sums.resize(T * blocks * 16), d.resize(T * blocks);
        const bool by16 = w == DType::Q2_K || w == DType::Q3_K || w == DType::Q6_K;
        const int sub = by16 ? 16 : 32;  // values per sub-block
        int8_t block[256];
        for (std::size_t tb = 0; tb < T * blocks; ++tb) {  // (rows are whole blocks: block tb starts at tb·256)
            d[tb] = cpu::quantize_block_q8_K(X + tb * 256, block);
            for (int j = 0; j < 256 / sub; ++j) {
                int sum = 0;
                for (int i = 0; i < sub; ++i) sum += block[sub * j + i];
                sums[tb * 16 + j] = int16_t(sum);
            }
            if (w != DType::Q4_K && w != DType::Q5_K) {  // in column order
                std::copy(block, block + 256, &q[tb * 256]);
                continue;
            }
            // Q4_K / Q5_K: register g of the block's four holds sub-blocks (a, a + 2), a = 4·(g / 2) + g % 2:
            // the low nibbles of 64 bytes of qs are the block's sub-blocks 4h and 4h + 2, the high
            // nibbles 4h + 1 and 4h + 3 (h = 0, 1: the first and second 64 bytes).
            for (int g = 0; g < 4; ++g) {
                const int a = 4 * (g / 2) + g % 2;
                std::copy(block + 32 * a, block + 32 * a + 32, &q[tb * 256 + 64 * g]);
                std::copy(block + 32 * (a + 2), block + 32 * (a + 2) + 32, &q[tb * 256 + 64 * g + 32]);
            }
        }
    }
};

// Whether type t is one of this header's: super-blocks whose activations are Q8_K.
constexpr bool is_int8_k(DType t) {
    return t == DType::Q2_K || t == DType::Q3_K || t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K ||
           t == DType::IQ4_XS;
}

#if LLAMAREF_HAVE_AVX2_KERNELS
namespace avx512vnni {

// --- Q4_K and Q5_K × Q8_K --------------------------------------------------------------------
// A Q4_K weight is w = d·sc_j·q − dmin·m_j in sub-block j (32 weights, q in 0..15, sc_j and m_j 6
// bits, core/quant_k.hpp), so a block's share of a dot product with x' = d_x·q_x is
//
//     d_x·d · Σ_j sc_j·Σ_{i in j} q_i·q_x,i   −   d_x·dmin · Σ_j m_j·Σ_{i in j} q_x,i            (2)
//
// both sums exact in integers. The weights' q are unsigned, so VPMADDUBSW multiplies them by q_x
// directly (pairs summed to 16 bits: |2·15·127| fits) and VPDPWSSD adds those pairs times sc_j
// into 32-bit lanes. (The exact kernel computes each w in float32, rounded; (2) is the real w, so
// the two differ by that rounding too, within the tests' bound.) Q5_K is the same with q in
// 0..31: a fifth bit per weight from qh, bit j of qh[l] for value l of sub-block j's 32.

// The eight 6-bit scales (low word) and minimums (high word) of a block, one byte each: k_scale_min
// for j = 0..7 at once. Bytes 0–3 hold sc_0..3 (low 6 bits) and the top bits of sc_4..7; bytes 4–7
// m_0..3 and the top bits of m_4..7; bytes 8–11 the low 4 bits of sc_4..7 (low nibble) and m_4..7.
inline void q4_K_scales(const uint8_t (&packed)[12], uint64_t& scales, uint64_t& mins) {
    uint32_t b[3];
    std::memcpy(b, packed, 12);
    const uint32_t sc_lo = b[0] & 0x3F3F3F3Fu, m_lo = b[1] & 0x3F3F3F3Fu;
    const uint32_t sc_hi = (b[2] & 0x0F0F0F0Fu) | (((b[0] >> 6) & 0x03030303u) << 4);
    const uint32_t m_hi = ((b[2] >> 4) & 0x0F0F0F0Fu) | (((b[1] >> 6) & 0x03030303u) << 4);
    scales = sc_lo | uint64_t(sc_hi) << 32;
    mins = m_lo | uint64_t(m_hi) << 32;
}

// acc += d_x·d·(the block's scaled integer sums, 16 lanes); acc_min += d_x·dmin·(Σ m_j·Σ q_x, 4 lanes).
// Block: BlockQ4_K or BlockQ5_K.
template <class Block>
LLAMAREF_AVX512VNNI inline void q45_K_block(const Block& b, const int8_t* q, const int16_t* sums, float d_x,
                                            __m512& acc, __m128& acc_min) {
    constexpr bool five = std::is_same_v<Block, BlockQ5_K>;
    uint64_t sc, mn;
    q4_K_scales(b.scales, sc, mn);
    const __m512i sc16 =
        _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(sc))));  // words 0..7
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};  // low, high nibbles: two chains
    __m512i qh = _mm512_setzero_si512();  // Q5_K: qh[0..32) in both halves (column l of each 32 uses qh[l])
    if constexpr (five) {
        const __m256i qh32 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh));
        qh = _mm512_inserti64x4(_mm512_castsi256_si512(qh32), qh32, 1);
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
        const __m512i bytes = _mm512_loadu_si512(b.qs + 64 * h);
#pragma GCC unroll 2
        for (int e = 0; e < 2; ++e) {  // register g = 2h + e: sub-blocks a = 4h + e and a + 2
            __m512i w =
                e == 0 ? _mm512_and_si512(bytes, nibble) : _mm512_and_si512(_mm512_srli_epi16(bytes, 4), nibble);
            if constexpr (five) {                  // + 16 where bit a (low half) or a + 2 (high half) of qh[l] is set
                const short a = short(4 * h + e);  // (16-bit shifts: what crosses bytes is masked off)
                const __m512i shift =
                    _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(a), _mm512_set1_epi16(short(a + 2)));
                w = _mm512_or_si512(
                    w, _mm512_and_si512(_mm512_slli_epi16(_mm512_srlv_epi16(qh, shift), 4), _mm512_set1_epi8(0x10)));
            }
            const __m512i pairs = _mm512_maddubs_epi16(w, _mm512_loadu_si512(q + 64 * (2 * h + e)));  // [32] 16-bit
            const short a = short(4 * h + e);  // words 0–15 take sc_a, 16–31 sc_(a+2)
            const __m512i pick =
                _mm512_set_epi16(a + 2, a + 2, a + 2, a + 2, a + 2, a + 2, a + 2, a + 2, a + 2, a + 2, a + 2, a + 2,
                                 a + 2, a + 2, a + 2, a + 2, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a);
            sum[e] = _mm512_dpwssd_epi32(sum[e], pairs, _mm512_permutexvar_epi16(pick, sc16));
        }
    }
    const float d = _cvtsh_ss(b.d), dmin = _cvtsh_ss(b.dmin);
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d_x * d), _mm512_cvtepi32_ps(_mm512_add_epi32(sum[0], sum[1])), acc);
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(mn)));
    const __m128i msum =
        _mm_madd_epi16(m16, _mm_loadu_si128(reinterpret_cast<const __m128i*>(sums)));  // [4] Σ m_j·Σ q_x
    acc_min = _mm_fmadd_ps(_mm_set1_ps(d_x * dmin), _mm_cvtepi32_ps(msum), acc_min);
}

// The scales of a register of 64 values in sub-blocks of 16 (Q2_K, Q3_K, Q6_K), for VPDPWSSD:
// words 8k..8k+7 (the pairs of values 16k..16k+15) take sc[s0 + k].   sc16: [16] words
LLAMAREF_AVX512VNNI inline __m512i scales_by_16(__m512i sc16, int s0) {
    const __m512i k = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0,
                                       0, 0, 0, 0, 0);
    return _mm512_permutexvar_epi16(_mm512_add_epi16(k, _mm512_set1_epi16(short(s0))), sc16);
}

// --- Q6_K × Q8_K -----------------------------------------------------------------------------
// A Q6_K weight is w = d·sc_j·(u − 32) in sub-block j (16 weights, u = 4 low bits from ql and 2
// high bits from qh, 0..63; sc_j a signed byte; core/quant_k.hpp), so a block's share is
//
//     d_x·d · ( Σ_j sc_j·Σ_{i in j} u_i·q_x,i  −  32·Σ_j sc_j·Σ_{i in j} q_x,i )                 (3)
//
// all in integers. u is unsigned: VPMADDUBSW (pairs ≤ 2·63·127, 16 bits) and VPDPWSSD by sc_j, as
// for Q4_K; the second sum from the activations' sums per sub-block, once per block.
// Half h of a block (128 weights, ql[64h..], qh[32h..], sc[8h..]) in two registers, values in order:
//   [128h + 0..31 | 128h + 32..63]  = low nibbles of ql[64h + 0..63]  | qh bits 0–1 | 2–3 (<< 4)
//   [128h + 64..95 | 128h + 96..127] = high nibbles of ql[64h + 0..63] | qh bits 4–5 | 6–7 (<< 4)
// the qh byte of column l (l < 32) serving the four values l, l + 32, l + 64, l + 96.

// acc += d_x·d·(3), in 16 lanes.
LLAMAREF_AVX512VNNI inline void q6_K_block(const BlockQ6_K& b, const int8_t* q, const int16_t* sums, float d_x,
                                           __m512& acc) {
    const __m512i sc16 =
        _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales))));
    const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
    __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};  // two chains
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
        const __m512i ql = _mm512_loadu_si512(b.ql + 64 * h);
        const __m256i qh32 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
        const __m512i qh = _mm512_inserti64x4(_mm512_castsi256_si512(qh32), qh32, 1);  // the same 32 bytes twice
#pragma GCC unroll 2
        for (int e = 0; e < 2; ++e) {  // e = 0: values 128h + 0..63; e = 1: 128h + 64..127
            // the high bits: qh >> (4e) in the low half, >> (4e + 2) in the high half (16-bit shifts:
            // what crosses from the next byte is masked off), moved to bits 4–5
            const __m512i shift = _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(short(4 * e)),
                                                          _mm512_set1_epi16(short(4 * e + 2)));
            const __m512i high = _mm512_and_si512(_mm512_slli_epi16(_mm512_srlv_epi16(qh, shift), 4), bits45);
            const __m512i nib = e == 0 ? _mm512_and_si512(ql, low4) : _mm512_and_si512(_mm512_srli_epi16(ql, 4), low4);
            const __m512i u = _mm512_or_si512(nib, high);                                             // [64] 0..63
            const __m512i pairs = _mm512_maddubs_epi16(u, _mm512_loadu_si512(q + 128 * h + 64 * e));  // [32] 16-bit
            sum[e] = _mm512_dpwssd_epi32(sum[e], pairs, scales_by_16(sc16, 8 * h + 4 * e));
        }
    }
    // −32·Σ_j sc_j·Σ q_x: 16 products in 8 lanes, times 32, taken from lanes 0–7
    const __m256i offset =
        _mm256_madd_epi16(_mm512_castsi512_si256(sc16), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sums)));
    const __m512i total =
        _mm512_sub_epi32(_mm512_add_epi32(sum[0], sum[1]),
                         _mm512_maskz_inserti64x4(0xFF, _mm512_setzero_si512(), _mm256_slli_epi32(offset, 5), 0));
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d_x * _cvtsh_ss(b.d)), _mm512_cvtepi32_ps(total), acc);
}

// --- Q3_K and Q2_K × Q8_K ---------------------------------------------------------------------
// Both put a 2-bit field per weight in qs, four weights 32 apart in a byte: half h (128 weights)
// reads qs[32h .. 32h + 32), its weights 32j .. 32j + 31 from bits 2j, 2j + 1 (j = 0..3), in
// sub-blocks of 16 with scales as for Q6_K.
// Q3_K: w = d·(ls_s − 32)·(q − 4 + 4·hbit), hbit = bit 4h + j of hmask[l] for weight 32j + l of
// half h (core/quant_k.hpp), so with u = q + 4·hbit (0..7) a block's share is, as (3),
//
//     d_x·d · ( Σ_s sc_s·Σ_{i in s} u_i·q_x,i  −  4·Σ_s sc_s·Σ_{i in s} q_x,i ),   sc_s = ls_s − 32   (5)
//
// Q2_K: w = d·sc_s·q − dmin·m_s (q 0..3; sc_s, m_s the nibbles of scales[s]), as (2):
//
//     d_x·d · Σ_s sc_s·Σ_{i in s} q_i·q_x,i   −   d_x·dmin · Σ_s m_s·Σ_{i in s} q_x,i                (6)

// The 16 ls_s − 32 of Q3_K as signed bytes: scales[0..8) hold the low 4 bits (sub-blocks 0..7 in
// the low nibbles, 8..15 in the high ones), scales[8..12) the top 2 (byte 8 + s % 4, bits 2·(s / 4)).
LLAMAREF_AVX512VNNI inline __m128i q3_K_scales(const BlockQ3_K& b) {
    uint64_t low;
    uint32_t high;
    std::memcpy(&low, b.scales, 8), std::memcpy(&high, b.scales + 8, 4);
    const __m128i l = _mm_cvtsi64_si128(static_cast<long long>(low));
    const __m128i nib = _mm_and_si128(_mm_unpacklo_epi64(l, _mm_srli_epi16(l, 4)), _mm_set1_epi8(0x0F));
    // byte s of the four copies of `high` is byte 8 + s % 4; dword s / 4 shifted right by 2·(s / 4)
    // (what crosses from the next byte is masked off)
    const __m128i top =
        _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32(int(high)), _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(3));
    return _mm_sub_epi8(_mm_or_si128(nib, _mm_slli_epi16(top, 4)), _mm_set1_epi8(32));
}

// Register e (0, 1) of half h: the 2-bit fields of weights 128h + 64e + 0..63, bits 4e, 4e + 1 of
// qs[32h + l] for the first 32, bits 4e + 2, 4e + 3 for the second.   qs: the half's 32 bytes twice
LLAMAREF_AVX512VNNI inline __m512i two_bits(__m512i qs, int e) {
    const __m512i shift =
        _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(short(4 * e)), _mm512_set1_epi16(short(4 * e + 2)));
    return _mm512_and_si512(_mm512_srlv_epi16(qs, shift),
                            _mm512_set1_epi8(3));  // (16-bit shifts: the next byte's bits masked off)
}

// acc += d_x·d·(5), in 16 lanes.
LLAMAREF_AVX512VNNI inline void q3_K_block(const BlockQ3_K& b, const int8_t* q, const int16_t* sums, float d_x,
                                           __m512& acc) {
    const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(q3_K_scales(b)));
    const __m512i hmask = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.hmask)));
    __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};  // two chains
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
        const __m512i qs = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * h)));
#pragma GCC unroll 2
        for (int e = 0; e < 2; ++e) {
            // hmask bit 4h + 2e for the first 32 weights, 4h + 2e + 1 for the second: + 4 where set
            const __m512i bit =
                _mm512_mask_blend_epi8(0xFFFFFFFF00000000ull, _mm512_set1_epi8(char(1 << (4 * h + 2 * e))),
                                       _mm512_set1_epi8(char(1 << (4 * h + 2 * e + 1))));
            const __m512i low = two_bits(qs, e);
            const __m512i u =
                _mm512_mask_add_epi8(low, _mm512_test_epi8_mask(hmask, bit), low, _mm512_set1_epi8(4));  // [64] 0..7
            const __m512i pairs = _mm512_maddubs_epi16(u, _mm512_loadu_si512(q + 128 * h + 64 * e));     // [32] 16-bit
            sum[e] = _mm512_dpwssd_epi32(sum[e], pairs, scales_by_16(sc16, 8 * h + 4 * e));
        }
    }
    // −4·Σ_s sc_s·Σ q_x: 16 products in 8 lanes, times 4, taken from lanes 0–7
    const __m256i offset =
        _mm256_madd_epi16(_mm512_castsi512_si256(sc16), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sums)));
    const __m512i total =
        _mm512_sub_epi32(_mm512_add_epi32(sum[0], sum[1]), _mm512_zextsi256_si512(_mm256_slli_epi32(offset, 2)));
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d_x * _cvtsh_ss(b.d)), _mm512_cvtepi32_ps(total), acc);
}

// acc += d_x·d·(the first sum of (6)), in 16 lanes; acc_min += d_x·dmin·(Σ m_s·Σ q_x), in 8.
LLAMAREF_AVX512VNNI inline void q2_K_block(const BlockQ2_K& b, const int8_t* q, const int16_t* sums, float d_x,
                                           __m512& acc, __m256& acc_min) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
    const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(packed, _mm_set1_epi8(0x0F))));
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F)));
    __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
        const __m512i qs = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * h)));
#pragma GCC unroll 2
        for (int e = 0; e < 2; ++e) {
            const __m512i pairs =
                _mm512_maddubs_epi16(two_bits(qs, e), _mm512_loadu_si512(q + 128 * h + 64 * e));  // [32] 16-bit
            sum[e] = _mm512_dpwssd_epi32(sum[e], pairs, scales_by_16(sc16, 8 * h + 4 * e));
        }
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d_x * _cvtsh_ss(b.d)), _mm512_cvtepi32_ps(_mm512_add_epi32(sum[0], sum[1])),
                          acc);
    const __m256i msum =
        _mm256_madd_epi16(m16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sums)));  // [8] Σ m_s·Σ q_x
    acc_min = _mm256_fmadd_ps(_mm256_set1_ps(d_x * _cvtsh_ss(b.dmin)), _mm256_cvtepi32_ps(msum), acc_min);
}

// --- IQ4_XS × Q8_K (equation (7)) ---------------------------------------------------------------
// An IQ4_XS weight is w = d·(ls_s − 32)·level[q] in sub-block s (32 weights, ls_s 6 bits,
// core/quant_iq4.hpp), so a block's share is
//
//     d_x·d · Σ_s (ls_s − 32)·Σ_{i in s} level_i·q_x,i                                          (7)
//
// an integer. The levels are signed (−127..113): VPDPBUSD takes level + 128 (one VPSHUFB of the
// shifted table) into 32-bit lanes, the sub-block scale multiplies the lanes (VPMULLD), and
// 128·Σ_s (ls_s − 32)·Σ q_x comes off once per block (the activations' sums per sub-block, as
// Q4_K's minimums). llama.cpp sums the same integers per block.

// The eight ls_s − 32 of a block as int32: scales_l holds the low 4 bits (a nibble per sub-block,
// s = 0, 1 in byte 0, …), scales_h the top 2 (bits 2s, 2s + 1).
LLAMAREF_AVX512VNNI inline __m256i iq4_xs_scales(const BlockIQ4_XS& b) {
    uint32_t low;
    std::memcpy(&low, b.scales_l, 4);
    const __m128i bytes = _mm_cvtepu8_epi16(_mm_cvtsi32_si128(int(low)));  // [8] words: byte k of scales_l
    // word k → bytes (low nibble, high nibble) = the low bits of sub-blocks 2k, 2k + 1
    const __m128i nib = _mm_or_si128(_mm_and_si128(bytes, _mm_set1_epi16(0x0F)),
                                     _mm_and_si128(_mm_slli_epi16(bytes, 4), _mm_set1_epi16(0x0F00)));
    const __m128i high =
        _mm_and_si128(_mm_srlv_epi16(_mm_set1_epi16(short(b.scales_h)), _mm_setr_epi16(0, 2, 4, 6, 8, 10, 12, 14)),
                      _mm_set1_epi16(3));  // [8] words: the top bits of sub-block s
    const __m256i ls = _mm256_or_si256(_mm256_cvtepu8_epi32(nib), _mm256_slli_epi32(_mm256_cvtepu16_epi32(high), 4));
    return _mm256_sub_epi32(ls, _mm256_set1_epi32(32));
}

// acc += d_x·d·(the block's integer sum), in 16 lanes.
LLAMAREF_AVX512VNNI inline void iq4_xs_block(const BlockIQ4_XS& b, const int8_t* q, const int16_t* sums, float d_x,
                                             __m512& acc) {
    const __m512i table = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(kIq4LevelsPlus128)));
    const __m256i sc = iq4_xs_scales(b);  // [8] ls_s − 32
    const __m512i sc16 = _mm512_castsi256_si512(sc);
    __m512i total = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) {  // sub-blocks 2g (lanes 0–7) and 2g + 1 (lanes 8–15): qs[32g .. 32g + 32)
        const __m512i two = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * g)));
        const __m512i both = _mm512_shuffle_i64x2(two, two, 0x50);  // 16-byte quarters [2g, 2g, 2g + 1, 2g + 1]
        const __m512i nibbles =
            _mm512_and_si512(_mm512_mask_blend_epi64(0xCC, both, _mm512_srli_epi16(both, 4)), _mm512_set1_epi8(0x0F));
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_shuffle_epi8(table, nibbles),
                                                _mm512_loadu_si512(q + 64 * g));  // Σ (level + 128)·q_x per lane
        const __m512i scale = _mm512_permutexvar_epi32(
            _mm512_setr_epi32(2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g + 1, 2 * g + 1, 2 * g + 1,
                              2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1),
            sc16);
        total = _mm512_add_epi32(total, _mm512_mullo_epi32(dot, scale));
    }
    // − 128·Σ_s (ls_s − 32)·Σ q_x: 8 products in 4 lanes, times 128, taken from lanes 0–3
    const __m128i offset = _mm_madd_epi16(_mm_packs_epi32(_mm256_castsi256_si128(sc), _mm256_extracti128_si256(sc, 1)),
                                          _mm_loadu_si128(reinterpret_cast<const __m128i*>(sums)));
    total = _mm512_sub_epi32(total, _mm512_zextsi128_si512(_mm_slli_epi32(offset, 7)));
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d_x * _cvtsh_ss(b.d)), _mm512_cvtepi32_ps(total), acc);
}

// --- Rows ------------------------------------------------------------------------------------
// Each format's accumulators: add(block, its activations) and the row's total at the end — the
// integer sums' share in 16 lanes, the minimums' (Q2_K, Q4_K, Q5_K) apart and subtracted last.
template <class B>
struct Q45KAcc {  // Q4_K, Q5_K
    using Block = B;
    __m512 acc;
    __m128 acc_min;
    LLAMAREF_AVX512VNNI void add(const Block& b, const int8_t* q, const int16_t* sums, float d_x) {
        q45_K_block(b, q, sums, d_x, acc, acc_min);
    }
    LLAMAREF_AVX512VNNI float total() const {
        const __m128 m = _mm_add_ps(acc_min, _mm_movehl_ps(acc_min, acc_min));  // (m0 + m2), (m1 + m3)
        const float mins = _mm_cvtss_f32(m) + _mm_cvtss_f32(_mm_shuffle_ps(m, m, 1));
        return (avx2::hsum(_mm512_extractf32x8_ps(acc, 0)) + avx2::hsum(_mm512_extractf32x8_ps(acc, 1))) - mins;
    }
};
struct Q2KAcc {
    using Block = BlockQ2_K;
    __m512 acc;
    __m256 acc_min;
    LLAMAREF_AVX512VNNI void add(const Block& b, const int8_t* q, const int16_t* sums, float d_x) {
        q2_K_block(b, q, sums, d_x, acc, acc_min);
    }
    LLAMAREF_AVX512VNNI float total() const {
        return (avx2::hsum(_mm512_extractf32x8_ps(acc, 0)) + avx2::hsum(_mm512_extractf32x8_ps(acc, 1))) -
               avx2::hsum(acc_min);
    }
};
// Q3_K, Q6_K, IQ4_XS: one accumulator (overloads by block type: a function pointer as a template
// argument would lose its target attribute).
LLAMAREF_AVX512VNNI inline void add_block(const BlockQ3_K& b, const int8_t* q, const int16_t* s, float d_x,
                                          __m512& acc) {
    q3_K_block(b, q, s, d_x, acc);
}
LLAMAREF_AVX512VNNI inline void add_block(const BlockQ6_K& b, const int8_t* q, const int16_t* s, float d_x,
                                          __m512& acc) {
    q6_K_block(b, q, s, d_x, acc);
}
LLAMAREF_AVX512VNNI inline void add_block(const BlockIQ4_XS& b, const int8_t* q, const int16_t* s, float d_x,
                                          __m512& acc) {
    iq4_xs_block(b, q, s, d_x, acc);
}
template <class B>
struct OneAcc {
    using Block = B;
    __m512 acc;
    LLAMAREF_AVX512VNNI void add(const Block& b, const int8_t* q, const int16_t* sums, float d_x) {
        add_block(b, q, sums, d_x, acc);
    }
    LLAMAREF_AVX512VNNI float total() const {
        return avx2::hsum(_mm512_extractf32x8_ps(acc, 0)) + avx2::hsum(_mm512_extractf32x8_ps(acc, 1));
    }
};

// Rows [r0, r1) of Y = q8_K(X)·Wᵀ for the T rows of A: per output the blocks in column order; each
// weight row read from memory once (for the first token; the others find it in L1).
template <class Acc>
LLAMAREF_AVX512VNNI inline void rows_K(const TensorView& W, const Q8KActivations& A, float* Y, std::size_t T,
                                       std::size_t r0, std::size_t r1) {
    using Block = typename Acc::Block;
    const std::size_t n = A.blocks, out = W.rows(), row_bytes = W.row_bytes(), size = W.nbytes();
    for (std::size_t r = r0; r < r1; ++r) {
        const auto* row = reinterpret_cast<const Block*>(W.data + r * row_bytes);
        avx2::touch_pages(W.data, size, r * row_bytes + avx2::kTouchAhead, (r + 1) * row_bytes + avx2::kTouchAhead);
        for (std::size_t t = 0; t < T; ++t) {
            const char* ahead = reinterpret_cast<const char*>(row) + avx2::kDecodeAhead;  // (a prefetch never faults)
            Acc acc{};                                                                    // zeros
            for (std::size_t b = 0; b < n; ++b, ahead += sizeof(Block)) {
                if (t == 0)
#pragma GCC unroll 4
                    for (std::size_t o = 0; o < sizeof(Block); o += 64) _mm_prefetch(ahead + o, _MM_HINT_T0);
                acc.add(row[b], &A.q[(t * n + b) * 256], &A.sums[(t * n + b) * 16], A.d[t * n + b]);
            }
            Y[t * out + r] = acc.total();
        }
    }
}

// Y = q8_K(X)·Wᵀ for W of type Q2_K … Q6_K or IQ4_XS, threads over rows.
inline void matmul_int8_k(const TensorView& W, const float* X, float* Y, std::size_t T) {
    thread_local Q8KActivations acts;  // grows once
    acts.prepare(X, T, W.cols(), W.dtype);
    const Q8KActivations* A = &acts;  // (in the workers `acts` would name their own, empty one)
    parallel_for_chunks(W.rows(), 64, [&](std::size_t r0, std::size_t r1) {
        switch (W.dtype) {
            case DType::Q2_K: return rows_K<Q2KAcc>(W, *A, Y, T, r0, r1);
            case DType::Q3_K: return rows_K<OneAcc<BlockQ3_K>>(W, *A, Y, T, r0, r1);
            case DType::Q4_K: return rows_K<Q45KAcc<BlockQ4_K>>(W, *A, Y, T, r0, r1);
            case DType::Q5_K: return rows_K<Q45KAcc<BlockQ5_K>>(W, *A, Y, T, r0, r1);
            case DType::Q6_K: return rows_K<OneAcc<BlockQ6_K>>(W, *A, Y, T, r0, r1);
            case DType::IQ4_XS: return rows_K<OneAcc<BlockIQ4_XS>>(W, *A, Y, T, r0, r1);
            default: fail("matmul_int8_k: ", dtype_name(W.dtype), " is not a format of Q8_K activations");
        }
    });
}

}  // namespace avx512vnni
#endif

}  // namespace llamaref::cpu
