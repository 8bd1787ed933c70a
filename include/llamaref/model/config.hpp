// llamaref/model/config.hpp — every switch of the Llama family, in one struct.
//
// LLaMA 1 (Touvron et al. 2023, §2.2), Llama 2 (§2.2, GQA for 34B/70B) and Llama 3 (Llama Team
// 2024, §3.2; 3.1 RoPE scaling) differ only in these numbers. Readers (formats/) fill a
// ModelConfig from what a checkpoint states; nothing else in llamaref assumes a value.
//
//   dim          D    model width                 n_layers    L   transformer blocks
//   n_heads      H    query heads                 n_kv_heads  KV  key/value heads (GQA: KV < H)
//   head_dim     Dh   width of one head (usually D / H; Llama 3.2 states it separately)
//   hidden_dim   F    SwiGLU hidden size          vocab_size  V
//   norm_eps     ε of RMSNorm (LLaMA 1: 1e-6, Llama 2/3: 1e-5)
//   rope_theta   RoPE base (1e4 LLaMA 1/2, 5e5 Llama 3, 1e6 Code Llama)
//   rope_scaling Llama 3.1 frequency scaling (factor 8 for 3.1, 32 for 3.2 1B/3B)
//
// The family's peers change a few more switches (docs/family.md has the table; each switch is
// implemented in the header of its box):
//   Mistral 7B (Jiang et al. 2023, arXiv 2310.06825 §2)  sliding_window W       attention.hpp, kv_cache.hpp
//   Gemma (Gemma Team 2024, arXiv 2403.08295 §2)         activation gelu_tanh   feed_forward.hpp
//                                                        norm_unit_offset (1+w) rmsnorm.hpp
//                                                        embed_scale (× √D), head_dim ≠ D/H, tied output
//   Gemma 2 (Gemma Team 2024, arXiv 2408.00118 §2)       + sliding_layers even, attn_softcap,
//                                                        final_softcap (softcap.hpp), post_norms,
//                                                        query_pre_attn_scalar
#pragma once

#include <cmath>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "../core/error.hpp"
#include "../core/limits.hpp"

namespace llamaref {

// Llama 3.1 RoPE scaling ("rope_type": "llama3" / Meta's use_scaled_rope). See model/rope.hpp.
struct RopeScaling {
    bool enabled = false;
    double factor = 8.0;             // F: long wavelengths are divided by this
    double low_freq_factor = 1.0;    // L
    double high_freq_factor = 4.0;   // H
    double original_context = 8192;  // N: context length of pre-training
};

// The FFN's gate non-linearity: SwiGLU (Llama, Mistral) or GeGLU with tanh-approximated GELU (Gemma).
enum class Activation { silu, gelu_tanh };

// Which layers use the sliding window: every one (Mistral) or layers 0, 2, 4, ... with the odd
// layers global (Gemma 2: "we alternate between a local sliding window attention and global
// attention in every other layer", 2408.00118 §2.2; gemma_pytorch and transformers: even = local).
enum class SlidingLayers { all, even };

// Attention's head geometry: H query heads of Dh numbers each, grouped over KV key/value heads
// (GQA: query head h reads KV head h / n_rep()). One value instead of three loose ints that are
// easy to pass in the wrong order.
struct Heads {
    int n_heads = 0;                                    // H
    int n_kv_heads = 0;                                 // KV  (H is a multiple of KV)
    int head_dim = 0;                                   // Dh
    int n_rep() const { return n_heads / n_kv_heads; }  // query heads per KV head
};

struct ModelConfig {
    int dim = 0;
    int n_layers = 0;
    int n_heads = 0;
    int n_kv_heads = 0;
    int head_dim = 0;
    int hidden_dim = 0;
    int vocab_size = 0;
    double norm_eps = 1e-5;
    double rope_theta = 10000.0;
    RopeScaling rope_scaling;
    bool tied_embeddings = false;  // output head = token embedding matrix (Llama 3.2 1B/3B)
    int max_seq_len = 2048;        // positions the KV cache holds

    // --- the peers' switches; the defaults are Llama ---
    std::string arch = "llama";  // what the checkpoint called itself: llama, mistral, gemma, gemma2
    int sliding_window = 0;      // W > 0: a query sees its W most recent positions, itself included
    SlidingLayers sliding_layers = SlidingLayers::all;  // which layers have the window
    Activation activation = Activation::silu;
    bool norm_unit_offset = false;     // Gemma: RMSNorm multiplies by (1 + w), w as stored
    bool embed_scale = false;          // Gemma: the embeddings are multiplied by √D (in float32)
    bool post_norms = false;           // Gemma 2: an RMSNorm on the attention and FFN outputs too
    double query_pre_attn_scalar = 0;  // Gemma 2: scores scaled by 1/√this (0: 1/√Dh)
    double attn_softcap = 0;           // Gemma 2: scores ← c·tanh(scores / c) (0: off)
    double final_softcap = 0;          // Gemma 2: logits ← c·tanh(logits / c) (0: off)

