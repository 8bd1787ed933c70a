// llamaref/model/transformer.hpp — the Llama decoder: the forward pass, told once (weights: weights.hpp).
//
// LLaMA paper §2.2 (pre-normalization, SwiGLU, RoPE on the GPT/Transformer decoder of Vaswani et
// al. 2017 §3.1); Meta's reference model.py, class Transformer / TransformerBlock. One token's
// path through the model:
//
//   x = tok_embeddings[token]                                  [D]
//   for each block l:
//       h = x + wo · Attention(RoPE(wq·norm(x)), RoPE(wk·norm(x)), wv·norm(x))   (attention.hpp)
//       x = h + FFN_SwiGLU(norm(h))                                              (feed_forward.hpp)
//   logits = output · norm(x)                                  [V]
//
// Mistral and Gemma run through the same lines, switched by ModelConfig (config.hpp):
//   x = tok_embeddings[token] · √D                              Gemma (embed_scale)
//   norm(x) multiplies by (1 + w)                               Gemma (norm_unit_offset, at load)
//   Attention with a sliding window / 1/√qpas / soft-cap        Mistral, Gemma 2 (attention.hpp)
//   h = x + post_attention_norm(wo · Attention(...))            Gemma 2 (post_norms)
//   x = h + post_ffw_norm(FFN(norm(h)))                         Gemma 2 (post_norms)
//   FFN gated by GELU_tanh instead of SiLU                      Gemma (feed_forward.hpp)
//   logits = c·tanh(output · norm(x) / c)                       Gemma 2 (softcap.hpp)
//
// forward(tokens, start_pos) runs T tokens at positions start_pos .. start_pos+T−1 in one call:
// a whole prompt (prefill) or one token at a time (decode). Keys and values go to the KV cache,
// so a later call continues where the last one stopped.
//
// The story is written against a table of operations (backend.hpp: linear, the gated FFN,
// attention). reference_backend, the default, is the specification; cpu::fast_backend
// (cpu/backend.hpp) computes the same function with the fast kernels. The observer (a trace)
// sees each tensor by Meta's module name, whichever backend ran it.
//
// Meta's model-parallel layout (model_parallel/transformer.hpp) runs this same story on one
// rank's slices of the weights (H/N heads, F/N hidden units, V/N output rows) with Collectives
// where Meta's layers communicate: the embedding's gather, the sums after wo and w2, the logits'
// gather. A single process has none, and those lines do nothing.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "../core/ops.hpp"
#include "attention.hpp"
#include "backend.hpp"
#include "config.hpp"
#include "feed_forward.hpp"
#include "kv_cache.hpp"
#include "probe.hpp"
#include "rmsnorm.hpp"
#include "rope.hpp"
#include "softcap.hpp"
#include "weights.hpp"

namespace llamaref {

// Which rows of logits a forward call computes: all T (logits, perplexity, traces) or only the
// last one (generation needs nothing else; it saves T−1 products with the [V, D] output matrix).
enum class LogitRows { all, last };

// A norm's gain in float32 (norm weights are tiny: kept so whatever the file stored), Gemma's
// (1 + w) added once (rmsnorm.hpp); a missing norm (Gemma 2's only) stays empty.   w: [D] -> [D]
inline std::vector<float> norm_weights_f32(const TensorView& w, const ModelConfig& c) {
    if (w.empty()) return std::vector<float>();
    auto v = w.to_f32_vector();
    return c.norm_unit_offset ? unit_offset_weights(std::move(v)) : v;
}

// Throws unless `tokens` can run at positions start_pos ..: some tokens, ids in the vocabulary,
// all inside the context of c.max_seq_len positions.
inline void check_forward_input(const ModelConfig& c, std::span<const int> tokens, int start_pos) {
    if (tokens.empty()) fail("forward: no tokens given");
    if (start_pos < 0) fail("forward: negative start position ", start_pos);
    if (std::size_t(start_pos) + tokens.size() > std::size_t(c.max_seq_len))
        fail("forward: context full: positions ", start_pos, "..", start_pos + tokens.size() - 1,
             " do not fit in the context of ", c.max_seq_len, " tokens");
    for (int id : tokens)
        if (id < 0 || id >= c.vocab_size) fail("forward: token id ", id, " is out of range [0, ", c.vocab_size, ")");
}

// Where Meta's model-parallel layers exchange data (Shoeybi et al. 2019, Megatron-LM §3), as
// hooks of the one forward pass; model_parallel/transformer.hpp implements them over MPI.
class Collectives {
  public:
    virtual ~Collectives() = default;
    // x [T, D] ← the embeddings of `tokens`, assembled from every rank's slice of the table.
    virtual void embed(std::span<const int> tokens, const TensorView& table, float* x) = 0;
    // y [n] ← the sum of every rank's y (the partial products of wo and w2). `after`: the probe's name.
    virtual void all_reduce(float* y, std::size_t n, const std::string& after) = 0;
    // logits [rows, V] ← every rank's columns, local: [rows, V/N].
    virtual void gather_logits(const float* local, std::size_t rows, float* logits) = 0;
};

class Transformer {
  public:
    // context_len: how many positions the KV cache may hold (0: the model's max_seq_len).
    explicit Transformer(std::shared_ptr<const Model> model, int context_len = 0)
        : Transformer(std::move(model), context_len, nullptr) {}

