// llamaref/core/ops.hpp — the plain numerical building blocks: matmul, softmax, SiLU, argmax.
//
// These are the reference versions: straight loops in float32, written to be read. Faster
// variants (blocked, SIMD, CUDA) live beside them under other namespaces and are tested
// against these.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "parallel.hpp"
#include "tensor.hpp"

namespace llamaref {

// y = x · w  for one row w of a weight matrix, both float32, n long.
inline float dot(const float* w, const float* x, std::size_t n) {
    float s = 0.0f;
    for (std::size_t i = 0; i < n; ++i) s += w[i] * x[i];
    return s;
}

// Y = X · Wᵀ, the "linear layer" of every Llama block (no bias anywhere in the family).
//   W: [out, in] weight view of any dtype     X: [T, in]     Y: [T, out]
// Rows of W are converted to float32 one at a time, so a bf16 or Q8_0 matrix is never expanded
// in memory. Work is split over output rows: each W row is read once for all T tokens.
inline void matmul(const TensorView& W, const float* X, float* Y, std::size_t T) {
    const std::size_t out = W.rows(), in = W.cols();
    parallel_for(out, [&](std::size_t r0, std::size_t r1) {
        std::vector<float> row(W.dtype == DType::F32 ? 0 : in);
        for (std::size_t r = r0; r < r1; ++r) {
            const float* w = reinterpret_cast<const float*>(W.row(r));
            if (W.dtype != DType::F32) {
                W.row_to_f32(r, row.data());
                w = row.data();
            }
            for (std::size_t t = 0; t < T; ++t) Y[t * out + r] = dot(w, X + t * in, in);
        }
    });
}

// Convenience: returns Y [T, out] for X [T, in].
inline Tensor2 matmul(const TensorView& W, const Tensor2& X) {
    if (X.shape(1) != W.cols()) fail("matmul: input has ", X.shape(1), " features, weight expects ", W.cols());
    Tensor2 Y = Tensor2::from_shape({X.shape(0), W.rows()});
    matmul(W, X.data(), Y.data(), X.shape(0));
    return Y;
}

// In-place softmax over n values: exp(x_i - max) / Σ exp(x_j - max). The sum is kept in double.
inline void softmax(float* x, std::size_t n) {
    float mx = -std::numeric_limits<float>::infinity();
    for (std::size_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    for (std::size_t i = 0; i < n; ++i) x[i] = float(x[i] / sum);
}

// SiLU (swish): x · σ(x) = x / (1 + e^-x).
inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

// Index of the largest value; the first one on ties (as torch.argmax and llama2.c do).
inline std::size_t argmax(const float* x, std::size_t n) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < n; ++i)
        if (x[i] > x[best]) best = i;
    return best;
}

}  // namespace llamaref
