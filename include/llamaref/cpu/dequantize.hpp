// llamaref/cpu/dequantize.hpp — llama.cpp's block formats read eight weights at a time, in place.
//
// Specification: the dequantize() functions of core/quant_legacy.hpp, core/quant_k.hpp and
// core/quant_iq4.hpp. Each format has a reader here: start(p) takes one block's stored bytes
// (read where they lie, in the mapped file) and converts its scales once; group(s, g) returns
// weights 32·s + 8·g … 32·s + 8·g + 7 of the block as eight float32 lanes. The float operations
// are the specification's on the same operands — a product, and for the formats with a min or an
// offset a subtraction or addition, never fused — so every value is bit for bit the scalar one
// (tests/test_cpu_kernels.cpp compares the matmuls built on them bit for bit).
//
// Every format splits into sub-blocks of 32 weights (s = 0 … kValues/32 − 1) read as four
// groups of 8 (g = 0 … 3): 8 stored bytes are widened to 8 int32 lanes (vpmovzxbd), the bits of
// each weight picked with shifts and masks, converted and scaled. The matmul's decode kernel
// (cpu/matmul.hpp) feeds the groups straight into its FMAs, so a quantized weight goes from the
// file to a register without passing through memory as float32; its prefill kernel stores them
// into a panel that many tokens reuse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../core/dtype.hpp"
#include "simd.hpp"

namespace llamaref::cpu {

#if LLAMAREF_HAVE_AVX2_KERNELS
namespace avx2 {

inline const uint8_t* bytes_of(const std::byte* p) { return reinterpret_cast<const uint8_t*>(p); }

LLAMAREF_AVX2 inline float f16_at(const std::byte* p) {  // a stored float16, converted exactly (F16C)
    uint16_t h;
    std::memcpy(&h, p, 2);
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}
LLAMAREF_AVX2 inline __m256i bytes8(const uint8_t* p) {  // 8 bytes -> 8 int32 lanes
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}
LLAMAREF_AVX2 inline __m256i bits(__m256i v, int shift, int mask) {  // (v >> shift) & mask, per lane
    return _mm256_and_si256(_mm256_srl_epi32(v, _mm_cvtsi32_si128(shift)), _mm256_set1_epi32(mask));
}
LLAMAREF_AVX2 inline __m256 scaled(float d, __m256i q) {  // d · float(q)
    return _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(q));
}
LLAMAREF_AVX2 inline __m256 scaled_minus(float d, __m256i q, float m) {  // d · float(q) − m
    return _mm256_sub_ps(scaled(d, q), _mm256_set1_ps(m));
}
LLAMAREF_AVX2 inline __m256 scaled_plus(float d, __m256i q, float m) {  // float(q) · d + m
    return _mm256_add_ps(scaled(d, q), _mm256_set1_ps(m));
}
// The nibbles of the 32-weight formats: weights 0..15 are the low nibbles of qs[0..16), weights
// 16..31 the high ones; group g (8 weights) is bytes 8·(g % 2) …, low nibbles for g < 2.
LLAMAREF_AVX2 inline __m256i nibbles(const uint8_t* qs, int g) {
    return bits(bytes8(qs + 8 * (g & 1)), 4 * (g >> 1), 0xF);
}
// Bits 8·g … 8·g + 7 of a 32-bit word, one per lane: the fifth bits of Q5_0 / Q5_1.
LLAMAREF_AVX2 inline __m256i bit_lanes(uint32_t word, int g) {
    const __m256i shifts = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(8 * g));
    return _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(int(word)), shifts), _mm256_set1_epi32(1));
}

// float(u8[i]) · d for the 8 bytes of `b` (a little-endian uint64): a block's scales, at once.
LLAMAREF_AVX2 inline void scales8(uint64_t b, float d, float* out) {
    const __m256i v = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(b)));
    _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(v)));
}
LLAMAREF_AVX2 inline void scales8_signed(uint64_t b, float d, float* out) {  // the bytes as int8
    const __m256i v = _mm256_cvtepi8_epi32(_mm_cvtsi64_si128(int64_t(b)));
    _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(v)));
}
inline uint64_t join(uint32_t lo, uint32_t hi) { return uint64_t(lo) | uint64_t(hi) << 32; }

