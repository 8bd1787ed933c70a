// llamaref/cuda/softmax.cuh — softmax and argmax on the device.
//
// CPU specification: core/ops.hpp, softmax (exp(x_i − max) / Σ exp(x_j − max), the sum in
// double) and argmax (the first index of the largest value, as torch.argmax and llama2.c).
#pragma once

#include "common.cuh"

namespace llamaref::cuda {

// One block per row, in place.
static __global__ void softmax_kernel(float* X, int n) {
    __shared__ float fscratch[32];
    __shared__ double dscratch[32];
    float* x = X + std::size_t(blockIdx.x) * n;
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < n; i += blockDim.x) mx = fmaxf(mx, x[i]);
    mx = block_max(mx, fscratch);
    double sum = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    sum = block_sum(sum, dscratch);
    for (int i = threadIdx.x; i < n; i += blockDim.x) x[i] = float(x[i] / sum);
}

// X: [rows, n] float32, each row replaced by its softmax.
inline void softmax(float* X, int rows, int n, cudaStream_t stream = 0) {
    if (rows == 0 || n == 0) return;
    softmax_kernel<<<rows, 256, 0, stream>>>(X, n);
    check_launch("softmax");
}

// One block of 1024 threads: each keeps its best (value, index) over a strided range, then the
// block reduces pairs (larger value wins; on equal values the smaller index). A NaN or infinite
// value anywhere makes the result −1 (the host reports it, as the CPU sampler does).
static __global__ void argmax_kernel(const float* x, int n, int* result) {
    __shared__ float best_v[1024];
    __shared__ int best_i[1024];
    __shared__ int bad;
    if (threadIdx.x == 0) bad = 0;
    __syncthreads();
    float v = -INFINITY;
    int idx = n;  // "none yet": larger than any index
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        if (!isfinite(x[i]))
            bad = 1;
        else if (idx == n || x[i] > v)
            v = x[i], idx = i;  // strided: a later i only wins if larger
    }
    best_v[threadIdx.x] = v, best_i[threadIdx.x] = idx;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride) {
            const float ov = best_v[threadIdx.x + stride];
            const int oi = best_i[threadIdx.x + stride];
            if (oi != n && (best_i[threadIdx.x] == n || ov > best_v[threadIdx.x] ||
                            (ov == best_v[threadIdx.x] && oi < best_i[threadIdx.x])))
                best_v[threadIdx.x] = ov, best_i[threadIdx.x] = oi;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) *result = bad ? -1 : best_i[0];
}

// x: [n] (device)   result: one int on the device — the index, or −1 for a non-finite value.
inline void argmax(const float* x, int n, int* result, cudaStream_t stream = 0) {
    if (n <= 0) fail("argmax of an empty vector");
    argmax_kernel<<<1, 1024, 0, stream>>>(x, n, result);
    check_launch("argmax");
}

}  // namespace llamaref::cuda
