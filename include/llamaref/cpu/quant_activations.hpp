// llamaref/cpu/quant_activations.hpp — llama.cpp's rounding of the activations, with AVX2: the
// fast twin of core/quant_activations.hpp (read that first: it is the specification).
//
// Every operation of the specification is an exactly rounded IEEE operation — max of |x|, one
// division, x·id, rounding to the nearest integer with ties to even (ROUNDPS), d·q — so the
// vector code computes the same floats bit for bit (tests/test_cpu_int8.cpp checks it, with ties,
// zeros, NaN and infinities). A block holding a NaN or an infinity goes to the scalar code.
// Why it matters: under `--llamacpp-rounding` every weight product first rounds its activations
// (a 128-token prefill of TinyLlama: 50 million values, ~5 ns each through libm's nearbyintf).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/parallel.hpp"
#include "../core/quant_activations.hpp"
#include "simd.hpp"

namespace llamaref::cpu {

#if LLAMAREF_HAVE_AVX2_KERNELS
namespace avx2 {

LLAMAREF_AVX2 inline float hmax(__m256 v) {  // (max is exact: the order does not matter)
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
}

// max |x[i]| over n (a multiple of 8) values, NaN skipped as std::max(amax, NaN) skips it (MAXPS
// returns its second operand when one is NaN); `finite` false if any x is NaN or infinite.
LLAMAREF_AVX2 inline float abs_max(const float* x, std::size_t n, bool& finite) {
    const __m256 sign = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(INFINITY);
    __m256 amax = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    for (std::size_t i = 0; i < n; i += 8) {
        const __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i));
        amax = _mm256_max_ps(a, amax);
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, inf, _CMP_NLT_UQ));  // NaN or ∞
    }
    finite = _mm256_movemask_ps(bad) == 0;
    return hmax(amax);
}

// Four registers of eight int32 (values in [−128, 127]) as 32 bytes, in order.
LLAMAREF_AVX2 inline __m256i pack_bytes(__m256i a, __m256i b, __m256i c, __m256i d) {
    // PACKSS works within 128-bit halves: the dwords come out as [a0 b0 c0 d0 a1 b1 c1 d1] (each
    // a half's four bytes); one permutation puts them back in order.
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// core's quantize_block_q8_0 (and round_block_q8_0 when out is given: out = d·q).
LLAMAREF_AVX2 inline float quantize_block_q8_0(const float* x, int8_t* q, float* out = nullptr) {
    bool finite;
    const float amax = abs_max(x, 32, finite);
    if (!finite) {
        if (out) llamaref::round_block_q8_0(x, out);
        return llamaref::quantize_block_q8_0(x, q);
    }
    const float d = f16_to_f32(f32_to_f16(amax / 127.0f));
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f), dv = _mm256_set1_ps(d);
    __m256i v[4];
#pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) {
        const __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * g), id),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        if (out) _mm256_storeu_ps(out + 8 * g, _mm256_mul_ps(dv, r));
        v[g] = _mm256_cvtps_epi32(r);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), pack_bytes(v[0], v[1], v[2], v[3]));
    return d;
}

// core's quantize_block_q8_K (and round_block_q8_K when out is given).
LLAMAREF_AVX2 inline float quantize_block_q8_K(const float* x, int8_t* q, float* out = nullptr) {
    bool finite;
    const float amax = abs_max(x, 256, finite);
    if (!finite || amax == 0.0f) {
        if (out) llamaref::round_block_q8_K(x, out);
        return llamaref::quantize_block_q8_K(x, q);
    }
    std::size_t at = 0;  // the first x of largest |x|, as the specification's strict > finds it
    while (std::fabs(x[at]) != amax) ++at;
    const float iscale = -127.0f / x[at], d = 1.0f / iscale;
    const __m256 is = _mm256_set1_ps(iscale), dv = _mm256_set1_ps(d), top = _mm256_set1_ps(127.0f);
    for (std::size_t i = 0; i < 256; i += 32) {
        __m256i v[4];
#pragma GCC unroll 4
        for (int g = 0; g < 4; ++g) {
            const __m256 p = _mm256_mul_ps(is, _mm256_loadu_ps(x + i + 8 * g));
            const __m256 r = _mm256_min_ps(_mm256_round_ps(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), top);
            if (out) _mm256_storeu_ps(out + i + 8 * g, _mm256_mul_ps(dv, r));
            v[g] = _mm256_cvtps_epi32(r);
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), pack_bytes(v[0], v[1], v[2], v[3]));
    }
    return d;
}

}  // namespace avx2
#endif