// Q4_K / Q5_K: the 8 six-bit scales and mins of core/quant_k.hpp's k_scale_min, four bytes per
// 32-bit word: bytes 0..3 hold scales 0..3 (and bits 4..5 of scales 4..7 in their top bits),
// bytes 4..7 mins 0..3 (and bits 4..5 of mins 4..7), bytes 8..11 the low four bits of scales
// 4..7 (low nibbles) and mins 4..7 (high nibbles).
LLAMAREF_AVX2 inline void k_scales_mins(const std::byte* packed, float d, float dmin, float* dl, float* ml) {
    uint32_t w[3];
    std::memcpy(w, packed, 12);
    const uint32_t six = 0x3F3F3F3Fu, four = 0x0F0F0F0Fu, two = 0x03030303u;
    const uint32_t scales_hi = (w[2] & four) | ((w[0] >> 6) & two) << 4;
    const uint32_t mins_hi = ((w[2] >> 4) & four) | ((w[1] >> 6) & two) << 4;
    scales8(join(w[0] & six, scales_hi), d, dl);
    scales8(join(w[1] & six, mins_hi), dmin, ml);
}

// --- the 32-weight formats (core/quant_legacy.hpp, core/quant_iq4.hpp) ----------------------

struct ReadQ8_0 {  // d · q
    static constexpr std::size_t kValues = 32;
    static constexpr std::size_t kBytes = sizeof(BlockQ8_0);
    const int8_t* q;
    float d;
    LLAMAREF_AVX2 void start(const std::byte* p) { d = f16_at(p), q = reinterpret_cast<const int8_t*>(p + 2); }
    LLAMAREF_AVX2 __m256 group(int, int g) const {
        return scaled(d, _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + 8 * g))));
    }
};
struct ReadQ4_0 {  // float(q − 8) · d
    static constexpr std::size_t kValues = 32;
    static constexpr std::size_t kBytes = sizeof(BlockQ4_0);
    const uint8_t* qs;
    float d;
    LLAMAREF_AVX2 void start(const std::byte* p) { d = f16_at(p), qs = bytes_of(p + 2); }
    LLAMAREF_AVX2 __m256 group(int, int g) const {
        return scaled(d, _mm256_sub_epi32(nibbles(qs, g), _mm256_set1_epi32(8)));
    }
};
struct ReadQ4_1 {  // float(q) · d + m
    static constexpr std::size_t kValues = 32;
    static constexpr std::size_t kBytes = sizeof(BlockQ4_1);
    const uint8_t* qs;
    float d, m;
    LLAMAREF_AVX2 void start(const std::byte* p) { d = f16_at(p), m = f16_at(p + 2), qs = bytes_of(p + 4); }
    LLAMAREF_AVX2 __m256 group(int, int g) const { return scaled_plus(d, nibbles(qs, g), m); }
};
struct ReadQ5_0 {  // float((nibble | fifth bit << 4) − 16) · d
    static constexpr std::size_t kValues = 32;
    static constexpr std::size_t kBytes = sizeof(BlockQ5_0);
    const uint8_t* qs;
    uint32_t qh;
    float d;
    LLAMAREF_AVX2 void start(const std::byte* p) { d = f16_at(p), std::memcpy(&qh, p + 2, 4), qs = bytes_of(p + 6); }
    LLAMAREF_AVX2 __m256 group(int, int g) const {
        const __m256i q = _mm256_or_si256(nibbles(qs, g), _mm256_slli_epi32(bit_lanes(qh, g), 4));
        return scaled(d, _mm256_sub_epi32(q, _mm256_set1_epi32(16)));
    }
};
struct ReadQ5_1 {  // float(nibble | fifth bit << 4) · d + m
    static constexpr std::size_t kValues = 32;
    static constexpr std::size_t kBytes = sizeof(BlockQ5_1);
    const uint8_t* qs;
    uint32_t qh;
    float d, m;
    LLAMAREF_AVX2 void start(const std::byte* p) {
        d = f16_at(p), m = f16_at(p + 2), std::memcpy(&qh, p + 4, 4), qs = bytes_of(p + 8);
    }
    LLAMAREF_AVX2 __m256 group(int, int g) const {
        return scaled_plus(d, _mm256_or_si256(nibbles(qs, g), _mm256_slli_epi32(bit_lanes(qh, g), 4)), m);
    }
};

// kIq4Levels[q] for 8 indices q in 0..15: a byte shuffle through the 16-entry table, widened.
LLAMAREF_AVX2 inline __m256i iq4_levels(const uint8_t* qs, int g) {
    const __m128i table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4Levels));
    __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(qs + 8 * (g & 1)));
    v = _mm_and_si128(_mm_srl_epi16(v, _mm_cvtsi32_si128(4 * (g >> 1))), _mm_set1_epi8(0xF));
    return _mm256_cvtepi8_epi32(_mm_shuffle_epi8(table, v));
}
struct ReadIQ4_NL {  // d · level(q)
    static constexpr std::size_t kValues = 32;
    static constexpr std::size_t kBytes = sizeof(BlockIQ4_NL);
    const uint8_t* qs;
    float d;
    LLAMAREF_AVX2 void start(const std::byte* p) { d = f16_at(p), qs = bytes_of(p + 2); }
    LLAMAREF_AVX2 __m256 group(int, int g) const { return scaled(d, iq4_levels(qs, g)); }
};

