// llamaref/model/weights.hpp — what a loaded model is: its configuration and views of its weights.
//
// The types every checkpoint reader (formats/) produces and the forward pass (transformer.hpp)
// and the CUDA side consume, kept apart from the forward pass so that a reader does not include
// it. Field names are Meta's (model.py: tok_embeddings, layers.N.attention.wq, ...); the table
// below gives each tensor's name in every checkpoint format, for the readers and writers of
// formats/ and the trace's Hugging Face names. Shapes in the notation of core/tensor.hpp. Plain C++
// without xtensor: the CUDA Runner (cuda/llamaref/cuda/runner.hpp) takes this Model as it is.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor_view.hpp"
#include "config.hpp"

namespace llamaref {

// Views of one block's weights (Meta's names; every format's: layer_tensor_names below).
struct LayerWeights {
    TensorView attention_norm;       // [D]
    TensorView wq;                   // [H·Dh, D]   rows in the adjacent-pairs RoPE layout
    TensorView wk;                   // [KV·Dh, D]  rows in the adjacent-pairs RoPE layout
    TensorView wv;                   // [KV·Dh, D]
    TensorView wo;                   // [D, H·Dh]
    TensorView ffn_norm;             // [D]
    TensorView w1;                   // [F, D]  gate
    TensorView w2;                   // [D, F]  down
    TensorView w3;                   // [F, D]  up
    TensorView post_attention_norm;  // [D]  Gemma 2 only (post_norms): norm of the attention output
    TensorView post_ffn_norm;        // [D]  Gemma 2 only: norm of the FFN output
};

struct Weights {
    TensorView tok_embeddings;  // [V, D]
    std::vector<LayerWeights> layers;
    TensorView norm;    // [D]
    TensorView output;  // [V, D]  (the same view as tok_embeddings when tied)
};

// --- the one checkpoint name table -----------------------------------------------------------
// Each weight under the three names checkpoints give it: Meta's consolidated.*.pth, Hugging Face's
// safetensors and llama.cpp's GGUF (each + ".weight"). Readers and writers of formats/ walk these
// rows instead of spelling the names out. Block tensors are prefixed "layers.N." (Meta),
// "model.layers.N." (HF), "blk.N." (GGUF).
enum class WeightKind {
    norm,    // [D], a norm's gain (GGUF stores Gemma's as 1 + w: formats/gguf_llama.hpp)
    matrix,  // [out, in]
    query,   // wq: rows permuted in HF and GGUF for their rotate-half RoPE (H heads; model/rope.hpp)
    key,     // wk: the same, KV heads
};

struct LayerTensorName {
    TensorView LayerWeights::*field;
    const char *meta, *hf, *gguf;
    WeightKind kind;
};

// The heads whose rows HF and GGUF permute for their rotate-half RoPE: H for wq, KV for wk; 0 for
// every other weight (stored as Meta stores it).
inline int rope_permuted_heads(WeightKind kind, const ModelConfig& c) {
    return kind == WeightKind::query ? c.n_heads : kind == WeightKind::key ? c.n_kv_heads : 0;
}

// A block's tensors in the order llama.cpp writes them. Gemma 2 (post_norms) has two more norms,
// and its HF names move by one: post_attention_layernorm is the attention output's norm there, the
// norm before the FFN is pre_feedforward_layernorm. Meta's consolidated format has no Gemma 2.
inline const std::vector<LayerTensorName>& layer_tensor_names(bool post_norms) {
    using W = LayerWeights;
    using enum WeightKind;
    static const std::vector<LayerTensorName> llama = {
        {&W::attention_norm, "attention_norm", "input_layernorm", "attn_norm", norm},
        {&W::wq, "attention.wq", "self_attn.q_proj", "attn_q", query},
        {&W::wk, "attention.wk", "self_attn.k_proj", "attn_k", key},
        {&W::wv, "attention.wv", "self_attn.v_proj", "attn_v", matrix},
        {&W::wo, "attention.wo", "self_attn.o_proj", "attn_output", matrix},
        {&W::ffn_norm, "ffn_norm", "post_attention_layernorm", "ffn_norm", norm},
        {&W::w1, "feed_forward.w1", "mlp.gate_proj", "ffn_gate", matrix},
        {&W::w3, "feed_forward.w3", "mlp.up_proj", "ffn_up", matrix},
        {&W::w2, "feed_forward.w2", "mlp.down_proj", "ffn_down", matrix},
    };
    static const std::vector<LayerTensorName> gemma2 = {
        {&W::attention_norm, "attention_norm", "input_layernorm", "attn_norm", norm},
        {&W::wq, "attention.wq", "self_attn.q_proj", "attn_q", query},
        {&W::wk, "attention.wk", "self_attn.k_proj", "attn_k", key},
        {&W::wv, "attention.wv", "self_attn.v_proj", "attn_v", matrix},
        {&W::wo, "attention.wo", "self_attn.o_proj", "attn_output", matrix},
        {&W::post_attention_norm, "post_attention_norm", "post_attention_layernorm", "post_attention_norm", norm},
        {&W::ffn_norm, "ffn_norm", "pre_feedforward_layernorm", "ffn_norm", norm},
        {&W::w1, "feed_forward.w1", "mlp.gate_proj", "ffn_gate", matrix},
        {&W::w3, "feed_forward.w3", "mlp.up_proj", "ffn_up", matrix},
        {&W::w2, "feed_forward.w2", "mlp.down_proj", "ffn_down", matrix},
        {&W::post_ffn_norm, "post_ffn_norm", "post_feedforward_layernorm", "post_ffw_norm", norm},
    };
    return post_norms ? gemma2 : llama;
}

// The tensors outside the blocks.
struct ModelTensorName {
    TensorView Weights::*field;
    const char *meta, *hf, *gguf;
};
inline constexpr ModelTensorName kTokEmbeddingsName{&Weights::tok_embeddings, "tok_embeddings", "model.embed_tokens",
                                                    "token_embd"};
inline constexpr ModelTensorName kNormName{&Weights::norm, "norm", "model.norm", "output_norm"};
inline constexpr ModelTensorName kOutputName{&Weights::output, "output", "lm_head", "output"};

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
            fail("weights: tensor ", name, " has shape ", shape_str(t.shape), " but the config implies ",
                 shape_str(want));
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
        if (c.post_norms) {
            expect(L.post_attention_norm, p + "post_attention_norm", {D});
            expect(L.post_ffn_norm, p + "post_ffn_norm", {D});
        } else if (!L.post_attention_norm.empty() || !L.post_ffn_norm.empty()) {
            fail("weights: layer ", l, " has post-norms but the config has none");
        }
    }
    expect(w.norm, "norm", {D});
    expect(w.output, "output", {V, D});
}

