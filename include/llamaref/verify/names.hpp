// llamaref/verify/names.hpp — what each traced tensor is, and its name in Meta's and Hugging
// Face's code.
//
// llamaref's probe names are Meta's module names (model.py: tok_embeddings, layers.N.attention.wq,
// ...), plus a few intermediates that are not module outputs. For each, the Hugging Face
// LlamaForCausalLM module whose output (or input: "<" prefix) is the same tensor:
//
//   llamaref / Meta                   Hugging Face                          what
//   tok_embeddings                    model.embed_tokens                    token embeddings [T, D]
//   layers.N.attention_norm           model.layers.N.input_layernorm        RMSNorm before attention
//   layers.N.attention.wq / wk / wv   ...self_attn.q_proj / k_proj / v_proj projections (HF q/k rows permuted)
//   layers.N.attention.q_rope/k_rope  (inside attention, no module)         q, k after RoPE
//   layers.N.attention.probs          (attn_weights, output_attentions)     softmax(q·kᵀ/√Dh) [T, H, S]
//   layers.N.attention.heads          <model.layers.N.self_attn.o_proj      attention output before wo
//   layers.N.attention.wo             model.layers.N.self_attn.o_proj       after wo
//   layers.N.h                        (residual, no module)                 x + attention
//   layers.N.ffn_norm                 model.layers.N.post_attention_layernorm  (Gemma 2: pre_feedforward_layernorm)
//   layers.N.feed_forward.w1 / w3     ...mlp.gate_proj / up_proj            gate / up [T, F]
//   layers.N.feed_forward.hidden      <model.layers.N.mlp.down_proj         SiLU(gate) ⊙ up
//   layers.N.feed_forward.w2          model.layers.N.mlp.down_proj          FFN output
//   layers.N.post_attention_norm      (Gemma 2) ...post_attention_layernorm   norm of the attention output
//   layers.N.post_ffn_norm            (Gemma 2) ...post_feedforward_layernorm norm of the FFN output
//   layers.N                          model.layers.N                        block output
//   norm                              model.norm                            final RMSNorm
//   output                            lm_head                               logits [T, V]
//
// The modules that own a weight take their HF name from the one checkpoint name table
// (model/weights.hpp); the rows below give the rest.
#pragma once

#include <string>
#include <vector>

#include "../model/weights.hpp"

namespace llamaref {

struct TensorName {
    std::string what;  // one line for people
    std::string hf;    // Hugging Face module ("<" = the module's input), "" if none
};

// name: a probe name such as "layers.3.attention.wq"; post_norms: the model is Gemma 2.
inline TensorName describe_tensor(const std::string& name, bool post_norms = false) {
    struct Row {
        const char* suffix;
        const char* what;
        const char* hf;  // nullptr: the module of the weight of that Meta name (model/weights.hpp)
    };
    static const Row per_layer[] = {
        {"attention_norm", "RMSNorm output before attention", nullptr},
        {"attention.wq", "query projection x·wqᵀ (before RoPE)", nullptr},
        {"attention.wk", "key projection x·wkᵀ (before RoPE)", nullptr},
        {"attention.wv", "value projection x·wvᵀ", nullptr},
        {"attention.q_rope", "queries after RoPE", ""},
        {"attention.k_rope", "keys after RoPE (what the KV cache stores)", ""},
        {"attention.probs", "attention weights softmax(q·kᵀ/√Dh), causal [T, H, S]", ""},
        {"attention.heads", "attention output, heads side by side (input of wo)", "<self_attn.o_proj"},
        {"attention.wo", "attention sub-layer output (after wo)", nullptr},
        {"h", "residual stream after attention: x + attention", ""},
        {"ffn_norm", "RMSNorm output before the feed-forward", nullptr},
        {"feed_forward.w1", "gate projection x·w1ᵀ", nullptr},
        {"feed_forward.w3", "up projection x·w3ᵀ", nullptr},
        {"feed_forward.hidden", "SiLU(gate) ⊙ up (input of w2)", "<mlp.down_proj"},
        {"feed_forward.w2", "feed-forward output (after w2)", nullptr},
        {"post_attention_norm", "Gemma 2: RMSNorm of the attention output", nullptr},
        {"post_ffn_norm", "Gemma 2: RMSNorm of the feed-forward output", nullptr},
    };
    auto weight_module = [&](const std::string& suffix) -> std::string {
        for (const LayerTensorName& n : layer_tensor_names(post_norms))
            if (suffix == n.meta) return n.hf;
        return "";
    };
    if (name == kTokEmbeddingsName.meta) return {"token embeddings", kTokEmbeddingsName.hf};
    if (name == kNormName.meta) return {"final RMSNorm output", kNormName.hf};
    if (name == kOutputName.meta) return {"logits", kOutputName.hf};
    if (name.rfind("layers.", 0) == 0) {
        const std::size_t dot = name.find('.', 7);
        const std::string layer = name.substr(7, dot == std::string::npos ? std::string::npos : dot - 7);
        if (dot == std::string::npos) return {"block output", "model.layers." + layer};
        const std::string suffix = name.substr(dot + 1);
        for (const auto& r : per_layer)
            if (suffix == r.suffix) {
                std::string hf = r.hf ? r.hf : weight_module(suffix);
                if (!hf.empty())
                    hf = (hf[0] == '<' ? "<model.layers." + layer + "." + hf.substr(1)
                                       : "model.layers." + layer + "." + hf);
                return {r.what, hf};
            }
    }
    return {"", ""};
}

}  // namespace llamaref
