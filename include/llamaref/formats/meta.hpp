// llamaref/formats/meta.hpp — Meta's original release: params.json + consolidated.NN.pth.
//
// params.json (Meta's ModelArgs, model.py in llama / llama3 / llama-models):
//   dim, n_layers, n_heads, n_kv_heads (default n_heads), vocab_size (-1 in LLaMA 1/2 files: taken
//   from the embeddings), multiple_of, ffn_dim_multiplier, norm_eps, rope_theta (default 10000),
//   use_scaled_rope (Llama 3.1: RopeScaling factor 8, low 1, high 4, original context 8192 as
//   Meta's apply_scaling hard-codes; `rope_scaling_factor` overrides the factor when present),
//   max_seq_len when present. The FFN size follows Meta's rule (model/config.hpp ffn_hidden_dim).
//   params.json does not state the context length; llamaref assumes 131072 with use_scaled_rope,
//   8192 with θ ≥ 500000 (Llama 3), else 4096 (Llama 2; LLaMA 1 was trained on 2048).
//   Mistral's own params.json (mistral-inference ModelArgs) adds head_dim, hidden_dim (the FFN
//   size, stated) and sliding_window (Mistral 7B v0.1: 4096); with a window the model is Mistral.
//   Any other key is an Error naming it: keys such as `moe`, `lora`, `vision_encoder` or
//   `qk_norm` change the mathematics, and llamaref implements none of them.
//
// Mistral's own folders (mistral-inference) have the same names and q/k layout, in
// consolidated.00.pth or, in newer releases, one consolidated.safetensors (read when there is no
// .pth).
//
// Each consolidated.NN.pth is a torch.save state dict (formats/pytorch.hpp) with Meta's names:
// tok_embeddings.weight, layers.N.attention.w{q,k,v,o}.weight, layers.N.feed_forward.w{1,2,3}.weight,
// layers.N.{attention,ffn}_norm.weight, norm.weight, output.weight. Larger models come in NN shards,
// the model-parallel slices of fairscale's layers, concatenated back here:
//
//   ColumnParallelLinear  wq wk wv w1 w3 output   split on dim 0 (output rows)
//   RowParallelLinear     wo w2                   split on dim 1 (input columns)
//   ParallelEmbedding     tok_embeddings          split on dim 1 (embedding columns): LLaMA 1, Llama 2
//   VocabParallelEmbedding tok_embeddings         split on dim 0 (vocabulary rows): Llama 3 — told
//                                                 apart by the shards' shape ([V/N, dim] has dim columns)
//   norms, rope.freqs                             replicated: taken from shard 0
//
// One shard: every tensor is used in place from the mapped archive. Several: concatenated into
// owned buffers (in the stored dtype). Meta's q/k rows are already in the adjacent-pair layout.
#pragma once

#include <algorithm>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../core/json.hpp"
#include "../model/weights.hpp"
#include "progress.hpp"
#include "pytorch.hpp"
#include "safetensors.hpp"

