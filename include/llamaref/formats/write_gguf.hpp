// llamaref/formats/write_gguf.hpp — write a Model as a GGUF v3 file in llama.cpp's layout.
//
// Follows ggml's docs/gguf.md and the names and keys llama.cpp's convert_hf_to_gguf.py writes for
// the "llama" architecture (see formats/gguf_llama.hpp for the table): q/k rows in the
// adjacent-pair order, ne = the row-major shape reversed, every tensor at a multiple of 32 bytes.
// Weight matrices are stored in the requested dtype (F32, F16, BF16 or Q8_0, quantized as ggml's
// reference quantize_row_q8_0 does; a matrix whose rows are not a multiple of 32 stays F32);
// norms are always F32, as llama.cpp keeps them. Llama 3.1 scaling is written as llama.cpp does,
// a `rope_freqs.weight` tensor of per-pair divisors, and stated by llamaref's own
// {arch}.rope.scaling.llama3.* keys, which llama.cpp ignores (formats/gguf_llama.hpp): a rule
// other than Meta's 1 / 4 / 8192 reads back as the same rule. Metadata from `extra` (e.g. a source GGUF's
// tokenizer.* keys) is appended after the model's own keys.
//
// Mistral is written as llama.cpp writes it ("llama"), plus llama.attention.sliding_window. Gemma
// and Gemma 2 as llama.cpp's converter writes them: architecture "gemma" / "gemma2", norm weights
// stored as 1 + w, attn_q / attn_k in HF's rotate-half row order, Gemma 2's post-norms, window
// and soft-caps, and llamaref's own gemma2.attention.query_pre_attn_scalar (formats/gguf_llama.hpp).
// Any other switch combination has no GGUF spelling and is an Error.
#pragma once

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../model/rope.hpp"
#include "../model/weights.hpp"
#include "gguf.hpp"
#include "writer.hpp"

