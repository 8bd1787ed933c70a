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
// HF stores the rows of q_proj and k_proj permuted for its rotate-half RoPE (see model/rope.hpp).
// llamaref un-permutes them once at load into owned buffers (q with n_heads, k with n_kv_heads)
// and runs the adjacent-pair form; all other tensors are used in place from the mapped files.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "../model/transformer.hpp"
#include "progress.hpp"
#include "json.hpp"
#include "safetensors.hpp"

namespace llamaref {

// ModelConfig from a config.json object. Fields transformers' LlamaConfig would default are
// defaulted the same way; the model's shape fields are required.
inline ModelConfig parse_hf_config(const nlohmann::json& j, const std::string& path) {
    const JsonFields f(j, path);
    auto integer = [&](const char* key) { return int(f.integer(key)); };  // 1..INT_MAX; validate() bounds it

    ModelConfig c;
    c.dim = integer("hidden_size");
    c.n_layers = integer("num_hidden_layers");
    c.n_heads = integer("num_attention_heads");
    c.hidden_dim = integer("intermediate_size");
    c.vocab_size = integer("vocab_size");
    c.n_kv_heads = f.has("num_key_value_heads") ? integer("num_key_value_heads") : c.n_heads;
    c.head_dim = f.has("head_dim") ? integer("head_dim") : c.dim / c.n_heads;
    c.norm_eps = f.number_or("rms_norm_eps", 1e-6);
    c.rope_theta = f.number_or("rope_theta", 10000.0);
    c.max_seq_len = int(f.integer_or("max_position_embeddings", 2048));
    c.tied_embeddings = f.boolean_or("tie_word_embeddings", false);
    if (f.has("rope_scaling")) {
        const JsonFields s = f.object("rope_scaling");
        const std::string type = s.has("rope_type") ? s.string("rope_type") : s.string_or("type", "default");
        if (type == "llama3") {
            c.rope_scaling = {true, s.number("factor"), s.number("low_freq_factor"), s.number("high_freq_factor"),
                              s.number("original_max_position_embeddings")};
        } else if (type != "default") {
            fail(path, ": rope_scaling type \"", type.substr(0, 40), "\" is not supported (llamaref implements \"llama3\")");
        }
    }
    if (c.dim % c.n_heads != 0 && !f.has("head_dim"))
        fail(path, ": hidden_size ", c.dim, " is not a multiple of num_attention_heads ", c.n_heads);
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
    std::map<std::string, std::string> where;                         // tensor -> file name
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
        TensorView v = aligned_or_copied(st->get(name), m->storage);
        progress.add(v.nbytes());
        return v;
    };
    // q/k: un-permute HF's rotate-half row order back to adjacent pairs.
    auto unpermuted = [&](const std::string& name, int n_heads) {
        TensorView v = tensor(name);
        if (v.shape.size() != 2 || v.rows() != std::size_t(n_heads) * c.head_dim)
            fail(name, ": shape ", shape_str(v.shape), " but the config implies ", int64_t(n_heads) * c.head_dim, " rows");
        auto buf = make_buffer(v.nbytes());
        hf_unpermute_rows(v.data, buf->data(), n_heads, c.head_dim, v.row_bytes());
        m->storage.push_back(buf);
        v.data = buf->data();
        return v;
    };

    Weights& w = m->weights;
    w.tok_embeddings = tensor("model.embed_tokens.weight");
    // The layer count comes from config.json: the last layer must exist before storage is sized.
    const std::string last = "model.layers." + std::to_string(c.n_layers - 1) + ".input_layernorm.weight";
    const bool listed = where.empty() || where.count(last);  // sharded: the index must name it
    if (!listed || !file_of(last).has(last))
        fail(dir, ": config.json says ", c.n_layers, " layers but there is no tensor ", last);
    w.layers.resize(c.n_layers);
    for (int l = 0; l < c.n_layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        LayerWeights& L = w.layers[l];
        L.attention_norm = tensor(p + "input_layernorm.weight");
        L.wq = unpermuted(p + "self_attn.q_proj.weight", c.n_heads);
        L.wk = unpermuted(p + "self_attn.k_proj.weight", c.n_kv_heads);
        L.wv = tensor(p + "self_attn.v_proj.weight");
        L.wo = tensor(p + "self_attn.o_proj.weight");
        L.ffn_norm = tensor(p + "post_attention_layernorm.weight");
        L.w1 = tensor(p + "mlp.gate_proj.weight");
        L.w2 = tensor(p + "mlp.down_proj.weight");
        L.w3 = tensor(p + "mlp.up_proj.weight");
    }
    w.norm = tensor("model.norm.weight");
    w.output = c.tied_embeddings ? w.tok_embeddings : tensor("lm_head.weight");
    validate_weights(c, w);
    return m;
}

}  // namespace llamaref
