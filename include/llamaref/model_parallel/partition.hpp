// llamaref/model_parallel/partition.hpp — which slice of every weight a rank holds in Meta's model parallelism.
//
// Meta's reference (llama / llama3 model.py) builds each layer from fairscale's model-parallel
// layers (fairscale/nn/model_parallel/layers.py; Shoeybi et al. 2019, Megatron-LM §3). With N
// ranks, rank r holds:
//
//   ColumnParallelLinear  wq wk wv w1 w3 output   rows (outputs)  r·out/N .. (r+1)·out/N
//   RowParallelLinear     wo w2                   columns (inputs) r·in/N .. (r+1)·in/N
//   ParallelEmbedding     tok_embeddings          Llama 1/2: columns (model dimension) r·D/N ..
//   VocabParallelEmbedding tok_embeddings         Llama 3:   rows (vocabulary)         r·V/N ..
//   norms                                         whole, on every rank
//
// so rank r computes the query heads r·H/N .. (r+1)·H/N with the key/value heads r·KV/N ..
// (r+1)·KV/N (Meta's n_local_heads, n_local_kv_heads) and the FFN's hidden units r·F/N ..; the
// consolidated.NN.pth files of a Meta release are exactly these slices, NN = r. Everything must
// divide: N must divide H, KV, F, V (and D for a column-split embedding). Fewer KV heads than ranks
// is refused as Meta's code does (its n_local_kv_heads = KV / N would be 0): copying a KV head to
// several ranks (vLLM's way) is a different layout that no Meta checkpoint has.
//
// RankModel (at the end) is one rank's part of a model: rank_model.hpp loads it, the CPU rank
// (transformer.hpp) and the GPU rank (cuda/llamaref/cuda/rank_runner.hpp) run it.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../model/config.hpp"
#include "../model/weights.hpp"

namespace llamaref {

// How tok_embeddings is split (the two fairscale embeddings Meta's releases use).
enum class EmbeddingSplit {
    model_dim,  // ParallelEmbedding (LLaMA 1, Llama 2): [V, D/N] per rank, then all-gather
    vocab,      // VocabParallelEmbedding (Llama 3, 3.1, 3.2): [V/N, D] per rank, then all-reduce
};

inline const char* embedding_split_name(EmbeddingSplit s) {
    return s == EmbeddingSplit::vocab ? "vocabulary (VocabParallelEmbedding)" : "model dimension (ParallelEmbedding)";
}

// The embedding Meta's code of this generation uses: Llama 3's (θ = 500000 and its 128K vocabulary)
// splits the vocabulary, LLaMA 1/2's the model dimension. A Meta folder's shards say it themselves
// (model_parallel/rank_model.hpp reads the shape).
inline EmbeddingSplit meta_embedding_split(const ModelConfig& c) {
    return c.rope_theta >= 500000.0 ? EmbeddingSplit::vocab : EmbeddingSplit::model_dim;
}

// A half-open range [begin, end) of rows, columns, heads or units.
struct Range {
    std::size_t begin = 0, end = 0;
    std::size_t size() const { return end - begin; }
};

// How a weight is split: along its rows (axis 0), its columns (axis 1), or not at all (-1).
struct TensorSplit {
    int axis = -1;
    Range range;  // the rank's rows or columns (the whole tensor when axis is -1)
};

class Partition {
  public:
    // Checks that `ranks` can split this model as Meta does; rank in [0, ranks).
    Partition(const ModelConfig& c, int rank, int ranks, EmbeddingSplit embedding)
        : cfg_(c), rank_(rank), ranks_(ranks), embedding_(embedding) {
        if (ranks < 1) fail("model parallel: the number of ranks must be at least 1, got ", ranks);
        if (rank < 0 || rank >= ranks) fail("model parallel: rank ", rank, " is outside 0 .. ", ranks - 1);
        auto divides = [&](int n, const char* what) {
            if (n % ranks != 0)
                fail("model parallel: ", ranks, " ranks cannot split ", what, " = ", n,
                     " evenly (Meta's layers divide every split dimension by the number of ranks)");
        };
        if (c.n_kv_heads < ranks)
            fail("model parallel: ", ranks, " ranks but only ", c.n_kv_heads,
                 " key/value heads: Meta's attention gives each rank n_kv_heads / ranks of them, which would be 0"
                 " (copying KV heads across ranks, vLLM's way, is a layout no Meta checkpoint has); use at most ",
                 c.n_kv_heads, " ranks");
        divides(c.n_heads, "n_heads");
        divides(c.n_kv_heads, "n_kv_heads");
        divides(c.hidden_dim, "the FFN hidden size");
        divides(c.vocab_size, "vocab_size");
        if (embedding == EmbeddingSplit::model_dim) divides(c.dim, "dim (the embedding's columns)");
    }

