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
// Layout: per layer and KV head, the positions one after another — [KV, slots, Dh] — so the keys
// one head attends over lie contiguously in memory (a decode step streams them; with the
// position-major [slots, KV, Dh] layout each head's 256-byte slice sat a whole row apart, which
// the hardware prefetchers follow badly: half the bandwidth, measured by bench_attention).
//
// Precision: the reference keeps keys and values in float32. llama.cpp keeps them in F16 by
// default (-ctk / -ctv), so its attention reads every key and value rounded to 16 bits. The cache
// can be F16 or BF16 too (Transformer::set_kv_cache_types), and then holds half the bytes. Keys
// and values are rounded to its precision as they are computed (round_kv below), before any
// attention reads them — the call's own rows included — so prefill and decode see the same
// numbers, and the cache stores exactly the rounded values.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../core/dtype.hpp"
#include "../core/error.hpp"

namespace llamaref {

// The precisions a KV cache can have: F32 (exact), F16 (llama.cpp's default), BF16.
inline bool is_kv_cache_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

class KVCache {
  public:
    KVCache() = default;
    // window: one entry per layer, 0 for a plain cache, W > 0 for a rolling buffer of W slots
    // (empty: every layer plain). k_type / v_type: F32 (the reference), F16 or BF16.
    KVCache(int n_layers, int max_seq_len, int n_kv_heads, int head_dim, std::vector<int> window = {},
            DType k_type = DType::F32, DType v_type = DType::F32)
        : max_seq_len_(max_seq_len),
          n_kv_heads_(n_kv_heads),
          head_dim_(head_dim),
          window_(std::move(window)),
          type_{k_type, v_type},
          data_{std::vector<Bytes>(n_layers), std::vector<Bytes>(n_layers)} {
        for (DType t : type_)
            if (!is_kv_cache_type(t)) fail("KV cache: the cache holds F32, F16 or BF16, not ", dtype_name(t));
        window_.resize(std::size_t(n_layers), 0);
        slots_.assign(std::size_t(n_layers), 0);
    }

    int max_seq_len() const { return max_seq_len_; }
    int n_kv_heads() const { return n_kv_heads_; }
    int head_dim() const { return head_dim_; }
    int kv_dim() const { return n_kv_heads_ * head_dim_; }
    DType key_type() const { return type_[0]; }
    DType value_type() const { return type_[1]; }
    int capacity() const { return capacity_; }
    // Slots of layer l: the positions reserved, at most W for a rolling buffer.
    int slots(int l) const { return slots_[l]; }
    bool rolling(int l) const { return window_[l] > 0; }
    // Bytes held for keys and values, all layers.
    std::size_t bytes() const {
        std::size_t n = 0;
        for (const auto& kind : data_)
            for (const Bytes& b : kind) n += b.size();
        return n;
    }

    // Make room for positions 0 .. n_positions−1 (a rolling layer never holds more than W),
    // keeping what is stored. Grows by doubling (up to max_seq_len), so a decode step that asks
    // for one more position moves the cache only now and then. Invalidates earlier pointers.
    void reserve(int n_positions) {
        if (n_positions > max_seq_len_)
            fail("KV cache: ", n_positions, " positions requested, the context holds ", max_seq_len_);
        if (n_positions <= capacity_) return;
        const int grown = std::max(n_positions, std::min(max_seq_len_, 2 * capacity_));
        for (std::size_t l = 0; l < window_.size(); ++l) {
            const int old_slots = slots_[l];
            const int new_slots = window_[l] > 0 ? std::min(grown, window_[l]) : grown;
            if (new_slots == old_slots) continue;  // a rolling buffer already holding W
            for (int kind = 0; kind < 2; ++kind) {
                const std::size_t row = dtype_bytes(type_[kind], std::size_t(head_dim_));  // one position, one head
                Bytes grown_data(std::size_t(n_kv_heads_) * new_slots * row);
                for (int h = 0; h < n_kv_heads_; ++h)  // [KV, slots, Dh]: each head's run moves
                    std::copy_n(data_[kind][l].data() + std::size_t(h) * old_slots * row, std::size_t(old_slots) * row,
                                grown_data.data() + std::size_t(h) * new_slots * row);
                data_[kind][l] = std::move(grown_data);
            }
            slots_[l] = new_slots;
        }
        capacity_ = grown;
    }

    // The slot of position pos in layer l: pos, or pos mod W in a rolling buffer.
    int slot(int l, int pos) const { return window_[l] > 0 ? pos % window_[l] : pos; }