namespace llamaref {

inline GgufValue gguf_u32(uint32_t v) {
    GgufValue x;
    x.type = GgufType::UINT32;
    x.u = v;
    return x;
}
inline GgufValue gguf_f32(double v) {
    GgufValue x;
    x.type = GgufType::FLOAT32;
    x.f = v;
    return x;
}
inline GgufValue gguf_f64(double v) {
    GgufValue x;
    x.type = GgufType::FLOAT64;
    x.f = v;
    return x;
}
inline GgufValue gguf_str(std::string v) {
    GgufValue x;
    x.type = GgufType::STRING;
    x.s = std::move(v);
    return x;
}
inline GgufValue gguf_bool(bool v) {
    GgufValue x;
    x.type = GgufType::BOOL;
    x.b = v;
    return x;
}
// Arrays: the elements encoded as GGUF stores them (little-endian numbers; strings as uint64 length
// + bytes).
template <class T>
inline GgufValue gguf_number_array(GgufType elem, const std::vector<T>& v) {
    GgufValue x;
    x.type = GgufType::ARRAY, x.elem_type = elem, x.count = v.size();
    x.raw.resize(v.size() * sizeof(T));
    std::memcpy(x.raw.data(), v.data(), x.raw.size());  // the host is little-endian (GGUF's order)
    return x;
}
inline GgufValue gguf_f32_array(const std::vector<float>& v) { return gguf_number_array(GgufType::FLOAT32, v); }
inline GgufValue gguf_i32_array(const std::vector<int32_t>& v) { return gguf_number_array(GgufType::INT32, v); }
inline GgufValue gguf_string_array(const std::vector<std::string>& v) {
    GgufValue x;
    x.type = GgufType::ARRAY, x.elem_type = GgufType::STRING, x.count = v.size();
    for (const std::string& s : v) {
        const uint64_t n = s.size();
        x.raw.append(reinterpret_cast<const char*>(&n), 8);
        x.raw += s;
    }
    return x;
}

namespace detail {
inline void gguf_put_string(FileWriter& out, const std::string& s) {
    out.put<uint64_t>(s.size());
    out.put_string(s);
}
inline void gguf_put_value(FileWriter& out, const GgufValue& v) {
    switch (v.type) {
        case GgufType::UINT8: out.put<uint8_t>(uint8_t(v.u)); break;
        case GgufType::INT8: out.put<int8_t>(int8_t(v.i)); break;
        case GgufType::UINT16: out.put<uint16_t>(uint16_t(v.u)); break;
        case GgufType::INT16: out.put<int16_t>(int16_t(v.i)); break;
        case GgufType::UINT32: out.put<uint32_t>(uint32_t(v.u)); break;
        case GgufType::INT32: out.put<int32_t>(int32_t(v.i)); break;
        case GgufType::UINT64: out.put<uint64_t>(v.u); break;
        case GgufType::INT64: out.put<int64_t>(v.i); break;
        case GgufType::FLOAT32: out.put<float>(float(v.f)); break;
        case GgufType::FLOAT64: out.put<double>(v.f); break;
        case GgufType::BOOL: out.put<uint8_t>(v.b ? 1 : 0); break;
        case GgufType::STRING: gguf_put_string(out, v.s); break;
        case GgufType::ARRAY:
            out.put<uint32_t>(uint32_t(v.elem_type));
            out.put<uint64_t>(v.count);
            out.put_string(v.raw);  // the elements, still encoded as GGUF stores them
            break;
    }
}
inline uint32_t ggml_type_of(DType t) { return ggml_type_id(t); }
}  // namespace detail

inline void write_gguf(const Model& m, const std::string& path, DType dtype,
                       const std::vector<std::pair<std::string, GgufValue>>& extra = {}) {
    const ModelConfig& c = m.config;
    const Weights& w = m.weights;
    const bool gemma = c.arch == "gemma" || c.arch == "gemma2";
    const std::string arch = gemma ? c.arch : "llama";
    {  // the switches each GGUF architecture implies must be exactly the model's
        ModelConfig want = c;
        want.sliding_window = c.sliding_window;
        want.activation = gemma ? Activation::gelu_tanh : Activation::silu;
        want.norm_unit_offset = gemma ? c.norm_unit_offset : false;
        want.embed_scale = gemma;
        want.post_norms = c.arch == "gemma2";
        want.sliding_layers = c.arch == "gemma2" ? SlidingLayers::even : SlidingLayers::all;
        if (c.arch != "gemma2") want.attn_softcap = want.final_softcap = want.query_pre_attn_scalar = 0;
        if (c.arch == "gemma") want.sliding_window = 0;
        if (want.activation != c.activation || want.embed_scale != c.embed_scale || want.post_norms != c.post_norms ||
            want.sliding_layers != c.sliding_layers || want.attn_softcap != c.attn_softcap ||
            want.final_softcap != c.final_softcap || want.query_pre_attn_scalar != c.query_pre_attn_scalar ||
            want.sliding_window != c.sliding_window || want.norm_unit_offset != c.norm_unit_offset)
            fail(path, ": this ", c.arch, " configuration (", c.beyond_llama(), ") has no GGUF spelling");
    }
    std::vector<std::shared_ptr<std::vector<std::byte>>> owned;  // converted tensors written below
    // Gemma: norm weights as 1 + w (when the model holds w), q/k rows back to rotate-half order.
    auto norm_view = [&](const TensorView& v) {
        if (!c.norm_unit_offset) return v;
        auto f = v.to_f32_vector();
        for (float& x : f) x = 1.0f + x;
        auto buf = std::make_shared<std::vector<std::byte>>(f.size() * 4);
        std::memcpy(buf->data(), f.data(), buf->size());
        owned.push_back(buf);
        return TensorView{DType::F32, v.shape, buf->data()};
    };
    auto qk_view = [&](const TensorView& v, int n_heads) {
        if (!gemma) return v;
        auto buf = std::make_shared<std::vector<std::byte>>(v.nbytes());
        hf_permute_rows(v.data, buf->data(), n_heads, c.head_dim, v.row_bytes());
        owned.push_back(buf);
        return TensorView{v.dtype, v.shape, buf->data()};
    };
    // --- tensors, in llama.cpp's order -----------------------------------------------------
    struct Item {
        std::string name;
        TensorView view;
        DType dtype;
    };
    std::vector<Item> items;
    std::vector<float> divisors;
    if (c.rope_scaling.enabled) {
        const auto plain = rope_frequencies(c.head_dim, c.rope_theta);
        const auto scaled = rope_frequencies(c.head_dim, c.rope_theta, c.rope_scaling);
        for (std::size_t i = 0; i < plain.size(); ++i) divisors.push_back(float(plain[i] / scaled[i]));
        items.push_back({"rope_freqs.weight",
                         TensorView{DType::F32, {divisors.size()}, reinterpret_cast<const std::byte*>(divisors.data())},
                         DType::F32});
    }
    auto matrix = [&](const std::string& name, const TensorView& v) {
        const bool fits = v.cols() % dtype_block(dtype).values == 0;
        items.push_back({name, v, fits ? dtype : DType::F32});
    };
    auto vector = [&](const std::string& name, const TensorView& v) { items.push_back({name, v, DType::F32}); };
    matrix(std::string(kTokEmbeddingsName.gguf) + ".weight", w.tok_embeddings);
    for (int l = 0; l < c.n_layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        const LayerWeights& L = w.layers[l];
        for (const LayerTensorName& n : layer_tensor_names(c.post_norms)) {  // model/weights.hpp
            const std::string name = p + n.gguf + ".weight";
            const TensorView& t = L.*n.field;
            const int heads = rope_permuted_heads(n.kind, c);
            if (n.kind == WeightKind::norm)
                vector(name, norm_view(t));
            else
                matrix(name, heads ? qk_view(t, heads) : t);
        }
    }
    vector(std::string(kNormName.gguf) + ".weight", norm_view(w.norm));
    if (!c.tied_embeddings) matrix(std::string(kOutputName.gguf) + ".weight", w.output);

    // --- metadata --------------------------------------------------------------------------
    const uint32_t file_type = dtype == DType::F32 ? 0 : dtype == DType::F16 ? 1 : dtype == DType::Q8_0 ? 7 : 32;
    std::vector<std::pair<std::string, GgufValue>> kv = {
        {"general.architecture", gguf_str(arch)},
        {"general.name", gguf_str(std::filesystem::path(path).stem().string())},
        {arch + ".block_count", gguf_u32(c.n_layers)},
        {arch + ".context_length", gguf_u32(c.max_seq_len)},
        {arch + ".embedding_length", gguf_u32(c.dim)},
        {arch + ".feed_forward_length", gguf_u32(c.hidden_dim)},
        {arch + ".attention.head_count", gguf_u32(c.n_heads)},
        {arch + ".attention.head_count_kv", gguf_u32(c.n_kv_heads)},
        {arch + ".rope.freq_base", gguf_f32(c.rope_theta)},
        {arch + ".attention.layer_norm_rms_epsilon", gguf_f32(c.norm_eps)},
        {arch + ".attention.key_length", gguf_u32(c.head_dim)},
        {arch + ".attention.value_length", gguf_u32(c.head_dim)},
        {"general.file_type", gguf_u32(file_type)},
        {arch + ".vocab_size", gguf_u32(c.vocab_size)},
        {arch + ".rope.dimension_count", gguf_u32(c.head_dim)},
    };
    if (c.rope_scaling.enabled) {  // beside rope_freqs.weight; float64, so the rule reads back exactly
        const std::string l3 = arch + ".rope.scaling.llama3.";
        kv.push_back({l3 + "factor", gguf_f64(c.rope_scaling.factor)});
        kv.push_back({l3 + "low_freq_factor", gguf_f64(c.rope_scaling.low_freq_factor)});
        kv.push_back({l3 + "high_freq_factor", gguf_f64(c.rope_scaling.high_freq_factor)});
        kv.push_back({l3 + "original_context_length", gguf_f64(c.rope_scaling.original_context)});
    }
    if (c.sliding_window > 0) kv.push_back({arch + ".attention.sliding_window", gguf_u32(c.sliding_window)});
    if (c.attn_softcap > 0) kv.push_back({arch + ".attn_logit_softcapping", gguf_f32(c.attn_softcap)});
    if (c.final_softcap > 0) kv.push_back({arch + ".final_logit_softcapping", gguf_f32(c.final_softcap)});
    if (c.query_pre_attn_scalar > 0)
        kv.push_back({arch + ".attention.query_pre_attn_scalar", gguf_f32(c.query_pre_attn_scalar)});
    for (const auto& e : extra) {
        bool dup = false;
        for (const auto& k : kv) dup = dup || k.first == e.first;
        if (!dup) kv.push_back(e);
    }
    // llama.cpp refuses a file without tokenizer.ggml.model; "none" is its word for "no
    // vocabulary" (it then makes llama.vocab_size placeholder tokens), so a file converted from a
    // folder without a GGUF vocabulary still runs there (e.g. for llama-bench).
    bool has_tokenizer = false;
    for (const auto& k : kv) has_tokenizer = has_tokenizer || k.first == "tokenizer.ggml.model";
    if (!has_tokenizer) kv.push_back({"tokenizer.ggml.model", gguf_str("none")});

    // --- the file ----------------------------------------------------------------------------
    FileWriter out(path);
    out.put<uint32_t>(0x46554747u);  // "GGUF"
    out.put<uint32_t>(3);
    out.put<uint64_t>(items.size());
    out.put<uint64_t>(kv.size());
    for (const auto& [key, v] : kv) {
        detail::gguf_put_string(out, key);
        out.put<uint32_t>(uint32_t(v.type));
        detail::gguf_put_value(out, v);
    }
    std::size_t offset = 0;
    for (const auto& it : items) {
        detail::gguf_put_string(out, it.name);
        out.put<uint32_t>(uint32_t(it.view.shape.size()));
        for (auto d = it.view.shape.rbegin(); d != it.view.shape.rend(); ++d) out.put<uint64_t>(*d);
        out.put<uint32_t>(detail::ggml_type_of(it.dtype));
        out.put<uint64_t>(offset);
        offset += dtype_bytes(it.dtype, it.view.numel());
        offset += (32 - offset % 32) % 32;
    }
    out.pad_to(32);
    for (const auto& it : items) {
        out.put_bytes(tensor_bytes(it.view, it.dtype));
        out.pad_to(32);
    }
    out.finish();
}

// The tokenizer.* metadata of a GGUF file, to carry a vocabulary into a converted file.
inline std::vector<std::pair<std::string, GgufValue>> gguf_tokenizer_metadata(const GgufFile& g) {
    std::vector<std::pair<std::string, GgufValue>> kv;
    for (const auto& k : g.keys())
        if (k.rfind("tokenizer.", 0) == 0) kv.push_back({k, g.value(k)});
    return kv;
}

}  // namespace llamaref
