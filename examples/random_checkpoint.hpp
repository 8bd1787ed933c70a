// examples/random_checkpoint.hpp — a Hugging Face folder of random bf16 weights in a real model's shape.
//
// For benchmarks (bench_load, `llamaref bench --random`): the speed and memory of a model depend
// on its shape and dtype, not on its values, so a folder written here stands in for a download.
// The values are deterministic (tensor i is filled from xorshift seed i + 1), norms are 1.0, the
// text it generates is noise.
//
//   dir/config.json          hf_config_json (formats/write_safetensors.hpp): shape, θ, RoPE scaling,
//                            tie_word_embeddings
//   dir/model.safetensors    HF tensor names; no lm_head.weight when the embeddings are tied
//
// Presets (shapes of the published models):
//
//   preset          D     L   H   KV  Dh   F      V       θ       scaling  tied  context
//   tiny            64    2   4   2   16   128    256     10000   -        no    512
//   stories110m     768   12  12  12  64   2048   32000   10000   -        yes   1024
//   tinyllama-1.1b  2048  22  32  4   64   5632   32000   10000   -        no    2048
//   llama3.2-1b     2048  16  32  8   64   8192   128256  500000  ×32      yes   131072
//   llama3-8b       4096  32  32  8   128  14336  128256  500000  -        no    2048
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <llamaref/formats/write_safetensors.hpp>

namespace llamaref::examples {

inline const std::vector<std::string>& random_preset_names() {
    static const std::vector<std::string> names{"tiny", "stories110m", "tinyllama-1.1b", "llama3.2-1b", "llama3-8b"};
    return names;
}

inline ModelConfig random_preset(const std::string& name) {
    ModelConfig c;
    c.max_seq_len = 2048;
    if (name == "tiny") {
        c.dim = 64, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.hidden_dim = 128, c.vocab_size = 256;
        c.max_seq_len = 512;
    } else if (name == "stories110m") {  // llama2.c's stories110M (classifier shared with the embeddings)
        c.dim = 768, c.n_layers = 12, c.n_heads = 12, c.n_kv_heads = 12, c.hidden_dim = 2048, c.vocab_size = 32000;
        c.tied_embeddings = true;
        c.max_seq_len = 1024;
    } else if (name == "tinyllama-1.1b") {
        c.dim = 2048, c.n_layers = 22, c.n_heads = 32, c.n_kv_heads = 4, c.hidden_dim = 5632, c.vocab_size = 32000;
    } else if (name == "llama3.2-1b") {
        c.dim = 2048, c.n_layers = 16, c.n_heads = 32, c.n_kv_heads = 8, c.hidden_dim = 8192, c.vocab_size = 128256;
        c.rope_theta = 500000;
        c.rope_scaling = {true, 32.0, 1.0, 4.0, 8192};  // Llama 3.1 scaling, as the 3.2 1B/3B state it
        c.tied_embeddings = true;
        c.max_seq_len = 131072;
    } else if (name == "llama3-8b") {
        c.dim = 4096, c.n_layers = 32, c.n_heads = 32, c.n_kv_heads = 8, c.hidden_dim = 14336, c.vocab_size = 128256;
        c.rope_theta = 500000;
    } else {
        std::string known;
        for (const auto& n : random_preset_names()) known += (known.empty() ? "" : ", ") + n;
        fail("unknown preset '", name, "' (", known, ")");
    }
    c.head_dim = c.dim / c.n_heads;
    c.validate();
    return c;
}

// Random bf16 weights (norms 1.0), written tensor by tensor so the writer never holds the model.
inline void write_random_checkpoint(const ModelConfig& c, const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    std::vector<SafetensorsOut> t;
    auto add = [&](const std::string& name, Shape shape, bool norm) {
        t.push_back({name, DType::BF16, shape, [shape, norm, seed = uint64_t(t.size() + 1)] {
                         std::vector<std::byte> b(shape_numel(shape) * 2);
                         auto* p = reinterpret_cast<uint16_t*>(b.data());
                         uint64_t s = seed * 0x9E3779B97F4A7C15ull;
                         for (std::size_t i = 0; i < shape_numel(shape); ++i) {
                             s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                             p[i] = norm ? f32_to_bf16(1.0f)
                                         : f32_to_bf16((float(s >> 40) / float(1 << 24) - 0.5f) * 0.04f);
                         }
                         return b;
                     }});
    };
    const std::size_t D = c.dim, F = c.hidden_dim, V = c.vocab_size, Q = c.q_dim(), K = c.kv_dim();
    add("model.embed_tokens.weight", {V, D}, false);
    for (int l = 0; l < c.n_layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        add(p + "input_layernorm.weight", {D}, true);
        add(p + "self_attn.q_proj.weight", {Q, D}, false);
        add(p + "self_attn.k_proj.weight", {K, D}, false);
        add(p + "self_attn.v_proj.weight", {K, D}, false);
        add(p + "self_attn.o_proj.weight", {D, Q}, false);
        add(p + "post_attention_layernorm.weight", {D}, true);
        add(p + "mlp.gate_proj.weight", {F, D}, false);
        add(p + "mlp.up_proj.weight", {F, D}, false);
        add(p + "mlp.down_proj.weight", {D, F}, false);
    }
    add("model.norm.weight", {D}, true);
    if (!c.tied_embeddings) add("lm_head.weight", {V, D}, false);
    write_safetensors((dir / "model.safetensors").string(), t);
    std::ofstream f(dir / "config.json");
    f << hf_config_json(c, DType::BF16).dump(1);
    if (!f) fail(dir.string(), ": cannot write config.json");
}

}  // namespace llamaref::examples
