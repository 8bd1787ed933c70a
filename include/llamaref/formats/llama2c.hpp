// llamaref/formats/llama2c.hpp — checkpoints of Karpathy's llama2.c (`run.c`, `export.py`).
//
// A `.bin` file is a small header followed by float32 arrays, all layers of one kind together:
//
//   version 0 (legacy, no magic): 7 int32  dim, hidden_dim, n_layers, n_heads, n_kv_heads,
//       vocab_size (negative: a separate output matrix follows), seq_len
//     tok_embeddings [V, D]   rms_att [L, D]   wq [L, H·Dh, D]   wk [L, KV·Dh, D]   wv [L, KV·Dh, D]
//     wo [L, D, H·Dh]   rms_ffn [L, D]   w1 [L, F, D]   w2 [L, D, F]   w3 [L, F, D]   rms_final [D]
//     freq_cis_real [seq_len, Dh/2]   freq_cis_imag [seq_len, Dh/2]   (unused)   [output [V, D]]
//   version 1: uint32 magic "ak42" (0x616b3432), int32 version, the 7 int32 above (vocab_size
//     positive), uint8 shared_classifier, zero padding to 256 bytes; then
//     rms_att [L, D]  rms_ffn [L, D]  rms_final [D]  tok_embeddings [V, D]  wq  wk  wv  wo  w1  w2  w3
//     [output [V, D]]
//
//   version 2 (runq.c, export.py version2_export): magic, version 2, the 7 int32, uint8
//     shared_classifier, int32 group_size GS, zero padding to 256 bytes; then float32
//     rms_att [L, D]  rms_ffn [L, D]  rms_final [D]; then each quantized tensor as its int8 values
//     followed by its float32 scales (one per GS consecutive values; value = q · scale):
//     tok_embeddings, wq (layer 0, 1, ...), wk, wv, wo, w1, w2, w3, [output]
//
// The format stores neither RoPE θ nor the RMSNorm ε: llama2.c assumes θ = 10000 and ε = 1e-5, and
// so does llamaref. Head size is dim / n_heads. Versions 0 and 1 are float32, used in place.
// Version 2's groups (any GS, float32 scale) are not GGUF's Q8_0 blocks (32 values, float16
// scale), and re-rounding the scale to float16 would change the weights; so llamaref dequantizes
// them exactly (q · scale in float32, as runq.c's dequantize does) into owned float32 buffers.
// That costs 4× the file's weight bytes in memory; llama2.c v2 files are small models.
#pragma once

#include <cstring>
#include <memory>
#include <string>

#include "../core/limits.hpp"
#include "../core/mmap.hpp"
#include "../model/weights.hpp"

