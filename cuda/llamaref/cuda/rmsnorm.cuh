// llamaref/cuda/rmsnorm.cuh — RMSNorm on the device.
//
// Zhang & Sennrich 2019, eq. 4:   y_i = x_i / sqrt( (1/n) Σ_j x_j² + ε ) · w_i
// CPU specification: model/rmsnorm.hpp, rmsnorm_rows. As there, the mean of squares is summed
// in double and the scale applied as (x · inv_rms) · w in float32, so only the order of the
// double sum differs. Gemma's (1 + w) is in w already: the host adds the 1 in float32 before the
// upload (unit_offset_weights, as the CPU path does at load), so the kernels are the same.
#pragma once

#include "common.cuh"

namespace llamaref::cuda {

// One block per row. Add: Y += the normalised row instead of Y = (Gemma 2's post-norms).
template <bool Add>
static __global__ void rmsnorm_kernel(const float* X, const float* w, float* Y, int n, double eps) {
    __shared__ double scratch[32];
    const float* x = X + std::size_t(blockIdx.x) * n;
    float* y = Y + std::size_t(blockIdx.x) * n;
    double ss = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss += double(x[i]) * double(x[i]);
    ss = block_sum(ss, scratch);
    const float inv_rms = float(1.0 / sqrt(ss / double(n) + eps));
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = (x[i] * inv_rms) * w[i];
        y[i] = Add ? __fadd_rn(y[i], v) : v;  // _rn: the CPU's two roundings, never one fused
    }
}

// X: [T, n]   w: [n] float32   Y: [T, n]   (Y may alias X)
inline void rmsnorm_rows(const float* X, const float* w, float* Y, int T, int n, double eps, cudaStream_t stream = 0) {
    if (T == 0) return;
    rmsnorm_kernel<false><<<T, 256, 0, stream>>>(X, w, Y, n, eps);
    check_launch("rmsnorm");
}

// Y += rmsnorm(X) · w, row by row: a Gemma 2 post-norm and its residual add. The CPU
// (model/transformer.hpp) normalises the sub-layer output in place, then adds it to x: the same
// float32 operations.   X: [T, n]   w: [n]   Y: [T, n] (must not alias X)
inline void rmsnorm_rows_add(const float* X, const float* w, float* Y, int T, int n, double eps,
                             cudaStream_t stream = 0) {
    if (T == 0) return;
    rmsnorm_kernel<true><<<T, 256, 0, stream>>>(X, w, Y, n, eps);
    check_launch("rmsnorm (add)");
}

}  // namespace llamaref::cuda
