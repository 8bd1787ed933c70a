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
// The arithmetic is the single-process model's (model/transformer.hpp, the same functions on the
// rank's slices); only the sums of wo and w2 are split into N partial sums, so the logits agree
// with it to float32 rounding. The family's switches ride along (Mistral's window; Gemma's √D
// embedding scale, (1 + w) norms, GeGLU, post-norms and soft-caps). The observer sees the whole
// tensors (after each collective) and this rank's slices (q, k, v, heads, the FFN's hidden units,
// attention probabilities): verify/trace.hpp records which slice.
#pragma once

#include <cmath>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "../core/ops.hpp"
#include "../core/tensor.hpp"
#include "../cpu/attention.hpp"
#include "../cpu/feed_forward.hpp"
#include "../cpu/matmul.hpp"
#include "../model/attention.hpp"
#include "../model/feed_forward.hpp"
#include "../model/kv_cache.hpp"
#include "../model/rmsnorm.hpp"
#include "../model/rope.hpp"
#include "../model/softcap.hpp"
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

class ModelParallelTransformer {
  public:
    // comm.size() must be the model's number of ranks and comm.rank() its rank.
    ModelParallelTransformer(std::shared_ptr<const RankModel> model, Communicator& comm, int context_len = 0)
        : model_(std::move(model)),
          comm_(comm),
          cfg_(model_->config),
          part_(model_->partition()),
          heads_(part_.local_heads()) {
        if (comm.size() != model_->ranks || comm.rank() != model_->rank)
            fail("model parallel: the weights are rank ", model_->rank, " of ", model_->ranks,
                 " but this process is rank ", comm.rank(), " of ", comm.size());
        if (context_len < 0) fail("context length must not be negative, got ", context_len);
        if (context_len > 0) cfg_.max_seq_len = context_len;
        std::vector<int> windows(std::size_t(cfg_.n_layers));
        for (int l = 0; l < cfg_.n_layers; ++l) windows[std::size_t(l)] = cfg_.window(l);
        cache_ = KVCache(cfg_.n_layers, cfg_.max_seq_len, heads_.n_kv_heads, heads_.head_dim, windows);
        theta_ = rope_frequencies(cfg_.head_dim, cfg_.rope_theta, cfg_.rope_scaling);
        auto norm = [&](const TensorView& w) { return norm_weights_f32(w, cfg_); };
        for (const LayerWeights& L : model_->weights.layers) {
            norms_.push_back(
                {norm(L.attention_norm), norm(L.ffn_norm), norm(L.post_attention_norm), norm(L.post_ffn_norm)});
        }
        final_norm_ = norm(model_->weights.norm);
    }

    const ModelConfig& config() const { return cfg_; }
    const Partition& partition() const { return part_; }
    Communicator& communicator() { return comm_; }
    void set_backend(Backend b) { backend_ = b; }
    void set_observer(Observer fn, bool with_attention_probs = false) {
        observer_ = std::move(fn);
        observe_probs_ = with_attention_probs;
    }

    // What the observer's tensor `name` is of the whole model's: this rank's heads of q, k, v and
    // of the attention output and probabilities, its FFN units; everything else is whole (after its
    // collective).
    ProbeSlice probe_slice(const std::string& name) const {
        const std::size_t Dh = std::size_t(cfg_.head_dim);
        auto heads = [&](Range h, int n) { return ProbeSlice{1, {h.begin * Dh, h.end * Dh}, std::size_t(n) * Dh}; };
        auto ends = [&](const char* s) { return name.ends_with(s); };
        if (ends(".attention.wq") || ends(".attention.q_rope") || ends(".attention.heads"))
            return heads(part_.q_heads(), cfg_.n_heads);
        if (ends(".attention.wk") || ends(".attention.wv") || ends(".attention.k_rope"))
            return heads(part_.kv_heads(), cfg_.n_kv_heads);
        if (ends(".attention.probs")) return {1, part_.q_heads(), std::size_t(cfg_.n_heads)};  // [T, H, S]
        if (ends(".feed_forward.w1") || ends(".feed_forward.w3") || ends(".feed_forward.hidden"))
            return {1, part_.ffn_units(), std::size_t(cfg_.hidden_dim)};
        return {};
    }