    // The window of layer l (0: none, the layer sees every earlier position).
    int window(int layer) const {
        if (sliding_window <= 0) return 0;
        return sliding_layers == SlidingLayers::all || layer % 2 == 0 ? sliding_window : 0;
    }
    // The factor of q·k before the softmax: 1/√Dh (Vaswani et al. eq. 1), or Gemma 2's 1/√qpas.
    float attention_scale() const {
        return 1.0f / std::sqrt(float(query_pre_attn_scalar > 0 ? query_pre_attn_scalar : head_dim));
    }
    // The switches by which this config differs from plain Llama, for engines that implement only
    // Llama (the CUDA path, llama2.c files): "" when there are none.
    std::string beyond_llama() const {
        std::string s;
        auto add = [&](bool on, const char* what) {
            if (on) s += (s.empty() ? "" : ", ") + std::string(what);
        };
        add(sliding_window > 0, "sliding-window attention");
        add(activation != Activation::silu, "GeGLU");
        add(norm_unit_offset, "RMSNorm (1 + w)");
        add(embed_scale, "embeddings × √D");
        add(post_norms, "post-norms");
        add(query_pre_attn_scalar > 0 && query_pre_attn_scalar != head_dim, "query_pre_attn_scalar");
        add(attn_softcap > 0, "attention soft-capping");
        add(final_softcap > 0, "final soft-capping");
        return s;
    }

    int n_rep() const { return n_heads / n_kv_heads; }  // query heads per KV head
    Heads heads() const { return {n_heads, n_kv_heads, head_dim}; }
    // H·Dh and KV·Dh, computed in 64 bits: at most 2^20 once validate() has passed, and an Error
    // (not a wrapped int) for a config that was never validated.
    int q_dim() const { return checked_int(int64_t(n_heads) * head_dim, "model config: n_heads × head_dim"); }
    int kv_dim() const { return checked_int(int64_t(n_kv_heads) * head_dim, "model config: n_kv_heads × head_dim"); }

    // Throws llamaref::Error naming the first inconsistent field. Every size must be positive and
    // within the plausibility limits of core/limits.hpp, so that nothing computed from a validated
    // config (H·Dh, V·D, per-layer storage) can overflow or allocate absurd amounts.
    void validate() const {
        auto in_range = [](const char* name, int64_t v, int64_t max) {
            if (v <= 0) fail("model config: ", name, " must be positive, got ", v);
            if (v > max)
                fail("model config: ", name, " ", v, " is beyond llamaref's limit of ", max,
                     " (core/limits.hpp; a corrupt file?)");
        };
        in_range("dim", dim, limits::max_dim);
        in_range("n_layers", n_layers, limits::max_layers);
        in_range("n_heads", n_heads, limits::max_heads);
        in_range("n_kv_heads", n_kv_heads, limits::max_heads);
        in_range("head_dim", head_dim, limits::max_head_dim);
        in_range("hidden_dim", hidden_dim, limits::max_hidden_dim);
        in_range("vocab_size", vocab_size, limits::max_vocab);
        in_range("max_seq_len", max_seq_len, limits::max_context);
        if (n_heads % n_kv_heads != 0)
            fail("model config: n_heads (", n_heads, ") must be a multiple of n_kv_heads (", n_kv_heads, ")");
        if (head_dim % 2 != 0) fail("model config: RoPE needs an even head_dim, got ", head_dim);
        if (!(norm_eps > 0) || !std::isfinite(norm_eps))
            fail("model config: norm_eps must be positive, got ", norm_eps);
        if (!(rope_theta > 0) || !std::isfinite(rope_theta))
            fail("model config: rope_theta must be positive, got ", rope_theta);
        if (sliding_window < 0 || sliding_window > limits::max_context)
            fail("model config: sliding_window must be in 0..", limits::max_context, ", got ", sliding_window);
        for (const auto& [name, v] : {std::pair<const char*, double>{"query_pre_attn_scalar", query_pre_attn_scalar},
                                      {"attn_softcap", attn_softcap},
                                      {"final_softcap", final_softcap}})
            if (!(v >= 0) || !std::isfinite(v)) fail("model config: ", name, " must be a non-negative number, got ", v);
        if (rope_scaling.enabled) {
            const auto& s = rope_scaling;
            if (!(s.factor >= 1) || !(s.low_freq_factor > 0) || !(s.high_freq_factor > s.low_freq_factor) ||
                !(s.original_context > 0) || !std::isfinite(s.factor) || !std::isfinite(s.high_freq_factor) ||
                !std::isfinite(s.original_context))
                fail(
                    "model config: rope scaling needs factor >= 1, 0 < low_freq_factor < high_freq_factor and "
                    "original context > 0; got factor ",
                    s.factor, ", low ", s.low_freq_factor, ", high ", s.high_freq_factor, ", original context ",
                    s.original_context);
        }
    }

