// llamaref/model/attention.hpp — causal grouped-query self-attention over the KV cache.
//
// Vaswani et al. 2017 §3.2.1 (scaled dot-product attention, eq. 1):
//     Attention(Q, K, V) = softmax(Q·Kᵀ / sqrt(Dh)) · V
// with a causal mask (a token sees itself and earlier positions only), per head. Grouped-query
// attention (Ainslie et al. 2023; Llama 2 §2.2, Llama 3 §3.2) lets n_rep = H/KV consecutive query
// heads share one key/value head:
//     query head h reads KV head  h / n_rep   (integer division — not h % KV, a classic bug)
// n_rep = 1 is ordinary multi-head attention (LLaMA 1), KV = 1 is multi-query attention.
//
// This function does only the attention itself: q, k, v projections, RoPE and the output
// projection wo are in transformer.hpp. Scores and softmax are float32 (softmax sum in double).
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "../core/ops.hpp"
#include "kv_cache.hpp"

namespace llamaref {

// q:     [T, H, Dh]  queries of the tokens at positions start_pos .. start_pos+T−1 (after RoPE)
// cache: keys/values of layer `layer`, positions 0 .. start_pos+T−1 already written
// out:   [T, H, Dh]  attention output, heads side by side (input of wo)
// probs: optional [T, H, start_pos+T] attention weights (masked entries 0), for tracing
inline void attention(const float* q, const KVCache& cache, int layer, int start_pos, int T, int n_heads,
                      int n_kv_heads, int head_dim, float* out, float* probs = nullptr) {
    const int n_rep = n_heads / n_kv_heads;
    const int S = start_pos + T;  // positions visible to the last token
    const float scale = 1.0f / std::sqrt(float(head_dim));
    parallel_for(std::size_t(T) * n_heads, [&](std::size_t b, std::size_t e) {
        std::vector<float> score(S);
        for (std::size_t th = b; th < e; ++th) {
            const int t = int(th / n_heads), h = int(th % n_heads);
            const int kvh = h / n_rep;
            const int last = start_pos + t;  // causal: positions 0 .. last
            const float* qv = q + th * head_dim;
            for (int s = 0; s <= last; ++s)
                score[s] = dot(qv, cache.key(layer, s) + kvh * head_dim, head_dim) * scale;
            softmax(score.data(), last + 1);
            float* o = out + th * head_dim;
            for (int d = 0; d < head_dim; ++d) o[d] = 0.0f;
            for (int s = 0; s <= last; ++s) {
                const float* v = cache.value(layer, s) + kvh * head_dim;
                for (int d = 0; d < head_dim; ++d) o[d] += score[s] * v[d];
            }
            if (probs) {
                float* p = probs + th * S;
                for (int s = 0; s < S; ++s) p[s] = s <= last ? score[s] : 0.0f;
            }
        }
    }, 1);
}

}  // namespace llamaref
