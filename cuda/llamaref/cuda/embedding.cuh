// llamaref/cuda/embedding.cuh — token embedding lookup on the device.
//
// CPU specification: model/transformer.hpp, `W.tok_embeddings.row_to_f32(token, x[t])`: row
// `token` of the [V, D] table, converted from its stored dtype to float32; Gemma multiplies it by
// √D rounded to float32 (`scale`; 1 leaves every value as it is). A negative id gives a row of
// zeros: under model parallelism (model_parallel.cuh) a token another rank's vocabulary slice holds.
#pragma once

#include "common.cuh"

namespace llamaref::cuda {

// One block per token; threads walk the row.
static __global__ void embedding_kernel(DType dtype, const unsigned char* table, std::size_t row_bytes,
                                        const int* tokens, int D, float scale, float* out) {
    const int t = blockIdx.x;
    if (tokens[t] < 0) {  // another rank's token (VocabParallelEmbedding): 0 before the all-reduce
        for (int i = threadIdx.x; i < D; i += blockDim.x) out[std::size_t(t) * D + i] = 0.0f;
        return;
    }
    const unsigned char* row = table + std::size_t(tokens[t]) * row_bytes;
    for (int i = threadIdx.x; i < D; i += blockDim.x) out[std::size_t(t) * D + i] = load_f32(dtype, row, i) * scale;
}

// table: [V, D] stored as `dtype` (device)   tokens: [T] (device, each in [0, V) or negative,
// checked by the caller)   out: [T, D] float32   scale: Gemma's float(√D), else 1
inline void embedding(DType dtype, const void* table, const int* tokens, int T, int D, float* out, float scale = 1.0f,
                      cudaStream_t stream = 0) {
    if (T == 0) return;
    embedding_kernel<<<T, 256, 0, stream>>>(dtype, static_cast<const unsigned char*>(table), dtype_bytes(dtype, D),
                                            tokens, D, scale, out);
    check_launch("embedding");
}

}  // namespace llamaref::cuda
