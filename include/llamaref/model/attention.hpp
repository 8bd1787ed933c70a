// llamaref/model/attention.hpp — causal grouped-query self-attention over the KV cache.
//
// Vaswani et al. 2017 §3.2.1 (scaled dot-product attention, eq. 1):
//     Attention(Q, K, V) = softmax(Q·Kᵀ / sqrt(Dh)) · V
// with a causal mask (a token sees itself and earlier positions only), per head. Grouped-query
// attention (Ainslie et al. 2023; Llama 2 §2.2, Llama 3 §3.2) lets n_rep = H/KV consecutive query
// heads share one key/value head:
//     query head h reads KV head  h / n_rep   (integer division — not h % KV, a classic bug)
// n_rep = 1 is ordinary multi-head attention (LLaMA 1), KV = 1 is multi-query attention (Gemma 2B).
//
// Three switches of the family's peers (AttentionOptions):
//   window W   Sliding-window attention (Mistral 7B, arXiv 2310.06825 §2; Gemma 2's local layers):
//              the query at position i sees positions i−W+1 .. i — its W most recent keys, itself
//              included. This is transformers' convention and that of mistral-inference's
//              one_file_ref.py since it was corrected; the first version of one_file_ref.py
//              (commit c18d5b91) let a prefill see W+1 keys (i−W .. i) but a decode step W, so
//              prefill and decode disagreed. gemma_pytorch masks the same way as here (W keys).
//   scale      1/√Dh, or Gemma 2's 1/√query_pre_attn_scalar.
//   softcap c  Gemma 2: scores ← c·tanh(scores/c) after scaling, before the mask (softcap.hpp).
//
// This function does only the attention itself: q, k, v projections, RoPE and the output
// projection wo are in transformer.hpp. Scores and softmax are float32 (softmax sum in double).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "../core/ops.hpp"
#include "config.hpp"
#include "kv_cache.hpp"
#include "softcap.hpp"

namespace llamaref {

struct AttentionOptions {
    int window = 0;        // W: the W most recent positions, itself included (0: all earlier ones)
    float scale = 0.0f;    // factor of q·k (0: 1/√Dh)
    double softcap = 0.0;  // c > 0: scores ← c·tanh(scores / c)
};

// The first position the query at position `pos` sees.
inline int first_visible(int pos, int window) { return window > 0 ? std::max(0, pos - window + 1) : 0; }

// q:     [T, H, Dh]  queries of the tokens at positions start_pos .. start_pos+T−1 (after RoPE)
// kv:    keys/values of positions first_visible(start_pos) .. start_pos+T−1 (kv_cache.hpp)
// out:   [T, H, Dh]  attention output, heads side by side (input of wo)
// probs: optional [T, H, start_pos+T] attention weights (masked entries 0), for tracing
inline void attention(const float* q, const KVSpan& kv, int start_pos, int T, const Heads& heads,
                      const AttentionOptions& opt, float* out, float* probs = nullptr) {
    const int n_heads = heads.n_heads, head_dim = heads.head_dim;
    const int n_rep = heads.n_rep();
    const int S = start_pos + T;  // positions visible to the last token
    const float scale = opt.scale > 0 ? opt.scale : 1.0f / std::sqrt(float(head_dim));
    parallel_for(
        std::size_t(T) * n_heads,
        [&](std::size_t b, std::size_t e) {
            std::vector<float> score(S), buf(head_dim);  // buf: a 16-bit cache's key or value widened
            for (std::size_t th = b; th < e; ++th) {
                const int t = int(th / n_heads), h = int(th % n_heads);
                const int kvh = h / n_rep;
                const int last = start_pos + t;                     // causal: positions .. last
                const int first = first_visible(last, opt.window);  // window: positions first ..
                const int n = last - first + 1;
                const float* qv = q + th * head_dim;
                float* sc = score.data() + first;  // sc[j] is position first + j
                for (int s = first; s <= last; ++s) score[s] = dot(qv, kv.key(s, kvh, buf.data()), head_dim) * scale;
                softcap(sc, std::size_t(n), opt.softcap);
                softmax(sc, n);
                float* o = out + th * head_dim;
                for (int d = 0; d < head_dim; ++d) o[d] = 0.0f;
                for (int s = first; s <= last; ++s) {
                    const float* v = kv.value(s, kvh, buf.data());
                    for (int d = 0; d < head_dim; ++d) o[d] += score[s] * v[d];
                }
                if (probs) {
                    float* p = probs + th * S;
                    for (int s = 0; s < S; ++s) p[s] = s >= first && s <= last ? score[s] : 0.0f;
                }
            }
        },
        1);
}

// Plain causal attention with every position 0 .. start_pos+T−1 already in the cache.
inline void attention(const float* q, const KVCache& cache, int layer, int start_pos, int T, const Heads& heads,
                      float* out, float* probs = nullptr) {
    llamaref::attention(q, KVSpan{cache, layer, start_pos + T}, start_pos, T, heads, AttentionOptions{}, out, probs);
}

}  // namespace llamaref
