// llamaref/core/quant_k.hpp — llama.cpp's K-quants: super-blocks of 256 weights.
//
// A super-block holds 256 consecutive weights of a row as 16 sub-blocks of 16 (Q2_K, Q3_K,
// Q6_K) or 8 sub-blocks of 32 (Q4_K, Q5_K). Each sub-block has its own small integer scale
// (and for Q2_K/Q4_K/Q5_K a "min"), and those are in turn scaled by one or two float16
// numbers of the super-block — two levels of scales, which is how the K-quants spend so few
// bits on scales (ggml's ggml-common.h defines the layouts, ggml-quants.c dequantize_row_*_K
// the formulas; the pictures below are written from them). Arithmetic as written, one rounding
// per operation, no fused multiply-add: bit for bit llama.cpp's values (gguf-py's too).
//
// Q2_K   84 bytes = 2.625 bits/weight
//   │ scales[16]: sub-block s: scale = lo nibble, min = hi nibble │ qs[64]: 2-bit q │ d f16 │ dmin f16 │
//   weight = (d·scale_s)·q − (dmin·min_s),  q in 0..3
// Q3_K   110 bytes = 3.4375 bits/weight
//   │ hmask[32]: bit 3 of q (set = no −4) │ qs[64]: low 2 bits of q │ scales[12]: 16 × 6 bits │ d f16 │
//   weight = (d·(scale_s − 32))·(q − 4·[hmask bit clear]),  q low bits in 0..3
// Q4_K   144 bytes = 4.5 bits/weight
//   │ d f16 │ dmin f16 │ scales[12]: 8 scales and 8 mins of 6 bits │ qs[128]: 4-bit q │
//   weight = (d·scale_s)·q − (dmin·min_s),  q in 0..15, sub-blocks of 32
// Q5_K   176 bytes = 5.5 bits/weight
//   │ d f16 │ dmin f16 │ scales[12] as Q4_K │ qh[32]: bit 4 of q │ qs[128]: low 4 bits │
//   weight = (d·scale_s)·q − (dmin·min_s),  q in 0..31
// Q6_K   210 bytes = 6.5625 bits/weight
//   │ ql[128]: low 4 bits │ qh[64]: high 2 bits │ scales[16] int8 │ d f16 │
//   weight = (d·scale_s)·(q − 32),  q in 0..63, sub-blocks of 16
//
// Where the bits of one weight sit is the formats' only puzzle: a super-block is processed in
// halves of 128 weights, and within a half the 2-bit (or 4-bit) fields of one byte belong to
// weights 32 (or 64) apart, so that a SIMD kernel can unpack 32 weights with one shift and mask.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "half.hpp"

namespace llamaref {

constexpr std::size_t kKBlockSize = 256;  // weights per super-block (ggml's QK_K)

struct BlockQ2_K {
    uint8_t scales[16];  // lo nibble: scale, hi nibble: min, of each sub-block of 16
    uint8_t qs[64];      // 4 weights per byte
    uint16_t d, dmin;    // F16 bits
};
struct BlockQ3_K {
    uint8_t hmask[32];   // the high bit of each q
    uint8_t qs[64];      // the low 2 bits
    uint8_t scales[12];  // 16 scales of 6 bits
    uint16_t d;
};
struct BlockQ4_K {
    uint16_t d, dmin;
    uint8_t scales[12];  // 8 scales and 8 mins of 6 bits
    uint8_t qs[128];
};
struct BlockQ5_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
};
struct BlockQ6_K {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
};
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
                  sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210,
              "super-block layouts must be packed as in GGUF");

// y: [256] float32 for each super-block.
inline void dequantize(const BlockQ2_K& b, float* y) {
    const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
    const uint8_t* q = b.qs;
    int s = 0;  // sub-block
    for (int half = 0; half < 2; ++half, q += 32)
        for (int shift = 0; shift < 8; shift += 2)
            for (int part = 0; part < 2; ++part, ++s) {  // two sub-blocks of 16 per shift
                const float dl = d * float(b.scales[s] & 0xF), ml = dmin * float(b.scales[s] >> 4);
                for (int l = 0; l < 16; ++l) *y++ = dl * float((q[16 * part + l] >> shift) & 3) - ml;
            }
}

