// llamaref/core/half.hpp — the two 16-bit floating-point formats, to and from float32.
//
//   F16   IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits
//   BF16  "brain float": the top 16 bits of a binary32 (1 sign, 8 exponent, 7 mantissa bits)
//
// Every half → float conversion is exact; float → half rounds to nearest, ties to even.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace llamaref {

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
    if (a >= 65520.0f) return sign | 0x7c00;  // rounds to inf
    if (a < 6.103515625e-05f) {               // subnormal half: multiples of 2^-24
        return sign | uint16_t(std::nearbyint(a * 16777216.0f));
    }
    uint32_t m = u & 0x7fffffff;
    m += 0x0fff + ((m >> 13) & 1);  // round mantissa to 10 bits
    return sign | uint16_t((m >> 13) - (112u << 10));
}

}  // namespace llamaref