// One block of 32 (Q8_0) or 256 (Q8_K) as core's functions, with AVX2 where the CPU has it.
inline float quantize_block_q8_0(const float* x, int8_t* q) {
#if LLAMAREF_HAVE_AVX2_KERNELS
    if (use_avx2()) return avx2::quantize_block_q8_0(x, q);
#endif
    return llamaref::quantize_block_q8_0(x, q);
}
inline float quantize_block_q8_K(const float* x, int8_t* q) {
#if LLAMAREF_HAVE_AVX2_KERNELS
    if (use_avx2()) return avx2::quantize_block_q8_K(x, q);
#endif
    return llamaref::quantize_block_q8_K(x, q);
}

// core's round_activations_like_llamacpp for T rows of n values, rows shared among the threads;
// the Q8_0 and Q8_K roundings with AVX2 where the CPU has it.   X, out: [T, n]
inline void round_activations_like_llamacpp(DType w, const float* X, float* out, std::size_t T, std::size_t n) {
    const ActivationRounding kind = llamacpp_activation_rounding(w);
    const std::size_t block = kind == ActivationRounding::q8_0 ? 32 : 256;
#if LLAMAREF_HAVE_AVX2_KERNELS
    const bool vector =
        use_avx2() && (kind == ActivationRounding::q8_0 || kind == ActivationRounding::q8_K) && n % block == 0;
#else
    const bool vector = false;
#endif
    parallel_for(T, [&](std::size_t t0, std::size_t t1) {
        for (std::size_t t = t0; t < t1; ++t) {
            if (!vector) {
                llamaref::round_activations_like_llamacpp(w, X + t * n, out + t * n, n);
                continue;
            }
#if LLAMAREF_HAVE_AVX2_KERNELS
            int8_t q[256];
            for (std::size_t b = 0; b < n; b += block) {
                if (kind == ActivationRounding::q8_0)
                    avx2::quantize_block_q8_0(X + t * n + b, q, out + t * n + b);
                else
                    avx2::quantize_block_q8_K(X + t * n + b, q, out + t * n + b);
            }
#endif
        }
    });
}

// core's llamacpp_q8_1_correction (Q4_1 / Q5_1 weights: Y[t, r] += Σ_b m_{r,b}·(s_b − Σ x'_b)), in
// float32 and shared among the threads: the block sums' errors once per token (with the vectorized
// quantizer), then per row its minimums against every token's errors. The correction is ~2⁻¹¹ of
// the m·s terms, so float32's rounding of it is far below the product's own; the specification's
// double-precision loop, serial over T·out·in/32 products, took most of a Q4_1 prefill's time.
//   W: [out, in] (other types: nothing to add)   X: [T, in] unrounded   Y: [T, out]
inline void llamacpp_q8_1_correction(const TensorView& W, const float* X, float* Y, std::size_t T) {
    if (W.dtype != DType::Q4_1 && W.dtype != DType::Q5_1) return;
    static_assert(offsetof(BlockQ4_1, m) == 2 && offsetof(BlockQ5_1, m) == 2);
    const std::size_t out = W.rows(), in = W.cols(), nb = in / 32, block_bytes = dtype_bytes(W.dtype, 32);
    thread_local std::vector<float> errors;  // [T, nb] s − Σ x' (no allocation per product once grown)
    errors.resize(T * nb);
    float* err = errors.data();  // (in the workers `errors` would name their own, empty one)
    parallel_for(T, [&](std::size_t t0, std::size_t t1) {
        int8_t q[32];
        for (std::size_t t = t0; t < t1; ++t)
            for (std::size_t b = 0; b < nb; ++b) {
                const float* x = X + t * in + 32 * b;
                const float d16 = quantize_block_q8_0(x, q);
                int sum_q = 0;
                for (int i = 0; i < 32; ++i) sum_q += q[i];
                err[t * nb + b] = q8_1_block_sum(x, q) - d16 * float(sum_q);  // (d16·Σq is exact: 11 + 12 bits)
            }
    });
    parallel_for(out, [&](std::size_t r0, std::size_t r1) {
        thread_local std::vector<float> minimums;  // [nb] row r's minimums (this worker's own buffer)
        minimums.resize(nb);
        float* m = minimums.data();
        for (std::size_t r = r0; r < r1; ++r) {
            for (std::size_t b = 0; b < nb; ++b) {
                uint16_t h;
                std::memcpy(&h, W.row(r) + b * block_bytes + offsetof(BlockQ4_1, m), 2);
                m[b] = f16_to_f32(h);
            }
            for (std::size_t t = 0; t < T; ++t) {
                float c = 0.0f;
                for (std::size_t b = 0; b < nb; ++b) c += m[b] * err[t * nb + b];
                Y[t * out + r] += c;
            }
        }
    });
}

}  // namespace llamaref::cpu
