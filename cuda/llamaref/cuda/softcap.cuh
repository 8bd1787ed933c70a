// llamaref/cuda/softcap.cuh — logit soft-capping (Gemma 2) on the device.
//
// Gemma 2 (arXiv 2408.00118 §2, "Logit soft-capping"):   softcap(x) = c · tanh(x / c)
// CPU specification: model/softcap.hpp, softcap (float32: x / c, tanh, · c; c ≤ 0 leaves x as it
// is). attention.cuh applies softcapped() to every scaled score before the mask; the transformer
// calls softcap() on the final logits. CUDA's tanhf is within 2 ulp of the host's tanh, so the
// two agree to a few ulp, not bit for bit.
#pragma once

#include "common.cuh"

namespace llamaref::cuda {

// One value: c · tanh(x / c), for c > 0.
__device__ __forceinline__ float softcapped(float x, float c) { return tanhf(x / c) * c; }

static __global__ void softcap_kernel(float* x, std::size_t n, float c) {
    const std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) x[i] = softcapped(x[i], c);
}

// x ← c·tanh(x / c) for n values in device memory.   x: [n]   c ≤ 0: unchanged (no launch)
inline void softcap(float* x, std::size_t n, double c, cudaStream_t stream = 0) {
    if (!(c > 0) || n == 0) return;
    softcap_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(x, n, float(c));
    check_launch("softcap");
}

}  // namespace llamaref::cuda
