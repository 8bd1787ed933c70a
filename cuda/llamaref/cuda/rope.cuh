// llamaref/cuda/rope.cuh — rotary position embedding on the device (adjacent pairs, Meta's form).
//
// RoFormer §3.2–3.4, eq. 34; LLaMA §2.2. CPU specification: model/rope.hpp, rope_pairs with a
// RopeTable. For position m and pair i = 0 .. Dh/2 − 1 of every head:
//     a' = a·cos(mθ_i) − b·sin(mθ_i)        (a, b) = (x[2i], x[2i+1])
//     b' = a·sin(mθ_i) + b·cos(mθ_i)
// θ_i (the base θ and the Llama 3.1 scaling) comes from the host's rope_frequencies() in
// float64; the angle m·θ_i and its cos/sin are float64 here too, rounded to float32 as the
// RopeTable does, and the rotation is done with explicitly rounded float32 operations (no fused
// multiply-add, which the CPU build does not use either). The result equals the CPU function's
// to the last bit unless CUDA's float64 sin/cos (within 2 ulp) rounds to a neighbouring float.
#pragma once

#include "common.cuh"

namespace llamaref::cuda {

// One thread per (token, head, pair).
static __global__ void rope_pairs_kernel(float* x, int T, int n_heads, int head_dim, int start_pos,
                                         const double* theta) {
    const int n_pairs = head_dim / 2;
    const std::size_t idx = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= std::size_t(T) * n_heads * n_pairs) return;
    const int i = int(idx % n_pairs);
    const std::size_t th = idx / n_pairs;  // token · n_heads + head
    const int t = int(th / n_heads);
    double s, c;
    sincos(double(start_pos + t) * theta[i], &s, &c);
    const float cf = float(c), sf = float(s);
    float* v = x + th * head_dim + 2 * i;
    const float a = v[0], b = v[1];
    v[0] = __fsub_rn(__fmul_rn(a, cf), __fmul_rn(b, sf));
    v[1] = __fadd_rn(__fmul_rn(a, sf), __fmul_rn(b, cf));
}

// x: [T, n_heads, Dh] float32 (in place), tokens at positions start_pos .. start_pos+T−1
// theta: [Dh/2] float64 (device), rope_frequencies(Dh, base, scaling)
inline void rope_pairs(float* x, int T, int n_heads, int head_dim, int start_pos, const double* theta,
                       cudaStream_t stream = 0) {
    const std::size_t n = std::size_t(T) * n_heads * (head_dim / 2);
    if (n == 0) return;
    rope_pairs_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(x, T, n_heads, head_dim, start_pos, theta);
    check_launch("rope_pairs");
}

}  // namespace llamaref::cuda
