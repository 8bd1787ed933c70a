// llamaref/model/transformer.hpp — the Llama decoder: forward pass, observer hook (weights: weights.hpp).
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
// Two backends compute the same function. Backend::reference (the default) calls the plain
// functions of core/ and model/: the specification. Backend::fast calls the kernels of cpu/
// (SIMD, blocked, threaded; tested against the specification) for the matrix products and
// attention, and runs a long prompt in chunks (set_prefill_chunk), so that the activations
// never grow beyond one chunk's; the observer sees both alike (a trace records the probabilities
// from the reference attention).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "../core/ops.hpp"
#include "../core/quant_activations.hpp"
#include "../cpu/attention.hpp"
#include "../cpu/feed_forward.hpp"
#include "../cpu/matmul.hpp"
#include "../cpu/matmul_bf16.hpp"
#include "../cpu/matmul_int8.hpp"
#include "../cpu/quant_activations.hpp"
#include "attention.hpp"
#include "config.hpp"
#include "feed_forward.hpp"
#include "kv_cache.hpp"
#include "rmsnorm.hpp"
#include "rope.hpp"
#include "softcap.hpp"
#include "weights.hpp"

namespace llamaref {

// What an observer sees: one intermediate tensor of the forward pass, valid during the call.
// Names follow Meta's module names: "tok_embeddings", "layers.3.attention_norm",
// "layers.3.attention.wq", "layers.3" (block output), "norm", "output" (logits), ...
struct Probe {
    std::string name;
    int layer;  // -1 outside the blocks
    const float* data;
    Shape shape;
};
using Observer = std::function<void(const Probe&)>;

enum class Backend { reference, fast };

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

class Transformer {
  public:
    // context_len: how many positions the KV cache may hold (0: the model's max_seq_len).
    explicit Transformer(std::shared_ptr<const Model> model, int context_len = 0)
        : model_(std::move(model)),
          cfg_(with_context(model_->config, context_len)),
          cache_(cfg_.n_layers, cfg_.max_seq_len, cfg_.n_kv_heads, cfg_.head_dim, windows(cfg_)),
          theta_(rope_frequencies(cfg_.head_dim, cfg_.rope_theta, cfg_.rope_scaling)) {
        cfg_.validate();
        validate_weights(cfg_, model_->weights);
        auto norm_weights = [&](const TensorView& w) { return norm_weights_f32(w, cfg_); };
        for (const auto& L : model_->weights.layers) {
            attention_norm_.push_back(norm_weights(L.attention_norm));
            ffn_norm_.push_back(norm_weights(L.ffn_norm));
            post_attention_norm_.push_back(norm_weights(L.post_attention_norm));
            post_ffn_norm_.push_back(norm_weights(L.post_ffn_norm));
        }
        final_norm_ = norm_weights(model_->weights.norm);
    }

    const ModelConfig& config() const { return cfg_; }
    const Model& model() const { return *model_; }
    const KVCache& kv_cache() const { return cache_; }

    // Called with every intermediate tensor; attention probabilities only when asked (they cost
    // T·H·S floats).
    void set_observer(Observer fn, bool with_attention_probs = false) {
        observer_ = std::move(fn);
        observe_probs_ = with_attention_probs;
    }

    void set_backend(Backend b) { backend_ = b; }
    Backend backend() const { return backend_; }

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
        cache_ = KVCache(cfg_.n_layers, cfg_.max_seq_len, cfg_.n_kv_heads, cfg_.head_dim, windows(cfg_), k, v);
        written_ = 0;
    }

    // A fast-backend prompt longer than `tokens` (default 512) runs in chunks of that many
    // positions: the same logits, and activations bounded by one chunk.
    void set_prefill_chunk(int tokens) {
        if (tokens < 1) fail("prefill chunk must hold at least 1 token, got ", tokens);
        prefill_chunk_ = tokens;
    }

