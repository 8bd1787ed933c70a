// tests/fuzz/tiny_model.hpp — a tiny deterministic Llama, and its files, for the fuzz seeds.
//
// make_corpus writes the seed corpora from it with the project's own writers (GGUF, safetensors,
// llama2.c; the .pth through the tests' torch.save writer), and the harnesses that fuzz one file
// of a folder (config.json, params.json, model.safetensors, consolidated.00.pth) put the valid
// other file beside the input from it. Two shapes:
//
//   tiny_config(8)    D 8,  L 1, H 2, KV 1, Dh 4, F 24, V 16   (Meta's FFN rule, multiple_of 8)
//   tiny_config(32)   D 32, L 1, H 4, KV 2, Dh 8, F 96, V 16   (multiple_of 32: Q8_0 blocks fit)
//
// Weights are small values from a fixed xorshift stream; norms are 1.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <llamaref/formats/write_safetensors.hpp>
#include <llamaref/model/weights.hpp>

#include "../test_formats_pth.hpp"

namespace llamaref::fuzz {

inline ModelConfig tiny_config(int dim = 8) {
    ModelConfig c;
    c.dim = dim;
    c.n_layers = 1;
    c.n_heads = dim == 8 ? 2 : 4;
    c.n_kv_heads = c.n_heads / 2;
    c.head_dim = dim / c.n_heads;
    c.hidden_dim = ffn_hidden_dim(dim, dim);  // 24 for D 8, 96 for D 32
    c.vocab_size = 16;
    c.max_seq_len = 32;
    c.validate();
    return c;
}

// A Model whose weights live in buffers it owns (Model::storage).
inline std::shared_ptr<Model> tiny_model(const ModelConfig& c) {
    auto m = std::make_shared<Model>();
    m->config = c;
    m->format = "tiny (fuzz seeds)";
    uint64_t s = 0x9E3779B97F4A7C15ull;
    auto tensor = [&](Shape shape, bool norm) {
        auto buf = std::make_shared<std::vector<float>>(shape_numel(shape));
        for (float& x : *buf) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            x = norm ? 1.0f : (float(s >> 40) / float(1 << 24) - 0.5f) * 0.2f;
        }
        m->storage.push_back(buf);
        return TensorView{DType::F32, shape, reinterpret_cast<const std::byte*>(buf->data())};
    };
    const std::size_t D = c.dim, F = c.hidden_dim, V = c.vocab_size, Q = c.q_dim(), K = c.kv_dim();
    Weights& w = m->weights;
    w.tok_embeddings = tensor({V, D}, false);
    for (int l = 0; l < c.n_layers; ++l) {
        LayerWeights L;
        L.attention_norm = tensor({D}, true);
        L.wq = tensor({Q, D}, false);
        L.wk = tensor({K, D}, false);
        L.wv = tensor({K, D}, false);
        L.wo = tensor({D, Q}, false);
        L.ffn_norm = tensor({D}, true);
        L.w1 = tensor({F, D}, false);
        L.w2 = tensor({D, F}, false);
        L.w3 = tensor({F, D}, false);
        w.layers.push_back(L);
    }
    w.norm = tensor({D}, true);
    w.output = c.tied_embeddings ? w.tok_embeddings : tensor({V, D}, false);
    validate_weights(c, w);
    return m;
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    f.close();
    if (!f) fail(path.string(), ": cannot write");
}

inline std::string tiny_hf_config_json() { return hf_config_json(tiny_config(), DType::F32).dump(2) + "\n"; }

// params.json of Meta's format for tiny_config(8): F follows from dim and multiple_of.
inline std::string tiny_params_json() {
    const ModelConfig c = tiny_config();
    nlohmann::ordered_json j{{"dim", c.dim},
                             {"n_layers", c.n_layers},
                             {"n_heads", c.n_heads},
                             {"n_kv_heads", c.n_kv_heads},
                             {"vocab_size", c.vocab_size},
                             {"multiple_of", c.dim},
                             {"norm_eps", c.norm_eps},
                             {"rope_theta", c.rope_theta},
                             {"max_seq_len", c.max_seq_len}};
    return j.dump(2) + "\n";
}

// model.safetensors of tiny_config(8) (F32, HF names and q/k layout) — write_hf, then kept alone.
inline void write_tiny_safetensors(const std::filesystem::path& path) {
    const auto tmp = path.parent_path() / "tiny-hf.tmp";
    write_hf(*tiny_model(tiny_config()), tmp.string(), DType::F32);
    std::filesystem::rename(tmp / "model.safetensors", path);
    std::filesystem::remove_all(tmp);
}

// consolidated.00.pth of tiny_config(8): Meta's names, F32 storages, torch.save's zip layout.
inline void write_tiny_pth(const std::filesystem::path& path, const Model& m = *tiny_model(tiny_config())) {
    std::vector<test::PthTensor> ts;
    auto add = [&](const std::string& name, const TensorView& v) {
        std::vector<int64_t> shape(v.shape.begin(), v.shape.end());
        ts.push_back({name, "FloatStorage", shape, std::string(reinterpret_cast<const char*>(v.data), v.nbytes())});
    };
    const Weights& w = m.weights;
    add("tok_embeddings.weight", w.tok_embeddings);
    for (std::size_t l = 0; l < w.layers.size(); ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        const LayerWeights& L = w.layers[l];
        add(p + "attention.wq.weight", L.wq);
        add(p + "attention.wk.weight", L.wk);
        add(p + "attention.wv.weight", L.wv);
        add(p + "attention.wo.weight", L.wo);
        add(p + "feed_forward.w1.weight", L.w1);
        add(p + "feed_forward.w2.weight", L.w2);
        add(p + "feed_forward.w3.weight", L.w3);
        add(p + "attention_norm.weight", L.attention_norm);
        add(p + "ffn_norm.weight", L.ffn_norm);
    }
    add("norm.weight", w.norm);
    if (!m.config.tied_embeddings) add("output.weight", w.output);
    test::write_pth(path.string(), ts);
}

}  // namespace llamaref::fuzz