    const ModelConfig& config() const { return cfg_; }
    const Model& model() const { return *model_; }
    const KVCache& kv_cache() const { return cache_; }

    // Called with every intermediate tensor; attention probabilities only when asked (they cost
    // T·H·S floats).
    void set_observer(Observer fn, bool with_attention_probs = false) {
        observer_ = std::move(fn);
        observe_probs_ = with_attention_probs;
    }

    // The operations the forward pass calls: reference_backend (the default, the specification)
    // or cpu::fast_backend (cpu/backend.hpp).
    void set_backend(const Backend& b) { backend_ = b; }
    const Backend& backend() const { return backend_; }

    // Round the activations before every weight product as llama.cpp's CPU backend does (to
    // Q8_0 / Q8_K blocks for quantized weights, F16 / BF16 for 16-bit ones; core/quant_activations.hpp),
    // to tell llama.cpp's rounding from a bug in `compare`. Off by default: the exact model.
    void set_llamacpp_rounding(bool on) { llamacpp_rounding_ = on; }

    // Keep keys (k) and values (v) in F16 or BF16, as llama.cpp's -ctk / -ctv do: half the KV
    // cache's memory, and every key and value rounded to 16 bits before attention reads it
    // (kv_cache.hpp). F32, the default, is the exact model. Empties the cache.
    void set_kv_cache_types(DType k, DType v) {
        for (DType t : {k, v})
            if (!is_kv_cache_type(t)) fail("KV cache type must be F32, F16 or BF16, got ", dtype_name(t));
        cache_ = KVCache(cfg_.n_layers, cfg_.max_seq_len, heads_.n_kv_heads, heads_.head_dim, windows(cfg_), k, v);
        written_ = 0;
    }

    // A prompt longer than `tokens` (default 512) runs in chunks of that many positions where the
    // backend says so (the fast one): the same logits, and activations bounded by one chunk.
    void set_prefill_chunk(int tokens) {
        if (tokens < 1) fail("prefill chunk must hold at least 1 token, got ", tokens);
        prefill_chunk_ = tokens;
    }

    // Logits for tokens at positions start_pos .. start_pos+T−1.   -> [T, V] (or [1, V]: last)
    Tensor2 forward(std::span<const int> tokens, int start_pos, LogitRows rows = LogitRows::all) {
        check_forward_input(cfg_, tokens, start_pos);
        const std::size_t T = tokens.size(), V = std::size_t(cfg_.vocab_size);
        Tensor2 logits = Tensor2::from_shape({rows == LogitRows::all ? T : 1, V});
        run(tokens, start_pos, rows, logits.data());
        return logits;
    }

    // Generation's call: the logits of the last position, in a buffer kept by the Transformer
    // (valid until the next call; no allocation once the buffers have grown).   -> [V]
    std::span<const float> forward_last(std::span<const int> tokens, int start_pos) {
        check_forward_input(cfg_, tokens, start_pos);
        last_logits_.resize(std::size_t(cfg_.vocab_size));
        run(tokens, start_pos, LogitRows::last, last_logits_.data());
        return last_logits_;
    }

