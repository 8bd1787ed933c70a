// llamaref/formats/hf.hpp — a Hugging Face model folder: config.json + safetensors weights.
//
// config.json (transformers' LlamaConfig) gives the configuration; the weights are in
// model.safetensors, or in several shards listed by model.safetensors.index.json ("weight_map").
// Names map to Meta's as follows (N = layer):
//
//   model.embed_tokens.weight                    tok_embeddings        [V, D]
//   model.layers.N.input_layernorm.weight        attention_norm        [D]
//   model.layers.N.self_attn.{q,k,v,o}_proj      attention.w{q,k,v,o}
//   model.layers.N.post_attention_layernorm      ffn_norm              [D]
//   model.layers.N.mlp.{gate,down,up}_proj       feed_forward.w{1,2,3}
//   model.norm.weight                            norm                  [D]
//   lm_head.weight (absent when tied)            output                [V, D]
//
// Mistral (MistralForCausalLM) has Llama's names. Gemma (GemmaForCausalLM) too, without lm_head
// (tied). Gemma 2 (Gemma2ForCausalLM) has four norms per layer:
//   input_layernorm → attention_norm, post_attention_layernorm → post_attention_norm (of the
//   attention output), pre_feedforward_layernorm → ffn_norm, post_feedforward_layernorm →
//   post_ffn_norm. Gemma's norm weights are stored as w and used as 1 + w (model/rmsnorm.hpp).
// Every tensor of the files must be one of these: anything else is an Error.
//
// HF stores the rows of q_proj and k_proj permuted for its rotate-half RoPE (see model/rope.hpp).
// llamaref un-permutes them once at load into owned buffers (q with n_heads, k with n_kv_heads)
// and runs the adjacent-pair form; all other tensors are used in place from the mapped files.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "../core/json.hpp"
#include "../model/rope.hpp"
#include "../model/weights.hpp"
#include "progress.hpp"
#include "safetensors.hpp"