    // Logits of the tokens at positions start_pos .. start_pos+T−1, on every rank.   -> [T, V]
    // (LogitRows::last: only the last position's, [1, V], as generation needs.)
    Tensor2 forward(std::span<const int> tokens, int start_pos, LogitRows rows = LogitRows::all) {
        check_input(tokens, start_pos);
        const std::size_t T = tokens.size(), D = std::size_t(cfg_.dim), V = std::size_t(cfg_.vocab_size);
        rope_.compute(theta_, std::size_t(start_pos), T);
        cache_.reserve(start_pos + int(T));
        x_.assign(T * D, 0.0f);
        embed(tokens);
        emit("tok_embeddings", -1, x_.data(), {T, D});
        sub_.resize(T * D);
        for (int l = 0; l < cfg_.n_layers; ++l) {
            const std::string p = observer_ ? "layers." + std::to_string(l) : std::string();
            attention_sublayer(l, p, start_pos, int(T), sub_.data());  // sub = all_reduce(wo · attention(norm(x)))
            for (std::size_t i = 0; i < T * D; ++i) x_[i] += sub_[i];
            emit(p + ".h", l, x_.data(), {T, D});
            feed_forward_sublayer(l, p, T, sub_.data());  // sub = all_reduce(w2 · (act(w1·hn) ⊙ w3·hn))
            for (std::size_t i = 0; i < T * D; ++i) x_[i] += sub_[i];
            emit(p, l, x_.data(), {T, D});
        }
        // Final norm (of every row, or the last), this rank's vocabulary rows, every rank's gathered.
        const std::size_t first = rows == LogitRows::all ? 0 : T - 1, n = T - first;
        const Range vocab = part_.vocab();
        std::vector<float>&xn = b_.xn, &local = b_.local, &gathered = b_.gathered;  // kept between calls
        xn.resize(n * D), local.resize(n * vocab.size()), gathered.resize(n * V);
        rmsnorm_rows(&x_[first * D], final_norm_.data(), xn.data(), n, D, cfg_.norm_eps);
        emit("norm", -1, xn.data(), {n, D});
        linear(model_->weights.output, xn.data(), local.data(), n);               // [n, V/N]
        comm_.all_gather(local.data(), local.size(), gathered.data(), "output");  // [N, n, V/N]
        Tensor2 logits = Tensor2::from_shape({n, V});
        for (std::size_t r = 0; r < std::size_t(part_.ranks()); ++r)  // → [n, V]: rank r's block of columns
            for (std::size_t t = 0; t < n; ++t)
                std::copy_n(&gathered[(r * n + t) * vocab.size()], vocab.size(), &logits(t, r * vocab.size()));
        softcap(logits.data(), n * V, cfg_.final_softcap);  // Gemma 2
        emit("output", -1, logits.data(), {n, V});
        written_ = start_pos + int(T);
        return logits;
    }

  private:
    // x [T, D] ← the embeddings of `tokens`, assembled from every rank's slice.
    void embed(std::span<const int> tokens) {
        const std::size_t T = tokens.size(), D = std::size_t(cfg_.dim);
        const TensorView& E = model_->weights.tok_embeddings;
        if (part_.embedding() == EmbeddingSplit::vocab) {  // [V/N, D]: rows of this rank's tokens, 0 elsewhere
            const Range v = part_.vocab();
            for (std::size_t t = 0; t < T; ++t) {
                const auto id = std::size_t(tokens[t]);
                if (id >= v.begin && id < v.end) E.row_to_f32(id - v.begin, &x_[t * D]);
            }
            comm_.all_reduce_sum(x_.data(), T * D, "tok_embeddings");
        } else {  // [V, D/N]: this rank's columns of every token's row
            const std::size_t d = part_.dim().size();
            std::vector<float>&local = b_.local, &gathered = b_.gathered;  // kept between calls
            local.resize(T * d), gathered.resize(T * D);
            for (std::size_t t = 0; t < T; ++t) E.row_to_f32(std::size_t(tokens[t]), &local[t * d]);
            comm_.all_gather(local.data(), local.size(), gathered.data(), "tok_embeddings");  // [N, T, D/N]
            for (std::size_t r = 0; r < std::size_t(part_.ranks()); ++r)
                for (std::size_t t = 0; t < T; ++t) std::copy_n(&gathered[(r * T + t) * d], d, &x_[t * D + r * d]);
        }
        if (cfg_.embed_scale) {  // Gemma: × √D (rounded to float32 first, as gemma_pytorch)
            const float normalizer = float(std::sqrt(double(D)));
            for (float& e : x_) e *= normalizer;
        }
    }