    // Logits for tokens at positions start_pos .. start_pos+T−1.   -> [T, V] (or [1, V]: last)
    Tensor2 forward(std::span<const int> tokens, int start_pos, LogitRows rows = LogitRows::all) {
        check_input(tokens, start_pos);
        const std::size_t T = tokens.size(), V = std::size_t(cfg_.vocab_size);
        Tensor2 logits = Tensor2::from_shape({rows == LogitRows::all ? T : 1, V});
        run(tokens, start_pos, rows, logits.data());
        return logits;
    }

    // Generation's call: the logits of the last position, in a buffer kept by the Transformer
    // (valid until the next call; no allocation once the buffers have grown).   -> [V]
    std::span<const float> forward_last(std::span<const int> tokens, int start_pos) {
        check_input(tokens, start_pos);
        last_logits_.resize(std::size_t(cfg_.vocab_size));
        run(tokens, start_pos, LogitRows::last, last_logits_.data());
        return last_logits_;
    }

  private:
    // Splits a long fast-backend prompt into chunks; logits: [T, V] (all) or [V] (last).
    void run(std::span<const int> tokens, int start_pos, LogitRows rows, float* logits) {
        const std::size_t T = tokens.size(), V = std::size_t(cfg_.vocab_size), C = std::size_t(prefill_chunk_);
        if (backend_ != Backend::fast || observer_ || T <= C) return forward_chunk(tokens, start_pos, rows, logits);
        for (std::size_t c = 0; c < T; c += C) {
            const std::size_t n = std::min(C, T - c);
            const bool final_chunk = c + n == T;
            if (rows == LogitRows::all)
                forward_chunk(tokens.subspan(c, n), start_pos + int(c), rows, logits + c * V);
            else
                forward_chunk(tokens.subspan(c, n), start_pos + int(c), rows, final_chunk ? logits : nullptr);
        }
    }

    // Y = X · Wᵀ by the chosen backend (MatMulFn: feed_forward.hpp).   W: [out, in]   X: [T, in]   Y: [T, out]
    static void linear_fast(const TensorView& W, const float* X, float* Y, std::size_t T) { cpu::matmul(W, X, Y, T); }
    static void linear_reference(const TensorView& W, const float* X, float* Y, std::size_t T) { matmul(W, X, Y, T); }
    // The same products after llama.cpp's rounding of each row of X (quant_activations.hpp).
    template <MatMulFn mm>
    static void linear_rounded(const TensorView& W, const float* X, float* Y, std::size_t T) {
        // A BF16 prefill multiplies bf16 by bf16 where the CPU can (cpu/matmul_bf16.hpp: the same
        // exact products, summed in another order, twice as fast as the float32 kernel).
        // (A run-time test: two functions' addresses are not a constant expression under -fsanitize.)
        if (mm == &linear_fast && W.dtype == DType::BF16 && T >= 4 && cpu::has_bf16_dot())
            return cpu::matmul_bf16_rounded(W, X, Y, T);
        // A decode with block-quantized weights multiplies integers, as llama.cpp does (matmul_int8.hpp:
        // the same products, one rounding per block, fewer instructions: docs/performance.md).
        if (mm == &linear_fast && T < 4 && cpu::has_int8_dot(W.dtype)) return cpu::matmul_int8_rounded(W, X, Y, T);
        thread_local std::vector<float> rounded;
        const std::size_t in = W.cols();
        rounded.resize(T * in);
        if (mm == &linear_fast)  // the same floats, vectorized and threaded (cpu/quant_activations.hpp)
            cpu::round_activations_like_llamacpp(W.dtype, X, rounded.data(), T, in);
        else
            for (std::size_t t = 0; t < T; ++t)
                round_activations_like_llamacpp(W.dtype, X + t * in, rounded.data() + t * in, in);
        mm(W, rounded.data(), Y, T);
        if (mm == &linear_fast)  // Q4_1 / Q5_1: Q8_1's block sum in F16 (the fast twin: threaded, in float32)
            cpu::llamacpp_q8_1_correction(W, X, Y, T);
        else
            llamacpp_q8_1_correction(W, X, Y, T);
    }

