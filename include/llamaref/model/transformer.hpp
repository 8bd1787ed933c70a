// llamaref/model/transformer.hpp — the Llama decoder: weights, forward pass, observer hook.
//
// LLaMA paper §2.2 (pre-normalization, SwiGLU, RoPE on the GPT/Transformer decoder of Vaswani et
// al. 2017 §3.1); Meta's reference model.py, class Transformer / TransformerBlock. One token's
// path through the model:
//
//   x = tok_embeddings[token]                                  [D]
//   for each block l:
//       h = x + wo · Attention(RoPE(wq·norm(x)), RoPE(wk·norm(x)), wv·norm(x))   (attention.hpp)
//       x = h + FFN_SwiGLU(norm(h))                                              (feed_forward.hpp)
//   logits = output · norm(x)                                  [V]
//
// forward(tokens, start_pos) runs T tokens at positions start_pos .. start_pos+T−1 in one call:
// a whole prompt (prefill) or one token at a time (decode). Keys and values go to the KV cache,
// so a later call continues where the last one stopped.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "../core/ops.hpp"
#include "attention.hpp"
#include "config.hpp"
#include "feed_forward.hpp"
#include "kv_cache.hpp"
#include "rmsnorm.hpp"
#include "rope.hpp"

namespace llamaref {

// Views of one block's weights (Meta names; HF and GGUF names in formats/).
struct LayerWeights {
    TensorView attention_norm;  // [D]
    TensorView wq;              // [H·Dh, D]   rows in the adjacent-pairs RoPE layout
    TensorView wk;              // [KV·Dh, D]  rows in the adjacent-pairs RoPE layout
    TensorView wv;              // [KV·Dh, D]
    TensorView wo;              // [D, H·Dh]
    TensorView ffn_norm;        // [D]
    TensorView w1;              // [F, D]  gate
    TensorView w2;              // [D, F]  down
    TensorView w3;              // [F, D]  up
};

struct Weights {
    TensorView tok_embeddings;  // [V, D]
    std::vector<LayerWeights> layers;
    TensorView norm;    // [D]
    TensorView output;  // [V, D]  (the same view as tok_embeddings when tied)
};

// A loaded model: its configuration, weight views, and whatever keeps the viewed memory alive
// (a memory-mapped file, buffers of converted tensors). Readers in formats/ produce it.
struct Model {
    ModelConfig config;
    Weights weights;
    std::string format;  // "llama2c v0", "safetensors", ...
    std::string path;
    std::vector<std::shared_ptr<const void>> storage;
};

// Throws if any weight's shape disagrees with the configuration.
inline void validate_weights(const ModelConfig& c, const Weights& w) {
    auto expect = [](const TensorView& t, const std::string& name, Shape want) {
        if (t.empty()) fail("weights: tensor ", name, " is missing");
        if (t.shape != want)
            fail("weights: tensor ", name, " has shape ", shape_str(t.shape), " but the config implies ", shape_str(want));
    };
    const std::size_t D = c.dim, V = c.vocab_size, F = c.hidden_dim, Q = c.q_dim(), K = c.kv_dim();
    expect(w.tok_embeddings, "tok_embeddings", {V, D});
    if (w.layers.size() != std::size_t(c.n_layers))
        fail("weights: ", w.layers.size(), " layers but the config says ", c.n_layers);
    for (std::size_t l = 0; l < w.layers.size(); ++l) {
        const auto& L = w.layers[l];
        const std::string p = "layers." + std::to_string(l) + ".";
        expect(L.attention_norm, p + "attention_norm", {D});
        expect(L.wq, p + "attention.wq", {Q, D});
        expect(L.wk, p + "attention.wk", {K, D});
        expect(L.wv, p + "attention.wv", {K, D});
        expect(L.wo, p + "attention.wo", {D, Q});
        expect(L.ffn_norm, p + "ffn_norm", {D});
        expect(L.w1, p + "feed_forward.w1", {F, D});
        expect(L.w2, p + "feed_forward.w2", {D, F});
        expect(L.w3, p + "feed_forward.w3", {F, D});
    }
    expect(w.norm, "norm", {D});
    expect(w.output, "output", {V, D});
}

// What an observer sees: one intermediate tensor of the forward pass, valid during the call.
// Names follow Meta's module names: "tok_embeddings", "layers.3.attention_norm",
// "layers.3.attention.wq", "layers.3" (block output), "norm", "output" (logits), ...
struct Probe {
    std::string name;
    int layer;  // -1 outside the blocks
    const float* data;
    Shape shape;
};
using Observer = std::function<void(const Probe&)>;

class Transformer {
  public:
    // context_len: how many positions the KV cache may hold (0: the model's max_seq_len).
    explicit Transformer(std::shared_ptr<const Model> model, int context_len = 0)
        : model_(std::move(model)), cfg_(with_context(model_->config, context_len)),
          cache_(cfg_.n_layers, cfg_.max_seq_len, cfg_.kv_dim()),
          theta_(rope_frequencies(cfg_.head_dim, cfg_.rope_theta, cfg_.rope_scaling)) {
        cfg_.validate();
        validate_weights(cfg_, model_->weights);
        // Norm weights are tiny: keep them as float32 whatever the file stored.
        for (const auto& L : model_->weights.layers) {
            attention_norm_.push_back(L.attention_norm.to_f32_vector());
            ffn_norm_.push_back(L.ffn_norm.to_f32_vector());
        }
        final_norm_ = model_->weights.norm.to_f32_vector();
    }

