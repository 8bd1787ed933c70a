// llamaref/model/rmsnorm.hpp — Root Mean Square layer normalisation.
//
// Zhang & Sennrich 2019, "Root Mean Square Layer Normalization", eq. 4; used before every
// attention and feed-forward sub-layer and once at the end (LLaMA paper §2.2 "Pre-normalization").
//
//   y_i = x_i / sqrt( (1/n) Σ_j x_j² + ε ) · w_i
//
// Meta normalises in float32 and multiplies by the weight afterwards; activations here are
// float32 throughout, so that is what happens. The mean of squares is accumulated in double.
//
// Gemma (gemma_pytorch RMSNorm(add_unit_offset=True), transformers' GemmaRMSNorm) multiplies by
// (1 + w) instead of w, with w as stored (zero-initialised, so a fresh norm is the identity):
//     y_i = x_i / sqrt( (1/n) Σ_j x_j² + ε ) · (1 + w_i)
// llamaref adds the 1 once at load, in float32 as both references do (unit_offset_weights);
// llama.cpp's GGUF converter stores 1 + w instead, so a Gemma GGUF needs no offset.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace llamaref {

// x: [n]   w: [n]   y: [n]   (y may alias x)
inline void rmsnorm(const float* x, const float* w, float* y, std::size_t n, double eps) {
    double ss = 0.0;
    for (std::size_t i = 0; i < n; ++i) ss += double(x[i]) * double(x[i]);
    const float inv_rms = float(1.0 / std::sqrt(ss / double(n) + eps));
    for (std::size_t i = 0; i < n; ++i) y[i] = (x[i] * inv_rms) * w[i];
}

// Row by row over a batch of tokens.   X: [T, n]   w: [n]   Y: [T, n]
inline void rmsnorm_rows(const float* X, const float* w, float* Y, std::size_t T, std::size_t n, double eps) {
    for (std::size_t t = 0; t < T; ++t) rmsnorm(X + t * n, w, Y + t * n, n, eps);
}

// Gemma's effective norm weights: 1 + w, each in float32.   w: [n] -> [n]
inline std::vector<float> unit_offset_weights(std::vector<float> w) {
    for (float& x : w) x = 1.0f + x;
    return w;
}

}  // namespace llamaref
