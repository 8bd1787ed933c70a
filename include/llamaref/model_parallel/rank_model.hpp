// llamaref/model_parallel/rank_model.hpp — one rank's weights: its own Meta shard, or its slice of a checkpoint.
//
// A Meta folder of N consolidated.NN.pth files is read by N ranks, rank r opening only
// consolidated.r.pth: its tensors are already the rank's slices (partition.hpp) and are used in
// place from the mapped file. As in Meta's Llama.build, the number of shards must equal the
// number of ranks; anything else is an Error before any rank communicates.
//
// Any other checkpoint (Hugging Face, GGUF, llama2.c, or a one-shard Meta folder read by one rank)
// is mapped whole and sliced: a rank's rows (wq, wk, wv, w1, w3, output; a vocabulary-split
// embedding) are views into the mapped file, its columns (wo, w2; a dimension-split embedding) are
// copied, whole quantization blocks at a time. Only what the rank reads is paged in.
#pragma once

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../formats/load.hpp"
#include "../formats/meta.hpp"
#include "partition.hpp"  // RankModel

namespace llamaref {

// The rank's slice of t: rows are a view into t's memory; columns are copied into a buffer that
// `storage` keeps (a quantized row is cut at whole blocks only).
inline TensorView slice_tensor(const TensorView& t, const TensorSplit& s,
                               std::vector<std::shared_ptr<const void>>& storage) {
    if (s.axis < 0) return t;
    if (t.shape.size() != 2) fail("model parallel: cannot split a ", t.shape.size(), "-D tensor");
    if (s.axis == 0) return TensorView{t.dtype, {s.range.size(), t.cols()}, t.row(s.range.begin)};
    const std::size_t block = dtype_block(t.dtype).values;
    if (s.range.begin % block != 0 || s.range.size() % block != 0)
        fail("model parallel: the rank's columns ", s.range.begin, " .. ", s.range.end, " do not fall on ",
             dtype_name(t.dtype), " block boundaries (", block, " values): use fewer ranks or another file type");
    const std::size_t offset = dtype_bytes(t.dtype, s.range.begin), bytes = dtype_bytes(t.dtype, s.range.size());
    auto buf = make_buffer(bytes * t.rows());
    for (std::size_t r = 0; r < t.rows(); ++r) std::copy_n(t.row(r) + offset, bytes, buf->data() + r * bytes);
    storage.push_back(buf);
    return TensorView{t.dtype, {t.rows(), s.range.size()}, buf->data()};
}

// Rank `rank` of `ranks`: its slices of a whole loaded model (which stays mapped: storage keeps it).
inline RankModel slice_model(std::shared_ptr<const Model> whole, int rank, int ranks, EmbeddingSplit embedding) {
    RankModel m;
    m.config = whole->config;
    m.rank = rank;
    m.ranks = ranks;
    m.embedding = embedding;
    m.format = whole->format + ", sliced for rank " + std::to_string(rank) + " of " + std::to_string(ranks);
    const Partition p = m.partition();  // checks that the model splits
    m.storage.push_back(whole);
    const Weights& w = whole->weights;
    m.weights.tok_embeddings = slice_tensor(w.tok_embeddings, p.embedding_split(), m.storage);
    m.weights.norm = w.norm;
    m.weights.output = slice_tensor(w.output, p.output_split(), m.storage);
    for (const LayerWeights& L : w.layers) {
        LayerWeights& R = m.weights.layers.emplace_back();
        for (const LayerTensorName& n : layer_tensor_names(m.config.post_norms))
            R.*n.field = slice_tensor(L.*n.field, p.layer_split(n.meta), m.storage);
    }
    validate_rank_weights(p, m.weights);
    return m;
}

// Rank `rank` of a Meta folder with one consolidated.NN.pth per rank: only consolidated.<rank>.pth
// is opened. Which embedding split the release used is read from the shard's shape.
inline RankModel load_meta_rank(const std::string& dir, int rank, int ranks) {
    namespace fs = std::filesystem;
    const std::vector<std::string> shards = meta_shards(dir);
    if (int(shards.size()) != ranks)
        fail(dir, ": ", shards.size(), shards.size() == 1 ? " shard" : " shards", " (consolidated.00 .. ",
             shards.size() - 1, ") but ", ranks, " ranks: each rank reads one shard, as in Meta's Llama.build; run ",
             shards.size(), " ranks");
    if (rank < 0 || rank >= ranks) fail("model parallel: rank ", rank, " is outside 0 .. ", ranks - 1);
    const std::string params_path = (fs::path(dir) / "params.json").string();
    RankModel m;
    m.config = parse_meta_params(read_json_file(params_path), params_path);
    m.rank = rank;
    m.ranks = ranks;
    m.format = "meta shard " + std::to_string(rank) + " of " + std::to_string(ranks);
    ModelConfig& c = m.config;
    const std::string& file = shards[std::size_t(rank)];
    auto ckpt = std::make_shared<TorchCheckpoint>(file);
    m.storage.push_back(ckpt);
    std::set<std::string> used{"rope.freqs"};
    auto tensor = [&](const std::string& name) {
        used.insert(name);
        if (!ckpt->has(name)) fail(file, ": no tensor ", name);
        return aligned_or_copied(ckpt->get(name), m.storage);
    };

    // tok_embeddings: [V, D/N] (ParallelEmbedding) or [V/N, D] (VocabParallelEmbedding).
    m.weights.tok_embeddings = tensor("tok_embeddings.weight");
    const Shape& e = m.weights.tok_embeddings.shape;
    if (e.size() != 2) fail(file, ": tok_embeddings.weight is not 2-D");
    const std::size_t D = std::size_t(c.dim), N = std::size_t(ranks);
    if (N > 1 && e[1] == D) {
        m.embedding = EmbeddingSplit::vocab;
    } else if (e[1] * N == D) {
        m.embedding = N == 1 ? meta_embedding_split(c) : EmbeddingSplit::model_dim;
    } else {
        fail(file, ": tok_embeddings.weight is ", shape_str(e), ": neither [V, dim/", N, "] nor [V/", N, ", dim] (dim ",
             D, ")");
    }
    const std::size_t V = m.embedding == EmbeddingSplit::vocab ? e[0] * N : e[0];
    if (c.vocab_size <= 0) c.vocab_size = int(V);  // -1 in LLaMA 1/2 params.json
    if (std::size_t(c.vocab_size) != V)
        fail(file, ": tok_embeddings.weight ", shape_str(e), " holds ", V, " tokens but params.json says ",
             c.vocab_size);
    in_context(params_path + ": ", [&] { c.validate(); });
    const Partition p = m.partition();
    const std::string last = "layers." + std::to_string(c.n_layers - 1) + ".attention_norm.weight";
    if (!ckpt->has(last)) fail(file, ": params.json says ", c.n_layers, " layers but there is no tensor ", last);
    m.weights.layers.resize(std::size_t(c.n_layers));
    for (int l = 0; l < c.n_layers; ++l)
        for (const LayerTensorName& n : layer_tensor_names(c.post_norms))
            m.weights.layers[std::size_t(l)].*n.field =
                tensor("layers." + std::to_string(l) + "." + n.meta + ".weight");
    m.weights.norm = tensor("norm.weight");
    c.tied_embeddings = !ckpt->has("output.weight");
    if (c.tied_embeddings) {  // the output rows are the embedding's rows only when it splits the vocabulary
        if (m.embedding != EmbeddingSplit::vocab && ranks > 1)
            fail(file,
                 ": no output.weight (tied) but the embedding is split by columns: the output head cannot be "
                 "sliced from it");
        m.weights.output = m.weights.tok_embeddings;
    } else {
        m.weights.output = tensor("output.weight");
    }
    in_context(file + ": ", [&] { validate_rank_weights(p, m.weights); });
    for (const auto& [name, v] : ckpt->tensors())
        if (!used.count(name))
            fail(file, ": tensor ", name.substr(0, 100), " is not part of a ", c.arch,
                 " model as llamaref implements it");
    return m;
}

// Rank `rank` of `ranks` for any MODEL path: a Meta folder's own shard when it has several (or one
// per rank), otherwise the rank's slice of the whole mapped checkpoint.
inline RankModel load_rank_model(const std::string& path, int rank, int ranks) {
    const std::string f = detect_format(path);
    return guarded_read(path, [&] {
        if (f == "meta" && !std::filesystem::exists(std::filesystem::path(path) / "consolidated.safetensors") &&
            (ranks > 1 || meta_shards(path).size() > 1))
            return load_meta_rank(path, rank, ranks);
        std::shared_ptr<const Model> whole = load_model(path);
        return slice_model(whole, rank, ranks, meta_embedding_split(whole->config));
    });
}

}  // namespace llamaref
