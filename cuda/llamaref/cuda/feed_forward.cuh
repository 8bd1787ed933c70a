// llamaref/cuda/feed_forward.cuh — the gates of the feed-forward network on the device: SwiGLU and GeGLU.
//
// Shazeer 2020, eq. 5:   FFN(x) = W2 · ( act(W1·x) ⊙ (W3·x) )
//   SwiGLU (Llama, Mistral):   act = SiLU,       SiLU(g) = g / (1 + e^−g)
//   GeGLU (Gemma 1 and 2):     act = GELU_tanh,  GELU_tanh(g) = 0.5·g·(1 + tanh( √(2/π)·(g + 0.044715·g³) ))
// CPU specification: model/feed_forward.hpp, swiglu and geglu (their elementwise line), and
// core/ops.hpp silu / feed_forward.hpp gelu_tanh. The three products are matmul() calls
// (matmul.cuh); this is the part between them, hence the names swiglu_hidden / geglu_hidden: on
// the CPU, swiglu() and geglu() are the whole FFN, here only its hidden = act(gate) ⊙ up.
#pragma once

#include "common.cuh"

namespace llamaref::cuda {

// SiLU(g) · u and GELU_tanh(g) · u for one value, in float32 as on the CPU (CUDA's expf and tanhf
// are within 2 ulp of the host's).
__device__ __forceinline__ float silu_times(float g, float u) { return g / (1.0f + expf(-g)) * u; }
__device__ __forceinline__ float gelu_tanh(float g) {
    constexpr float kBeta = 0.7978845608028654f;  // √(2/π)
    constexpr float kKappa = 0.044715f;
    const float inner = kBeta * (g + kKappa * g * g * g);
    return 0.5f * g * (1.0f + tanhf(inner));
}

static __global__ void swiglu_hidden_kernel(const float* gate, const float* up, float* hidden, std::size_t n) {
    const std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) hidden[i] = silu_times(gate[i], up[i]);
}

static __global__ void geglu_hidden_kernel(const float* gate, const float* up, float* hidden, std::size_t n) {
    const std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) hidden[i] = gelu_tanh(gate[i]) * up[i];
}

// hidden = SiLU(gate) ⊙ up, n values each (for T tokens: n = T·F).
inline void swiglu_hidden(const float* gate, const float* up, float* hidden, std::size_t n, cudaStream_t stream = 0) {
    if (n == 0) return;
    swiglu_hidden_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(gate, up, hidden, n);
    check_launch("swiglu_hidden");
}

// hidden = GELU_tanh(gate) ⊙ up, n values each (Gemma).
inline void geglu_hidden(const float* gate, const float* up, float* hidden, std::size_t n, cudaStream_t stream = 0) {
    if (n == 0) return;
    geglu_hidden_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(gate, up, hidden, n);
    check_launch("geglu_hidden");
}

}  // namespace llamaref::cuda