  protected:
    // One rank's part of a model-parallel run: `model` holds the rank's slices (config: the whole
    // model's), `heads` and `hidden_dim` the rank's share (H/N, KV/N, F/N); null collectives: the
    // whole model in one process, whose weights are checked against its config.
    Transformer(std::shared_ptr<const Model> model, int context_len, std::unique_ptr<Collectives> collectives,
                Heads heads = {}, int hidden_dim = 0)
        : model_(std::move(model)),
          cfg_(with_context(model_->config, context_len)),
          heads_(collectives ? heads : cfg_.heads()),
          hidden_dim_(collectives ? hidden_dim : cfg_.hidden_dim),
          collectives_(std::move(collectives)),
          cache_(cfg_.n_layers, cfg_.max_seq_len, heads_.n_kv_heads, heads_.head_dim, windows(cfg_)),
          theta_(rope_frequencies(cfg_.head_dim, cfg_.rope_theta, cfg_.rope_scaling)) {
        cfg_.validate();
        if (!collectives_) validate_weights(cfg_, model_->weights);
        for (const LayerWeights& L : model_->weights.layers)
            norms_.push_back({norm_weights_f32(L.attention_norm, cfg_), norm_weights_f32(L.ffn_norm, cfg_),
                              norm_weights_f32(L.post_attention_norm, cfg_), norm_weights_f32(L.post_ffn_norm, cfg_)});
        final_norm_ = norm_weights_f32(model_->weights.norm, cfg_);
        if (collectives_)  // the all-reduces' names, for a rank's messages: built once, not per token
            for (int l = 0; l < cfg_.n_layers; ++l)
                for (const char* sum : {".attention.wo", ".feed_forward.w2"})
                    reduce_names_.push_back("layers." + std::to_string(l) + sum);
    }

  private:
    // ---------------------------------------------------------------------------------------------
    // The forward pass, as Meta's Transformer.forward / TransformerBlock.forward:
    //   h   = x + attention(attention_norm(x))
    //   out = h + feed_forward(ffn_norm(h))
    // Shapes: T tokens, D model dim, H query heads, KV key/value heads, Dh head dim, F hidden units,
    // V vocabulary (H, KV, F: this rank's share in a model-parallel run). logits: [T, V] (all),
    // [V] (last), or nullptr (an earlier chunk of a prompt: only the KV cache is wanted).
    void forward_chunk(std::span<const int> tokens, int start_pos, LogitRows rows, float* logits) {
        const std::size_t T = tokens.size(), D = std::size_t(cfg_.dim);
        ops_ = &backend_.ops(llamacpp_rounding_);
        rope_.compute(theta_, std::size_t(start_pos), T);  // cos, sin of positions start_pos ..
        check_rolling_rewind(start_pos);
        cache_.reserve(start_pos + int(T));
        b_.ensure(T, D, q_dim(), kv_dim(), std::size_t(hidden_dim_));
        float *x = b_.x.data(), *sub = b_.sub.data();

        embed(tokens, x);  // x: [T, D]
        for (int l = 0; l < cfg_.n_layers; ++l) {
            layer_ = l;
            attention_block(start_pos, T, sub);  // sub = wo · attention(attention_norm(x))
            add(x, sub, T * D, ".h");            // h = x + sub
            feed_forward_block(T, sub);          // sub = w2 · FFN(ffn_norm(h))
            add(x, sub, T * D, "");              // the block's output
        }
        layer_ = -1;
        written_ = start_pos + int(T);
        if (logits) output_head(x, T, rows, logits);
    }

    // Token embeddings: row `token` of the [V, D] table (Gemma: times √D, rounded to float32 first
    // as gemma_pytorch's `normalizer` tensor is).   x: [T, D]
    void embed(std::span<const int> tokens, float* x) {
        const std::size_t T = tokens.size(), D = std::size_t(cfg_.dim);
        const TensorView& table = model_->weights.tok_embeddings;
        if (collectives_)  // model parallel: this rank's slice of the table, gathered
            collectives_->embed(tokens, table, x);
        else
            for (std::size_t t = 0; t < T; ++t) table.row_to_f32(std::size_t(tokens[t]), x + t * D);
        if (cfg_.embed_scale) {
            const float normalizer = float(std::sqrt(double(D)));
            for (std::size_t i = 0; i < T * D; ++i) x[i] *= normalizer;
        }
        probe("tok_embeddings", x, {T, D});
    }