    // out [T, D] = all_reduce(wo_r · Attention(RoPE(wq_r·xn), RoPE(wk_r·xn), wv_r·xn)), xn = attention_norm(x).
    void attention_sublayer(int l, const std::string& p, int start_pos, int T, float* out) {
        const std::size_t D = std::size_t(cfg_.dim), Dh = std::size_t(heads_.head_dim);
        const std::size_t Q = std::size_t(heads_.n_heads) * Dh, K = std::size_t(heads_.n_kv_heads) * Dh;
        const std::size_t n = std::size_t(T);
        const LayerWeights& Lw = model_->weights.layers[std::size_t(l)];
        std::vector<float>&xn = b_.xn, &q = b_.q, &k = b_.k, &v = b_.v, &att = b_.att;  // kept between calls
        xn.resize(n * D), q.resize(n * Q), k.resize(n * K), v.resize(n * K), att.resize(n * Q);
        rmsnorm_rows(x_.data(), norms_[std::size_t(l)].attention.data(), xn.data(), n, D, cfg_.norm_eps);
        emit(p + ".attention_norm", l, xn.data(), {n, D});
        linear(Lw.wq, xn.data(), q.data(), n);  // q: [T, H/N, Dh]
        linear(Lw.wk, xn.data(), k.data(), n);  // k: [T, KV/N, Dh]
        linear(Lw.wv, xn.data(), v.data(), n);  // v: [T, KV/N, Dh]
        emit(p + ".attention.wq", l, q.data(), {n, Q});
        emit(p + ".attention.wk", l, k.data(), {n, K});
        emit(p + ".attention.wv", l, v.data(), {n, K});
        for (std::size_t t = 0; t < n; ++t) {
            rope_pairs(&q[t * Q], heads_.n_heads, heads_.head_dim, rope_, t);
            rope_pairs(&k[t * K], heads_.n_kv_heads, heads_.head_dim, rope_, t);
        }
        emit(p + ".attention.q_rope", l, q.data(), {n, Q});
        emit(p + ".attention.k_rope", l, k.data(), {n, K});
        const KVSpan kv{cache_, l, start_pos, k.data(), v.data()};
        const AttentionOptions opt{cfg_.window(l), cfg_.attention_scale(), cfg_.attn_softcap};
        std::vector<float> probs(observe_probs_ ? n * std::size_t(heads_.n_heads) * std::size_t(start_pos + T) : 0);
        if (backend_ == Backend::fast && !observe_probs_)
            cpu::attention(q.data(), kv, start_pos, T, heads_, opt, att.data());
        else
            attention(q.data(), kv, start_pos, T, heads_, opt, att.data(), observe_probs_ ? probs.data() : nullptr);
        for (int t = 0; t < T; ++t) cache_.store(l, start_pos + t, &k[std::size_t(t) * K], &v[std::size_t(t) * K]);
        if (observe_probs_)
            emit(p + ".attention.probs", l, probs.data(), {n, std::size_t(heads_.n_heads), std::size_t(start_pos + T)});
        emit(p + ".attention.heads", l, att.data(), {n, Q});
        linear(Lw.wo, att.data(), out, n);                                // [T, D]: this rank's heads' share
        comm_.all_reduce_sum(out, n * D, (p + ".attention.wo").c_str());  // the sum over every rank's heads
        emit(p + ".attention.wo", l, out, {n, D});
        if (cfg_.post_norms) {  // Gemma 2
            rmsnorm_rows(out, norms_[std::size_t(l)].post_attention.data(), out, n, D, cfg_.norm_eps);
            emit(p + ".post_attention_norm", l, out, {n, D});
        }
    }