    int rank() const { return rank_; }
    int ranks() const { return ranks_; }
    EmbeddingSplit embedding() const { return embedding_; }
    const ModelConfig& config() const { return cfg_; }

    // This rank's share of n things split N ways.
    Range share(std::size_t n) const { return {n / ranks_ * rank_, n / ranks_ * (rank_ + 1)}; }
    Range q_heads() const { return share(std::size_t(cfg_.n_heads)); }       // of H
    Range kv_heads() const { return share(std::size_t(cfg_.n_kv_heads)); }   // of KV
    Range ffn_units() const { return share(std::size_t(cfg_.hidden_dim)); }  // of F
    Range vocab() const { return share(std::size_t(cfg_.vocab_size)); }      // of V (output rows)
    Range dim() const { return share(std::size_t(cfg_.dim)); }               // of D (embedding columns)

    // The head geometry one rank's attention runs with: H/N query heads, KV/N key/value heads.
    Heads local_heads() const { return {cfg_.n_heads / ranks_, cfg_.n_kv_heads / ranks_, cfg_.head_dim}; }

    // The slice of a block weight (Meta's name without "layers.N.", e.g. "attention.wq").
    TensorSplit layer_split(const std::string& meta_name) const {
        const std::size_t Dh = std::size_t(cfg_.head_dim);
        auto heads = [&](Range h) { return Range{h.begin * Dh, h.end * Dh}; };
        if (meta_name == "attention.wq") return {0, heads(q_heads())};
        if (meta_name == "attention.wk" || meta_name == "attention.wv") return {0, heads(kv_heads())};
        if (meta_name == "attention.wo") return {1, heads(q_heads())};
        if (meta_name == "feed_forward.w1" || meta_name == "feed_forward.w3") return {0, ffn_units()};
        if (meta_name == "feed_forward.w2") return {1, ffn_units()};
        return {-1, {}};  // norms: whole
    }
    TensorSplit embedding_split() const {
        return embedding_ == EmbeddingSplit::vocab ? TensorSplit{0, vocab()} : TensorSplit{1, dim()};
    }
    TensorSplit output_split() const { return {0, vocab()}; }

