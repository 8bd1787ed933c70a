// llamaref/model/kv_cache.hpp — keys and values of every position seen so far.
//
// Autoregressive decoding recomputes nothing: the key and value vectors of past tokens are kept
// per layer, and each new token attends over them (Meta's reference keeps cache_k / cache_v the
// same way). With grouped-query attention only the KV heads are stored, which is what makes GQA
// cheaper: KV·Dh numbers per position and layer instead of H·Dh.
//
// The cache grows with the positions actually used (up to max_seq_len), so a model that states
// a 131072-token context does not reserve memory for all of it up front.
#pragma once

#include <cstddef>
#include <vector>

#include "../core/error.hpp"

namespace llamaref {

class KVCache {
  public:
    KVCache() = default;
    KVCache(int n_layers, int max_seq_len, int kv_dim)
        : max_seq_len_(max_seq_len), kv_dim_(kv_dim), k_(n_layers), v_(n_layers) {}

    int max_seq_len() const { return max_seq_len_; }
    int kv_dim() const { return kv_dim_; }
    int capacity() const { return capacity_; }

    // Make room for positions 0 .. n_positions−1. Invalidates pointers from key()/value().
    void reserve(int n_positions) {
        if (n_positions > max_seq_len_)
            fail("KV cache: ", n_positions, " positions requested, the context holds ", max_seq_len_);
        if (n_positions <= capacity_) return;
        for (auto* layers : {&k_, &v_})
            for (auto& buf : *layers) buf.resize(std::size_t(n_positions) * kv_dim_);
        capacity_ = n_positions;
    }

    // The key / value vector of layer l at position pos.   -> [KV, Dh]
    float* key(int l, int pos) { return k_[l].data() + std::size_t(pos) * kv_dim_; }
    float* value(int l, int pos) { return v_[l].data() + std::size_t(pos) * kv_dim_; }
    const float* key(int l, int pos) const { return k_[l].data() + std::size_t(pos) * kv_dim_; }
    const float* value(int l, int pos) const { return v_[l].data() + std::size_t(pos) * kv_dim_; }

  private:
    int max_seq_len_ = 0, kv_dim_ = 0, capacity_ = 0;
    std::vector<std::vector<float>> k_, v_;  // [L][S·KV·Dh] each
};

}  // namespace llamaref