    // out [T, D] = all_reduce(w2_r · (act(w1_r·hn) ⊙ w3_r·hn)), hn = ffn_norm(h).
    void feed_forward_sublayer(int l, const std::string& p, std::size_t T, float* out) {
        const std::size_t D = std::size_t(cfg_.dim), F = part_.ffn_units().size();
        const LayerWeights& Lw = model_->weights.layers[std::size_t(l)];
        std::vector<float>&hn = b_.xn, &gate = b_.gate, &up = b_.up, &hidden = b_.hidden;  // kept between calls
        hn.resize(T * D), gate.resize(T * F), up.resize(T * F), hidden.resize(T * F);
        rmsnorm_rows(x_.data(), norms_[std::size_t(l)].ffn.data(), hn.data(), T, D, cfg_.norm_eps);
        emit(p + ".ffn_norm", l, hn.data(), {T, D});
        const bool geglu_ffn = cfg_.activation == Activation::gelu_tanh, fast = backend_ == Backend::fast;
        (fast ? (geglu_ffn ? cpu::geglu : cpu::swiglu) : (geglu_ffn ? geglu : swiglu))(
            Lw.w1, Lw.w2, Lw.w3, hn.data(), out, T, gate.data(), up.data(), hidden.data());  // [T, F/N] inside
        emit(p + ".feed_forward.w1", l, gate.data(), {T, F});
        emit(p + ".feed_forward.w3", l, up.data(), {T, F});
        emit(p + ".feed_forward.hidden", l, hidden.data(), {T, F});
        comm_.all_reduce_sum(out, T * D, (p + ".feed_forward.w2").c_str());  // the sum over every rank's units
        emit(p + ".feed_forward.w2", l, out, {T, D});
        if (cfg_.post_norms) {  // Gemma 2
            rmsnorm_rows(out, norms_[std::size_t(l)].post_ffn.data(), out, T, D, cfg_.norm_eps);
            emit(p + ".post_ffn_norm", l, out, {T, D});
        }
    }

    void linear(const TensorView& W, const float* X, float* Y, std::size_t T) const {
        if (backend_ == Backend::fast)
            cpu::matmul(W, X, Y, T);
        else
            matmul(W, X, Y, T);
    }

    void check_input(std::span<const int> tokens, int start_pos) const {
        check_forward_input(cfg_, tokens, start_pos);
        bool rolling = false;
        for (int l = 0; l < cfg_.n_layers; ++l) rolling = rolling || cfg_.window(l) > 0;
        if (rolling && start_pos > 0 && start_pos < written_)
            fail("model parallel: going back in a sliding-window KV cache is not supported; start again from 0");
    }

    void emit(const std::string& name, int layer, const float* data, Shape shape) const {
        if (observer_) observer_(Probe{name, layer, data, std::move(shape)});
    }

    struct LayerNorms {
        std::vector<float> attention, ffn, post_attention, post_ffn;  // [D] each (Gemma 2's last two)
    };

    std::shared_ptr<const RankModel> model_;
    Communicator& comm_;
    ModelConfig cfg_;  // the whole model's (max_seq_len: the context asked for)
    Partition part_;
    Heads heads_;  // this rank's: H/N, KV/N, Dh
    KVCache cache_;
    std::vector<double> theta_;  // [Dh/2]
    std::vector<LayerNorms> norms_;
    std::vector<float> final_norm_;  // [D]
    std::vector<float> x_, sub_;     // [T, D] residual stream, sub-layer output
    struct Buffers {
        std::vector<float> xn;                // [T, D]   a sub-layer's normalised input
        std::vector<float> q, att, k, v;      // [T, H/N·Dh] ×2, [T, KV/N·Dh] ×2
        std::vector<float> gate, up, hidden;  // [T, F/N]
        std::vector<float> local,
            gathered;  // an all-gather's input and output: [T, D/N] → [N, T, D/N], [n, V/N] → [N, n, V/N]
    } b_;
    RopeTable rope_;
    Observer observer_;
    bool observe_probs_ = false;
    Backend backend_ = Backend::reference;
    int written_ = 0;
};

}  // namespace llamaref
