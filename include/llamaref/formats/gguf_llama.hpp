// llamaref/formats/gguf_llama.hpp — a Llama, Mistral or Gemma model from a GGUF file (llama.cpp's naming).
//
// Configuration from the `llama.*` metadata keys (llama.cpp, src/llama-arch.cpp and
// convert_hf_to_gguf.py):
//
//   llama.embedding_length                 dim D            llama.block_count            L
//   llama.feed_forward_length              hidden_dim F     llama.attention.head_count   H
//   llama.attention.head_count_kv          KV (default H)   llama.attention.key_length   Dh (default D/H)
//   llama.rope.dimension_count             must equal Dh    llama.rope.freq_base         θ (default 10000)
//   llama.attention.layer_norm_rms_epsilon ε                llama.context_length         context
//   llama.vocab_size                       V (default: rows of token_embd)
//
// Tensors (N = block):
//   token_embd.weight            tok_embeddings  [V, D]    output_norm.weight  norm    [D]
//   blk.N.attn_norm.weight       attention_norm  [D]       blk.N.ffn_norm      ffn_norm
//   blk.N.attn_{q,k,v,output}    attention.w{q,k,v,o}      blk.N.ffn_{gate,down,up}  w{1,2,3}
//   output.weight                output [V, D]; absent: tied to token_embd
//   rope_freqs.weight            [Dh/2] Llama 3.1 per-pair frequency divisors (see below)
//
// llama.cpp's converter stores q and k in Meta's adjacent-pair row order (it undoes HF's
// permutation), so every tensor is used in place from the mapped file, Q8_0 included.
//
// general.architecture "llama" (Llama and Mistral; llama.cpp writes Mistral 7B as "llama"), "gemma"
// and "gemma2" are read; the keys above then start with that name. Anything else (qwen2, phi3,
// ...) and a "llama" file with {arch}.expert_count > 0 (Mixtral) is an Error naming it. Extra keys:
//   {arch}.attention.sliding_window   W (Mistral: only when the writer stated it, as ours does;
//                                     llama.cpp's own Mistral files omit it and run without window)
//   gemma2.attn_logit_softcapping, gemma2.final_logit_softcapping   the soft-caps
//   gemma2.attention.query_pre_attn_scalar   llamaref's own key (llama.cpp has none: it uses
//                                     D/H for the 27B model, 46 blocks, else head_dim; so do we
//                                     without the key)
// Gemma 2 adds blk.N.post_attention_norm and blk.N.post_ffw_norm. llama.cpp's converter stores
// Gemma's norm weights as 1 + w (so no unit offset here) and keeps HF's rotate-half row order of
// attn_q / attn_k (its Gemma RoPE is the NEOX halves form): they are un-permuted at load like an HF
// folder's. A tensor the model does not use is an Error.
//
// Llama 3.1 scaling: llama.cpp stores no scaling parameters, only `rope_freqs`, the divisor d_i of
// each frequency (θ_i' = θ_i / d_i). llamaref keeps its RopeScaling rule (model/rope.hpp). Its own
// writer (formats/write_gguf.hpp) states the rule beside the tensor, under llamaref's own keys
// (float64; llama.cpp has no keys for Llama 3's low and high factors, and would scale every
// frequency once more by a {arch}.rope.scaling.factor):
//   {arch}.rope.scaling.llama3.factor                    F
//   {arch}.rope.scaling.llama3.low_freq_factor           L
//   {arch}.rope.scaling.llama3.high_freq_factor          H
//   {arch}.rope.scaling.llama3.original_context_length   N
// A file without them (llama.cpp's) gets the rule *derived* from the tensor: factor F = the
// largest divisor, L / H / N Meta's 1 / 4 / 8192 (what llama.cpp's converter assumes when a
// config omits them). Either way every pair is then *verified*: each d_i must equal θ_i / θ_i' of
// the rule within 1e-5 relative. A file whose divisors follow another rule is refused with an
// error naming the pair, rather than run with frequencies that differ from the file's.
#pragma once

