// llamaref/model/kv_cache.hpp — keys and values of every position seen so far.
//
// Autoregressive decoding recomputes nothing: the key and value vectors of past tokens are kept
// per layer, and each new token attends over them (Meta's reference keeps cache_k / cache_v the
// same way). With grouped-query attention only the KV heads are stored, which is what makes GQA
// cheaper: KV·Dh numbers per position and layer instead of H·Dh.
//
// A plain layer's cache grows with the positions actually used (up to max_seq_len), so a model
// that states a 131072-token context does not reserve memory for all of it up front.
//
// Rolling buffer (Mistral 7B, arXiv 2310.06825 §2 "Rolling Buffer Cache"): a layer with a sliding
// window of W positions never looks further back than W−1 positions, so its cache has W slots
// and position p lives in slot p mod W; once p ≥ W a new key overwrites the one that has just
// left every future window. Memory stays W·KV·Dh per layer however long the sequence grows.
//
// A forward call over T new positions reads the earlier positions from the cache and its own T
// keys and values from the call's buffers (KVSpan below), and writes them to the cache after the
// attention. That is what lets a prefill longer than W use a W-slot cache: the call's later keys
// would otherwise overwrite slots its earlier queries still read (Mistral's reference attends a
// prefill over its own xk, xv for the same reason).
//
// Precision: the reference keeps keys and values in float32. llama.cpp keeps them in F16 by
// default (-ctk / -ctv), so its attention reads every key and value rounded to 16 bits. The cache
// can reproduce that rounding (round_kv below, Transformer::set_kv_cache_types): keys and values
// are rounded to F16 or BF16 as they are computed, before any attention reads them, and the
// cache then holds exactly what a 16-bit cache would return. They are still stored in float32
// slots (exact, since every 16-bit value is a float32 value): the option reproduces the effect
// on the logits, not the halved memory.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../core/dtype.hpp"
#include "../core/error.hpp"

namespace llamaref {

class KVCache {
  public:
    KVCache() = default;
    // window: one entry per layer, 0 for a plain cache, W > 0 for a rolling buffer of W slots
    // (empty: every layer plain).
    KVCache(int n_layers, int max_seq_len, int kv_dim, std::vector<int> window = {})
        : max_seq_len_(max_seq_len), kv_dim_(kv_dim), window_(std::move(window)), k_(n_layers), v_(n_layers) {
        window_.resize(std::size_t(n_layers), 0);
    }

    int max_seq_len() const { return max_seq_len_; }
    int kv_dim() const { return kv_dim_; }
    int capacity() const { return capacity_; }
    // Slots of layer l: W for a rolling buffer, else the positions reserved.
    int slots(int l) const { return window_[l] > 0 ? window_[l] : capacity_; }
    bool rolling(int l) const { return window_[l] > 0; }

    // Make room for positions 0 .. n_positions−1 (a rolling layer never holds more than W).
    // Invalidates pointers from key()/value().
    void reserve(int n_positions) {
        if (n_positions > max_seq_len_)
            fail("KV cache: ", n_positions, " positions requested, the context holds ", max_seq_len_);
        if (n_positions <= capacity_) return;
        for (std::size_t l = 0; l < k_.size(); ++l) {
            const int n = window_[l] > 0 ? std::min(n_positions, window_[l]) : n_positions;
            k_[l].resize(std::size_t(n) * kv_dim_);
            v_[l].resize(std::size_t(n) * kv_dim_);
        }
        capacity_ = n_positions;
    }

    // The slot of position pos in layer l: pos, or pos mod W in a rolling buffer.
    int slot(int l, int pos) const { return window_[l] > 0 ? pos % window_[l] : pos; }

    // The key / value vector of layer l at position pos.   -> [KV, Dh]
    // (A rolling layer holds only the last W positions written: older ones were overwritten.)
    float* key(int l, int pos) { return k_[l].data() + std::size_t(slot(l, pos)) * kv_dim_; }
    float* value(int l, int pos) { return v_[l].data() + std::size_t(slot(l, pos)) * kv_dim_; }
    const float* key(int l, int pos) const { return k_[l].data() + std::size_t(slot(l, pos)) * kv_dim_; }
    const float* value(int l, int pos) const { return v_[l].data() + std::size_t(slot(l, pos)) * kv_dim_; }

  private:
    int max_seq_len_ = 0, kv_dim_ = 0, capacity_ = 0;
    std::vector<int> window_;                // [L]  0 or W
    std::vector<std::vector<float>> k_, v_;  // [L][slots·KV·Dh] each
};

// The precisions a KV cache can have: F32 (exact), F16 (llama.cpp's default), BF16.
inline bool is_kv_cache_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// Round n keys or values to the cache's precision t, in place (F32: unchanged). F16 rounds to
// nearest even (values of magnitude ≥ 65520 become ±inf), as llama.cpp's conversion does.   x: [n]
inline void round_kv(DType t, float* x, std::size_t n) {
    if (t == DType::F16)
        for (std::size_t i = 0; i < n; ++i) x[i] = f16_to_f32(f32_to_f16(x[i]));
    else if (t == DType::BF16)
        for (std::size_t i = 0; i < n; ++i) x[i] = bf16_to_f32(f32_to_bf16(x[i]));
    else if (t != DType::F32)
        fail("KV cache: the cache holds F32, F16 or BF16, not ", dtype_name(t));
}

// What one attention call reads for one layer: positions < fresh_from from the cache, positions
// fresh_from .. from the call's own k and v ([T, KV·Dh] rows, row 0 = position fresh_from).
// fresh_from = start_pos + T (nothing fresh) reads everything from the cache.
struct KVSpan {
    const KVCache& cache;
    int layer;
    int fresh_from;
    const float* k = nullptr;  // [T, KV·Dh]
    const float* v = nullptr;  // [T, KV·Dh]

    const float* key(int pos) const {
        return pos >= fresh_from ? k + std::size_t(pos - fresh_from) * cache.kv_dim() : cache.key(layer, pos);
    }
    const float* value(int pos) const {
        return pos >= fresh_from ? v + std::size_t(pos - fresh_from) * cache.kv_dim() : cache.value(layer, pos);
    }
    // How many positions from pos (at most n) lie one after another in memory, kv_dim apart: up
    // to the end of the cache's buffer (a rolling buffer wraps) or the start of the fresh rows.
    int run(int pos, int n) const {
        if (pos >= fresh_from) return n;
        int r = std::min(n, fresh_from - pos);
        if (cache.rolling(layer)) r = std::min(r, cache.slots(layer) - cache.slot(layer, pos));
        return r;
    }
};

}  // namespace llamaref
