// llamaref/model_parallel/transformer.hpp — one rank's forward pass in Meta's model-parallel layout.
//
// Meta's reference model.py with fairscale's layers (Shoeybi et al. 2019, Megatron-LM §3: the
// attention heads and the FFN's hidden units split across ranks, two all-reduces per block).
// Rank r of N, shapes per rank (H/N query heads, KV/N key/value heads, F/N hidden units; see
// partition.hpp for which ones):
//
//   x = tok_embeddings(tokens)                  ParallelEmbedding: [T, D/N] → all-gather → [T, D]
//                                               VocabParallelEmbedding: rows of this rank's tokens,
//                                               0 elsewhere, [T, D] → all-reduce → [T, D]
//   for each block:
//     xn = attention_norm(x)                    [T, D]        (every rank, the whole vector)
//     q, k, v = wq·xn, wk·xn, wv·xn             [T, H/N·Dh], [T, KV/N·Dh] ×2    ColumnParallelLinear
//     att = Attention(RoPE(q), RoPE(k), v)      [T, H/N·Dh]   this rank's heads, its own KV cache
//     h = x + all_reduce(wo·att)                [T, D]        RowParallelLinear: partial sums
//     hn = ffn_norm(h)                          [T, D]
//     x = h + all_reduce(w2·(SiLU(w1·hn) ⊙ w3·hn))   [T, F/N] inside, [T, D] summed  (Row-)
//   logits = all_gather(output·norm(x))         [T, V/N] → [T, V]                ColumnParallelLinear
//
// Per token and block, two all-reduces of D floats; per forward call one embedding collective and
// one all-gather of the logits. Every rank ends with the same logits [T, V].
//
// This is not a second model: as gpt-fast's tp.py does for its one model.py, it is a transform of
// the one forward pass (model/transformer.hpp). The rank runs that story on its slices of the
// weights (partition.hpp, rank_model.hpp), and MetaCollectives below fills in the story's hooks
// where Meta's layers communicate: the embedding's gather, the all-reduces after wo and w2 and
// the logits' gather. Only the sums of wo and w2 are split into N partial sums, so the logits
// agree with one process to float32 rounding. The family's switches and both backends ride
// along. The observer sees the whole tensors (after each collective) and this rank's slices (q,
// k, v, heads, the FFN's hidden units, attention probabilities): verify/trace.hpp records which
// slice (probe_slice).
#pragma once

#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "../model/transformer.hpp"
#include "communicator.hpp"
#include "rank_model.hpp"

namespace llamaref {

// Which part of the whole model's tensor an observed tensor of a rank is: the slice `range` of
// `whole` along `axis`, or (axis −1) the whole tensor.
struct ProbeSlice {
    int axis = -1;
    Range range;
    std::size_t whole = 0;
};

// The forward pass's collective hooks for rank r of N in Meta's layout, over a Communicator (MPI).
class MetaCollectives final : public Collectives {
  public:
    MetaCollectives(Communicator& comm, const Partition& part) : comm_(comm), part_(part) {}

    // ParallelEmbedding: [T, D/N] → all-gather → [T, D].  VocabParallelEmbedding: the rows of this
    // rank's tokens, 0 elsewhere, [T, D] → all-reduce → [T, D].
    void embed(std::span<const int> tokens, const TensorView& table, float* x) override {
        const std::size_t T = tokens.size(), D = std::size_t(part_.config().dim);
        if (part_.embedding() == EmbeddingSplit::vocab) {  // table: [V/N, D]
            const Range v = part_.vocab();
            std::fill_n(x, T * D, 0.0f);
            for (std::size_t t = 0; t < T; ++t) {
                const auto id = std::size_t(tokens[t]);
                if (id >= v.begin && id < v.end) table.row_to_f32(id - v.begin, x + t * D);
            }
            comm_.all_reduce_sum(x, T * D, "tok_embeddings");
        } else {  // table: [V, D/N], this rank's columns of every token's row
            const std::size_t d = part_.dim().size();
            local_.resize(T * d), gathered_.resize(T * D);
            for (std::size_t t = 0; t < T; ++t) table.row_to_f32(std::size_t(tokens[t]), &local_[t * d]);
            comm_.all_gather(local_.data(), local_.size(), gathered_.data(), "tok_embeddings");  // [N, T, D/N]
            interleave(gathered_.data(), T, d, x);
        }
    }

