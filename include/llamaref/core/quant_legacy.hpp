// llamaref/core/quant_legacy.hpp — llama.cpp's first block formats: 32 weights per block.
//
// A quantized row is a sequence of blocks; each block stores 32 consecutive weights of the row
// as small integers q and one or two float16 numbers that map them back to real values
// (ggml's ggml-common.h defines the layouts, ggml-quants.c's dequantize_row_* the formulas; the
// byte pictures below are written from them). Dequantizing is exact float32 arithmetic in the
// order written here — one rounding per operation, no fused multiply-add — which is also the
// order of llama.cpp's Python reference (gguf-py), so the values are bit for bit the same.
//
// Q4_0   18 bytes = 4.5 bits/weight          weight[i] = d · (q[i] − 8),  q in 0..15
//   ┌──────┬────────────────────────────────┐
//   │ d f16│ qs[16]: byte j = q[j] | q[j+16]<<4 │   low nibbles: weights 0..15, high: 16..31
//   └──────┴────────────────────────────────┘
// Q4_1   20 bytes = 5 bits/weight            weight[i] = d · q[i] + m
//   │ d f16 │ m f16 │ qs[16] as in Q4_0 │
// Q5_0   22 bytes = 5.5 bits/weight          weight[i] = d · (q[i] − 16),  q in 0..31
//   │ d f16 │ qh: 32 bits, bit i = bit 4 of q[i] │ qs[16]: the low 4 bits, as in Q4_0 │
// Q5_1   24 bytes = 6 bits/weight            weight[i] = d · q[i] + m
//   │ d f16 │ m f16 │ qh u32 │ qs[16] │
// Q8_0   34 bytes = 8.5 bits/weight          weight[i] = d · q[i],  q in −128..127 (int8)
//   │ d f16 │ q[32] int8 │
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "error.hpp"
#include "half.hpp"

namespace llamaref {

constexpr std::size_t kQ8BlockSize = 32;  // weights per block of every format in this header

struct BlockQ4_0 {
    uint16_t d;      // scale (F16 bits)
    uint8_t qs[16];  // 32 nibbles
};
struct BlockQ4_1 {
    uint16_t d, m;  // scale and offset (F16 bits)
    uint8_t qs[16];
};
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];  // the fifth bit of each q, little-endian uint32
    uint8_t qs[16];
};
struct BlockQ5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[16];
};
struct BlockQ8_0 {
    uint16_t d;              // scale, stored as F16 bits
    int8_t q[kQ8BlockSize];  // quantized values
};
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
                  sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34,
              "block layouts must be packed as in GGUF");

// y: [32] float32 for each block.
inline void dequantize(const BlockQ4_0& b, float* y) {
    const float d = f16_to_f32(b.d);
    for (int j = 0; j < 16; ++j) {
        y[j] = float((b.qs[j] & 0x0F) - 8) * d;
        y[j + 16] = float((b.qs[j] >> 4) - 8) * d;
    }
}

inline void dequantize(const BlockQ4_1& b, float* y) {
    const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
    for (int j = 0; j < 16; ++j) {
        y[j] = float(b.qs[j] & 0x0F) * d + m;
        y[j + 16] = float(b.qs[j] >> 4) * d + m;
    }
}

inline uint32_t high_bits(const uint8_t (&qh)[4]) {
    uint32_t h;
    std::memcpy(&h, qh, 4);  // GGUF is little-endian, as is every machine llamaref runs on
    return h;
}

inline void dequantize(const BlockQ5_0& b, float* y) {
    const float d = f16_to_f32(b.d);
    const uint32_t qh = high_bits(b.qh);
    for (int j = 0; j < 16; ++j) {
        const int lo = (b.qs[j] & 0x0F) | int(((qh >> j) & 1) << 4);
        const int hi = (b.qs[j] >> 4) | int(((qh >> (j + 16)) & 1) << 4);
        y[j] = float(lo - 16) * d;
        y[j + 16] = float(hi - 16) * d;
    }
}

inline void dequantize(const BlockQ5_1& b, float* y) {
    const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
    const uint32_t qh = high_bits(b.qh);
    for (int j = 0; j < 16; ++j) {
        const int lo = (b.qs[j] & 0x0F) | int(((qh >> j) & 1) << 4);
        const int hi = (b.qs[j] >> 4) | int(((qh >> (j + 16)) & 1) << 4);
        y[j] = float(lo) * d + m;
        y[j + 16] = float(hi) * d + m;
    }
}

inline void dequantize(const BlockQ8_0& b, float* y) {
    const float d = f16_to_f32(b.d);
    for (std::size_t j = 0; j < kQ8BlockSize; ++j) y[j] = d * float(b.q[j]);
}

// Quantize n values (a multiple of 32) to Q8_0 blocks the way ggml's reference
// quantize_row_q8_0_ref does: d = max|x| / 127 (stored as F16), q = round(x / d).
inline void quantize_row_q8_0(const float* x, BlockQ8_0* y, std::size_t n) {
    if (n % kQ8BlockSize != 0) fail("Q8_0 rows must hold a multiple of 32 values, got ", n);
    for (std::size_t b = 0; b < n / kQ8BlockSize; ++b) {
        const float* v = x + b * kQ8BlockSize;
        float amax = 0.0f;
        for (std::size_t i = 0; i < kQ8BlockSize; ++i) amax = std::max(amax, std::fabs(v[i]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        for (std::size_t i = 0; i < kQ8BlockSize; ++i) y[b].q[i] = int8_t(std::round(v[i] * id));
    }
}

}  // namespace llamaref
