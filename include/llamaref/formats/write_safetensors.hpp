// llamaref/formats/write_safetensors.hpp — write safetensors files and Hugging Face folders.
//
// safetensors (https://github.com/huggingface/safetensors, "Format"): uint64 N | N bytes of JSON
// header | data. The header is padded with spaces to a multiple of 8 bytes, as the reference
// implementation does, so every tensor starts 8-byte aligned. write_hf() writes a folder that
// transformers' LlamaForCausalLM loads: config.json (LlamaConfig fields) + model.safetensors with
// HF names (table in formats/hf.hpp) and q/k rows permuted into HF's rotate-half order
// (model/rope.hpp hf_permute_rows: q with n_heads, k with n_kv_heads). Dtypes F32, F16, BF16.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../model/rope.hpp"
#include "../model/weights.hpp"
#include "writer.hpp"

namespace llamaref {

struct SafetensorsOut {
    std::string name;
    DType dtype;
    Shape shape;
    std::function<std::vector<std::byte>()> bytes;  // produced when written, one tensor at a time
};

inline void write_safetensors(const std::string& path, const std::vector<SafetensorsOut>& tensors,
                              const nlohmann::json& metadata = {{"format", "pt"}}) {
    nlohmann::ordered_json header;
    header["__metadata__"] = metadata;
    std::size_t offset = 0;
    for (const auto& t : tensors) {
        if (is_quantized(t.dtype))
            fail(path, ": safetensors has no ", dtype_name(t.dtype), " dtype (tensor ", t.name, ")");
        const std::size_t n = dtype_bytes(t.dtype, shape_numel(t.shape));
        header[t.name] = {
            {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    FileWriter out(path);
    out.put<uint64_t>(text.size());
    out.put_string(text);
    for (const auto& t : tensors) {
        const auto b = t.bytes();
        if (b.size() != dtype_bytes(t.dtype, shape_numel(t.shape)))
            fail(path, ": tensor ", t.name, " has the wrong size");
        out.put_bytes(b);
    }
    out.finish();
}

// The config.json transformers' LlamaConfig reads for this model.
inline nlohmann::ordered_json hf_config_json(const ModelConfig& c, DType dtype) {
    const bool mistral = c.arch == "mistral";
    ModelConfig plain = c;
    plain.sliding_window = 0;
    if (!plain.beyond_llama().empty() || (c.sliding_window > 0 && !mistral))
        fail("write_hf: writes Llama and Mistral folders; this ", c.arch, " model needs ", c.beyond_llama());
    nlohmann::ordered_json j;
    j["architectures"] = {mistral ? "MistralForCausalLM" : "LlamaForCausalLM"};
    j["model_type"] = mistral ? "mistral" : "llama";
    j["hidden_size"] = c.dim;
    j["intermediate_size"] = c.hidden_dim;
    j["num_hidden_layers"] = c.n_layers;
    j["num_attention_heads"] = c.n_heads;
    j["num_key_value_heads"] = c.n_kv_heads;
    j["head_dim"] = c.head_dim;
    j["hidden_act"] = "silu";
    j["rms_norm_eps"] = c.norm_eps;
    j["rope_theta"] = c.rope_theta;
    j["max_position_embeddings"] = c.max_seq_len;
    j["vocab_size"] = c.vocab_size;
    j["tie_word_embeddings"] = c.tied_embeddings;
    j["attention_bias"] = false;
    j["mlp_bias"] = false;
    if (c.rope_scaling.enabled)
        j["rope_scaling"] = {{"rope_type", "llama3"},
                             {"factor", c.rope_scaling.factor},
                             {"low_freq_factor", c.rope_scaling.low_freq_factor},
                             {"high_freq_factor", c.rope_scaling.high_freq_factor},
                             {"original_max_position_embeddings", c.rope_scaling.original_context}};
    else
        j["rope_scaling"] = nullptr;
    if (mistral) {
        j["sliding_window"] =
            c.sliding_window > 0 ? nlohmann::ordered_json(c.sliding_window) : nlohmann::ordered_json();
    }
    j["torch_dtype"] = dtype == DType::F32 ? "float32" : dtype == DType::F16 ? "float16" : "bfloat16";
    return j;
}

// A Hugging Face folder: dir/config.json + dir/model.safetensors (created if needed).
inline void write_hf(const Model& m, const std::string& dir, DType dtype) {
    if (is_quantized(dtype))
        fail(dir, ": Hugging Face safetensors folders hold F32, F16 or BF16, not ", dtype_name(dtype));
    namespace fs = std::filesystem;
    fs::create_directories(dir);
    const ModelConfig& c = m.config;
    const Weights& w = m.weights;
    const nlohmann::ordered_json config = hf_config_json(c, dtype);  // an Error before any file for Gemma
    std::vector<SafetensorsOut> ts;
    auto plain = [&](const std::string& name, const TensorView& v, DType t) {
        ts.push_back({name, t, v.shape, [v, t] { return tensor_bytes(v, t); }});
    };
    auto permuted = [&](const std::string& name, const TensorView& v, int heads) {
        ts.push_back({name, dtype, v.shape, [v, heads, dtype, hd = c.head_dim] {
                          auto b = tensor_bytes(v, dtype);
                          std::vector<std::byte> out(b.size());
                          hf_permute_rows(b.data(), out.data(), heads, hd, dtype_bytes(dtype, v.cols()));
                          return out;
                      }});
    };
    plain(std::string(kTokEmbeddingsName.hf) + ".weight", w.tok_embeddings, dtype);
    for (int l = 0; l < c.n_layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        const LayerWeights& L = w.layers[l];
        for (const LayerTensorName& n : layer_tensor_names(c.post_norms)) {  // model/weights.hpp
            const std::string name = p + n.hf + ".weight";
            if (const int heads = rope_permuted_heads(n.kind, c))
                permuted(name, L.*n.field, heads);
            else
                plain(name, L.*n.field, dtype);
        }
    }
    plain(std::string(kNormName.hf) + ".weight", w.norm, dtype);
    if (!c.tied_embeddings) plain(std::string(kOutputName.hf) + ".weight", w.output, dtype);
    write_safetensors((fs::path(dir) / "model.safetensors").string(), ts);
    std::ofstream f(fs::path(dir) / "config.json");
    f << config.dump(2) << "\n";
    if (!f) fail(dir, ": cannot write config.json");
}

}  // namespace llamaref
