// llamaref/cuda/matmul.cuh — the linear layers on the device: Y = X · Wᵀ (no bias in Llama).
//
// CPU specification: core/ops.hpp, matmul(W, X, Y, T): W [out, in] in any stored dtype, X [T, in]
// and Y [T, out] float32, each weight converted to float32 and multiplied in float32.
//
// Two implementations:
//   * matmul():        llamaref's own kernel. One warp per output row: the 32 lanes read the
//                      row in 16- or 32-byte pieces of 8 values (coalesced), multiply them with up
//                      to 8 tokens' inputs, and sum across the warp. For decode (T = 1) this is
//                      a matrix-vector product limited by memory bandwidth: every weight byte
//                      is read once. It serves every dtype, F32, F16, BF16 and Q8_0.
//   * matmul_cublas(): cuBLAS GEMM for the large prefill products of F32, F16 and BF16 weights.
//                      F32 runs in float32 (no TF32). F16/BF16 run on tensor cores with the
//                      activations rounded to the weight dtype first — faster, not the CPU's
//                      arithmetic; tests compare it with the CPU matmul of the rounded inputs.
// `accumulate` adds the product to Y (Y += X · Wᵀ): the residual connection x += wo · att and
// x += w2 · hidden without a separate pass.
#pragma once

#include <cublas_v2.h>

#include "common.cuh"

namespace llamaref::cuda {

inline void check(cublasStatus_t s, const char* what) {
    if (s != CUBLAS_STATUS_SUCCESS) fail("cuBLAS: ", what, " failed with status ", int(s));
}

// Eight consecutive values w[k .. k+7] of a row (k a multiple of 8) as float32.
template <DType DT>
__device__ __forceinline__ void load8(const unsigned char* __restrict__ row, int k, float w[8]) {
    if constexpr (DT == DType::F32) {
        const float4 a = *reinterpret_cast<const float4*>(row + 4 * std::size_t(k));
        const float4 b = *reinterpret_cast<const float4*>(row + 4 * std::size_t(k) + 16);
        w[0] = a.x, w[1] = a.y, w[2] = a.z, w[3] = a.w, w[4] = b.x, w[5] = b.y, w[6] = b.z, w[7] = b.w;
    } else if constexpr (DT == DType::F16 || DT == DType::BF16) {
        const uint4 u = *reinterpret_cast<const uint4*>(row + 2 * std::size_t(k));  // 8 × 16 bits
        const uint32_t words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const uint16_t lo = uint16_t(words[j] & 0xffff), hi = uint16_t(words[j] >> 16);
            w[2 * j] = DT == DType::BF16 ? bf16_bits_to_f32(lo) : f16_bits_to_f32(lo);
            w[2 * j + 1] = DT == DType::BF16 ? bf16_bits_to_f32(hi) : f16_bits_to_f32(hi);
        }
    } else {  // Q8_0: value k lies in block k/32, at offset k%32 (0, 8, 16 or 24) of its 32 quants
        const unsigned char* block = row + std::size_t(k / kQ8BlockSize) * sizeof(BlockQ8_0);
        const auto* halves = reinterpret_cast<const uint16_t*>(block);  // blocks are 2-byte aligned
        const float d = f16_bits_to_f32(halves[0]);
        const auto* q = reinterpret_cast<const uint16_t*>(block + 2 + k % kQ8BlockSize);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            w[2 * j] = d * float(int8_t(q[j] & 0xff));
            w[2 * j + 1] = d * float(int8_t(q[j] >> 8));
        }
    }
}

// One warp per row r of W, tokens t0 .. t0+NT−1 of X (grid.y walks the token groups).
// Needs in % 8 == 0 (Q8_0: % 32) and 16-byte aligned rows of X.
template <DType DT, int NT>
static __global__ void matmul_kernel(const unsigned char* __restrict__ W, std::size_t row_bytes, int out, int in,
                                     const float* __restrict__ X, float* __restrict__ Y, int T, bool accumulate) {
    const int lane = threadIdx.x % 32;
    const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const int t0 = blockIdx.y * NT;
    if (r >= out) return;
    const unsigned char* w_row = W + std::size_t(r) * row_bytes;
    float acc[NT] = {};
#pragma unroll 4
    for (int k = lane * 8; k < in; k += 32 * 8) {
        float w[8];
        load8<DT>(w_row, k, w);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            if (t0 + t < T) {
                const float4* x = reinterpret_cast<const float4*>(X + std::size_t(t0 + t) * in + k);
                const float4 a = x[0], b = x[1];
                acc[t] += w[0] * a.x + w[1] * a.y + w[2] * a.z + w[3] * a.w + w[4] * b.x + w[5] * b.y + w[6] * b.z +
                          w[7] * b.w;
            }
        }
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) {
        const float s = warp_sum(acc[t]);
        if (lane == 0 && t0 + t < T) {
            float& y = Y[std::size_t(t0 + t) * out + r];
            y = accumulate ? y + s : s;
        }
    }
}