// What a Model holds, counted: the stored dtypes per kind of tensor, the parameters and bytes of
// the distinct tensors (a tied output counts once). `llamaref info` and `bench` print it.
struct ModelSummary {
    std::map<std::string, std::set<std::string>> dtypes;  // kind -> dtypes ("embeddings", "attention", ...)
    std::size_t parameters = 0;
    std::size_t bytes = 0;  // as stored
};

inline ModelSummary summarize(const Model& m) {
    ModelSummary s;
    std::set<const std::byte*> seen;
    auto add = [&](const std::string& kind, const TensorView& v) {
        s.dtypes[kind].insert(std::string(dtype_name(v.dtype)));
        if (!seen.insert(v.data).second) return;
        s.parameters += v.numel();
        s.bytes += v.nbytes();
    };
    const Weights& w = m.weights;
    add("embeddings", w.tok_embeddings);
    for (const LayerWeights& L : w.layers)
        for (const LayerTensorName& n : layer_tensor_names(m.config.post_norms)) {
            const std::string meta = n.meta;
            add(n.kind == WeightKind::norm         ? "norms"
                : meta.rfind("attention.", 0) == 0 ? "attention"
                                                   : "feed-forward",
                L.*n.field);
        }
    add("norms", w.norm);
    add("output", w.output);
    return s;
}

}  // namespace llamaref