    // Block l's attention sub-layer on the residual stream x [T, D]:
    //   out [T, D] = wo · Attention(RoPE(wq·xn), RoPE(wk·xn), wv·xn),   xn = attention_norm(x)
    // at positions start_pos .. start_pos+T−1; this call's keys and values go to the KV cache.
    // Gemma 2 normalises the result once more (post_attention_norm).
    void attention_block(int start_pos, std::size_t T, float* out) {
        const int l = layer_;
        const LayerWeights& Lw = model_->weights.layers[std::size_t(l)];
        const std::size_t D = std::size_t(cfg_.dim), Q = q_dim(), K = kv_dim();
        float *xn = b_.xn.data(), *q = b_.q.data(), *k = b_.k.data(), *v = b_.v.data(), *att = b_.att.data();
        norm(".attention_norm", b_.x.data(), norms_[std::size_t(l)].attention, xn, T);  // xn: [T, D]
        linear(".attention.wq", Lw.wq, xn, q, T);                                       // q: [T, H, Dh]
        linear(".attention.wk", Lw.wk, xn, k, T);                                       // k: [T, KV, Dh]
        linear(".attention.wv", Lw.wv, xn, v, T);                                       // v: [T, KV, Dh]
        for (std::size_t t = 0; t < T; ++t) {
            rope_pairs(q + t * Q, heads_.n_heads, heads_.head_dim, rope_, t);
            rope_pairs(k + t * K, heads_.n_kv_heads, heads_.head_dim, rope_, t);
        }
        probe(".attention.q_rope", q, {T, Q});
        probe(".attention.k_rope", k, {T, K});
        round_kv(cache_.key_type(), k, T * K);  // a 16-bit cache's precision (F32: unchanged)
        round_kv(cache_.value_type(), v, T * K);
        // Earlier positions from the cache, this call's from k and v (kv_cache.hpp); then this
        // call's keys and values go to the cache (a rolling layer keeps the last W).
        const KVSpan kv{cache_, l, start_pos, k, v};
        const AttentionOptions opt{cfg_.window(l), cfg_.attention_scale(), cfg_.attn_softcap};
        float* probs = nullptr;  // [T, H, start_pos+T], for a trace that asks
        if (observe_probs_) {
            b_.probs.resize(T * std::size_t(heads_.n_heads) * (std::size_t(start_pos) + T));
            probs = b_.probs.data();
        }
        ops_->attention(q, kv, start_pos, int(T), heads_, opt, att, probs);  // att: [T, H, Dh]
        for (std::size_t t = 0; t < T; ++t) cache_.store(l, start_pos + int(t), k + t * K, v + t * K);
        if (probs) probe(".attention.probs", probs, {T, std::size_t(heads_.n_heads), std::size_t(start_pos) + T});
        probe(".attention.heads", att, {T, Q});
        ops_->linear(Lw.wo, att, out, T);  // [T, D] (model parallel: this rank's heads' share)
        all_reduce(0, out, T * D);         // model parallel: the sum over every rank's heads (.attention.wo)
        if (cfg_.post_norms) norm(".post_attention_norm", out, norms_[std::size_t(l)].post_attention, out, T);
    }

    // Block l's feed-forward sub-layer on the residual stream h [T, D]:
    //   out [T, D] = w2 · (act(w1·hn) ⊙ w3·hn),   hn = ffn_norm(h)   (feed_forward.hpp)
    // Gemma 2 normalises the result once more (post_ffn_norm).
    void feed_forward_block(std::size_t T, float* out) {
        const int l = layer_;
        const LayerWeights& Lw = model_->weights.layers[std::size_t(l)];
        const std::size_t D = std::size_t(cfg_.dim), F = std::size_t(hidden_dim_);
        float *hn = b_.xn.data(), *gate = b_.gate.data(), *up = b_.up.data(), *hidden = b_.hidden.data();
        norm(".ffn_norm", b_.x.data(), norms_[std::size_t(l)].ffn, hn, T);  // hn: [T, D]
        const GatedFfnFn ffn = cfg_.activation == Activation::gelu_tanh ? ops_->geglu : ops_->swiglu;
        ffn(Lw.w1, Lw.w2, Lw.w3, hn, out, T, gate, up, hidden);  // gate, up, hidden: [T, F]   out: [T, D]
        probe(".feed_forward.w1", gate, {T, F});
        probe(".feed_forward.w3", up, {T, F});
        probe(".feed_forward.hidden", hidden, {T, F});
        all_reduce(1, out, T * D);  // model parallel: the sum over every rank's units (.feed_forward.w2)
        if (cfg_.post_norms) norm(".post_ffn_norm", out, norms_[std::size_t(l)].post_ffn, out, T);
    }

