// llamaref/cuda/decode.cuh — the decode step's fused kernels: fewer, larger launches.
//
// A decode step (one token) is bound by memory bandwidth: every weight byte is read once, and
// between the big matrix-vector products the small steps (RMSNorm, RoPE, storing K and V,
// SwiGLU) cost mostly their launch and ramp-up. Here they ride along with the products:
//
//   matvec(W, input)    y (+)= W · input, where the input is computed as it is loaded:
//       PlainInput      x
//       NormInput       rmsnorm(x) · w      — each block computes the RMS of x itself (D floats,
//                                             from L2) exactly as rmsnorm.cuh does
//       SwiGLUInput     SiLU(gate) ⊙ up     — exactly as feed_forward.cuh does
//       GeGLUInput      GELU_tanh(gate) ⊙ up  (Gemma) — likewise
//   rope_store(qkv)     RoPE on q and k of the stacked [q | k | v] row, and k, v into the cache
//
// so a block is: qkv = matvec(Wqkv, NormInput) → rope_store → attention → x += matvec(wo, att)
// → gu = matvec(W13, NormInput) → x += matvec(w2, SwiGLUInput) — 6 launches instead of 13.
// The position is read from device memory (rope_store here, attention_decode in attention.cuh),
// so the whole step can be captured once as a CUDA graph and replayed for every token
// (transformer.cuh).
// Each fused kernel performs the same float32 operations as the unfused ones, in the same order;
// tests/cuda compares them with the CPU functions and the fused step with the unfused one.
#pragma once

#include <algorithm>

#include "feed_forward.cuh"
#include "matmul.cuh"

namespace llamaref::cuda {

// --- inputs of a matrix-vector product ---------------------------------------------------------
// prepare(): once per block, by all its threads, before any row; returns a per-block scale.
// load8(k, scale, v): input values k .. k+7 (k a multiple of 8).

struct PlainInput {
    const float* x;  // [in]
    __device__ float prepare(double*) const { return 1.0f; }
    __device__ void load8(int k, float, float v[8]) const {
        const float4 a = *reinterpret_cast<const float4*>(x + k), b = *reinterpret_cast<const float4*>(x + k + 4);
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    }
};

struct NormInput {
    const float* x;  // [n] the residual stream
    const float* w;  // [n] the norm weight
    int n;
    double eps;
    // inv_rms = 1 / sqrt(mean(x²) + ε), summed in double by a 256-thread block as rmsnorm_kernel does.
    __device__ float prepare(double* scratch) const {
        double ss = 0.0;
        for (int i = threadIdx.x; i < n; i += blockDim.x) ss += double(x[i]) * double(x[i]);
        ss = block_sum(ss, scratch);
        return float(1.0 / sqrt(ss / double(n) + eps));
    }
    __device__ void load8(int k, float inv_rms, float v[8]) const {
#pragma unroll
        for (int e = 0; e < 8; ++e) v[e] = (x[k + e] * inv_rms) * w[k + e];
    }
};

struct SwiGLUInput {
    const float* gate;  // [F]
    const float* up;    // [F]
    __device__ float prepare(double*) const { return 1.0f; }
    __device__ void load8(int k, float, float v[8]) const {
#pragma unroll
        for (int e = 0; e < 8; ++e) v[e] = silu_times(gate[k + e], up[k + e]);
    }
};

struct GeGLUInput {
    const float* gate;  // [F]
    const float* up;    // [F]
    __device__ float prepare(double*) const { return 1.0f; }
    __device__ void load8(int k, float, float v[8]) const {
#pragma unroll
        for (int e = 0; e < 8; ++e) v[e] = gelu_tanh(gate[k + e]) * up[k + e];
    }
};

// One warp per row, as matmul_kernel<DT, 1>, with the input computed on the fly. The grid is
// limited to a few blocks per multiprocessor and its warps stride over the rows, so the
// per-block prologue (NormInput's RMS) runs a few hundred times, not once per 8 rows.
template <DType DT, class Input>
static __global__ void matvec_kernel(const unsigned char* __restrict__ W, std::size_t row_bytes, int out, int in,
                                     Input input, float* __restrict__ y, bool accumulate) {
    __shared__ double scratch[32];
    const float scale = input.prepare(scratch);  // every thread of the block, before any return
    const int lane = threadIdx.x % 32;
    const int warps = gridDim.x * (blockDim.x / 32);
    for (int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < out; r += warps) {
        const unsigned char* w_row = W + std::size_t(r) * row_bytes;
        float acc = 0.0f;
#pragma unroll 4
        for (int k = lane * 8; k < in; k += 32 * 8) {
            float w[8], x[8];
            load8<DT>(w_row, k, w);
            input.load8(k, scale, x);
            acc += w[0] * x[0] + w[1] * x[1] + w[2] * x[2] + w[3] * x[3] + w[4] * x[4] + w[5] * x[5] + w[6] * x[6] +
                   w[7] * x[7];
        }
        acc = warp_sum(acc);
        if (lane == 0) y[r] = accumulate ? y[r] + acc : acc;
    }
}

// Blocks for a matvec: enough rows for every warp, at most kBlocksPerSM per multiprocessor.
inline unsigned matvec_blocks(int out, int rows_per_block) {
    constexpr int kBlocksPerSM = 8;
    static int sms = [] {
        int device = 0, n = 0;
        check(cudaGetDevice(&device), "cudaGetDevice");
        check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device), "multiprocessor count");
        return n;
    }();
    return std::min<unsigned>(blocks_for(out, rows_per_block), unsigned(sms * kBlocksPerSM));
}