// Any row length: one value at a time (rows whose length is not a multiple of 8).
static __global__ void matmul_any_kernel(DType dtype, const unsigned char* W, std::size_t row_bytes, int out, int in,
                                         const float* X, float* Y, int T, bool accumulate) {
    const int lane = threadIdx.x % 32;
    const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (r >= out) return;
    const unsigned char* w_row = W + std::size_t(r) * row_bytes;
    for (int t = 0; t < T; ++t) {
        float acc = 0.0f;
        for (int k = lane; k < in; k += 32) acc += load_f32(dtype, w_row, k) * X[std::size_t(t) * in + k];
        acc = warp_sum(acc);
        if (lane == 0) {
            float& y = Y[std::size_t(t) * out + r];
            y = accumulate ? y + acc : acc;
        }
    }
}

template <int NT>
inline void launch_matmul(DType dtype, const unsigned char* W, std::size_t row_bytes, int out, int in, const float* X,
                          float* Y, int T, bool accumulate, cudaStream_t stream) {
    constexpr int kWarps = 8;  // rows per block
    const dim3 grid(blocks_for(out, kWarps), blocks_for(T, NT));
    switch (dtype) {
        case DType::F32:
            matmul_kernel<DType::F32, NT><<<grid, 32 * kWarps, 0, stream>>>(W, row_bytes, out, in, X, Y, T, accumulate);
            break;
        case DType::F16:
            matmul_kernel<DType::F16, NT><<<grid, 32 * kWarps, 0, stream>>>(W, row_bytes, out, in, X, Y, T, accumulate);
            break;
        case DType::BF16:
            matmul_kernel<DType::BF16, NT>
                <<<grid, 32 * kWarps, 0, stream>>>(W, row_bytes, out, in, X, Y, T, accumulate);
            break;
        case DType::Q8_0:
            matmul_kernel<DType::Q8_0, NT>
                <<<grid, 32 * kWarps, 0, stream>>>(W, row_bytes, out, in, X, Y, T, accumulate);
            break;
        default: fail("matmul: the CUDA kernels compute with F32, F16, BF16 and Q8_0, not ", dtype_name(dtype));
    }
    check_launch("matmul");
}

// W: [out, in] stored as `dtype` (device)   X: [T, in]   Y: [T, out]   (Y += … when accumulate)
inline void matmul(DType dtype, const void* W, int out, int in, const float* X, float* Y, int T,
                   bool accumulate = false, cudaStream_t stream = 0) {
    if (T == 0 || out == 0) return;
    const auto* w = static_cast<const unsigned char*>(W);
    const std::size_t row_bytes = dtype_bytes(dtype, in);
    // Vector loads need 16-byte aligned rows (Q8_0 blocks are read 2 bytes at a time).
    const std::uintptr_t w_align = dtype == DType::Q8_0 ? 2 : 16;
    const bool aligned = reinterpret_cast<std::uintptr_t>(W) % w_align == 0 && row_bytes % w_align == 0 &&
                         reinterpret_cast<std::uintptr_t>(X) % 16 == 0;
    if (in % 8 != 0 || !aligned) {
        matmul_any_kernel<<<blocks_for(out, 8), 256, 0, stream>>>(dtype, w, row_bytes, out, in, X, Y, T, accumulate);
        check_launch("matmul (any length)");
    } else if (T == 1) {
        launch_matmul<1>(dtype, w, row_bytes, out, in, X, Y, T, accumulate, stream);
    } else {
        launch_matmul<8>(dtype, w, row_bytes, out, in, X, Y, T, accumulate, stream);
    }
}

// --- cuBLAS for the prefill GEMMs ---------------------------------------------------------------

static __global__ void round_to_16bit_kernel(const float* x, uint16_t* y, std::size_t n, bool bf16) {
    const std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) y[i] = bf16 ? __bfloat16_as_ushort(__float2bfloat16_rn(x[i])) : __half_as_ushort(__float2half_rn(x[i]));
}

// Same contract as matmul() for F32, F16 and BF16 weights. `x16` is scratch for T·in 16-bit
// values (F16/BF16 only). Row-major Y [T, out] is column-major Yᵀ [out, T] = W · Xᵀ, so the GEMM
// is op(A) = Wᵀ of the column-major [in, out] buffer W, B = the column-major [in, T] buffer X.
inline void matmul_cublas(cublasHandle_t handle, DType dtype, const void* W, int out, int in, const float* X, float* Y,
                          int T, bool accumulate, uint16_t* x16, cudaStream_t stream = 0) {
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    check(cublasSetStream(handle, stream), "cublasSetStream");
    if (dtype == DType::F32) {
        check(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, out, T, in, &alpha, W, CUDA_R_32F, in, X, CUDA_R_32F, in,
                           &beta, Y, CUDA_R_32F, out, CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT),
              "GEMM (F32)");
        return;
    }
    if (dtype != DType::F16 && dtype != DType::BF16) fail("matmul_cublas: no cuBLAS GEMM for ", dtype_name(dtype));
    const bool bf16 = dtype == DType::BF16;
    const std::size_t n = std::size_t(T) * in;
    round_to_16bit_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(X, x16, n, bf16);
    check_launch("round activations to 16 bits");
    const cudaDataType_t t = bf16 ? CUDA_R_16BF : CUDA_R_16F;
    check(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, out, T, in, &alpha, W, t, in, x16, t, in, &beta, Y, CUDA_R_32F,
                       out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          bf16 ? "GEMM (BF16)" : "GEMM (F16)");
}

}  // namespace llamaref::cuda
