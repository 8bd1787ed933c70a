#pragma once
#include <llamaref/core/dtype.hpp>
#include "cuda_runtime.h"
struct __nv_bfloat16 {
    uint16_t bits;
};
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return {llamaref::f32_to_bf16(f)}; }
inline uint16_t __bfloat16_as_ushort(__nv_bfloat16 h) { return h.bits; }
