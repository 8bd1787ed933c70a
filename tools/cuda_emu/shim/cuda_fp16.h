#pragma once
#include <llamaref/core/dtype.hpp>
#include "cuda_runtime.h"
struct __half {
    uint16_t bits;
};
inline __half __ushort_as_half(uint16_t b) { return {b}; }
inline uint16_t __half_as_ushort(__half h) { return h.bits; }
inline float __half2float(__half h) { return llamaref::f16_to_f32(h.bits); }
inline __half __float2half_rn(float f) { return {llamaref::f32_to_f16(f)}; }