    // The forward pass proper, as Meta's Transformer.forward / TransformerBlock.forward:
    //   h   = x + attention(attention_norm(x))
    //   out = h + feed_forward(ffn_norm(h))
    // logits: [T, V] (all), [V] (last), or nullptr (none wanted).
    void forward_chunk(std::span<const int> tokens, int start_pos, LogitRows rows, float* logits) {
        const int T = int(tokens.size());
        const std::size_t D = cfg_.dim;
        const auto& W = model_->weights;
        const bool fast = backend_ == Backend::fast;
        const MatMulFn linear = llamacpp_rounding_
                                    ? (fast ? linear_rounded<linear_fast> : linear_rounded<linear_reference>)
                                    : (fast ? linear_fast : linear_reference);
        rope_.compute(theta_, start_pos, T);
        check_rolling_rewind(start_pos);
        cache_.reserve(start_pos + T);
        Buffers& b = buffers_;
        b.ensure(std::size_t(T), D, cfg_.q_dim(), cfg_.kv_dim(), cfg_.hidden_dim);
        float *x = b.x.data(), *xn = b.xn.data(), *sub = b.sub.data();

        // Token embeddings: row `token` of the [V, D] table (Gemma: times √D, rounded to float32
        // first as gemma_pytorch's `normalizer` tensor is).
        for (int t = 0; t < T; ++t) W.tok_embeddings.row_to_f32(tokens[t], x + t * D);  // x: [T, D]
        if (cfg_.embed_scale) {
            const float normalizer = float(std::sqrt(double(D)));
            for (std::size_t i = 0; i < T * D; ++i) x[i] *= normalizer;
        }
        emit("tok_embeddings", -1, x, T, D);

        for (int l = 0; l < cfg_.n_layers; ++l) {
            const std::string p = observer_ ? "layers." + std::to_string(l) : std::string();
            attention_sublayer(l, p, start_pos, T, linear, sub);  // sub = wo · attention(norm(x))
            for (std::size_t i = 0; i < T * D; ++i) x[i] += sub[i];
            emit(p + ".h", l, x, T, D);
            feed_forward_sublayer(l, p, T, linear, sub);  // sub = FFN(norm(h))
            for (std::size_t i = 0; i < T * D; ++i) x[i] += sub[i];
            emit(p, l, x, T, D);  // block output
        }

        written_ = start_pos + T;
        if (!logits) return;  // an earlier chunk of a prompt: only the KV cache was wanted
        // Final norm and output head, for every row or only the last one.
        const std::size_t first = rows == LogitRows::all ? 0 : std::size_t(T - 1), n = T - first;
        rmsnorm_rows(x + first * D, final_norm_.data(), xn, n, D, cfg_.norm_eps);
        emit("norm", -1, xn, n, D);
        linear(W.output, xn, logits, n);                           // [n, V]
        softcap(logits, n * cfg_.vocab_size, cfg_.final_softcap);  // Gemma 2
        emit("output", -1, logits, n, cfg_.vocab_size);
    }