namespace llamaref {

// The params.json keys llamaref reads or that change nothing (max_batch_size, ...).
inline constexpr const char* kMetaParamsKeys[] = {"dim",
                                                  "n_layers",
                                                  "n_heads",
                                                  "n_kv_heads",
                                                  "vocab_size",
                                                  "multiple_of",
                                                  "ffn_dim_multiplier",
                                                  "norm_eps",
                                                  "rope_theta",
                                                  "use_scaled_rope",
                                                  "rope_scaling_factor",
                                                  "max_seq_len",
                                                  "max_batch_size",
                                                  "head_dim",
                                                  "hidden_dim",
                                                  "sliding_window"};

inline ModelConfig parse_meta_params(const nlohmann::json& j, const std::string& path) {
    const JsonFields f(j, path);
    for (const auto& item : j.items()) {
        bool known = false;
        for (const char* k : kMetaParamsKeys) known = known || item.key() == k;
        if (!known)
            fail(path, ": key \"", item.key().substr(0, 40),
                 "\" is not implemented by llamaref (it reads Llama and "
                 "Mistral 7B params.json: dim, n_layers, n_heads, n_kv_heads, head_dim, hidden_dim, multiple_of, "
                 "ffn_dim_multiplier, norm_eps, rope_theta, use_scaled_rope, sliding_window, vocab_size, max_seq_len)");
    }
    auto integer = [&](const char* key) { return int(f.integer(key)); };  // 1..INT_MAX; validate() bounds it
    ModelConfig c;
    c.dim = integer("dim");
    c.n_layers = integer("n_layers");
    c.n_heads = integer("n_heads");
    c.n_kv_heads = f.has("n_kv_heads") ? integer("n_kv_heads") : c.n_heads;
    if (f.has("head_dim")) {
        c.head_dim = integer("head_dim");
    } else {
        if (c.dim % c.n_heads != 0) fail(path, ": dim ", c.dim, " is not a multiple of n_heads ", c.n_heads);
        c.head_dim = c.dim / c.n_heads;
    }
    if (f.has("hidden_dim")) {
        c.hidden_dim = integer("hidden_dim");
    } else {
        const int multiple_of = int(f.integer_or("multiple_of", 256));
        std::optional<double> mult;
        if (f.has("ffn_dim_multiplier")) mult = f.number("ffn_dim_multiplier");
        in_context(path + ": ", [&] { c.hidden_dim = ffn_hidden_dim(c.dim, multiple_of, mult); });
    }
    if (f.has("sliding_window")) {
        c.sliding_window = integer("sliding_window");
        c.arch = "mistral";
    }
    // From params when positive, else (LLaMA 1/2 write -1) from the embeddings (load_meta).
    c.vocab_size = std::max(0, int(f.integer_or("vocab_size", 0, INT_MIN, INT_MAX)));
    c.norm_eps = f.number_or("norm_eps", 1e-5);
    c.rope_theta = f.number_or("rope_theta", 10000.0);
    if (f.boolean_or("use_scaled_rope", false))
        c.rope_scaling = {true, f.number_or("rope_scaling_factor", 8.0), 1.0, 4.0, 8192};
    if (f.has("max_seq_len"))
        c.max_seq_len = integer("max_seq_len");
    else
        c.max_seq_len = c.rope_scaling.enabled ? 131072 : c.rope_theta >= 500000 ? 8192 : 4096;
    // Everything but a vocabulary taken from the embeddings can be checked now, before any tensor.
    ModelConfig known = c;
    if (known.vocab_size == 0) known.vocab_size = 1;
    in_context(path + ": ", [&] { known.validate(); });
    return c;
}

namespace detail {
// How Meta's model parallelism split a tensor: 0 = rows, 1 = columns, -1 = replicated.
inline int meta_split_dim(const std::string& name) {
    for (const char* s : {"attention.wq.", "attention.wk.", "attention.wv.", "feed_forward.w1.", "feed_forward.w3."})
        if (name.find(s) != std::string::npos) return 0;
    if (name == "output.weight") return 0;
    for (const char* s : {"attention.wo.", "feed_forward.w2."})
        if (name.find(s) != std::string::npos) return 1;
    if (name == "tok_embeddings.weight") return 1;
    return -1;
}
}  // namespace detail

// The consolidated.NN.pth files of a Meta folder, in shard order.
inline std::vector<std::string> meta_shards(const std::string& dir) {
    namespace fs = std::filesystem;
    std::vector<std::string> shards;
    for (const auto& e : fs::directory_iterator(dir)) {  // consolidated.<digits>.pth
        const std::string f = e.path().filename().string();
        const std::string pre = "consolidated.", post = ".pth";
        if (f.size() <= pre.size() + post.size() || f.rfind(pre, 0) != 0 || f.substr(f.size() - post.size()) != post)
            continue;
        const std::string digits = f.substr(pre.size(), f.size() - pre.size() - post.size());
        if (std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
            shards.push_back(e.path().string());
    }
    std::sort(shards.begin(), shards.end());
    if (shards.empty()) fail(dir, ": no consolidated.NN.pth file beside params.json");
    for (std::size_t k = 0; k < shards.size(); ++k) {
        const std::string want = std::string("consolidated.") + (k < 10 ? "0" : "") + std::to_string(k) + ".pth";
        if (fs::path(shards[k]).filename() != want)
            fail(dir, ": shard ", want, " is missing (found ", fs::path(shards[k]).filename().string(), ")");
    }
    return shards;
}

inline std::shared_ptr<Model> load_meta(const std::string& dir) {
    namespace fs = std::filesystem;
    const std::string params_path = (fs::path(dir) / "params.json").string();
    auto m = std::make_shared<Model>();
    m->config = parse_meta_params(read_json_file(params_path), params_path);
    m->path = dir;
    ModelConfig& c = m->config;

    // Mistral's newer releases put the same names into one consolidated.safetensors instead.
    const fs::path st_path = fs::path(dir) / "consolidated.safetensors";
    std::shared_ptr<SafetensorsFile> st;
    std::vector<std::shared_ptr<TorchCheckpoint>> shards;
    std::size_t total = 0;
    if (fs::exists(st_path) && !fs::exists(fs::path(dir) / "consolidated.00.pth")) {
        st = std::make_shared<SafetensorsFile>(st_path.string());
        m->storage.push_back(st);
        for (const auto& [name, e] : st->entries()) total += e.end - e.begin;
        m->format = "meta (consolidated.safetensors)";
    } else {
        for (const auto& p : meta_shards(dir)) {
            shards.push_back(std::make_shared<TorchCheckpoint>(p));
            m->storage.push_back(shards.back());
            for (const auto& [name, v] : shards.back()->tensors()) total += v.nbytes();
        }
        m->format = "meta (" + std::to_string(shards.size()) + (shards.size() == 1 ? " shard)" : " shards)");
    }
    const std::size_t n = shards.size();
    auto has = [&](const std::string& name) { return st ? st->has(name) : shards[0]->has(name); };
    std::vector<std::string> names;  // every tensor of the (first) file
    if (st)
        for (const auto& [name, e] : st->entries()) names.push_back(name);
    else
        for (const auto& [name, v] : shards[0]->tensors()) names.push_back(name);
    const std::string first_file = st ? st->path() : shards[0]->path();
    LoadProgress progress("loading " + dir, total);

    // The tensor `name`: in place from one shard, or the shards concatenated on Meta's split dim.
    std::set<std::string> used{"rope.freqs"};  // rope.freqs (LLaMA 1/2): recomputed from θ
    auto tensor = [&](const std::string& name) -> TensorView {
        used.insert(name);
        if (st) {
            TensorView v = aligned_or_copied(st->get(name), m->storage);
            progress.add(v.nbytes());
            return v;
        }
        std::vector<TensorView> parts;
        for (const auto& s : shards) parts.push_back(s->get(name));
        int dim = n == 1 ? -1 : detail::meta_split_dim(name);
        if (dim == 1 && name == "tok_embeddings.weight" && parts[0].shape.size() == 2 &&
            parts[0].shape[1] == std::size_t(c.dim))
            dim = 0;  // VocabParallelEmbedding (Llama 3): each shard holds all dim columns of V/N rows
        TensorView v = parts[0];
        if (dim >= 0) {
            for (std::size_t k = 0; k < n; ++k) {
                const TensorView& p = parts[k];
                if (p.shape.size() != 2 || p.dtype != v.dtype || p.shape[1 - dim] != v.shape[1 - dim])
                    fail(shards[k]->path(), ": tensor ", name, " (", dtype_name(p.dtype), " ", shape_str(p.shape),
                         ") does not match shard 0 (", dtype_name(v.dtype), " ", shape_str(v.shape), ")");
            }
            Shape shape = v.shape;
            shape[dim] = 0;
            for (const auto& p : parts) shape[dim] += p.shape[dim];
            auto buf = make_buffer(dtype_bytes(v.dtype, shape_numel(shape)));
            std::byte* out = buf->data();
            if (dim == 0) {  // rows: shard after shard
                for (const auto& p : parts) out = std::copy_n(p.data, p.nbytes(), out);
            } else {  // columns: row r = shard 0's row r, shard 1's row r, ...
                for (std::size_t r = 0; r < shape[0]; ++r)
                    for (const auto& p : parts) out = std::copy_n(p.row(r), p.row_bytes(), out);
            }
            m->storage.push_back(buf);
            v = TensorView{v.dtype, shape, buf->data()};
        }
        v = aligned_or_copied(v, m->storage);  // torch's zip entries may start at any offset
        progress.add(v.nbytes());
        return v;
    };

    Weights& w = m->weights;
    w.tok_embeddings = tensor(std::string(kTokEmbeddingsName.meta) + ".weight");
    if (w.tok_embeddings.shape.size() != 2) fail(dir, ": tok_embeddings.weight is not 2-D");
    if (c.vocab_size == 0) c.vocab_size = int(w.tok_embeddings.shape[0]);
    in_context(params_path + ": ", [&] { c.validate(); });
    // The layer count comes from params.json: the last layer must exist before storage is sized.
    const std::string last =
        "layers." + std::to_string(c.n_layers - 1) + "." + layer_tensor_names(c.post_norms)[0].meta + ".weight";
    if (!has(last)) fail(dir, ": params.json says ", c.n_layers, " layers but there is no tensor ", last);
    w.layers.resize(c.n_layers);
    for (int l = 0; l < c.n_layers; ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        LayerWeights& L = w.layers[l];
        for (const LayerTensorName& name : layer_tensor_names(c.post_norms))  // Meta's rows need no permutation
            L.*name.field = tensor(p + name.meta + ".weight");
    }
    const std::string output = std::string(kOutputName.meta) + ".weight";
    w.norm = tensor(std::string(kNormName.meta) + ".weight");
    c.tied_embeddings = !has(output);
    w.output = c.tied_embeddings ? w.tok_embeddings : tensor(output);
    in_context(dir + ": ", [&] { validate_weights(c, w); });
    for (const auto& name : names)
        if (!used.count(name))
            fail(first_file, ": tensor ", name.substr(0, 100), " is not part of a ", c.arch,
                 " model as llamaref implements it (biases, experts or another architecture?)");
    return m;
}

}  // namespace llamaref
