// llamaref/cpu/dequantize.hpp — llama.cpp's block formats to float32, eight weights at a time.
//
// Specification: the dequantize() functions of core/quant_legacy.hpp and core/quant_k.hpp. The
// AVX2 versions below do the same float operations on the same operands — a product (and for
// the formats with a min, a subtraction), never fused — so every value is bit for bit the
// scalar one (tests/test_cpu_kernels.cpp compares the matmuls built on them bit for bit). They
// unpack 8 bytes into 8 int32 lanes (vpmovzxbd), pick the bits of each weight with shifts and
// masks, convert, and scale. Formats without a vector version here use the scalar to_f32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../core/dtype.hpp"
#include "simd.hpp"

namespace llamaref::cpu {

#if LLAMAREF_HAVE_AVX2_KERNELS
namespace avx2 {

LLAMAREF_AVX2 inline float f16(uint16_t h) {  // F16C: exact, as f16_to_f32
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}
LLAMAREF_AVX2 inline __m256i bytes8(const uint8_t* p) {  // 8 bytes -> 8 int32 lanes
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}
LLAMAREF_AVX2 inline void store_scaled(float* y, __m256i q, float d) {  // y = float(q) · d
    _mm256_storeu_ps(y, _mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(d)));
}
LLAMAREF_AVX2 inline void store_scaled_minus(float* y, __m256i q, float d, float m) {  // y = d · float(q) − m
    _mm256_storeu_ps(y, _mm256_sub_ps(_mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(q)), _mm256_set1_ps(m)));
}

LLAMAREF_AVX2 inline void dequantize_q4_0(const BlockQ4_0& b, float* y) {
    const float d = f16(b.d);
    const __m256i mask = _mm256_set1_epi32(0xF), eight = _mm256_set1_epi32(8);
    for (int g = 0; g < 16; g += 8) {
        const __m256i v = bytes8(b.qs + g);
        store_scaled(y + g, _mm256_sub_epi32(_mm256_and_si256(v, mask), eight), d);
        store_scaled(y + 16 + g, _mm256_sub_epi32(_mm256_srli_epi32(v, 4), eight), d);
    }
}

LLAMAREF_AVX2 inline void dequantize_q4_k(const BlockQ4_K& b, float* y) {
    const float d = f16(b.d), dmin = f16(b.dmin);
    const __m256i mask = _mm256_set1_epi32(0xF);
    for (int j = 0; j < 8; j += 2, y += 64) {
        const auto [d1, m1, d2, m2] = k_sub_scales(j, b.scales, d, dmin);
        const uint8_t* q = b.qs + 16 * j;  // 32 bytes per pair of sub-blocks
        for (int g = 0; g < 32; g += 8) {
            const __m256i v = bytes8(q + g);
            store_scaled_minus(y + g, _mm256_and_si256(v, mask), d1, m1);
            store_scaled_minus(y + 32 + g, _mm256_srli_epi32(v, 4), d2, m2);
        }
    }
}

LLAMAREF_AVX2 inline void dequantize_q5_k(const BlockQ5_K& b, float* y) {
    const float d = f16(b.d), dmin = f16(b.dmin);
    const __m256i mask = _mm256_set1_epi32(0xF), one = _mm256_set1_epi32(1);
    for (int j = 0; j < 8; j += 2, y += 64) {
        const auto [d1, m1, d2, m2] = k_sub_scales(j, b.scales, d, dmin);
        const uint8_t* q = b.qs + 16 * j;
        for (int g = 0; g < 32; g += 8) {
            const __m256i v = bytes8(q + g), h = bytes8(b.qh + g);
            const __m256i hi1 = _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h, j), one), 4);
            const __m256i hi2 = _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h, j + 1), one), 4);
            store_scaled_minus(y + g, _mm256_or_si256(_mm256_and_si256(v, mask), hi1), d1, m1);
            store_scaled_minus(y + 32 + g, _mm256_or_si256(_mm256_srli_epi32(v, 4), hi2), d2, m2);
        }
    }
}

LLAMAREF_AVX2 inline __m256i two_bits_high(__m256i h, int shift, __m256i mask2) {  // bits shift+1..shift -> 5..4
    return _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h, shift), mask2), 4);
}