namespace llamaref {

// The Hugging Face architectures llamaref implements: model_type and its architectures[] class.
inline constexpr const char* kHfArchitectures[][2] = {{"llama", "LlamaForCausalLM"},
                                                      {"mistral", "MistralForCausalLM"},
                                                      {"gemma", "GemmaForCausalLM"},
                                                      {"gemma2", "Gemma2ForCausalLM"}};
inline constexpr const char* kHfSupported =
    "llama (LlamaForCausalLM), mistral (MistralForCausalLM), gemma (GemmaForCausalLM), gemma2 (Gemma2ForCausalLM)";

// model_type (or, without it, architectures[0]) -> "llama" / "mistral" / "gemma" / "gemma2"; an
// Error naming anything else (Qwen2, Mixtral, Phi, ...) and what is supported. A config with
// neither field is read as Llama (early LLaMA conversions).
inline std::string hf_architecture(const JsonFields& f, const std::string& path) {
    std::string type = f.has("model_type") ? f.string("model_type") : "";
    std::string cls;
    if (f.has("architectures")) {
        const auto& a = f.at("architectures");
        if (!a.is_array() || a.size() != 1 || !a[0].is_string())
            fail(path, ": \"architectures\" must list one class name, found ", json_excerpt(a));
        cls = a[0].get<std::string>();
    }
    if (type.empty() && cls.empty()) return "llama";
    for (const auto& [t, c] : kHfArchitectures) {
        const bool type_ok = type.empty() || type == t, cls_ok = cls.empty() || cls == c;
        if (type_ok && cls_ok) return t;
    }
    fail(path, ": architecture ", type.empty() ? "" : "model_type \"" + type.substr(0, 40) + "\"",
         !type.empty() && !cls.empty() ? " / " : "", cls.empty() ? "" : "\"" + cls.substr(0, 60) + "\"",
         " is not implemented by llamaref; supported: ", kHfSupported);
}

// ModelConfig from a config.json object. Fields transformers' config classes would default are
// defaulted the same way (LlamaConfig, MistralConfig, GemmaConfig, Gemma2Config); the model's shape
// fields are required. Every field that would change the mathematics into something llamaref does
// not implement (biases, another activation, MoE experts, another RoPE scaling) is an Error.
inline ModelConfig parse_hf_config(const nlohmann::json& j, const std::string& path) {
    const JsonFields f(j, path);
    auto integer = [&](const char* key) { return int(f.integer(key)); };  // 1..INT_MAX; validate() bounds it
    const std::string arch = hf_architecture(f, path);
    const bool gemma = arch == "gemma" || arch == "gemma2";

    ModelConfig c;
    c.arch = arch;
    c.dim = integer("hidden_size");
    c.n_layers = integer("num_hidden_layers");
    c.n_heads = integer("num_attention_heads");
    c.hidden_dim = integer("intermediate_size");
    c.vocab_size = integer("vocab_size");
    c.n_kv_heads = f.has("num_key_value_heads") ? integer("num_key_value_heads") : c.n_heads;
    // GemmaConfig / Gemma2Config default head_dim to 256, the others to hidden_size / heads.
    c.head_dim = f.has("head_dim") ? integer("head_dim") : gemma ? 256 : c.dim / c.n_heads;
    c.norm_eps = f.number_or("rms_norm_eps", 1e-6);
    c.rope_theta = f.number_or("rope_theta", 10000.0);
    c.max_seq_len = int(f.integer_or("max_position_embeddings", 2048));
    c.tied_embeddings = f.boolean_or("tie_word_embeddings", gemma);  // Gemma's default: tied
    if (f.has("rope_scaling")) {
        const JsonFields s = f.object("rope_scaling");
        const std::string type = s.has("rope_type") ? s.string("rope_type") : s.string_or("type", "default");
        if (type == "llama3") {
            c.rope_scaling = {true, s.number("factor"), s.number("low_freq_factor"), s.number("high_freq_factor"),
                              s.number("original_max_position_embeddings")};
        } else if (type != "default") {
            fail(path, ": rope_scaling type \"", type.substr(0, 40),
                 "\" is not supported (llamaref implements \"llama3\")");
        }
    }
    if (c.dim % c.n_heads != 0 && !f.has("head_dim"))
        fail(path, ": hidden_size ", c.dim, " is not a multiple of num_attention_heads ", c.n_heads);

    // Switches that would change the mathematics: refused unless implemented.
    for (const char* key : {"attention_bias", "mlp_bias"})
        if (f.boolean_or(key, false)) fail(path, ": ", key, " is true; llamaref implements ", arch, " without biases");
    for (const char* key : {"num_local_experts", "num_experts", "num_experts_per_tok", "moe_intermediate_size"})
        if (f.has(key)) fail(path, ": field \"", key, "\" (mixture of experts) is not implemented by llamaref");
    if (f.integer_or("pretraining_tp", 1, 0, INT_MAX) > 1)
        fail(path, ": pretraining_tp > 1 (a split of the products that changes rounding) is not implemented");
    // The activation: transformers reads hidden_activation (Gemma) or hidden_act. Gemma 1's
    // original configs say hidden_act "gelu" and transformers runs them with the tanh GELU
    // anyway (GemmaMLP warns and uses gelu_pytorch_tanh); llamaref follows it.
    const std::string act = f.has("hidden_activation")
                                ? f.string("hidden_activation")
                                : f.string_or("hidden_act", gemma ? "gelu_pytorch_tanh" : "silu");
    if (gemma) {
        const bool tanh_gelu = act == "gelu_pytorch_tanh" || act == "gelu_new" || act == "gelu_tanh" ||
                               (act == "gelu" && !f.has("hidden_activation") && arch == "gemma");
        if (!tanh_gelu)
            fail(path, ": activation \"", act.substr(0, 40), "\" is not implemented for ", arch,
                 " (llamaref implements the tanh GELU, \"gelu_pytorch_tanh\")");
        c.activation = Activation::gelu_tanh;
        c.norm_unit_offset = true;
        c.embed_scale = true;
    } else if (act != "silu") {
        fail(path, ": activation \"", act.substr(0, 40), "\" is not implemented for ", arch,
             " (llamaref implements \"silu\")");
    }

    if (arch == "mistral") {  // sliding_window: null (or absent) = no window (Mistral v0.2+)
        c.sliding_window = int(f.integer_or("sliding_window", 0, 1, INT_MAX));
    } else if (arch == "gemma2") {
        // Gemma2Config defaults: sliding_window 4096, query_pre_attn_scalar 256, soft-caps 50 / 30;
        // a soft-cap given as null is off.
        c.sliding_window = int(f.integer_or("sliding_window", 4096, 1, INT_MAX));
        c.sliding_layers = SlidingLayers::even;
        c.post_norms = true;
        c.query_pre_attn_scalar = f.number_or("query_pre_attn_scalar", 256);
        auto cap = [&](const char* key, double dflt) {
            return j.contains(key) && j[key].is_null() ? 0.0 : f.number_or(key, dflt);
        };
        c.attn_softcap = cap("attn_logit_softcapping", 50.0);
        c.final_softcap = cap("final_logit_softcapping", 30.0);
        if (f.has("layer_types")) {  // newer transformers: must be Gemma 2's alternation
            const auto& lt = f.at("layer_types");
            bool ok = lt.is_array() && lt.size() == std::size_t(c.n_layers);
            for (std::size_t l = 0; ok && l < lt.size(); ++l)
                ok = lt[l] == (l % 2 == 0 ? "sliding_attention" : "full_attention");
            if (!ok)
                fail(path,
                     ": layer_types must alternate sliding_attention (even layers) and full_attention (odd); found ",
                     json_excerpt(lt));
        }
    } else if (f.has("sliding_window")) {
        fail(path, ": sliding_window given for ", arch,
             "; llamaref applies a window to mistral and gemma2 only (null: none)");
    }
    in_context(path + ": ", [&] { c.validate(); });
    return c;
}

inline std::shared_ptr<Model> load_hf(const std::string& dir) {
    namespace fs = std::filesystem;
    const std::string config_path = (fs::path(dir) / "config.json").string();
    auto m = std::make_shared<Model>();
    m->config = parse_hf_config(read_json_file(config_path), config_path);
    m->format = "safetensors";
    m->path = dir;
    const ModelConfig& c = m->config;

    // Which file holds which tensor.
    std::map<std::string, std::shared_ptr<SafetensorsFile>> files;  // by file name
    std::map<std::string, std::string> where;                       // tensor -> file name
    const fs::path index = fs::path(dir) / "model.safetensors.index.json";
    if (fs::exists(index)) {
        const auto j = read_json_file(index.string());
        const JsonFields weight_map = JsonFields(j, index.string()).object("weight_map");
        for (const auto& item : weight_map.json().items()) {
            const std::string& name = item.key();
            const std::string f = weight_map.string(name);
            if (f.find('/') != std::string::npos || f == "..")
                fail(index.string(), ": weight_map names a file outside the folder: ", f.substr(0, 80));
            where[name] = f;
        }
        m->format = "safetensors (sharded)";
    } else if (!fs::exists(fs::path(dir) / "model.safetensors")) {
        fail(dir, ": no model.safetensors or model.safetensors.index.json in this folder");
    }
    std::size_t total = 0;  // bytes of all weight files, for the progress bar
    std::set<std::string> file_names{"model.safetensors"};
    for (const auto& [name, f] : where) file_names.insert(f);
    for (const auto& f : file_names) {
        std::error_code ec;
        const auto n = fs::file_size(fs::path(dir) / f, ec);
        if (!ec) total += n;
    }
    LoadProgress progress("loading " + dir, total);
    std::set<std::string> used;  // the tensors read
    // The file that holds tensor `name` (opened once).
    auto file_of = [&](const std::string& name) -> const SafetensorsFile& {
        const std::string f = where.count(name) ? where[name] : std::string("model.safetensors");
        auto& st = files[f];
        if (!st) {
            st = std::make_shared<SafetensorsFile>((fs::path(dir) / f).string());
            m->storage.push_back(st);
        }
        return *st;
    };
    auto tensor = [&](const std::string& name) -> TensorView {
        const SafetensorsFile* st = &file_of(name);
        if (!st->has(name)) fail(st->path(), ": missing tensor ", name);
        used.insert(name);
        TensorView v = aligned_or_copied(st->get(name), m->storage);
        progress.add(v.nbytes());
        return v;
    };
    // q/k: un-permute HF's rotate-half row order back to adjacent pairs.
    auto unpermuted = [&](const std::string& name, int n_heads) {
        TensorView v = tensor(name);
        if (v.shape.size() != 2 || v.rows() != std::size_t(n_heads) * c.head_dim)
            fail(name, ": shape ", shape_str(v.shape), " but the config implies ", int64_t(n_heads) * c.head_dim,
                 " rows");
        auto buf = make_buffer(v.nbytes());
        hf_unpermute_rows(v.data, buf->data(), n_heads, c.head_dim, v.row_bytes());
        m->storage.push_back(buf);
        v.data = buf->data();
        return v;
    };

    Weights& w = m->weights;
    w.tok_embeddings = tensor(std::string(kTokEmbeddingsName.hf) + ".weight");
    // The layer count comes from config.json: the last layer must exist before storage is sized.
    const std::string last =
        "model.layers." + std::to_string(c.n_layers - 1) + "." + layer_tensor_names(c.post_norms)[0].hf + ".weight";
    const bool listed = where.empty() || where.count(last);  // sharded: the index must name it
    if (!listed || !file_of(last).has(last))
        fail(dir, ": config.json says ", c.n_layers, " layers but there is no tensor ", last);
    w.layers.resize(c.n_layers);
    for (int l = 0; l < c.n_layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        LayerWeights& L = w.layers[l];
        // (Gemma 2: post_attention_layernorm normalises the attention output; model/weights.hpp)
        for (const LayerTensorName& n : layer_tensor_names(c.post_norms)) {
            const std::string name = p + n.hf + ".weight";
            const int heads = rope_permuted_heads(n.kind, c);
            L.*n.field = heads ? unpermuted(name, heads) : tensor(name);
        }
    }
    const std::string lm_head = std::string(kOutputName.hf) + ".weight";
    w.norm = tensor(std::string(kNormName.hf) + ".weight");
    w.output = c.tied_embeddings ? w.tok_embeddings : tensor(lm_head);
    if (c.tied_embeddings) used.insert(lm_head);  // some tied checkpoints store a copy
    validate_weights(c, w);
    // A tensor llamaref did not read would change the model (biases, experts, extra norms): an
    // Error, not ignored. rotary_emb.inv_freq (older Llama checkpoints) is recomputed from θ.
    auto check_unused = [&](const std::string& name, const std::string& file) {
        if (!used.count(name) && !name.ends_with("rotary_emb.inv_freq"))
            fail(file, ": tensor ", name.substr(0, 100), " is not part of a ", c.arch,
                 " model as llamaref implements it (biases, experts or another architecture?)");
    };
    if (where.empty()) {
        for (const auto& [name, e] : file_of("model.safetensors").entries())
            check_unused(name, dir + "/model.safetensors");
    } else {
        for (const auto& [name, f] : where) check_unused(name, index.string());
    }
    return m;
}

}  // namespace llamaref
