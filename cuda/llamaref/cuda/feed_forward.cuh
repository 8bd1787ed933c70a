// llamaref/cuda/feed_forward.cuh — the SwiGLU gate on the device.
//
// Shazeer 2020, eq. 5:   FFN(x) = W2 · ( SiLU(W1·x) ⊙ (W3·x) ),   SiLU(g) = g / (1 + e^−g)
// CPU specification: model/feed_forward.hpp, swiglu (its elementwise line) and core/ops.hpp,
// silu. The three products are matmul() calls (matmul.cuh); this is the part between them.
#pragma once

#include "common.cuh"

namespace llamaref::cuda {

static __global__ void swiglu_kernel(const float* gate, const float* up, float* hidden, std::size_t n) {
    const std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) {
        const float g = gate[i];
        hidden[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

// hidden = SiLU(gate) ⊙ up, n values each (for T tokens: n = T·F).
inline void swiglu(const float* gate, const float* up, float* hidden, std::size_t n, cudaStream_t stream = 0) {
    if (n == 0) return;
    swiglu_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(gate, up, hidden, n);
    check_launch("swiglu");
}

}  // namespace llamaref::cuda
