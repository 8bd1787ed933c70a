#pragma once
#include <llamaref/core/dtype.hpp>
#include "cuda_runtime.h"
enum cublasStatus_t { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID = 1 };
struct cublasContext {};
using cublasHandle_t = cublasContext*;
enum cublasOperation_t { CUBLAS_OP_N, CUBLAS_OP_T };
enum cudaDataType { CUDA_R_32F, CUDA_R_16F, CUDA_R_16BF };
using cudaDataType_t = cudaDataType;
enum cublasComputeType_t { CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_PEDANTIC };
enum cublasGemmAlgo_t { CUBLAS_GEMM_DEFAULT };
inline cublasStatus_t cublasCreate(cublasHandle_t* h) {
    *h = new cublasContext;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t h) {
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
inline float emu_elem(const void* p, cudaDataType t, std::size_t i) {
    if (t == CUDA_R_32F) return static_cast<const float*>(p)[i];
    const uint16_t h = static_cast<const uint16_t*>(p)[i];
    return t == CUDA_R_16F ? llamaref::f16_to_f32(h) : llamaref::bf16_to_f32(h);
}
// Column-major C[m, n] = alpha op(A)[m, k] op(B)[k, n] + beta C
inline cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                   const void* alpha, const void* A, cudaDataType at, int lda, const void* B,
                                   cudaDataType bt, int ldb, const void* beta, void* C, cudaDataType ct, int ldc,
                                   cublasComputeType_t, cublasGemmAlgo_t) {
    if (ct != CUDA_R_32F) return CUBLAS_STATUS_INVALID;
    const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
    float* c = static_cast<float*>(C);
    for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i) {
            double s = 0;
            for (int p = 0; p < k; ++p) {
                const float av = ta == CUBLAS_OP_N ? emu_elem(A, at, i + std::size_t(p) * lda)
                                                   : emu_elem(A, at, p + std::size_t(i) * lda);
                const float bv = tb == CUBLAS_OP_N ? emu_elem(B, bt, p + std::size_t(j) * ldb)
                                                   : emu_elem(B, bt, j + std::size_t(p) * ldb);
                s += double(av) * bv;
            }
            float& y = c[i + std::size_t(j) * ldc];
            y = float(a * s + (b != 0 ? b * y : 0.0f));
        }
    return CUBLAS_STATUS_SUCCESS;
}