    // Block l's attention sub-layer on the residual stream x [T, D] (buffers_.x), at positions
    // start_pos .. start_pos+T−1: out [T, D] = wo · Attention(RoPE(wq·xn), RoPE(wk·xn), wv·xn),
    // xn = attention_norm(x); Gemma 2 normalises the result once more (post_attention_norm).
    // This call's keys and values go to the KV cache. p: the observer's name prefix "layers.l".
    void attention_sublayer(int l, const std::string& p, int start_pos, int T, MatMulFn linear, float* out) {
        const std::size_t D = cfg_.dim, Q = cfg_.q_dim(), K = cfg_.kv_dim();
        const LayerWeights& Lw = model_->weights.layers[l];
        Buffers& b = buffers_;
        float *xn = b.xn.data(), *q = b.q.data(), *k = b.k.data(), *v = b.v.data(), *att = b.att.data();
        rmsnorm_rows(b.x.data(), attention_norm_[l].data(), xn, T, D, cfg_.norm_eps);
        emit(p + ".attention_norm", l, xn, T, D);
        linear(Lw.wq, xn, q, T);  // q: [T, H, Dh]
        linear(Lw.wk, xn, k, T);  // k: [T, KV, Dh]
        linear(Lw.wv, xn, v, T);  // v: [T, KV, Dh]
        emit(p + ".attention.wq", l, q, T, Q);
        emit(p + ".attention.wk", l, k, T, K);
        emit(p + ".attention.wv", l, v, T, K);
        for (int t = 0; t < T; ++t) {
            rope_pairs(q + t * Q, cfg_.n_heads, cfg_.head_dim, rope_, t);
            rope_pairs(k + t * K, cfg_.n_kv_heads, cfg_.head_dim, rope_, t);
        }
        emit(p + ".attention.q_rope", l, q, T, Q);
        emit(p + ".attention.k_rope", l, k, T, K);
        round_kv(cache_.key_type(), k, T * K);  // a 16-bit cache's precision (F32: unchanged)
        round_kv(cache_.value_type(), v, T * K);
        // Earlier positions from the cache, this call's from k and v (kv_cache.hpp); then this
        // call's keys and values go to the cache (a rolling layer keeps the last W).
        const KVSpan kv{cache_, l, start_pos, k, v};
        const AttentionOptions opt{cfg_.window(l), cfg_.attention_scale(), cfg_.attn_softcap};
        std::vector<float> probs(observe_probs_ ? std::size_t(T) * cfg_.n_heads * (start_pos + T) : 0);
        if (backend_ == Backend::fast && !observe_probs_)
            cpu::attention(q, kv, start_pos, T, cfg_.heads(), opt, att);
        else
            attention(q, kv, start_pos, T, cfg_.heads(), opt, att, observe_probs_ ? probs.data() : nullptr);
        for (int t = 0; t < T; ++t) cache_.store(l, start_pos + t, k + t * K, v + t * K);
        if (observe_probs_)
            emit_raw(p + ".attention.probs", l, probs.data(),
                     {std::size_t(T), std::size_t(cfg_.n_heads), std::size_t(start_pos + T)});
        emit(p + ".attention.heads", l, att, T, Q);  // att: [T, H, Dh]
        linear(Lw.wo, att, out, T);
        emit(p + ".attention.wo", l, out, T, D);
        if (cfg_.post_norms) {  // Gemma 2
            rmsnorm_rows(out, post_attention_norm_[l].data(), out, T, D, cfg_.norm_eps);
            emit(p + ".post_attention_norm", l, out, T, D);
        }
    }