    // Write the key and value of layer l at position pos, in the cache's precision (exact when
    // they were rounded with round_kv first).   k, v: [KV·Dh] = [KV, Dh]
    // (A rolling layer holds only the last W positions written: older ones are overwritten.)
    void store(int l, int pos, const float* k, const float* v) {
        for (int h = 0; h < n_kv_heads_; ++h) {
            from_f32(type_[0], k + std::size_t(h) * head_dim_, key_data(l, pos, h), std::size_t(head_dim_));
            from_f32(type_[1], v + std::size_t(h) * head_dim_, value_data(l, pos, h), std::size_t(head_dim_));
        }
    }
    // Read them back as float32.   k, v: [KV·Dh]
    void load(int l, int pos, float* k, float* v) const {
        for (int h = 0; h < n_kv_heads_; ++h) {
            to_f32(type_[0], key_data(l, pos, h), k + std::size_t(h) * head_dim_, std::size_t(head_dim_));
            to_f32(type_[1], value_data(l, pos, h), v + std::size_t(h) * head_dim_, std::size_t(head_dim_));
        }
    }

    // The stored key / value of KV head h at position pos of layer l: Dh values of key_type() /
    // value_type(); the next position of the same head follows directly (row_bytes later).
    const std::byte* key_data(int l, int pos, int h) const { return at(0, l, pos, h); }
    const std::byte* value_data(int l, int pos, int h) const { return at(1, l, pos, h); }
    std::byte* key_data(int l, int pos, int h) { return const_cast<std::byte*>(at(0, l, pos, h)); }
    std::byte* value_data(int l, int pos, int h) { return const_cast<std::byte*>(at(1, l, pos, h)); }

  private:
    using Bytes = std::vector<std::byte>;
    const std::byte* at(int kind, int l, int pos, int h) const {
        const std::size_t row = dtype_bytes(type_[kind], std::size_t(head_dim_));
        return data_[kind][l].data() + (std::size_t(h) * slots(l) + slot(l, pos)) * row;
    }

    int max_seq_len_ = 0, n_kv_heads_ = 0, head_dim_ = 0, capacity_ = 0;
    std::vector<int> window_;                   // [L]  0 or W
    std::vector<int> slots_;                    // [L]  positions allocated per head
    DType type_[2] = {DType::F32, DType::F32};  // keys, values
    std::vector<Bytes> data_[2];                // keys, values: [L][KV, slots, Dh] stored values
};

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

    // Where the keys (values) of KV head h from position pos on are stored: Dh values of `type`
    // per position, the next position `stride` bytes further, for run(pos, ·) positions.
    struct Rows {
        const std::byte* data;
        DType type;
        std::size_t stride;
    };
    Rows keys(int pos, int h) const { return rows(0, pos, h); }
    Rows values(int pos, int h) const { return rows(1, pos, h); }

    // The key (value) of KV head h at position pos as float32: a pointer to it where it is stored
    // in float32, else widened into buf [Dh].   -> [Dh]
    const float* key(int pos, int h, float* buf) const { return as_f32(keys(pos, h), buf); }
    const float* value(int pos, int h, float* buf) const { return as_f32(values(pos, h), buf); }

    // How many positions from pos (at most n) lie one after another in memory, `stride` apart:
    // up to the end of the cache's buffer (a rolling buffer wraps) or the start of the fresh rows.
    int run(int pos, int n) const {
        if (pos >= fresh_from) return n;
        int r = std::min(n, fresh_from - pos);
        if (cache.rolling(layer)) r = std::min(r, cache.slots(layer) - cache.slot(layer, pos));
        return r;
    }

  private:
    Rows rows(int kind, int pos, int h) const {
        const int Dh = cache.head_dim();
        if (pos >= fresh_from) {  // the call's own rows: [T, KV, Dh] float32
            const float* base =
                (kind == 0 ? k : v) + std::size_t(pos - fresh_from) * cache.kv_dim() + std::size_t(h) * Dh;
            return {reinterpret_cast<const std::byte*>(base), DType::F32, std::size_t(cache.kv_dim()) * 4};
        }
        const DType t = kind == 0 ? cache.key_type() : cache.value_type();
        return {kind == 0 ? cache.key_data(layer, pos, h) : cache.value_data(layer, pos, h), t,
                dtype_bytes(t, std::size_t(Dh))};
    }
    const float* as_f32(const Rows& r, float* buf) const {
        if (r.type == DType::F32) return reinterpret_cast<const float*>(r.data);
        to_f32(r.type, r.data, buf, std::size_t(cache.head_dim()));
        return buf;
    }
};

}  // namespace llamaref