    std::string describe() const {
        std::ostringstream o;
        o << "dim " << dim << ", layers " << n_layers << ", heads " << n_heads << " (kv " << n_kv_heads << ", head_dim "
          << head_dim << "), ffn " << hidden_dim << ", vocab " << vocab_size << ", eps " << norm_eps << ", rope theta "
          << rope_theta;
        if (rope_scaling.enabled)
            o << " scaled (factor " << rope_scaling.factor << ", low " << rope_scaling.low_freq_factor << ", high "
              << rope_scaling.high_freq_factor << ", original " << rope_scaling.original_context << ")";
        o << ", " << (tied_embeddings ? "tied" : "separate") << " output, context " << max_seq_len;
        if (arch != "llama") o << "; " << arch;
        if (sliding_window > 0)
            o << ", window " << sliding_window << (sliding_layers == SlidingLayers::even ? " (even layers)" : "");
        if (activation == Activation::gelu_tanh) o << ", GeGLU";
        if (norm_unit_offset) o << ", norm 1+w";
        if (embed_scale) o << ", emb ×√D";
        if (post_norms) o << ", post-norms";
        if (query_pre_attn_scalar > 0) o << ", query_pre_attn_scalar " << query_pre_attn_scalar;
        if (attn_softcap > 0) o << ", attn softcap " << attn_softcap;
        if (final_softcap > 0) o << ", final softcap " << final_softcap;
        return o.str();
    }
};

// The feed-forward hidden size from Meta's params.json (model.py, FeedForward.__init__):
//   h = int(2 · 4·dim / 3);  if ffn_dim_multiplier: h = int(ffn_dim_multiplier · h);
//   h = multiple_of · ceil(h / multiple_of)
// Llama 2 7B: 11008, Llama 3 8B: 14336, Llama 3.1 405B: 53248.
// Computed in 64 bits; a result beyond limits::max_hidden_dim (e.g. ffn_dim_multiplier 1e300) or a
// multiplier that is not a positive finite number is an Error, never a cast of a huge double.
inline int ffn_hidden_dim(int dim, int multiple_of, std::optional<double> ffn_dim_multiplier = std::nullopt) {
    if (dim <= 0 || multiple_of <= 0)
        fail("ffn_hidden_dim: dim and multiple_of must be positive, got dim ", dim, " and multiple_of ", multiple_of);
    if (dim > limits::max_dim) fail("ffn_hidden_dim: dim ", dim, " is beyond llamaref's limit of ", limits::max_dim);
    if (multiple_of > limits::max_hidden_dim)
        fail("ffn_hidden_dim: multiple_of ", multiple_of, " is beyond llamaref's limit of ", limits::max_hidden_dim);
    int64_t h = 4 * int64_t(dim);
    h = (2 * h) / 3;  // int(2 * h / 3) for positive h
    if (ffn_dim_multiplier) {
        const double m = *ffn_dim_multiplier;
        if (!(m > 0) || !std::isfinite(m)) fail("ffn_dim_multiplier must be a positive number, got ", m);
        const double scaled = m * double(h);
        if (!(scaled < double(limits::max_hidden_dim)))
            fail("ffn_dim_multiplier ", m, " gives a hidden size of ", scaled, ", beyond llamaref's limit of ",
                 limits::max_hidden_dim);
        h = static_cast<int64_t>(scaled);
    }
    h = multiple_of * ((h + multiple_of - 1) / multiple_of);
    if (h <= 0 || h > limits::max_hidden_dim)
        fail("ffn_hidden_dim: dim ", dim, " and multiple_of ", multiple_of, " give a hidden size of ", h,
             ", outside 1..", limits::max_hidden_dim);
    return int(h);
}

}  // namespace llamaref
