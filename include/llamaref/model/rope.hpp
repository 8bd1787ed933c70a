// llamaref/model/rope.hpp — Rotary Position Embedding.
//
// Su et al. 2021, "RoFormer", §3.2–3.4, eq. 34; LLaMA paper §2.2 "Rotary Embeddings"; the Llama
// 3.1 frequency scaling from Meta's reference (llama-models, apply_scaling) and the Llama 3
// paper §3.2. RoPE turns the position of a token into a rotation of each pair of coordinates of
// its query and key vectors, so that q·k depends only on the distance between the two tokens.
//
// Frequencies, one per pair i = 0 .. Dh/2 − 1:
//     θ_i = base^(−2i / Dh)
// and for position m the pair (a, b) is rotated by the angle m·θ_i:
//     a' = a·cos(mθ_i) − b·sin(mθ_i)
//     b' = a·sin(mθ_i) + b·cos(mθ_i)
//
// Which two coordinates form "pair i" is where implementations differ:
//   * pairs  (Meta's reference, llama2.c, GGUF/llama.cpp): (x[2i], x[2i+1]) — x viewed as complex
//   * halves (Hugging Face "rotate_half"):                  (x[i], x[i + Dh/2])
// Both are the same model when the rows of wq and wk are permuted inside each head, which HF's
// converter does. llamaref computes in the pairs form; HF checkpoints are un-permuted on load
// (hf_unpermute_rows below — for wk with n_kv_heads, not n_heads). rope_halves is kept so a test
// proves pairs(x·W) == halves(x·permute(W)).
//
// Llama 3.1 scaling (factor F, low L, high H, original context N), per frequency, before use:
//     λ = 2π/θ_i;  λ < N/H → θ_i;   λ > N/L → θ_i/F;
//     otherwise s = (N/λ − L)/(H − L),  θ_i' = (1 − s)·θ_i/F + s·θ_i
//
// Precision: llamaref computes θ_i, the angle m·θ_i and its cos/sin in float64 and rotates in
// float32. Meta and HF compute the angle in float32, whose spacing near m = 20000 is already
// ~0.002 rad; the float64 angle is the exact mathematics (tests check positions ≥ 100000 against
// a float64 computation, and the Meta fixtures at small positions agree to ~1e-6).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

#include "config.hpp"  // plain C++ only: the CUDA kernels use rope_frequencies too

namespace llamaref {

// θ_i for i = 0 .. Dh/2 − 1, with the Llama 3.1 scaling applied when enabled.   -> [Dh/2]
inline std::vector<double> rope_frequencies(int head_dim, double base, const RopeScaling& scaling = {}) {
    std::vector<double> theta(head_dim / 2);
    for (int i = 0; i < head_dim / 2; ++i) theta[i] = std::pow(base, -2.0 * i / head_dim);
    if (!scaling.enabled) return theta;
    const double F = scaling.factor, L = scaling.low_freq_factor, H = scaling.high_freq_factor;
    const double N = scaling.original_context;
    const double low_freq_wavelen = N / L, high_freq_wavelen = N / H;
    for (double& t : theta) {
        const double wavelen = 2 * std::numbers::pi / t;
        if (wavelen < high_freq_wavelen) continue;  // high frequency: keep
        if (wavelen > low_freq_wavelen) {
            t = t / F;
            continue;
        }                                              // low frequency: slow down
        const double s = (N / wavelen - L) / (H - L);  // in between: blend
        t = (1 - s) * t / F + s * t;
    }
    return theta;
}

// cos(mθ_i) and sin(mθ_i) for the positions start .. start+T−1.
struct RopeTable {
    std::size_t n_pairs = 0;
    std::vector<float> cos, sin;  // [T, Dh/2] each

    RopeTable() = default;
    RopeTable(const std::vector<double>& theta, std::size_t start, std::size_t T) { compute(theta, start, T); }

    // (Re)fill the table for positions start .. start+T−1, reusing its memory.
    void compute(const std::vector<double>& theta, std::size_t start, std::size_t T) {
        n_pairs = theta.size();
        cos.resize(T * n_pairs);
        sin.resize(T * n_pairs);
        for (std::size_t t = 0; t < T; ++t)
            for (std::size_t i = 0; i < n_pairs; ++i) {
                const double angle = double(start + t) * theta[i];
                cos[t * n_pairs + i] = float(std::cos(angle));
                sin[t * n_pairs + i] = float(std::sin(angle));
            }
    }
};

// Rotate adjacent pairs (x[2i], x[2i+1]) of every head of one token at table row t.
//   x: [n_heads, Dh] (in place)
inline void rope_pairs(float* x, int n_heads, int head_dim, const RopeTable& table, std::size_t t) {
    const float* c = table.cos.data() + t * table.n_pairs;
    const float* s = table.sin.data() + t * table.n_pairs;
    for (int h = 0; h < n_heads; ++h) {
        float* v = x + std::size_t(h) * head_dim;
        for (int i = 0; i < head_dim / 2; ++i) {
            const float a = v[2 * i], b = v[2 * i + 1];
            v[2 * i] = a * c[i] - b * s[i];
            v[2 * i + 1] = a * s[i] + b * c[i];
        }
    }
}

// Rotate halves (x[i], x[i + Dh/2]) of every head — the Hugging Face form.   x: [n_heads, Dh]
inline void rope_halves(float* x, int n_heads, int head_dim, const RopeTable& table, std::size_t t) {
    const float* c = table.cos.data() + t * table.n_pairs;
    const float* s = table.sin.data() + t * table.n_pairs;
    const int half = head_dim / 2;
    for (int h = 0; h < n_heads; ++h) {
        float* v = x + std::size_t(h) * head_dim;
        for (int i = 0; i < half; ++i) {
            const float a = v[i], b = v[i + half];
            v[i] = a * c[i] - b * s[i];
            v[i + half] = a * s[i] + b * c[i];
        }
    }
}

// Row index maps between the two layouts, inside one head of Dh rows.
// HF's converter places Meta row 2i+j at HF row j·Dh/2 + i (j ∈ {0, 1}).
inline std::size_t hf_row_of_meta_row(std::size_t r, std::size_t head_dim) {
    const std::size_t h = r / head_dim, k = r % head_dim, i = k / 2, j = k % 2;
    return h * head_dim + j * (head_dim / 2) + i;
}

// Undo HF's permutation of wq (n_heads) or wk (n_kv_heads):  W_meta[r] = W_hf[hf_row(r)].
//   src, dst: [n_heads·Dh, cols] rows of row_bytes each (any dtype: rows are moved, not read)
inline void hf_unpermute_rows(const std::byte* src, std::byte* dst, std::size_t n_heads, std::size_t head_dim,
                              std::size_t row_bytes) {
    for (std::size_t r = 0; r < n_heads * head_dim; ++r)
        std::copy_n(src + hf_row_of_meta_row(r, head_dim) * row_bytes, row_bytes, dst + r * row_bytes);
}

// The inverse: Meta (pairs) rows to HF (halves) rows — what HF's converter does.
inline void hf_permute_rows(const std::byte* src, std::byte* dst, std::size_t n_heads, std::size_t head_dim,
                            std::size_t row_bytes) {
    for (std::size_t r = 0; r < n_heads * head_dim; ++r)
        std::copy_n(src + r * row_bytes, row_bytes, dst + hf_row_of_meta_row(r, head_dim) * row_bytes);
}

}  // namespace llamaref
