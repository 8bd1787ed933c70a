// llamaref/cuda/attention_plain.cuh — attention, version 1: the CPU function's loops, one GPU
// thread per (token, query head).
//
// model/attention.hpp's attention(), transcribed line for line. Thread (t, h) takes the token at
// position p = start_pos + t and query head h, which reads KV head h / n_rep (GQA):
//     score[s]  = cap(q[t, h] · K[s, h/n_rep] · scale)      s = first_visible(p, W) .. p
//     score     = softmax(score)                            (the sum in double, as core/ops.hpp)
//     out[t, h] = Σ_s score[s] · V[s, h/n_rep]
// The scores live in global memory (a scratch row of S = start_pos + T floats per thread), as
// llm.c's dev/cuda keeps the whole pre-attention matrix in its first attention kernel.
//
// It is slow on purpose: each thread walks its keys alone, nothing is shared between the n_rep
// heads that read the same keys, and the scratch grows as T·H·S floats. It is here to be read
// beside the CPU function and the flash kernels of attention.cuh, which compute the same thing
// without ever holding a row of scores; tests/cuda/test_cuda_kernels.cpp checks all three against
// each other. RunnerOptions::plain_attention runs a whole model with it.
#pragma once

#include <cmath>

#include <llamaref/model/config.hpp>

#include "attention.cuh"  // AttentionOptions, first_visible, resolved
#include "common.cuh"
#include "softcap.cuh"

namespace llamaref::cuda {

// q: [T, H, Dh] after RoPE;  k_cache, v_cache: [capacity, KV, Dh], positions 0 .. start_pos+T−1
// written;  score: [T·H, start_pos+T] scratch;  out: [T, H, Dh].   opt.scale already resolved.
static __global__ void attention_plain_kernel(const float* q, const float* k_cache, const float* v_cache, int start_pos,
                                              int T, Heads heads, AttentionOptions opt, float* score, float* out) {
    const int th = blockIdx.x * blockDim.x + threadIdx.x;  // this thread's (t, h): row t·H + h
    if (th >= T * heads.n_heads) return;
    const int Dh = heads.head_dim, KV = heads.n_kv_heads;
    const int t = th / heads.n_heads, h = th % heads.n_heads;
    const int kvh = h / (heads.n_heads / KV);           // n_rep query heads per KV head
    const int S = start_pos + T;                        // positions visible to the last token
    const int last = start_pos + t;                     // causal: positions .. last
    const int first = first_visible(last, opt.window);  // window: positions first ..
    const float* qv = q + std::size_t(th) * Dh;
    float* sc = score + std::size_t(th) * S;  // sc[s] is position s
    float max_score = -INFINITY;
    for (int s = first; s <= last; ++s) {
        const float* key = k_cache + (std::size_t(s) * KV + kvh) * Dh;
        float dot = 0.0f;
        for (int d = 0; d < Dh; ++d) dot += qv[d] * key[d];
        sc[s] = dot * opt.scale;
        if (opt.softcap > 0) sc[s] = softcapped(sc[s], opt.softcap);
        max_score = fmaxf(max_score, sc[s]);
    }
    double sum = 0.0;
    for (int s = first; s <= last; ++s) {
        sc[s] = expf(sc[s] - max_score);
        sum += sc[s];
    }
    for (int s = first; s <= last; ++s) sc[s] = float(sc[s] / sum);
    float* o = out + std::size_t(th) * Dh;
    for (int d = 0; d < Dh; ++d) o[d] = 0.0f;
    for (int s = first; s <= last; ++s) {
        const float* value = v_cache + (std::size_t(s) * KV + kvh) * Dh;
        for (int d = 0; d < Dh; ++d) o[d] += sc[s] * value[d];
    }
}

// Floats of score scratch attention_plain needs: [T·H, start_pos+T].
inline std::size_t attention_plain_scratch(int start_pos, int T, int n_heads) {
    return std::size_t(T) * n_heads * (std::size_t(start_pos) + T);
}

// The same arguments as attention() (attention.cuh), with scratch of attention_plain_scratch floats.
inline void attention_plain(const float* q, const float* k_cache, const float* v_cache, int start_pos, int T,
                            const Heads& heads, const AttentionOptions& opt, float* out, float* score,
                            cudaStream_t stream = 0) {
    if (T == 0) return;
    const int rows = T * heads.n_heads;
    attention_plain_kernel<<<blocks_for(rows, 128), 128, 0, stream>>>(q, k_cache, v_cache, start_pos, T, heads,
                                                                      resolved(opt, heads.head_dim), score, out);
    check_launch("attention (plain)");
}

}  // namespace llamaref::cuda
