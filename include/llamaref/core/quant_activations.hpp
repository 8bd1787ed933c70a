// llamaref/core/quant_activations.hpp — llama.cpp's rounding of the activations, emulated.
//
// llamaref multiplies every weight matrix with float32 activations: on a quantized file it
// computes the exact output of the dequantized model. llama.cpp does not. Before a matrix
// product with a weight of type W it rounds each row of activations to W's "vec_dot_type" (its
// CPU backend's type traits), so that the dot product runs on small integers:
//
//   weights                              activations rounded to
//   F16 / BF16                           F16 / BF16 (round to nearest even)
//   Q4_0 Q5_0 Q8_0 IQ4_NL                Q8_0: blocks of 32, d = max|x| / 127 stored as F16,
//                                              q = round_half_even(x · 127 / max|x|)
//   Q4_1 Q5_1                            Q8_1: the same q and d (and a block sum, see below)
//   Q2_K … Q6_K IQ4_XS                   Q8_K: blocks of 256, m = the x of largest |x|,
//                                              q = min(127, round_half_even(x · (−127 / m))),
//                                              d = 1 / (−127 / m) as float32
//
// (written from ggml's quantize_row_q8_0 for AVX2 and quantize_row_q8_K_ref). This moves
// llama.cpp's logits by 0.15–0.3 on a small sensitive model (shared/quant/README.md): the
// distance between two correct engines on the same file. The emulation below rounds x the same
// way and turns it back into float32, x' = d · q, so that llamaref's float32 matmul computes
// Σ w·x' — llama.cpp's integer sums, up to float32 rounding in the order of additions.
//
// Q4_1 / Q5_1 (weights d_w·q_w + m): llama.cpp's product adds m·s per block, where s is Q8_1's
// block sum s = d·Σq stored in F16 (d = max|x| / 127 before its own F16 rounding), not the exact
// Σ x' = d_F16·Σq that Σ w·x' contains. q8_1_sum_error gives s − Σ x' per block, and
// llamacpp_q8_1_correction adds m·(s − Σ x') to each output: a change of about 2⁻¹¹ of that term.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "dtype.hpp"
#include "tensor.hpp"