// --- the 256-weight super-blocks (core/quant_k.hpp, core/quant_iq4.hpp) ---------------------

struct ReadQ2_K {  // sub-blocks of 16: dl · float(2 bits) − ml
    static constexpr std::size_t kValues = 256;
    static constexpr std::size_t kBytes = sizeof(BlockQ2_K);
    const uint8_t* qs;
    float dl[16], ml[16];
    LLAMAREF_AVX2 void start(const std::byte* p) {
        uint64_t sc[2];  // scale: low nibble, min: high nibble
        std::memcpy(sc, p + offsetof(BlockQ2_K, scales), 16);
        const float d = f16_at(p + offsetof(BlockQ2_K, d)), dmin = f16_at(p + offsetof(BlockQ2_K, dmin));
        const uint64_t four = 0x0F0F0F0F0F0F0F0Full;
        for (int h = 0; h < 2; ++h)
            scales8(sc[h] & four, d, dl + 8 * h), scales8((sc[h] >> 4) & four, dmin, ml + 8 * h);
        qs = bytes_of(p + offsetof(BlockQ2_K, qs));
    }
    // weights 32·s … : bytes 32·(s / 4) + 8·g, bits 2·(s % 4); sub-block of 16: 2·s + g / 2
    LLAMAREF_AVX2 __m256 group(int s, int g) const {
        const int i = 2 * s + g / 2;
        return scaled_minus(dl[i], bits(bytes8(qs + 32 * (s / 4) + 8 * g), 2 * (s % 4), 3), ml[i]);
    }
};
struct ReadQ3_K {  // sub-blocks of 16: dl · float(2 bits − (high bit ? 0 : 4))
    static constexpr std::size_t kValues = 256;
    static constexpr std::size_t kBytes = sizeof(BlockQ3_K);
    const uint8_t *hmask, *qs;
    float dl[16];
    LLAMAREF_AVX2 void start(const std::byte* p) {
        // core/quant_k.hpp's q3_k_scales, four at a time: scale s has its low four bits in the
        // low (s < 8) or high nibble of byte s % 8, its top two bits in bits 2·(s / 4) of byte
        // 8 + s % 4, and 32 subtracted.
        uint32_t w[3];
        std::memcpy(w, p + offsetof(BlockQ3_K, scales), 12);
        const uint32_t four = 0x0F0F0F0Fu, two = 0x03030303u;
        uint32_t sc[4];  // bytes: the 16 scales + 32, 0..63
        for (int i = 0; i < 4; ++i) sc[i] = ((w[i % 2] >> (4 * (i / 2))) & four) | ((w[2] >> (2 * i)) & two) << 4;
        const float d = f16_at(p + offsetof(BlockQ3_K, d));
        for (int h = 0; h < 2; ++h) {
            const __m256i v =
                _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(join(sc[2 * h], sc[2 * h + 1])))),
                                 _mm256_set1_epi32(32));
            _mm256_storeu_ps(dl + 8 * h, _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(v)));
        }
        hmask = bytes_of(p + offsetof(BlockQ3_K, hmask)), qs = bytes_of(p + offsetof(BlockQ3_K, qs));
    }
    LLAMAREF_AVX2 __m256 group(int s, int g) const {
        const __m256i low = bits(bytes8(qs + 32 * (s / 4) + 8 * g), 2 * (s % 4), 3);
        const __m256i high = bits(bytes8(hmask + 8 * g), s, 1);  // bit s of hmask[8·g …]
        const __m256i minus = _mm256_slli_epi32(_mm256_xor_si256(high, _mm256_set1_epi32(1)), 2);  // 0 or 4
        return scaled(dl[2 * s + g / 2], _mm256_sub_epi32(low, minus));
    }
};
struct ReadQ4_K {  // sub-blocks of 32: d1 · float(nibble) − m1
    static constexpr std::size_t kValues = 256;
    static constexpr std::size_t kBytes = sizeof(BlockQ4_K);
    const uint8_t* qs;
    float dl[8], ml[8];
    LLAMAREF_AVX2 void start(const std::byte* p) {
        k_scales_mins(p + offsetof(BlockQ4_K, scales), f16_at(p + offsetof(BlockQ4_K, d)),
                      f16_at(p + offsetof(BlockQ4_K, dmin)), dl, ml);
        qs = bytes_of(p + offsetof(BlockQ4_K, qs));
    }
    // sub-blocks 2j and 2j + 1 are the low and high nibbles of the same 32 bytes
    LLAMAREF_AVX2 __m256 group(int s, int g) const {
        return scaled_minus(dl[s], bits(bytes8(qs + 32 * (s / 2) + 8 * g), 4 * (s % 2), 0xF), ml[s]);
    }
};
struct ReadQ5_K : ReadQ4_K {  // as Q4_K, with a fifth bit from qh
    static constexpr std::size_t kBytes = sizeof(BlockQ5_K);
    const uint8_t* qh;
    LLAMAREF_AVX2 void start(const std::byte* p) {
        k_scales_mins(p + offsetof(BlockQ5_K, scales), f16_at(p + offsetof(BlockQ5_K, d)),
                      f16_at(p + offsetof(BlockQ5_K, dmin)), dl, ml);
        qs = bytes_of(p + offsetof(BlockQ5_K, qs)), qh = bytes_of(p + offsetof(BlockQ5_K, qh));
    }
    LLAMAREF_AVX2 __m256 group(int s, int g) const {  // bit s of qh[8·g …] is the fifth bit
        const __m256i low = bits(bytes8(qs + 32 * (s / 2) + 8 * g), 4 * (s % 2), 0xF);
        const __m256i high = _mm256_slli_epi32(bits(bytes8(qh + 8 * g), s, 1), 4);
        return scaled_minus(dl[s], _mm256_or_si256(low, high), ml[s]);
    }
};
struct ReadQ6_K {  // sub-blocks of 16: (d · scale) · float((4 low | 2 high bits) − 32)
    static constexpr std::size_t kValues = 256;
    static constexpr std::size_t kBytes = sizeof(BlockQ6_K);
    const uint8_t *ql, *qh;
    float dl[16];
    LLAMAREF_AVX2 void start(const std::byte* p) {
        const float d = f16_at(p + offsetof(BlockQ6_K, d));
        uint64_t sc[2];  // 16 int8 scales
        std::memcpy(sc, p + offsetof(BlockQ6_K, scales), 16);
        scales8_signed(sc[0], d, dl), scales8_signed(sc[1], d, dl + 8);
        ql = bytes_of(p + offsetof(BlockQ6_K, ql)), qh = bytes_of(p + offsetof(BlockQ6_K, qh));
    }
    // Each half (128 weights) is four quarters of 32: quarter c takes the low (c < 2) or high
    // nibbles of ql[64·half + 32·(c % 2) …] and bits 2c, 2c + 1 of qh[32·half …]; its two
    // sub-blocks of 16 use scales 8·half + 2c and 8·half + 2c + 1.
    LLAMAREF_AVX2 __m256 group(int s, int g) const {
        const int half = s / 4, c = s % 4;
        const __m256i low = bits(bytes8(ql + 64 * half + 32 * (c % 2) + 8 * g), 4 * (c / 2), 0xF);
        const __m256i high = _mm256_slli_epi32(bits(bytes8(qh + 32 * half + 8 * g), 2 * c, 3), 4);
        const __m256i q = _mm256_sub_epi32(_mm256_or_si256(low, high), _mm256_set1_epi32(32));
        return scaled(dl[8 * half + 2 * c + g / 2], q);
    }
};
struct ReadIQ4_XS {  // sub-blocks of 32: (d · float(6-bit scale − 32)) · level(q)
    static constexpr std::size_t kValues = 256;
    static constexpr std::size_t kBytes = sizeof(BlockIQ4_XS);
    const uint8_t* qs;
    float dl[8];
    LLAMAREF_AVX2 void start(const std::byte* p) {
        const float d = f16_at(p + offsetof(BlockIQ4_XS, d));
        uint16_t scales_h;
        std::memcpy(&scales_h, p + offsetof(BlockIQ4_XS, scales_h), 2);
        const uint8_t* scales_l = bytes_of(p + offsetof(BlockIQ4_XS, scales_l));
        for (int s = 0; s < 8; ++s) {
            const int ls = ((scales_l[s / 2] >> (4 * (s % 2))) & 0xF) | (((scales_h >> (2 * s)) & 3) << 4);
            dl[s] = d * float(ls - 32);
        }
        qs = bytes_of(p + offsetof(BlockIQ4_XS, qs));
    }
    LLAMAREF_AVX2 __m256 group(int s, int g) const { return scaled(dl[s], iq4_levels(qs + 16 * s, g)); }
};

// n values (whole blocks) of a row stored in R's format, from src, to float32 — as to_f32 does.
template <class R>
LLAMAREF_AVX2 void dequantize_row(const std::byte* src, float* dst, std::size_t n) {
    for (std::size_t b = 0; b < n / R::kValues; ++b, dst += R::kValues) {
        R r;
        r.start(src + b * R::kBytes);
        for (int s = 0; s < int(R::kValues / 32); ++s)
#pragma GCC unroll 4
            for (int g = 0; g < 4; ++g) _mm256_storeu_ps(dst + 32 * s + 8 * g, r.group(s, g));
    }
}

}  // namespace avx2
#endif

}  // namespace llamaref::cpu