LLAMAREF_AVX2 inline void dequantize_q6_k(const BlockQ6_K& b, float* y) {
    const float d = f16(b.d);
    const __m256i mask4 = _mm256_set1_epi32(0xF), mask2 = _mm256_set1_epi32(3), bias = _mm256_set1_epi32(32);
    for (int half = 0; half < 2; ++half, y += 128) {
        const uint8_t* ql = b.ql + 64 * half;
        const uint8_t* qh = b.qh + 32 * half;
        const int8_t* sc = b.scales + 8 * half;
        for (int l = 0; l < 32; l += 8) {
            const int is = l / 16;
            const __m256i a = bytes8(ql + l), c = bytes8(ql + 32 + l), h = bytes8(qh + l);
            const __m256i q1 = _mm256_sub_epi32(_mm256_or_si256(_mm256_and_si256(a, mask4), two_bits_high(h, 0, mask2)), bias);
            const __m256i q2 = _mm256_sub_epi32(_mm256_or_si256(_mm256_and_si256(c, mask4), two_bits_high(h, 2, mask2)), bias);
            const __m256i q3 = _mm256_sub_epi32(_mm256_or_si256(_mm256_srli_epi32(a, 4), two_bits_high(h, 4, mask2)), bias);
            const __m256i q4 = _mm256_sub_epi32(_mm256_or_si256(_mm256_srli_epi32(c, 4), two_bits_high(h, 6, mask2)), bias);
            store_scaled(y + l, q1, d * float(sc[is]));
            store_scaled(y + l + 32, q2, d * float(sc[is + 2]));
            store_scaled(y + l + 64, q3, d * float(sc[is + 4]));
            store_scaled(y + l + 96, q4, d * float(sc[is + 6]));
        }
    }
}

// kIq4Levels[q] for 8 indices q in 0..15: two 8-entry tables, chosen by q > 7.
LLAMAREF_AVX2 inline __m256i iq4_levels(__m256i q) {
    const __m256i lo = _mm256_setr_epi32(kIq4Levels[0], kIq4Levels[1], kIq4Levels[2], kIq4Levels[3], kIq4Levels[4],
                                         kIq4Levels[5], kIq4Levels[6], kIq4Levels[7]);
    const __m256i hi = _mm256_setr_epi32(kIq4Levels[8], kIq4Levels[9], kIq4Levels[10], kIq4Levels[11], kIq4Levels[12],
                                         kIq4Levels[13], kIq4Levels[14], kIq4Levels[15]);
    const __m256i upper = _mm256_cmpgt_epi32(q, _mm256_set1_epi32(7));
    return _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(lo, q), _mm256_permutevar8x32_epi32(hi, q), upper);
}

// 32 weights of IQ4_NL / IQ4_XS nibbles: low nibbles are weights 0..15, high ones 16..31.
LLAMAREF_AVX2 inline void iq4_32(const uint8_t* qs, float dl, float* y) {
    const __m256i mask = _mm256_set1_epi32(0xF);
    for (int g = 0; g < 16; g += 8) {
        const __m256i v = bytes8(qs + g);
        const __m256 lo = _mm256_cvtepi32_ps(iq4_levels(_mm256_and_si256(v, mask)));
        const __m256 hi = _mm256_cvtepi32_ps(iq4_levels(_mm256_srli_epi32(v, 4)));
        _mm256_storeu_ps(y + g, _mm256_mul_ps(_mm256_set1_ps(dl), lo));
        _mm256_storeu_ps(y + 16 + g, _mm256_mul_ps(_mm256_set1_ps(dl), hi));
    }
}

LLAMAREF_AVX2 inline void dequantize_iq4_nl(const BlockIQ4_NL& b, float* y) { iq4_32(b.qs, f16(b.d), y); }

LLAMAREF_AVX2 inline void dequantize_iq4_xs(const BlockIQ4_XS& b, float* y) {
    const float d = f16(b.d);
    for (int s = 0; s < 8; ++s) {
        const int ls = ((b.scales_l[s / 2] >> (4 * (s % 2))) & 0xF) | (((b.scales_h >> (2 * s)) & 3) << 4);
        iq4_32(b.qs + 16 * s, d * float(ls - 32), y + 32 * s);
    }
}

template <class B, void (*F)(const B&, float*)>
LLAMAREF_AVX2 void dequantize_blocks(const std::byte* src, float* dst, std::size_t n, std::size_t block_values) {
    for (std::size_t i = 0; i < n / block_values; ++i) {
        B b;
        std::memcpy(&b, src + i * sizeof(B), sizeof(B));
        F(b, dst + i * block_values);
    }
}

// n values (whole blocks) of a row stored as t, from src, to float32 — as to_f32 does.
LLAMAREF_AVX2 inline void dequantize_row(DType t, const std::byte* src, float* dst, std::size_t n) {
    switch (t) {
        case DType::Q4_0: return dequantize_blocks<BlockQ4_0, dequantize_q4_0>(src, dst, n, 32);
        case DType::Q4_K: return dequantize_blocks<BlockQ4_K, dequantize_q4_k>(src, dst, n, 256);
        case DType::Q5_K: return dequantize_blocks<BlockQ5_K, dequantize_q5_k>(src, dst, n, 256);
        case DType::Q6_K: return dequantize_blocks<BlockQ6_K, dequantize_q6_k>(src, dst, n, 256);
        case DType::IQ4_NL: return dequantize_blocks<BlockIQ4_NL, dequantize_iq4_nl>(src, dst, n, 32);
        case DType::IQ4_XS: return dequantize_blocks<BlockIQ4_XS, dequantize_iq4_xs>(src, dst, n, 256);
        default: return to_f32(t, src, dst, n);
    }
}

}  // namespace avx2
#endif

}  // namespace llamaref::cpu