// Whether matvec() can take W [out, in] of this dtype at this address (else use matmul()).
inline bool matvec_supported(DType dtype, const void* W, int in) {
    if (in % (dtype == DType::Q8_0 ? 32 : 8) != 0) return false;
    const std::uintptr_t align = dtype == DType::Q8_0 ? 2 : 16;
    return in % 8 == 0 && reinterpret_cast<std::uintptr_t>(W) % align == 0 && dtype_bytes(dtype, in) % align == 0;
}

// y (+)= W · input.   W: [out, in] stored as dtype (device)   y: [out]
template <class Input>
inline void matvec(DType dtype, const void* W, int out, int in, const Input& input, float* y, bool accumulate,
                   cudaStream_t stream = 0) {
    if (!matvec_supported(dtype, W, in))
        fail("matvec: rows of ", in, " ", dtype_name(dtype), " values at this address");
    constexpr int kWarps = 8;  // rows per block; 256 threads, as rmsnorm_kernel (same reduction order)
    const auto* w = static_cast<const unsigned char*>(W);
    const std::size_t row_bytes = dtype_bytes(dtype, in);
    const unsigned blocks = matvec_blocks(out, kWarps);
    switch (dtype) {
        case DType::F32:
            matvec_kernel<DType::F32, Input>
                <<<blocks, 32 * kWarps, 0, stream>>>(w, row_bytes, out, in, input, y, accumulate);
            break;
        case DType::F16:
            matvec_kernel<DType::F16, Input>
                <<<blocks, 32 * kWarps, 0, stream>>>(w, row_bytes, out, in, input, y, accumulate);
            break;
        case DType::BF16:
            matvec_kernel<DType::BF16, Input>
                <<<blocks, 32 * kWarps, 0, stream>>>(w, row_bytes, out, in, input, y, accumulate);
            break;
        case DType::Q8_0:
            matvec_kernel<DType::Q8_0, Input>
                <<<blocks, 32 * kWarps, 0, stream>>>(w, row_bytes, out, in, input, y, accumulate);
            break;
        default: fail("matvec: the CUDA kernels compute with F32, F16, BF16 and Q8_0, not ", dtype_name(dtype));
    }
    check_launch("matvec");
}

// --- RoPE and the K/V store in one pass ----------------------------------------------------------

// qkv: [H·Dh | KV·Dh | KV·Dh] of one token at position *pos (device memory, so that a CUDA graph
// can replay the step). Threads [0, (H+KV)·Dh/2) rotate one pair of a q or k head (rope.cuh's
// arithmetic); k pairs also go to the cache; threads after them copy v.
//   k_cache, v_cache: [capacity, KV·Dh] of this layer.
static __global__ void rope_store_kernel(float* qkv, int n_heads, int n_kv_heads, int head_dim, const int* pos_ptr,
                                         const double* theta, float* k_cache, float* v_cache) {
    const int pos = *pos_ptr;
    const int n_pairs = head_dim / 2, rotated = (n_heads + n_kv_heads) * n_pairs, K = n_kv_heads * head_dim;
    const int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < rotated) {
        const int head = idx / n_pairs, i = idx % n_pairs;  // heads 0 .. H−1 are q, H .. H+KV−1 are k
        double s, c;
        sincos(double(pos) * theta[i], &s, &c);
        const float cf = float(c), sf = float(s);
        float* v = qkv + std::size_t(head) * head_dim + 2 * i;
        const float a = v[0], b = v[1];
        v[0] = __fsub_rn(__fmul_rn(a, cf), __fmul_rn(b, sf));
        v[1] = __fadd_rn(__fmul_rn(a, sf), __fmul_rn(b, cf));
        if (head >= n_heads) {
            float* dst = k_cache + std::size_t(pos) * K + (head - n_heads) * head_dim + 2 * i;
            dst[0] = v[0], dst[1] = v[1];
        }
    } else if (idx < rotated + K) {
        const int j = idx - rotated;
        v_cache[std::size_t(pos) * K + j] = qkv[std::size_t(n_heads + n_kv_heads) * head_dim + j];
    }
}

inline void rope_store(float* qkv, int n_heads, int n_kv_heads, int head_dim, const int* pos, const double* theta,
                       float* k_cache, float* v_cache, cudaStream_t stream = 0) {
    const int n = (n_heads + n_kv_heads) * (head_dim / 2) + n_kv_heads * head_dim;
    rope_store_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(qkv, n_heads, n_kv_heads, head_dim, pos, theta, k_cache,
                                                              v_cache);
    check_launch("rope_store");
}

}  // namespace llamaref::cuda
