// tests/cuda/kernels_api.hpp — each CUDA kernel behind a host-vector interface, for the tests.
//
// Plain C++: test_cuda_kernels.cpp (compiled by the host compiler, with xtensor and the CPU
// functions) calls these; kernels_api.cu (compiled by nvcc, without xtensor) uploads the inputs,
// runs one kernel of cuda/llamaref/cuda/ and downloads its output.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <llamaref/core/dtype.hpp>

namespace llamaref::cuda::test {

bool available(std::string* why);

// table: V rows of D values stored as dtype (raw bytes), each times `scale`   -> [T, D]
std::vector<float> embedding(DType dtype, const std::vector<std::byte>& table, int V, int D,
                             const std::vector<int>& tokens, float scale = 1.0f);
// -> [T, n]
std::vector<float> rmsnorm_rows(const std::vector<float>& x, const std::vector<float>& w, int T, int n, double eps);
// y + rmsnorm(x)·w   (Gemma 2's post-norm and residual add)   -> [T, n]
std::vector<float> rmsnorm_rows_add(const std::vector<float>& x, const std::vector<float>& w,
                                    const std::vector<float>& y, int T, int n, double eps);
// c·tanh(x / c)   -> [n]
std::vector<float> softcap(const std::vector<float>& x, double c);
// x: [T, H, Dh] -> rotated
std::vector<float> rope_pairs(const std::vector<float>& x, int T, int n_heads, int head_dim, int start_pos,
                              const std::vector<double>& theta);
// The switches of model/attention.hpp's AttentionOptions: window W (0: none), scale (0: 1/√Dh),
// soft-cap c (0: none).
struct AttentionSwitches {
    int window = 0;
    float scale = 0.0f;
    double softcap = 0.0;
};
// q: [T, H, Dh]; k_cache, v_cache: [start_pos+T, KV, Dh] -> [T, H, Dh]
std::vector<float> attention(const std::vector<float>& q, const std::vector<float>& k_cache,
                             const std::vector<float>& v_cache, int start_pos, int T, int n_heads, int n_kv_heads,
                             int head_dim, const AttentionSwitches& opt = {});
// The same by attention_plain.cuh's kernel (version 1: one thread per query head, scores in memory)
std::vector<float> attention_plain(const std::vector<float>& q, const std::vector<float>& k_cache,
                                   const std::vector<float>& v_cache, int start_pos, int T, int n_heads, int n_kv_heads,
                                   int head_dim, const AttentionSwitches& opt = {});
// The decode kernel with the position in device memory and splits for `capacity` positions
// (what a CUDA graph replays): q [H, Dh] at position pos; caches [capacity, KV, Dh].
std::vector<float> attention_decode_at(const std::vector<float>& q, const std::vector<float>& k_cache,
                                       const std::vector<float>& v_cache, int pos, int capacity, int n_heads,
                                       int n_kv_heads, int head_dim, const AttentionSwitches& opt = {});
// hidden = SiLU(gate) ⊙ up, GELU_tanh(gate) ⊙ up (the FFN between its products)
std::vector<float> swiglu_hidden(const std::vector<float>& gate, const std::vector<float>& up);
std::vector<float> geglu_hidden(const std::vector<float>& gate, const std::vector<float>& up);
// W: [out, in] stored as dtype; X: [T, in]; y0: [T, out] initial Y (accumulate) or empty -> [T, out]
std::vector<float> matmul(DType dtype, const std::vector<std::byte>& W, int out, int in, const std::vector<float>& X,
                          int T, const std::vector<float>& y0 = {});
std::vector<float> matmul_cublas(DType dtype, const std::vector<std::byte>& W, int out, int in,
                                 const std::vector<float>& X, int T, const std::vector<float>& y0 = {});
// decode.cuh: y (+)= W · rmsnorm(x)·w, and y (+)= W · (SiLU(gate) ⊙ up)   -> [out]
std::vector<float> matvec_norm(DType dtype, const std::vector<std::byte>& W, int out, int in,
                               const std::vector<float>& x, const std::vector<float>& norm_w, double eps,
                               const std::vector<float>& y0 = {});
std::vector<float> matvec_swiglu(DType dtype, const std::vector<std::byte>& W, int out, int in,
                                 const std::vector<float>& gate, const std::vector<float>& up,
                                 const std::vector<float>& y0 = {});
// y (+)= W · (GELU_tanh(gate) ⊙ up)   -> [out]
std::vector<float> matvec_geglu(DType dtype, const std::vector<std::byte>& W, int out, int in,
                                const std::vector<float>& gate, const std::vector<float>& up,
                                const std::vector<float>& y0 = {});
// decode.cuh rope_store: qkv [Q + 2K] of one token at pos; caches of `capacity` positions (zeros
// before).  -> {rotated qkv, k_cache, v_cache}
struct RopeStoreResult {
    std::vector<float> qkv, k_cache, v_cache;
};
RopeStoreResult rope_store(const std::vector<float>& qkv, int n_heads, int n_kv_heads, int head_dim, int pos,
                           const std::vector<double>& theta, int capacity);
std::vector<float> softmax(const std::vector<float>& x, int rows, int n);
int argmax(const std::vector<float>& x);
// The device sampler (sampling.cuh) -> the chosen id, −1 for non-finite logits.
int sample(const std::vector<float>& logits, double temperature, int top_k, double top_p, double min_p, double coin);

}  // namespace llamaref::cuda::test