// The 16 six-bit scales of Q3_K: bytes 0..7 hold their low 4 bits (two per byte: scales 0..7 in
// the low nibbles, 8..15 in the high ones), bytes 8..11 their high 2 bits (four per byte).
inline void q3_k_scales(const uint8_t (&packed)[12], int (&scale)[16]) {
    for (int s = 0; s < 16; ++s) {
        const int low = s < 8 ? packed[s] & 0xF : packed[s - 8] >> 4;
        const int high = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
        scale[s] = (low | (high << 4)) - 32;
    }
}

inline void dequantize(const BlockQ3_K& b, float* y) {
    const float d = f16_to_f32(b.d);
    int scale[16];
    q3_k_scales(b.scales, scale);
    const uint8_t* q = b.qs;
    uint8_t m = 1;  // which bit of hmask belongs to the current 32 weights
    int s = 0;
    for (int half = 0; half < 2; ++half, q += 32)
        for (int shift = 0; shift < 8; shift += 2, m = uint8_t(m << 1))
            for (int part = 0; part < 2; ++part, ++s) {
                const float dl = d * float(scale[s]);
                for (int l = 16 * part; l < 16 * part + 16; ++l) {
                    const int v = ((q[l] >> shift) & 3) - ((b.hmask[l] & m) ? 0 : 4);
                    *y++ = dl * float(v);
                }
            }
}

// Scale and min of sub-block j (0..7) of Q4_K / Q5_K, 6 bits each: sub-blocks 0..3 in the low
// 6 bits of bytes 0..3 (scales) and 4..7 (mins); sub-blocks 4..7 take their low 4 bits from
// bytes 8..11 and their high 2 bits from the top of bytes 0..7.
inline void k_scale_min(int j, const uint8_t (&q)[12], int& scale, int& min) {
    if (j < 4) {
        scale = q[j] & 63;
        min = q[j + 4] & 63;
    } else {
        scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// (d·scale, dmin·min) of the sub-blocks j and j + 1 of Q4_K / Q5_K: the two halves of 64 weights.
struct KSubScales {
    float d1, m1, d2, m2;
};
inline KSubScales k_sub_scales(int j, const uint8_t (&scales)[12], float d, float dmin) {
    int sc1, mn1, sc2, mn2;
    k_scale_min(j, scales, sc1, mn1);
    k_scale_min(j + 1, scales, sc2, mn2);
    return {d * float(sc1), dmin * float(mn1), d * float(sc2), dmin * float(mn2)};
}

inline void dequantize(const BlockQ4_K& b, float* y) {
    const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
    const uint8_t* q = b.qs;
    for (int j = 0; j < 8; j += 2, q += 32) {  // 64 weights: low nibbles, then high nibbles
        const auto [d1, m1, d2, m2] = k_sub_scales(j, b.scales, d, dmin);
        for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 0xF) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
    }
}

inline void dequantize(const BlockQ5_K& b, float* y) {
    const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
    const uint8_t* q = b.qs;
    uint8_t u1 = 1, u2 = 2;  // the qh bits of the current two sub-blocks
    for (int j = 0; j < 8; j += 2, q += 32, u1 = uint8_t(u1 << 2), u2 = uint8_t(u2 << 2)) {
        const auto [d1, m1, d2, m2] = k_sub_scales(j, b.scales, d, dmin);
        for (int l = 0; l < 32; ++l) *y++ = d1 * float((q[l] & 0xF) + ((b.qh[l] & u1) ? 16 : 0)) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * float((q[l] >> 4) + ((b.qh[l] & u2) ? 16 : 0)) - m2;
    }
}

inline void dequantize(const BlockQ6_K& b, float* y) {
    const float d = f16_to_f32(b.d);
    const uint8_t* ql = b.ql;
    const uint8_t* qh = b.qh;
    const int8_t* sc = b.scales;
    for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * float(sc[is]) * float(q1);
            y[l + 32] = d * float(sc[is + 2]) * float(q2);
            y[l + 64] = d * float(sc[is + 4]) * float(q3);
            y[l + 96] = d * float(sc[is + 6]) * float(q4);
        }
}

}  // namespace llamaref