    // RowParallelLinear: every rank's partial sum of wo (w2) over its heads (units).   y: [T, D]
    void all_reduce(float* y, std::size_t n, const std::string& after) override {
        comm_.all_reduce_sum(y, n, after.c_str());
    }

    // ColumnParallelLinear of the output head: [rows, V/N] → all-gather → [rows, V].
    void gather_logits(const float* local, std::size_t rows, float* logits) override {
        const std::size_t v = part_.vocab().size();
        gathered_.resize(std::size_t(part_.ranks()) * rows * v);
        comm_.all_gather(local, rows * v, gathered_.data(), "output");  // [N, rows, V/N]
        interleave(gathered_.data(), rows, v, logits);
    }

  private:
    // out [rows, N·n] ← blocks [N, rows, n]: rank r's block becomes columns r·n .. (r+1)·n.
    void interleave(const float* blocks, std::size_t rows, std::size_t n, float* out) const {
        const std::size_t N = std::size_t(part_.ranks());
        for (std::size_t r = 0; r < N; ++r)
            for (std::size_t t = 0; t < rows; ++t) std::copy_n(blocks + (r * rows + t) * n, n, out + (t * N + r) * n);
    }

    Communicator& comm_;
    Partition part_;
    std::vector<float> local_, gathered_;  // an all-gather's input and output, kept between calls
};

// One rank's Transformer: the one forward pass on this rank's slices, with Meta's collectives.
class ModelParallelTransformer : public Transformer {
  public:
    // comm.size() must be the model's number of ranks and comm.rank() its rank.
    ModelParallelTransformer(std::shared_ptr<const RankModel> model, Communicator& comm, int context_len = 0)
        : Transformer(rank_weights(model, comm), context_len,
                      std::make_unique<MetaCollectives>(comm, model->partition()), model->partition().local_heads(),
                      int(model->partition().ffn_units().size())),
          comm_(comm),
          part_(model->partition()) {}

    const Partition& partition() const { return part_; }
    Communicator& communicator() { return comm_; }

    // What the observer's tensor `name` is of the whole model's: this rank's heads of q, k, v and
    // of the attention output and probabilities, its FFN units; everything else is whole (after its
    // collective).
    ProbeSlice probe_slice(const std::string& name) const {
        const ModelConfig& c = part_.config();
        const std::size_t Dh = std::size_t(c.head_dim);
        auto heads = [&](Range h, int n) { return ProbeSlice{1, {h.begin * Dh, h.end * Dh}, std::size_t(n) * Dh}; };
        auto ends = [&](const char* s) { return name.ends_with(s); };
        if (ends(".attention.wq") || ends(".attention.q_rope") || ends(".attention.heads"))
            return heads(part_.q_heads(), c.n_heads);
        if (ends(".attention.wk") || ends(".attention.wv") || ends(".attention.k_rope"))
            return heads(part_.kv_heads(), c.n_kv_heads);
        if (ends(".attention.probs")) return {1, part_.q_heads(), std::size_t(c.n_heads)};  // [T, H, S]
        if (ends(".feed_forward.w1") || ends(".feed_forward.w3") || ends(".feed_forward.hidden"))
            return {1, part_.ffn_units(), std::size_t(c.hidden_dim)};
        return {};
    }

  private:
    // The rank's slices as a Model (config: the whole model's), once the communicator is checked.
    static std::shared_ptr<const Model> rank_weights(const std::shared_ptr<const RankModel>& m, Communicator& comm) {
        if (comm.size() != m->ranks || comm.rank() != m->rank)
            fail("model parallel: the weights are rank ", m->rank, " of ", m->ranks, " but this process is rank ",
                 comm.rank(), " of ", comm.size());
        auto model = std::make_shared<Model>();
        model->config = m->config;
        model->weights = m->weights;
        model->format = m->format;
        model->storage.push_back(m);
        return model;
    }

    Communicator& comm_;
    Partition part_;
};

}  // namespace llamaref