#include <cmath>
#include <memory>
#include <set>
#include <string>

#include "../model/rope.hpp"
#include "../model/weights.hpp"
#include "gguf.hpp"

namespace llamaref {

// Every divisor of a rope_freqs tensor must be the one rule `s` gives its pair, or an error (see above).
inline void check_rope_divisors(const std::vector<float>& divisors, int head_dim, double base, const RopeScaling& s,
                                const std::string& where) {
    const auto plain = rope_frequencies(head_dim, base);
    const auto scaled = rope_frequencies(head_dim, base, s);
    for (std::size_t i = 0; i < divisors.size(); ++i) {
        const double want = plain[i] / scaled[i];
        if (!(std::fabs(divisors[i] - want) <= 1e-5 * want))
            fail(where, ": rope_freqs pair ", i, " divides by ", divisors[i], " but Llama 3.1 scaling (factor ",
                 s.factor, ", low ", s.low_freq_factor, ", high ", s.high_freq_factor, ", original context ",
                 s.original_context, ") divides by ", want, "; llamaref cannot run arbitrary per-pair divisors");
    }
}

// RopeScaling that reproduces the divisors of a rope_freqs tensor (Meta's L, H, N), or an error.
inline RopeScaling rope_scaling_from_divisors(const std::vector<float>& divisors, int head_dim, double base,
                                              const std::string& where) {
    RopeScaling s;
    if (divisors.size() != std::size_t(head_dim / 2))
        fail(where, ": rope_freqs has ", divisors.size(), " values but head_dim ", head_dim, " has ", head_dim / 2,
             " pairs");
    double F = 0;
    for (float d : divisors) {
        if (!(d >= 1.0f) || !std::isfinite(d)) fail(where, ": rope_freqs divisor ", d, " is not a finite value >= 1");
        F = std::max(F, double(d));
    }
    if (F == 1.0) return s;  // nothing divided: no scaling
    s.enabled = true;
    s.factor = F;
    check_rope_divisors(divisors, head_dim, base, s, where);
    return s;
}

// ModelConfig from a GGUF file's metadata (and the shapes of two tensors).
inline ModelConfig gguf_llama_config(const GgufFile& g) {
    const std::string& path = g.path();
    const std::string arch = g.get_string("general.architecture");
    if (arch != "llama" && arch != "gemma" && arch != "gemma2")
        fail(path, ": general.architecture \"", arch.substr(0, 40),
             "\" is not implemented by llamaref; supported: llama (Llama, Mistral), gemma, gemma2");
    const bool gemma = arch != "llama";
    auto integer = [&](const std::string& key) {  // 1..INT_MAX here; validate() applies core/limits.hpp
        const int64_t v = g.get_int(key);
        if (v <= 0 || v > INT32_MAX) fail(path, ": metadata \"", key, "\" out of range: ", v);
        return int(v);
    };
    if (g.has(arch + ".expert_count") && g.get_int(arch + ".expert_count") > 0)
        fail(path, ": ", arch, ".expert_count is ", g.get_int(arch + ".expert_count"),
             ": mixture of experts (Mixtral) is not implemented by llamaref");
    ModelConfig c;
    c.arch = arch;
    c.dim = integer(arch + ".embedding_length");
    c.n_layers = integer(arch + ".block_count");
    c.hidden_dim = integer(arch + ".feed_forward_length");
    c.n_heads = integer(arch + ".attention.head_count");
    c.n_kv_heads = g.has(arch + ".attention.head_count_kv") ? integer(arch + ".attention.head_count_kv") : c.n_heads;
    if (g.has(arch + ".attention.key_length")) {
        c.head_dim = integer(arch + ".attention.key_length");
    } else {
        if (c.dim % c.n_heads != 0)
            fail(path, ": embedding_length ", c.dim, " is not a multiple of head_count ", c.n_heads);
        c.head_dim = c.dim / c.n_heads;
    }
    if (g.has(arch + ".attention.value_length") && integer(arch + ".attention.value_length") != c.head_dim)
        fail(path, ": value_length differs from key_length; Llama models use one head size");
    if (g.has(arch + ".rope.dimension_count") && integer(arch + ".rope.dimension_count") != c.head_dim)
        fail(path, ": rope.dimension_count ", integer(arch + ".rope.dimension_count"), " differs from the head size ",
             c.head_dim, " (partial rotary embeddings are not part of Llama)");
    c.norm_eps = g.get_float(arch + ".attention.layer_norm_rms_epsilon");
    c.rope_theta = g.has(arch + ".rope.freq_base") ? g.get_float(arch + ".rope.freq_base") : 10000.0;
    c.max_seq_len = g.has(arch + ".context_length") ? integer(arch + ".context_length") : 2048;
    if (g.has(arch + ".rope.scaling.type")) {
        const std::string type = g.get_string(arch + ".rope.scaling.type");
        if (type != "none")
            fail(path, ": rope scaling type \"", type.substr(0, 40),
                 "\" is not supported (llamaref implements Llama 3.1's)");
    }
    // Everything but the vocabulary is known: check it before a tensor is read (rope_freqs needs Dh).
    ModelConfig known = c;
    known.vocab_size = 1;
    in_context(path + ": ", [&] { known.validate(); });
    const TensorView emb = g.get("token_embd.weight");
    if (emb.shape.size() != 2) fail(path, ": token_embd.weight must be 2-D, is ", shape_str(emb.shape));
    c.vocab_size = g.has(arch + ".vocab_size") ? integer(arch + ".vocab_size")
                                               : checked_int(emb.shape[0], path + ": token_embd.weight rows");
    c.tied_embeddings = !g.has_tensor("output.weight");
    if (g.has(arch + ".attention.sliding_window")) {
        c.sliding_window = integer(arch + ".attention.sliding_window");
        if (arch == "llama") c.arch = "mistral";
    }
    if (gemma) {
        c.activation = Activation::gelu_tanh;
        c.embed_scale = true;  // norms stored as 1 + w: no unit offset
    }
    if (arch == "gemma2") {
        if (!g.has("gemma2.attention.sliding_window")) fail(path, ": gemma2.attention.sliding_window is missing");
        c.sliding_layers = SlidingLayers::even;
        c.post_norms = true;
        auto number = [&](const std::string& key) {
            const double v = g.get_float(key);
            if (!(v > 0) || !std::isfinite(v)) fail(path, ": metadata \"", key, "\" must be positive, is ", v);
            return v;
        };
        c.attn_softcap = g.has("gemma2.attn_logit_softcapping") ? number("gemma2.attn_logit_softcapping") : 0.0;
        c.final_softcap = g.has("gemma2.final_logit_softcapping") ? number("gemma2.final_logit_softcapping") : 0.0;
        c.query_pre_attn_scalar = g.has("gemma2.attention.query_pre_attn_scalar")
                                      ? number("gemma2.attention.query_pre_attn_scalar")
                                  : c.n_layers == 46 ? double(c.dim / c.n_heads)
                                                     : double(c.head_dim);
    }
    // Llama 3.1 scaling: stated by llamaref's keys, checked against rope_freqs once it is validated;
    // else derived from rope_freqs (see above).
    const std::string l3 = arch + ".rope.scaling.llama3.";
    const bool stated = g.has(l3 + "factor") || g.has(l3 + "low_freq_factor") || g.has(l3 + "high_freq_factor") ||
                        g.has(l3 + "original_context_length");
    std::vector<float> divisors;
    if (g.has_tensor("rope_freqs.weight")) {
        const TensorView f = g.get("rope_freqs.weight");
        if (f.dtype != DType::F32 || f.shape.size() != 1) fail(path, ": rope_freqs.weight must be a 1-D F32 tensor");
        divisors = f.to_f32_vector();
        if (!stated) c.rope_scaling = rope_scaling_from_divisors(divisors, c.head_dim, c.rope_theta, path);
    } else if (stated) {
        fail(path, ": ", l3,
             "* state Llama 3.1 scaling but there is no rope_freqs.weight (llama.cpp would run it unscaled)");
    }
    if (stated)
        c.rope_scaling = {true, g.get_float(l3 + "factor"), g.get_float(l3 + "low_freq_factor"),
                          g.get_float(l3 + "high_freq_factor"), g.get_float(l3 + "original_context_length")};
    in_context(path + ": ", [&] { c.validate(); });
    if (stated) {
        if (divisors.size() != std::size_t(c.head_dim / 2))
            fail(path, ": rope_freqs has ", divisors.size(), " values but head_dim ", c.head_dim, " has ",
                 c.head_dim / 2, " pairs");
        check_rope_divisors(divisors, c.head_dim, c.rope_theta, c.rope_scaling, path);
    }
    return c;
}

inline std::shared_ptr<Model> load_gguf(const std::string& path) {
    auto g = std::make_shared<GgufFile>(path);
    auto m = std::make_shared<Model>();
    m->config = gguf_llama_config(*g);
    m->format = "gguf v" + std::to_string(g->version());
    m->path = path;
    m->storage.push_back(g);
    const ModelConfig& c = m->config;

    // (only a file with general.alignment < 4 can place a tensor at an odd offset)
    std::set<std::string> used{"rope_freqs.weight"};  // the tensors read (rope_freqs: in the config)
    auto tensor = [&](const std::string& name) {
        used.insert(name);
        return aligned_or_copied(g->get(name), m->storage);
    };
    // Gemma: q/k rows from HF's rotate-half order to adjacent pairs (formats/hf.hpp does the same).
    auto qk = [&](const std::string& name, int n_heads) {
        TensorView v = tensor(name);
        if (c.arch != "gemma" && c.arch != "gemma2") return v;
        if (v.shape.size() != 2 || v.rows() != std::size_t(n_heads) * c.head_dim)
            fail(path, ": ", name, " has shape ", shape_str(v.shape), " but the config implies ",
                 int64_t(n_heads) * c.head_dim, " rows");
        auto buf = make_buffer(v.nbytes());
        hf_unpermute_rows(v.data, buf->data(), n_heads, c.head_dim, v.row_bytes());
        m->storage.push_back(buf);
        v.data = buf->data();
        return v;
    };
    Weights& w = m->weights;
    w.tok_embeddings = tensor(std::string(kTokEmbeddingsName.gguf) + ".weight");
    // The layer count comes from the metadata: the last block must exist before storage is sized.
    const std::string last =
        "blk." + std::to_string(c.n_layers - 1) + "." + layer_tensor_names(c.post_norms)[0].gguf + ".weight";
    if (!g->has_tensor(last))
        fail(path, ": ", c.arch == "mistral" ? "llama" : c.arch, ".block_count says ", c.n_layers,
             " blocks but there is no tensor ", last);
    w.layers.resize(c.n_layers);
    for (int l = 0; l < c.n_layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights& L = w.layers[l];
        for (const LayerTensorName& n : layer_tensor_names(c.post_norms)) {  // model/weights.hpp
            const std::string name = p + n.gguf + ".weight";
            const int heads = rope_permuted_heads(n.kind, c);
            L.*n.field = heads ? qk(name, heads) : tensor(name);
        }
    }
    w.norm = tensor(std::string(kNormName.gguf) + ".weight");
    w.output = c.tied_embeddings ? w.tok_embeddings : tensor(std::string(kOutputName.gguf) + ".weight");
    in_context(path + ": ", [&] { validate_weights(c, w); });
    for (const auto& t : g->tensors())
        if (!used.count(t.name))
            fail(path, ": tensor ", t.name.substr(0, 100), " is not part of a ", c.arch,
                 " model as llamaref implements it (biases, experts or another architecture?)");
    return m;
}

}  // namespace llamaref