    const ModelConfig& config() const { return cfg_; }
    const Model& model() const { return *model_; }

    // Called with every intermediate tensor; attention probabilities only when asked (they cost
    // T·H·S floats).
    void set_observer(Observer fn, bool with_attention_probs = false) {
        observer_ = std::move(fn);
        observe_probs_ = with_attention_probs;
    }

    // Logits for tokens at positions start_pos .. start_pos+T−1.   -> [T, V]
    Tensor2 forward(std::span<const int> tokens, int start_pos) {
        const int T = int(tokens.size());
        check_input(tokens, start_pos);
        const std::size_t D = cfg_.dim, Q = cfg_.q_dim(), K = cfg_.kv_dim(), F = cfg_.hidden_dim;
        const auto& W = model_->weights;
        const RopeTable rope(theta_, start_pos, T);
        cache_.reserve(start_pos + T);

        Tensor2 x = Tensor2::from_shape({std::size_t(T), D});  // residual stream
        Tensor2 xn = Tensor2::from_shape({std::size_t(T), D});  // normalised input of a sub-layer
        Tensor2 q = Tensor2::from_shape({std::size_t(T), Q});   // [T, H, Dh]
        Tensor2 k = Tensor2::from_shape({std::size_t(T), K});   // [T, KV, Dh]
        Tensor2 v = Tensor2::from_shape({std::size_t(T), K});   // [T, KV, Dh]
        Tensor2 att = Tensor2::from_shape({std::size_t(T), Q});  // [T, H, Dh]
        Tensor2 sub = Tensor2::from_shape({std::size_t(T), D});  // output of a sub-layer
        Tensor2 gate = Tensor2::from_shape({std::size_t(T), F}), up = gate, hidden = gate;  // [T, F]
        std::vector<float> probs(observe_probs_ ? std::size_t(T) * cfg_.n_heads * (start_pos + T) : 0);

        // Token embeddings: row `token` of the [V, D] table.
        for (int t = 0; t < T; ++t) W.tok_embeddings.row_to_f32(tokens[t], &x(t, 0));
        emit("tok_embeddings", -1, x);

        for (int l = 0; l < cfg_.n_layers; ++l) {
            const LayerWeights& Lw = W.layers[l];
            const std::string p = observer_ ? "layers." + std::to_string(l) : std::string();

            // --- attention sub-layer: h = x + wo · attention(norm(x)) ---
            rmsnorm_rows(x.data(), attention_norm_[l].data(), xn.data(), T, D, cfg_.norm_eps);
            emit(p + ".attention_norm", l, xn);
            matmul(Lw.wq, xn.data(), q.data(), T);
            matmul(Lw.wk, xn.data(), k.data(), T);
            matmul(Lw.wv, xn.data(), v.data(), T);
            emit(p + ".attention.wq", l, q);
            emit(p + ".attention.wk", l, k);
            emit(p + ".attention.wv", l, v);
            for (int t = 0; t < T; ++t) {
                rope_pairs(&q(t, 0), cfg_.n_heads, cfg_.head_dim, rope, t);
                rope_pairs(&k(t, 0), cfg_.n_kv_heads, cfg_.head_dim, rope, t);
                std::copy_n(&k(t, 0), K, cache_.key(l, start_pos + t));
                std::copy_n(&v(t, 0), K, cache_.value(l, start_pos + t));
            }
            emit(p + ".attention.q_rope", l, q);
            emit(p + ".attention.k_rope", l, k);
            attention(q.data(), cache_, l, start_pos, T, cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim, att.data(),
                      observe_probs_ ? probs.data() : nullptr);
            if (observe_probs_)
                emit_raw(p + ".attention.probs", l, probs.data(),
                         {std::size_t(T), std::size_t(cfg_.n_heads), std::size_t(start_pos + T)});
            emit(p + ".attention.heads", l, att);
            matmul(Lw.wo, att.data(), sub.data(), T);
            emit(p + ".attention.wo", l, sub);
            x += sub;
            emit(p + ".h", l, x);

            // --- feed-forward sub-layer: x = h + FFN(norm(h)) ---
            rmsnorm_rows(x.data(), ffn_norm_[l].data(), xn.data(), T, D, cfg_.norm_eps);
            emit(p + ".ffn_norm", l, xn);
            swiglu(Lw.w1, Lw.w2, Lw.w3, xn.data(), sub.data(), T, gate.data(), up.data(), hidden.data());
            emit(p + ".feed_forward.w1", l, gate);
            emit(p + ".feed_forward.w3", l, up);
            emit(p + ".feed_forward.hidden", l, hidden);
            emit(p + ".feed_forward.w2", l, sub);
            x += sub;
            emit(p, l, x);  // block output
        }

        rmsnorm_rows(x.data(), final_norm_.data(), xn.data(), T, D, cfg_.norm_eps);
        emit("norm", -1, xn);
        Tensor2 logits = matmul(W.output, xn);  // [T, V]
        emit("output", -1, logits);
        return logits;
    }