    // Final norm and output head, for every row or only the last one.   logits: [n, V]
    void output_head(const float* x, std::size_t T, LogitRows rows, float* logits) {
        const std::size_t D = std::size_t(cfg_.dim), V = std::size_t(cfg_.vocab_size);
        const std::size_t first = rows == LogitRows::all ? 0 : T - 1, n = T - first;
        float* xn = b_.xn.data();
        norm("norm", x + first * D, final_norm_, xn, n);  // xn: [n, D]
        if (collectives_) {  // model parallel: this rank's V/N rows of the output head, gathered
            b_.local_logits.resize(n * model_->weights.output.rows());
            ops_->linear(model_->weights.output, xn, b_.local_logits.data(), n);  // [n, V/N]
            collectives_->gather_logits(b_.local_logits.data(), n, logits);       // [n, V]
        } else {
            ops_->linear(model_->weights.output, xn, logits, n);  // [n, V]
        }
        softcap(logits, n * V, cfg_.final_softcap);  // Gemma 2
        probe("output", logits, {n, V});
    }

    // ---------------------------------------------------------------------------------------------
    // The steps above with the observer's probe after each: the tensor's name is Meta's module's,
    // "layers.l" + suffix inside block l (set by forward_chunk), the suffix alone outside.

    // Y [T, out] = X · Wᵀ by the backend.
    void linear(const char* name, const TensorView& W, const float* X, float* Y, std::size_t T) {
        ops_->linear(W, X, Y, T);
        probe(name, Y, {T, W.rows()});
    }
    // Y [T, D] = RMSNorm(X) with gain w (rmsnorm.hpp).
    void norm(const char* name, const float* X, const std::vector<float>& w, float* Y, std::size_t T) {
        const std::size_t D = std::size_t(cfg_.dim);
        rmsnorm_rows(X, w.data(), Y, T, D, cfg_.norm_eps);
        probe(name, Y, {T, D});
    }
    // x [n] += sub [n]: the residual connection.
    void add(float* x, const float* sub, std::size_t n, const char* name) {
        for (std::size_t i = 0; i < n; ++i) x[i] += sub[i];
        probe(name, x, {n / std::size_t(cfg_.dim), std::size_t(cfg_.dim)});
    }
    // y [n] ← the sum over the ranks (model parallel; one process: y as it is).
    void all_reduce(int sum, float* y, std::size_t n) {  // sum 0: attention's wo, 1: the FFN's w2
        if (collectives_) collectives_->all_reduce(y, n, reduce_names_[std::size_t(2 * layer_ + sum)]);
        probe(sum == 0 ? ".attention.wo" : ".feed_forward.w2", y, {n / std::size_t(cfg_.dim), std::size_t(cfg_.dim)});
    }
    void probe(const char* name, const float* data, Shape shape) const {
        if (observer_) observer_(Probe{probe_name(name), layer_, data, std::move(shape)});
    }
    std::string probe_name(const char* name) const {
        return layer_ < 0 ? std::string(name) : "layers." + std::to_string(layer_) + name;
    }

    // ---------------------------------------------------------------------------------------------
    // Around the story: chunks of a long prompt, the cache's rules, buffers.

    // Splits a long prompt into chunks where the backend does; logits: [T, V] (all) or [V] (last).
    void run(std::span<const int> tokens, int start_pos, LogitRows rows, float* logits) {
        const std::size_t T = tokens.size(), V = std::size_t(cfg_.vocab_size), C = std::size_t(prefill_chunk_);
        if (!backend_.chunked_prefill || observer_ || T <= C) return forward_chunk(tokens, start_pos, rows, logits);
        for (std::size_t c = 0; c < T; c += C) {
            const std::size_t n = std::min(C, T - c);
            const bool final_chunk = c + n == T;
            if (rows == LogitRows::all)
                forward_chunk(tokens.subspan(c, n), start_pos + int(c), rows, logits + c * V);
            else
                forward_chunk(tokens.subspan(c, n), start_pos + int(c), rows, final_chunk ? logits : nullptr);
        }
    }

