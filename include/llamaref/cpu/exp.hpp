// llamaref/cpu/exp.hpp — e^x for the fast kernels (softmax in attention, SiLU in the FFN).
//
// std::exp is exact to the last bit but scalar; the fast path needs eight at a time. exp_poly
// and its AVX2 twin exp_poly8 compute the same float32 value the same way (tests compare them):
// within 3e-7 relative of e^x — below the rounding of the float32 sums it feeds.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "simd.hpp"

namespace llamaref::cpu {

// e^x in float32 as the kernels compute it: x = n·ln2 + r with n = round(x·log2 e) and
// |r| ≤ ln2/2, e^r by its Taylor polynomial of degree 6 (error < 4e-8 relative), times 2ⁿ.
// Arguments below −87 give 0 (e^−87 ≈ 1.6e−38, nothing next to the largest term, which is 1).
inline float exp_poly(float x) {
    if (!(x >= -87.0f)) return 0.0f;  // also −inf and NaN
    x = std::min(x, 88.0f);
    const float n = std::nearbyint(x * 1.44269504f);
    float r = std::fma(-n, 0.693359375f, x);  // ln 2 in two parts: the first exact in 10 bits
    r = std::fma(-n, -2.12194440e-4f, r);
    float p = 1.0f / 720;
    p = std::fma(p, r, 1.0f / 120);
    p = std::fma(p, r, 1.0f / 24);
    p = std::fma(p, r, 1.0f / 6);
    p = std::fma(p, r, 0.5f);
    p = std::fma(p, r, 1.0f);
    p = std::fma(p, r, 1.0f);
    return p * std::bit_cast<float>(uint32_t(int32_t(n) + 127) << 23);
}

#if LLAMAREF_HAVE_AVX2_KERNELS
namespace avx2 {
LLAMAREF_AVX2 inline __m256 exp_poly8(__m256 x) {
    const __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_GE_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 n =
        _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(keep, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

}  // namespace avx2
#endif

}  // namespace llamaref::cpu