namespace llamaref {

constexpr uint32_t kLlama2cMagic = 0x616b3432;  // "ak42" read as little-endian uint32

inline std::shared_ptr<Model> load_llama2c(const std::string& path) {
    auto file = std::make_shared<MappedFile>(path);
    ByteReader in(*file);
    int version = 0;
    if (in.size() >= 4 && in.read<uint32_t>("magic") == kLlama2cMagic) {
        version = in.read<int32_t>("version");
        if (version != 1 && version != 2)
            fail(path, ": llama2.c checkpoint version ", version, " is not supported (llamaref reads 0, 1 and 2)");
    } else {
        in.seek(0);
    }
    int32_t h[7];
    for (auto& v : h) v = in.read<int32_t>("llama2.c header");
    bool shared = h[5] > 0;
    int32_t group_size = 0;
    if (version >= 1) {
        shared = in.read<uint8_t>("shared_classifier flag") != 0;
        if (version == 2) {
            group_size = in.read<int32_t>("group size");
            if (group_size <= 0) fail(path, ": llama2.c v2 group size must be positive, got ", group_size);
        }
        in.seek(256);
    }

    auto m = std::make_shared<Model>();
    ModelConfig& c = m->config;
    c.dim = h[0];
    c.hidden_dim = h[1];
    c.n_layers = h[2];
    c.n_heads = h[3];
    c.n_kv_heads = h[4];
    // A negative vocab_size means "unshared classifier" in version 0; -INT_MIN does not fit an int.
    if (h[5] == INT32_MIN) fail(path, ": bad llama2.c header: vocab_size ", h[5], " is out of range");
    c.vocab_size = h[5] < 0 ? -h[5] : h[5];
    c.max_seq_len = h[6];
    c.norm_eps = 1e-5;       // not stored; llama2.c's value
    c.rope_theta = 10000.0;  // not stored; llama2.c's value
    c.tied_embeddings = shared;
    if (c.n_heads <= 0 || c.dim <= 0 || c.dim % c.n_heads != 0)
        fail(path, ": header says dim ", c.dim, " and n_heads ", c.n_heads,
             " (dim must be a positive multiple of n_heads)");
    c.head_dim = c.dim / c.n_heads;
    in_context(path + ": bad llama2.c header: ", [&] { c.validate(); });
    m->format = "llama2c v" + std::to_string(version);
    m->path = path;
    m->storage.push_back(file);

    const std::size_t D = c.dim, F = c.hidden_dim, L = c.n_layers, V = c.vocab_size, Q = c.q_dim(), K = c.kv_dim();
    const std::size_t Dh = c.head_dim, S = c.max_seq_len;
    auto mul = [&](std::size_t a, std::size_t b) {
        return checked_mul(a, b, path + ": header sizes (corrupt header?)");
    };
    // Take the next tensor of `shape` (float32) from the file.
    auto next = [&](const char* what, Shape shape) {
        std::size_t n = 1;
        for (auto s : shape) n = mul(n, s);
        return TensorView{DType::F32, std::move(shape), in.take(mul(n, 4), what)};
    };
    // One array holding all L layers of one kind; returns a view per layer.
    auto per_layer = [&](const char* what, Shape shape, TensorView LayerWeights::*field) {
        for (std::size_t l = 0; l < L; ++l) m->weights.layers[l].*field = next(what, shape);
    };
    // Version 2: the next int8 tensor and its scales, dequantized into an owned float32 buffer.
    auto next_q8 = [&](const char* what, Shape shape) {
        std::size_t n = 1;
        for (auto s : shape) n = mul(n, s);
        if (n % std::size_t(group_size) != 0)
            fail(path, ": ", what, " holds ", n, " values, not a multiple of the group size ", group_size);
        const std::byte* q = in.take(n, what);
        const std::byte* s = in.take(mul(n / group_size, 4), "scales");
        auto buf = make_buffer(mul(n, 4));
        float* out = reinterpret_cast<float*>(buf->data());
        for (std::size_t g = 0; g < n / group_size; ++g) {
            float scale;
            std::memcpy(&scale, s + 4 * g, 4);
            for (std::size_t i = g * group_size; i < (g + 1) * group_size; ++i) out[i] = float(int8_t(q[i])) * scale;
        }
        m->storage.push_back(buf);
        return TensorView{DType::F32, std::move(shape), buf->data()};
    };
    auto per_layer_q8 = [&](const char* what, Shape shape, TensorView LayerWeights::*field) {
        for (std::size_t l = 0; l < L; ++l) m->weights.layers[l].*field = next_q8(what, shape);
    };
    Weights& w = m->weights;
    w.layers.resize(L);
    if (version == 2) {
        per_layer("rms_att_weight", {D}, &LayerWeights::attention_norm);
        per_layer("rms_ffn_weight", {D}, &LayerWeights::ffn_norm);
        w.norm = next("rms_final_weight", {D});
        w.tok_embeddings = next_q8("token embeddings", {V, D});
        per_layer_q8("wq", {Q, D}, &LayerWeights::wq);
        per_layer_q8("wk", {K, D}, &LayerWeights::wk);
        per_layer_q8("wv", {K, D}, &LayerWeights::wv);
        per_layer_q8("wo", {D, Q}, &LayerWeights::wo);
        per_layer_q8("w1", {F, D}, &LayerWeights::w1);
        per_layer_q8("w2", {D, F}, &LayerWeights::w2);
        per_layer_q8("w3", {F, D}, &LayerWeights::w3);
        w.output = shared ? w.tok_embeddings : next_q8("output (classifier) weights", {V, D});
    } else if (version == 0) {
        w.tok_embeddings = next("token embeddings", {V, D});
        per_layer("rms_att_weight", {D}, &LayerWeights::attention_norm);
        per_layer("wq", {Q, D}, &LayerWeights::wq);
        per_layer("wk", {K, D}, &LayerWeights::wk);
        per_layer("wv", {K, D}, &LayerWeights::wv);
        per_layer("wo", {D, Q}, &LayerWeights::wo);
        per_layer("rms_ffn_weight", {D}, &LayerWeights::ffn_norm);
        per_layer("w1", {F, D}, &LayerWeights::w1);
        per_layer("w2", {D, F}, &LayerWeights::w2);
        per_layer("w3", {F, D}, &LayerWeights::w3);
        w.norm = next("rms_final_weight", {D});
        next("freq_cis_real", {S, Dh / 2});
        next("freq_cis_imag", {S, Dh / 2});
    } else {
        per_layer("rms_att_weight", {D}, &LayerWeights::attention_norm);
        per_layer("rms_ffn_weight", {D}, &LayerWeights::ffn_norm);
        w.norm = next("rms_final_weight", {D});
        w.tok_embeddings = next("token embeddings", {V, D});
        per_layer("wq", {Q, D}, &LayerWeights::wq);
        per_layer("wk", {K, D}, &LayerWeights::wk);
        per_layer("wv", {K, D}, &LayerWeights::wv);
        per_layer("wo", {D, Q}, &LayerWeights::wo);
        per_layer("w1", {F, D}, &LayerWeights::w1);
        per_layer("w2", {D, F}, &LayerWeights::w2);
        per_layer("w3", {F, D}, &LayerWeights::w3);
    }
    if (version != 2) w.output = shared ? w.tok_embeddings : next("output (classifier) weights", {V, D});
    if (in.remaining() != 0)
        fail(path, ": ", in.remaining(), " bytes after the last tensor: the header (", c.describe(),
             ") does not describe this file");
    return m;
}

}  // namespace llamaref