namespace llamaref {

enum class ActivationRounding { none, f16, bf16, q8_0, q8_K };

// How llama.cpp's CPU backend rounds the activations that meet a weight of type w.
constexpr ActivationRounding llamacpp_activation_rounding(DType w) {
    switch (w) {
        case DType::F32: return ActivationRounding::none;
        case DType::F16: return ActivationRounding::f16;
        case DType::BF16: return ActivationRounding::bf16;
        case DType::Q4_0:
        case DType::Q5_0:
        case DType::Q8_0:
        case DType::IQ4_NL:
        case DType::Q4_1:
        case DType::Q5_1: return ActivationRounding::q8_0;  // Q8_1: the same d and q
        default: return ActivationRounding::q8_K;           // the K-quants and IQ4_XS
    }
}

// x' = d·q for one block of 32: d = max|x| / 127 rounded to F16, q = round(x · 127 / max|x|).
inline void round_block_q8_0(const float* x, float* out) {
    float amax = 0.0f;
    for (std::size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = f16_to_f32(f32_to_f16(amax / 127.0f));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (std::size_t i = 0; i < 32; ++i) out[i] = d * std::nearbyint(x[i] * id);  // ties to even
}

// The same block as integers, for an integer dot product (cpu/matmul_int8.hpp): q as above and
// the returned d, so that d·q[i] is round_block_q8_0's out[i]. A block holding a NaN or an
// infinity returns d = NaN (and q = 0 where q is no integer), so its products are NaN as above.
//   x: [32] → q: [32]
inline float quantize_block_q8_0(const float* x, int8_t* q) {
    float amax = 0.0f;
    for (std::size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    bool finite = std::isfinite(amax);
    for (std::size_t i = 0; i < 32; ++i) {
        const float r = std::nearbyint(x[i] * id);  // in [−127, 127] when x is finite
        const bool integer = r >= -127.0f && r <= 127.0f;
        finite = finite && integer;
        q[i] = integer ? int8_t(r) : int8_t(0);
    }
    return finite ? f16_to_f32(f32_to_f16(amax / 127.0f)) : std::numeric_limits<float>::quiet_NaN();
}

// x' = d·q for one block of 256, Q8_K's rule (the sign of the largest value sets the scale's sign).
inline void round_block_q8_K(const float* x, float* out) {
    float amax = 0.0f, max = 0.0f;
    for (std::size_t i = 0; i < 256; ++i)
        if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), max = x[i];
    if (amax == 0.0f) {
        std::fill(out, out + 256, 0.0f);
        return;
    }
    const float iscale = -127.0f / max, d = 1.0f / iscale;
    for (std::size_t i = 0; i < 256; ++i) out[i] = d * std::min(127.0f, std::nearbyint(iscale * x[i]));
}

// The same block as integers (cpu/matmul_int8.hpp): q as above and the returned d, so that d·q[i]
// is round_block_q8_K's out[i] (d = 0 for a block of zeros).   x: [256] → q: [256]
// (std::min(127, NaN) is 127, so every q is an integer in [−127, 127] whatever x holds.)
inline float quantize_block_q8_K(const float* x, int8_t* q) {
    float amax = 0.0f, max = 0.0f;
    for (std::size_t i = 0; i < 256; ++i)
        if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), max = x[i];
    if (amax == 0.0f) {
        std::fill(q, q + 256, int8_t(0));
        return 0.0f;
    }
    const float iscale = -127.0f / max;
    for (std::size_t i = 0; i < 256; ++i) q[i] = int8_t(std::min(127.0f, std::nearbyint(iscale * x[i])));
    return 1.0f / iscale;
}

// One row of n activations rounded as llama.cpp rounds them for a weight of type w.
// n must be a whole number of the rounding's blocks (it is, for rows of such a weight).
inline void round_activations_like_llamacpp(DType w, const float* x, float* out, std::size_t n) {
    switch (llamacpp_activation_rounding(w)) {
        case ActivationRounding::none: std::copy(x, x + n, out); return;
        case ActivationRounding::f16:
            for (std::size_t i = 0; i < n; ++i) out[i] = f16_to_f32(f32_to_f16(x[i]));
            return;
        case ActivationRounding::bf16:
            for (std::size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(f32_to_bf16(x[i]));
            return;
        case ActivationRounding::q8_0:
            if (n % 32) fail("activation rounding: a row of ", n, " values is not a whole number of Q8_0 blocks");
            for (std::size_t b = 0; b < n; b += 32) round_block_q8_0(x + b, out + b);
            return;
        case ActivationRounding::q8_K:
            if (n % 256) fail("activation rounding: a row of ", n, " values is not a whole number of Q8_K blocks");
            for (std::size_t b = 0; b < n; b += 256) round_block_q8_K(x + b, out + b);
            return;
    }
}

// Q8_1's block sum as ggml stores it: s = d·Σq rounded to F16, with d = max|x| / 127 before its
// own F16 rounding, for a block x of 32 activations and its q (quantize_block_q8_0's).
inline float q8_1_block_sum(const float* x, const int8_t* q) {
    float amax = 0.0f;
    int sum_q = 0;
    for (std::size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i])), sum_q += q[i];
    return f16_to_f32(f32_to_f16(amax / 127.0f * float(sum_q)));  // ggml: FP32_TO_FP16(d · Σq)
}

// Q8_1's stored block sum minus the sum of the rounded block, s − Σ x', for one block of 32
// activations x (x' as round_block_q8_0 makes it).
inline double q8_1_sum_error(const float* x) {
    int8_t q[32];
    const float d16 = quantize_block_q8_0(x, q);
    int sum_q = 0;
    for (std::size_t i = 0; i < 32; ++i) sum_q += q[i];
    return double(q8_1_block_sum(x, q)) - double(d16) * sum_q;  // Σ x' = d16 · Σq exactly
}

// For a Q4_1 / Q5_1 weight W [out, in]: Y[t, r] += Σ_b m_{r,b} · (s_b − Σ x'_b) over the blocks b
// of row t of the (unrounded) activations X [T, in] — what llama.cpp's product has beyond Σ w·x'.
// Other weight types: nothing to add.
inline void llamacpp_q8_1_correction(const TensorView& W, const float* X, float* Y, std::size_t T) {
    if (W.dtype != DType::Q4_1 && W.dtype != DType::Q5_1) return;
    static_assert(offsetof(BlockQ4_1, m) == 2 && offsetof(BlockQ5_1, m) == 2);
    const std::size_t out = W.rows(), in = W.cols(), n_blocks = in / 32, block_bytes = dtype_bytes(W.dtype, 32);
    thread_local std::vector<double> err;  // [in / 32], kept between calls (no allocation per product)
    err.resize(n_blocks);
    for (std::size_t t = 0; t < T; ++t) {
        for (std::size_t b = 0; b < n_blocks; ++b) err[b] = q8_1_sum_error(X + t * in + 32 * b);
        for (std::size_t r = 0; r < out; ++r) {
            double c = 0;
            for (std::size_t b = 0; b < n_blocks; ++b) {
                uint16_t m;  // the block's minimum (F16 bits)
                std::memcpy(&m, W.row(r) + b * block_bytes + offsetof(BlockQ4_1, m), 2);
                c += double(f16_to_f32(m)) * err[b];
            }
            Y[t * out + r] += float(c);
        }
    }
}

}  // namespace llamaref
