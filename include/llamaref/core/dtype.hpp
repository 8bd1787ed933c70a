// llamaref/core/dtype.hpp — how numbers are stored in checkpoint files.
//
// Weights arrive as float32, float16, bfloat16 or Q8_0 (llama.cpp's 8-bit blocks). Activations
// in llamaref are always float32; a weight of any storage type is converted element by element
// when it is used (see core/ops.hpp). This header knows bits and bytes, nothing about models.
//
//   F32   IEEE binary32
//   F16   IEEE binary16 (1 sign, 5 exponent, 10 mantissa bits)
//   BF16  the top 16 bits of a binary32 (1 sign, 8 exponent, 7 mantissa bits)
//   Q8_0  blocks of 32 values: one F16 scale d, then 32 int8 q; value = d * q
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "error.hpp"

namespace llamaref {

enum class DType : uint8_t { F32, F16, BF16, Q8_0 };

constexpr std::string_view dtype_name(DType t) {
    switch (t) {
        case DType::F32: return "F32";
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
        case DType::Q8_0: return "Q8_0";
    }
    return "?";
}

// --- Q8_0: 32 values share one scale -----------------------------------------------------
constexpr std::size_t kQ8BlockSize = 32;
struct BlockQ8_0 {
    uint16_t d;              // scale, stored as F16 bits
    int8_t q[kQ8BlockSize];  // quantized values
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 blocks are 34 bytes, packed as in GGUF");

// Bytes needed to store n consecutive values (n must be a multiple of 32 for Q8_0).
inline std::size_t dtype_bytes(DType t, std::size_t n) {
    switch (t) {
        case DType::F32: return 4 * n;
        case DType::F16:
        case DType::BF16: return 2 * n;
        case DType::Q8_0:
            if (n % kQ8BlockSize != 0) fail("Q8_0 rows must hold a multiple of 32 values, got ", n);
            return n / kQ8BlockSize * sizeof(BlockQ8_0);
    }
    return 0;
}

// --- scalar conversions ------------------------------------------------------------------
inline float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

// Round to nearest, ties to even (what PyTorch does); NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
    uint32_t u = std::bit_cast<uint32_t>(f);
    if (std::isnan(f)) return uint16_t((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return uint16_t(u >> 16);
}

inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    const uint32_t man = h & 0x3ff;
    if (exp == 0) {  // zero or subnormal: man * 2^-24
        float v = std::ldexp(float(man), -24);
        return sign ? -v : v;
    }
    if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (man << 13));  // inf / NaN
    return std::bit_cast<float>(sign | ((exp + 112) << 23) | (man << 13));
}

// Round to nearest, ties to even; overflow to inf.
inline uint16_t f32_to_f16(float f) {
    const uint32_t u = std::bit_cast<uint32_t>(f);
    const uint16_t sign = uint16_t((u >> 16) & 0x8000);
    const float a = std::fabs(f);
    if (std::isnan(f)) return sign | 0x7e00;
    if (a >= 65520.0f) return sign | 0x7c00;              // rounds to inf
    if (a < 6.103515625e-05f) {                             // subnormal half: multiples of 2^-24
        return sign | uint16_t(std::nearbyint(a * 16777216.0f));
    }
    uint32_t m = u & 0x7fffffff;
    m += 0x0fff + ((m >> 13) & 1);                          // round mantissa to 10 bits
    return sign | uint16_t((m >> 13) - (112u << 10));
}

// Convert n stored values starting at element 0 of `src` to float32.
inline void to_f32(DType t, const void* src, float* dst, std::size_t n) {
    switch (t) {
        case DType::F32: std::memcpy(dst, src, n * 4); return;
        case DType::F16: {
            const auto* p = static_cast<const uint16_t*>(src);
            for (std::size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(p[i]);
            return;
        }
        case DType::BF16: {
            const auto* p = static_cast<const uint16_t*>(src);
            for (std::size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(p[i]);
            return;
        }
        case DType::Q8_0: {
            const auto* b = static_cast<const BlockQ8_0*>(src);
            for (std::size_t i = 0; i < n; ++i) {
                const BlockQ8_0& blk = b[i / kQ8BlockSize];
                dst[i] = f16_to_f32(blk.d) * float(blk.q[i % kQ8BlockSize]);
            }
            return;
        }
    }
}

}  // namespace llamaref

// --- conversions from float32 (used by the writers in formats/) ---------------------------
namespace llamaref {

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

// Store n float32 values as dtype t at dst (dtype_bytes(t, n) bytes).
inline void from_f32(DType t, const float* src, void* dst, std::size_t n) {
    switch (t) {
        case DType::F32: std::memcpy(dst, src, n * 4); return;
        case DType::F16: {
            auto* p = static_cast<uint16_t*>(dst);
            for (std::size_t i = 0; i < n; ++i) p[i] = f32_to_f16(src[i]);
            return;
        }
        case DType::BF16: {
            auto* p = static_cast<uint16_t*>(dst);
            for (std::size_t i = 0; i < n; ++i) p[i] = f32_to_bf16(src[i]);
            return;
        }
        case DType::Q8_0: quantize_row_q8_0(src, static_cast<BlockQ8_0*>(dst), n); return;
    }
}

}  // namespace llamaref