    // Block l's feed-forward sub-layer on the residual stream h [T, D] (buffers_.x):
    // out [T, D] = w2 · (act(w1·hn) ⊙ w3·hn), hn = ffn_norm(h) (feed_forward.hpp); Gemma 2
    // normalises the result once more (post_ffn_norm).
    void feed_forward_sublayer(int l, const std::string& p, int T, MatMulFn linear, float* out) {
        const std::size_t D = cfg_.dim, F = cfg_.hidden_dim;
        const LayerWeights& Lw = model_->weights.layers[l];
        Buffers& b = buffers_;
        float* hn = b.xn.data();
        rmsnorm_rows(b.x.data(), ffn_norm_[l].data(), hn, T, D, cfg_.norm_eps);
        emit(p + ".ffn_norm", l, hn, T, D);
        const bool geglu_ffn = cfg_.activation == Activation::gelu_tanh;
        if (llamacpp_rounding_) {  // the same FFN, each product through `linear` (which rounds first)
            (geglu_ffn ? gated_ffn<gelu_tanh> : gated_ffn<silu>)(linear, Lw.w1, Lw.w2, Lw.w3, hn, out, T, b.gate.data(),
                                                                 b.up.data(), b.hidden.data());
        } else {
            const bool fast = backend_ == Backend::fast;
            (fast ? (geglu_ffn ? cpu::geglu : cpu::swiglu) : (geglu_ffn ? geglu : swiglu))(
                Lw.w1, Lw.w2, Lw.w3, hn, out, T, b.gate.data(), b.up.data(), b.hidden.data());
        }
        emit(p + ".feed_forward.w1", l, b.gate.data(), T, F);
        emit(p + ".feed_forward.w3", l, b.up.data(), T, F);
        emit(p + ".feed_forward.hidden", l, b.hidden.data(), T, F);
        emit(p + ".feed_forward.w2", l, out, T, D);
        if (cfg_.post_norms) {  // Gemma 2
            rmsnorm_rows(out, post_ffn_norm_[l].data(), out, T, D, cfg_.norm_eps);
            emit(p + ".post_ffn_norm", l, out, T, D);
        }
    }

    // The cache's window per layer: W for a layer with a sliding window (a rolling buffer of W
    // slots), 0 for a plain one.
    static std::vector<int> windows(const ModelConfig& c) {
        std::vector<int> w(std::size_t(std::max(c.n_layers, 0)));
        for (int l = 0; l < c.n_layers; ++l) w[l] = c.window(l);
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

    void check_input(std::span<const int> tokens, int start_pos) const { check_forward_input(cfg_, tokens, start_pos); }

    void emit(const std::string& name, int layer, const float* data, std::size_t rows, std::size_t cols) const {
        if (observer_) observer_(Probe{name, layer, data, {rows, cols}});
    }
    void emit_raw(const std::string& name, int layer, const float* data, Shape shape) const {
        if (observer_) observer_(Probe{name, layer, data, std::move(shape)});
    }

    // Activations of one forward call, kept between calls: decode allocates nothing.
    struct Buffers {
        std::vector<float> x, xn, sub;        // [T, D]  residual stream, normalised input, sub-layer output
        std::vector<float> q, att;            // [T, H·Dh]
        std::vector<float> k, v;              // [T, KV·Dh]
        std::vector<float> gate, up, hidden;  // [T, F]
        void ensure(std::size_t T, std::size_t D, std::size_t Q, std::size_t K, std::size_t F) {
            for (auto* buf : {&x, &xn, &sub}) buf->resize(T * D);
            for (auto* buf : {&q, &att}) buf->resize(T * Q);
            for (auto* buf : {&k, &v}) buf->resize(T * K);
            for (auto* buf : {&gate, &up, &hidden}) buf->resize(T * F);
        }
    };

    std::shared_ptr<const Model> model_;
    ModelConfig cfg_;
    KVCache cache_;
    std::vector<double> theta_;  // [Dh/2] RoPE frequencies (scaled when the config says so)
    std::vector<std::vector<float>> attention_norm_, ffn_norm_;            // [L][D]  (Gemma: 1 + w)
    std::vector<std::vector<float>> post_attention_norm_, post_ffn_norm_;  // [L][D]  Gemma 2, else empty
    std::vector<float> final_norm_;                                        // [D]
    Observer observer_;
    bool observe_probs_ = false;
    Backend backend_ = Backend::reference;
    bool llamacpp_rounding_ = false;
    int prefill_chunk_ = 512;
    int written_ = 0;  // positions 0 .. written_−1 were the last ones written to the cache
    Buffers buffers_;
    std::vector<float> last_logits_;  // [V]  forward_last's result
    RopeTable rope_;                  // [T, Dh/2] cos and sin of this call's positions
};

}  // namespace llamaref
