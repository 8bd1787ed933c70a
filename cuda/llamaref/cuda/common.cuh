// llamaref/cuda/common.cuh — what every CUDA kernel of llamaref shares.
//
//   * check(): a CUDA or cuBLAS error becomes a llamaref::Error naming the call;
//   * Buffer<T>: device memory owned by one object (cudaMalloc / cudaFree);
//   * loading stored weights as float32 on the device, for each DType (core/dtype.hpp is the
//     host specification of these conversions; the device versions must agree bit for bit);
//   * warp and block reductions.
//
// Kernels in this folder take raw device pointers and shapes only: no xtensor, no Model. Each
// header names the CPU function it mirrors; that function is the specification and the tests
// in tests/cuda/ compare the two.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include <llamaref/core/dtype.hpp>
#include <llamaref/core/error.hpp>

namespace llamaref::cuda {

inline void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) fail("CUDA: ", what, ": ", cudaGetErrorString(e));
}
// After a kernel launch: reports a bad launch configuration at once (execution errors surface at
// the next synchronising call).
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// Device memory for n values of T.
template <class T>
class Buffer {
  public:
    Buffer() = default;
    explicit Buffer(std::size_t n) { resize(n); }
    ~Buffer() { release(); }
    Buffer(Buffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
    Buffer& operator=(Buffer&& o) noexcept {
        if (this != &o) {
            release();
            p_ = std::exchange(o.p_, nullptr);
            n_ = std::exchange(o.n_, 0);
        }
        return *this;
    }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    // Discards the contents.
    void resize(std::size_t n) {
        if (n == n_) return;
        release();
        if (n) check(cudaMalloc(&p_, n * sizeof(T)), "cudaMalloc");
        n_ = n;
    }
    void upload(const T* host, std::size_t n, std::size_t offset = 0) {
        if (offset + n > n_) fail("CUDA buffer: upload of ", n, " values at ", offset, " past its size ", n_);
        check(cudaMemcpy(p_ + offset, host, n * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy to device");
    }
    void download(T* host, std::size_t n) const {
        if (n > n_) fail("CUDA buffer: download of ", n, " values, it holds ", n_);
        check(cudaMemcpy(host, p_, n * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy to host");
    }
    // The same, ordered on `stream`. From pageable host memory an upload returns once the values
    // are staged (the host may reuse them at once); a download returns when they have arrived.
    void upload(const T* host, std::size_t n, cudaStream_t stream) {
        if (n > n_) fail("CUDA buffer: upload of ", n, " values past its size ", n_);
        check(cudaMemcpyAsync(p_, host, n * sizeof(T), cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync to device");
    }
    void download(T* host, std::size_t n, cudaStream_t stream) const {
        if (n > n_) fail("CUDA buffer: download of ", n, " values, it holds ", n_);
        check(cudaMemcpyAsync(host, p_, n * sizeof(T), cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync to host");
        check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    }

    T* get() const { return p_; }
    std::size_t size() const { return n_; }
    std::size_t bytes() const { return n_ * sizeof(T); }

  private:
    void release() {
        if (p_) cudaFree(p_);
        p_ = nullptr;
        n_ = 0;
    }
    T* p_ = nullptr;
    std::size_t n_ = 0;
};

inline unsigned blocks_for(std::size_t n, unsigned threads) { return unsigned((n + threads - 1) / threads); }

// --- stored values as float32 (core/dtype.hpp: bf16_to_f32, f16_to_f32, to_f32) ------------

__device__ __forceinline__ float bf16_bits_to_f32(uint16_t h) { return __uint_as_float(uint32_t(h) << 16); }
__device__ __forceinline__ float f16_bits_to_f32(uint16_t h) { return __half2float(__ushort_as_half(h)); }

// Element i of a row of n values stored as dtype t (Q8_0: blocks of 34 bytes, see BlockQ8_0).
__device__ __forceinline__ float load_f32(DType t, const void* row, std::size_t i) {
    switch (t) {
        case DType::F32: return static_cast<const float*>(row)[i];
        case DType::F16: return f16_bits_to_f32(static_cast<const uint16_t*>(row)[i]);
        case DType::BF16: return bf16_bits_to_f32(static_cast<const uint16_t*>(row)[i]);
        case DType::Q8_0: {
            const auto* b = static_cast<const unsigned char*>(row) + (i / kQ8BlockSize) * sizeof(BlockQ8_0);
            const uint16_t d = uint16_t(b[0] | (b[1] << 8));
            return f16_bits_to_f32(d) * float(static_cast<int8_t>(b[2 + i % kQ8BlockSize]));
        }
        default: break;  // other block formats never reach the GPU (runner.hpp's require_supported refuses them)
    }
    return 0.0f;
}

// --- reductions ------------------------------------------------------------------------------

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over all threads of the block (blockDim.x a multiple of 32, at most 1024); every thread
// gets the result. `scratch` is shared memory for 32 values.
template <class T>
__device__ T block_sum(T v, T* scratch) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < n_warps ? scratch[lane] : T(0);
    return warp_sum(v);
}

__device__ inline float block_max(float v, float* scratch) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < n_warps ? scratch[lane] : -INFINITY;
    return warp_max(v);
}

}  // namespace llamaref::cuda