    // The cache's window per layer: W for a layer with a sliding window (a rolling buffer of W
    // slots), 0 for a plain one.
    static std::vector<int> windows(const ModelConfig& c) {
        std::vector<int> w(std::size_t(std::max(c.n_layers, 0)));
        for (int l = 0; l < c.n_layers; ++l) w[std::size_t(l)] = c.window(l);
        return w;
    }

    // Going back in a rolling cache (a call at a position before the last one written) is only
    // right while the slots the window needs still hold their positions: position p is gone once
    // p + W was written. Otherwise an Error, never a silently wrong answer.
    void check_rolling_rewind(int start_pos) const {
        if (start_pos == 0 || start_pos >= written_) return;
        for (int l = 0; l < cfg_.n_layers; ++l) {
            const int W = cfg_.window(l);
            if (W > 0 && std::max(0, start_pos - W + 1) + W < written_)
                fail("forward: layer ", l, "'s rolling KV cache (window ", W, ") holds positions up to ", written_ - 1,
                     " and has overwritten position ", std::max(0, start_pos - W + 1), ", which position ", start_pos,
                     " needs; run the sequence again from position 0");
        }
    }

    static ModelConfig with_context(ModelConfig c, int context_len) {
        if (context_len < 0) fail("context length must not be negative, got ", context_len);
        if (context_len > 0) c.max_seq_len = context_len;
        return c;
    }

    std::size_t q_dim() const { return std::size_t(heads_.n_heads) * std::size_t(heads_.head_dim); }      // H·Dh
    std::size_t kv_dim() const { return std::size_t(heads_.n_kv_heads) * std::size_t(heads_.head_dim); }  // KV·Dh

    // Activations of one forward call, kept between calls: decode allocates nothing.
    struct Buffers {
        std::vector<float> x, xn, sub;        // [T, D]  residual stream, normalised input, sub-layer output
        std::vector<float> q, att;            // [T, H·Dh]
        std::vector<float> k, v;              // [T, KV·Dh]
        std::vector<float> gate, up, hidden;  // [T, F]
        std::vector<float> probs;             // [T, H, S]  attention probabilities, for a trace
        std::vector<float> local_logits;      // [n, V/N]   model parallel: this rank's logits
        void ensure(std::size_t T, std::size_t D, std::size_t Q, std::size_t K, std::size_t F) {
            for (auto* buf : {&x, &xn, &sub}) buf->resize(T * D);
            for (auto* buf : {&q, &att}) buf->resize(T * Q);
            for (auto* buf : {&k, &v}) buf->resize(T * K);
            for (auto* buf : {&gate, &up, &hidden}) buf->resize(T * F);
        }
    };
    struct LayerNorms {
        std::vector<float> attention, ffn, post_attention, post_ffn;  // [D] each (Gemma: 1 + w; the last two Gemma 2's)
    };

    std::shared_ptr<const Model> model_;
    ModelConfig cfg_;                           // the whole model's (max_seq_len: the context asked for)
    Heads heads_;                               // H, KV, Dh (model parallel: this rank's H/N, KV/N)
    int hidden_dim_;                            // F (model parallel: F/N)
    std::unique_ptr<Collectives> collectives_;  // model parallel only
    KVCache cache_;
    std::vector<double> theta_;  // [Dh/2] RoPE frequencies (scaled when the config says so)
    std::vector<LayerNorms> norms_;
    std::vector<std::string>
        reduce_names_;               // [2L] "layers.l.attention.wo", "layers.l.feed_forward.w2" (model parallel)
    std::vector<float> final_norm_;  // [D]
    Observer observer_;
    bool observe_probs_ = false;
    Backend backend_ = reference_backend;
    bool llamacpp_rounding_ = false;
    const Ops* ops_ = nullptr;  // this call's table: backend_.exact or .llamacpp_rounding
    int prefill_chunk_ = 512;
    int written_ = 0;  // positions 0 .. written_−1 were the last ones written to the cache
    int layer_ = -1;   // the block the forward pass is in (probe names), -1 outside
    Buffers b_;
    std::vector<float> last_logits_;  // [V]  forward_last's result
    RopeTable rope_;                  // [T, Dh/2] cos and sin of this call's positions
};

}  // namespace llamaref
