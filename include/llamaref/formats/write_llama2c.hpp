// llamaref/formats/write_llama2c.hpp — write a Model as a llama2.c checkpoint (versions 0, 1, 2).
//
// Layouts as in formats/llama2c.hpp (llama2.c export.py legacy_export, version1_export,
// version2_export). The format cannot state θ, ε, a head size other than dim / n_heads, or RoPE
// scaling: llama2.c assumes θ = 10000 and ε = 1e-5, so a model that differs is refused rather
// than written as a different model. Version 2 quantizes like export.py's quantize_q80: groups of
// GS values (GS = 64, halved until it divides dim), scale = max|w| / 127, q = round-half-even(w /
// scale), then the int8 values and the float32 scales of each tensor.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "../model/weights.hpp"
#include "writer.hpp"

namespace llamaref {

inline void write_llama2c(const Model& m, const std::string& path, int version, int group_size = 64) {
    const ModelConfig& c = m.config;
    const Weights& w = m.weights;
    if (version < 0 || version > 2) fail(path, ": llama2.c versions are 0, 1 and 2, not ", version);
    if (c.rope_theta != 10000.0 || std::fabs(c.norm_eps - 1e-5) > 1e-9 || c.rope_scaling.enabled ||
        c.head_dim * c.n_heads != c.dim || !c.beyond_llama().empty())
        fail(path,
             ": the llama2.c format assumes RoPE θ 10000, ε 1e-5, no RoPE scaling and head_dim = dim / n_heads; "
             "this model has ",
             c.describe());
    const bool shared = c.tied_embeddings;
    while (version == 2 && c.dim % group_size != 0) group_size /= 2;

    FileWriter out(path);
    const int32_t header[7] = {c.dim,        c.hidden_dim, c.n_layers,
                               c.n_heads,    c.n_kv_heads, version == 0 && !shared ? -c.vocab_size : c.vocab_size,
                               c.max_seq_len};
    if (version > 0) {
        out.put<uint32_t>(0x616b3432u);  // "ak42"
        out.put<int32_t>(version);
    }
    out.put_bytes(header, sizeof header);
    if (version > 0) {
        out.put<uint8_t>(shared ? 1 : 0);
        if (version == 2) out.put<int32_t>(group_size);
        const std::size_t pad = 256 - out.offset();
        out.put_bytes(std::vector<std::byte>(pad));
    }
    auto f32 = [&](const TensorView& v) { out.put_bytes(tensor_bytes(v, DType::F32)); };
    auto q8 = [&](const TensorView& v) {
        const auto x = v.to_f32_vector();
        if (x.size() % group_size != 0)
            fail(path, ": a tensor of ", x.size(), " values is not a multiple of the group size");
        std::vector<int8_t> q(x.size());
        std::vector<float> scales(x.size() / group_size);
        for (std::size_t g = 0; g < scales.size(); ++g) {
            float wmax = 0;
            for (int i = 0; i < group_size; ++i) wmax = std::max(wmax, std::fabs(x[g * group_size + i]));
            scales[g] = wmax / 127.0f;
            for (int i = 0; i < group_size; ++i)
                q[g * group_size + i] = scales[g] == 0 ? 0 : int8_t(std::nearbyint(x[g * group_size + i] / scales[g]));
        }
        out.put_bytes(q.data(), q.size());
        out.put_bytes(scales.data(), scales.size() * 4);
    };
    auto each = [&](TensorView LayerWeights::*field, auto write) {
        for (const auto& L : w.layers) write(L.*field);
    };
    if (version == 0) {
        f32(w.tok_embeddings);
        each(&LayerWeights::attention_norm, f32);
        each(&LayerWeights::wq, f32);
        each(&LayerWeights::wk, f32);
        each(&LayerWeights::wv, f32);
        each(&LayerWeights::wo, f32);
        each(&LayerWeights::ffn_norm, f32);
        each(&LayerWeights::w1, f32);
        each(&LayerWeights::w2, f32);
        each(&LayerWeights::w3, f32);
        f32(w.norm);
        // freq_cis_real, freq_cis_imag [seq_len, Dh/2]: unused by readers, written as export.py does.
        const std::size_t S = c.max_seq_len, half = c.head_dim / 2;
        std::vector<float> re(S * half), im(S * half);
        for (std::size_t t = 0; t < S; ++t)
            for (std::size_t i = 0; i < half; ++i) {
                const float freq = 1.0f / std::pow(10000.0f, float(2 * i) / float(c.head_dim));
                re[t * half + i] = std::cos(float(t) * freq);
                im[t * half + i] = std::sin(float(t) * freq);
            }
        out.put_bytes(re.data(), re.size() * 4);
        out.put_bytes(im.data(), im.size() * 4);
        if (!shared) f32(w.output);
    } else if (version == 1) {
        each(&LayerWeights::attention_norm, f32);
        each(&LayerWeights::ffn_norm, f32);
        f32(w.norm);
        f32(w.tok_embeddings);
        for (auto field : {&LayerWeights::wq, &LayerWeights::wk, &LayerWeights::wv, &LayerWeights::wo,
                           &LayerWeights::w1, &LayerWeights::w2, &LayerWeights::w3})
            each(field, f32);
        if (!shared) f32(w.output);
    } else {
        each(&LayerWeights::attention_norm, f32);
        each(&LayerWeights::ffn_norm, f32);
        f32(w.norm);
        q8(w.tok_embeddings);
        for (auto field : {&LayerWeights::wq, &LayerWeights::wk, &LayerWeights::wv, &LayerWeights::wo,
                           &LayerWeights::w1, &LayerWeights::w2, &LayerWeights::w3})
            each(field, q8);
        if (!shared) q8(w.output);
    }
    out.finish();
}

}  // namespace llamaref