  private:
    ModelConfig cfg_;
    int rank_, ranks_;
    EmbeddingSplit embedding_;
};

// The shape of a rank's slice of a whole tensor of shape `whole`.
inline Shape split_shape(Shape whole, const TensorSplit& s) {
    if (s.axis >= 0) whole[std::size_t(s.axis)] = s.range.size();
    return whole;
}

// The whole shape of a block weight (Meta's name without "layers.N.").
inline Shape whole_layer_shape(const ModelConfig& c, const std::string& meta_name) {
    const std::size_t D = c.dim, F = c.hidden_dim, Q = c.q_dim(), K = c.kv_dim();
    if (meta_name == "attention.wq") return {Q, D};
    if (meta_name == "attention.wk" || meta_name == "attention.wv") return {K, D};
    if (meta_name == "attention.wo") return {D, Q};
    if (meta_name == "feed_forward.w1" || meta_name == "feed_forward.w3") return {F, D};
    if (meta_name == "feed_forward.w2") return {D, F};
    return {D};  // norms
}

// What one rank holds and sends, for `info --ranks N` and docs/parallel.md.
struct RankFootprint {
    std::size_t weight_bytes = 0;           // this rank's slices (norms whole), every tensor stored as `dtype`
    std::size_t kv_bytes_per_position = 0;  // keys and values of its KV heads, all layers, at `kv_dtype`
    std::size_t allreduce_floats = 0;       // per token: 2 all-reduces of D floats per block (wo, w2)
    std::size_t embedding_floats = 0;       // per token: the embedding's all-gather (D/N sent) or all-reduce (D)
    std::size_t logits_floats = 0;          // per token: the logits' all-gather (V/N sent)
};

inline RankFootprint rank_footprint(const Partition& p, DType dtype, DType kv_dtype) {
    const ModelConfig& c = p.config();
    RankFootprint f;
    auto bytes = [&](const Shape& whole, const TensorSplit& s) {
        return dtype_bytes(dtype, shape_numel(split_shape(whole, s)));
    };
    const Shape table = {std::size_t(c.vocab_size), std::size_t(c.dim)};
    f.weight_bytes = bytes(table, p.embedding_split()) + bytes({std::size_t(c.dim)}, {});
    // A tied output head is the embedding's own rows when the vocabulary is split, else a slice of its own.
    if (!c.tied_embeddings || p.embedding() != EmbeddingSplit::vocab) f.weight_bytes += bytes(table, p.output_split());
    for (const LayerTensorName& n : layer_tensor_names(c.post_norms))
        f.weight_bytes += std::size_t(c.n_layers) * bytes(whole_layer_shape(c, n.meta), p.layer_split(n.meta));
    f.kv_bytes_per_position =
        2 * std::size_t(c.n_layers) * dtype_bytes(kv_dtype, p.kv_heads().size() * std::size_t(c.head_dim));
    f.allreduce_floats = 2 * std::size_t(c.n_layers) * std::size_t(c.dim);
    f.embedding_floats = p.embedding() == EmbeddingSplit::vocab ? std::size_t(c.dim) : p.dim().size();
    f.logits_floats = p.vocab().size();
    return f;
}

// One rank's part of a model: the whole model's configuration and this rank's slices of the weights.
struct RankModel {
    ModelConfig config;  // the whole model's (n_heads = H, not H/N)
    int rank = 0, ranks = 1;
    EmbeddingSplit embedding = EmbeddingSplit::model_dim;
    Weights weights;                                   // this rank's slices: shapes as validate_rank_weights checks
    std::string format;                                // e.g. "meta shard 1 of 2", "gguf, sliced"
    std::vector<std::shared_ptr<const void>> storage;  // mapped files and copied slices the views use

    Partition partition() const { return Partition(config, rank, ranks, embedding); }
};

// Throws unless every slice has the shape the partition gives it.
inline void validate_rank_weights(const Partition& p, const Weights& w) {
    const ModelConfig& c = p.config();
    const std::size_t D = c.dim, V = c.vocab_size;
    auto expect = [](const TensorView& t, const std::string& name, const Shape& want) {
        if (t.empty()) fail("weights: tensor ", name, " is missing");
        if (t.shape != want)
            fail("weights: tensor ", name, " has shape ", shape_str(t.shape), " but rank's slice should be ",
                 shape_str(want));
    };
    expect(w.tok_embeddings, "tok_embeddings", split_shape({V, D}, p.embedding_split()));
    expect(w.norm, "norm", {D});
    expect(w.output, "output", split_shape({V, D}, p.output_split()));
    if (w.layers.size() != std::size_t(c.n_layers))
        fail("weights: ", w.layers.size(), " layers but the config says ", c.n_layers);
    for (std::size_t l = 0; l < w.layers.size(); ++l) {
        const LayerWeights& L = w.layers[l];
        const std::string pre = "layers." + std::to_string(l) + ".";
        for (const LayerTensorName& n : layer_tensor_names(c.post_norms))
            expect(L.*n.field, pre + n.meta, split_shape(whole_layer_shape(c, n.meta), p.layer_split(n.meta)));
    }
}

}  // namespace llamaref