  private:
    static ModelConfig with_context(ModelConfig c, int context_len) {
        if (context_len < 0) fail("context length must not be negative, got ", context_len);
        if (context_len > 0) c.max_seq_len = context_len;
        return c;
    }

    void check_input(std::span<const int> tokens, int start_pos) const {
        if (tokens.empty()) fail("forward: no tokens given");
        if (start_pos < 0) fail("forward: negative start position ", start_pos);
        if (std::size_t(start_pos) + tokens.size() > std::size_t(cfg_.max_seq_len))
            fail("forward: context full: positions ", start_pos, "..", start_pos + tokens.size() - 1,
                 " do not fit in the context of ", cfg_.max_seq_len, " tokens");
        for (int id : tokens)
            if (id < 0 || id >= cfg_.vocab_size)
                fail("forward: token id ", id, " is out of range [0, ", cfg_.vocab_size, ")");
    }

    void emit(const std::string& name, int layer, const Tensor2& t) const {
        if (observer_) observer_(Probe{name, layer, t.data(), {t.shape(0), t.shape(1)}});
    }
    void emit_raw(const std::string& name, int layer, const float* data, Shape shape) const {
        if (observer_) observer_(Probe{name, layer, data, std::move(shape)});
    }

    std::shared_ptr<const Model> model_;
    ModelConfig cfg_;
    KVCache cache_;
    std::vector<double> theta_;  // [Dh/2] RoPE frequencies (scaled when the config says so)
    std::vector<std::vector<float>> attention_norm_, ffn_norm_;  // [L][D]
    std::vector<float> final_norm_;                              // [D]
    Observer observer_;
    bool observe_probs_ = false;
};

}  // namespace llamaref
