// llamaref/sampling/sampler.hpp — from logits to the next token: penalties, temperature, top-k,
// top-p, min-p, and the draw.
//
// llamaref's chain, in this order (each step a function below, readable on its own):
//   1. penalties over the last `penalty_last_n` tokens — repetition (CTRL, Keskar et al. 2019,
//      eq. 2: a positive logit is divided by r, a negative one multiplied), frequency (− count·f)
//      and presence (− p once); applied once per distinct token;
//   2. temperature: logits / T (T = 0 means greedy: argmax, nothing else applies);
//   3. softmax, candidates sorted by probability (ties by id);
//   4. top-k: keep the k most likely (k = 0: all);
//   5. top-p (nucleus, Holtzman et al. 2019 §3.1) with Meta's semantics: keep a token while the
//      cumulative probability *before* it is ≤ p — the token that crosses p is kept;
//   6. min-p: keep tokens with probability ≥ min_p · p_max;
//   7. renormalise and draw with one coin in [0, 1) (sample(probs, coin): the CDF walk).
//
// Other engines, same knobs, other distributions:
//   * Meta (llama/generation.py): temperature → softmax → top-p → torch.multinomial. No top-k,
//     min-p or penalties.
//   * Hugging Face (generate): logits processors (repetition penalty, ...) then warpers in the
//     order temperature → top-k → top-p → min-p; its top-p removes tokens whose cumulative
//     probability (ascending sort) is ≤ 1 − p, which equals Meta's rule except at exact ties.
//   * llama.cpp (common sampler default chain): penalties → DRY → top-n-σ → top-k → typical →
//     top-p → min-p → XTC → temperature → draw: temperature comes LAST, after the cutoffs, so
//     top-p/min-p act on the untempered distribution.
// llama2.c's own top-p variant (used by --rng llama2c) is sample_llama2c below.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <numeric>
#include <span>
#include <vector>

#include "../core/error.hpp"
#include "../core/ops.hpp"
#include "rng.hpp"

namespace llamaref {

struct SamplingParams {
    double temperature = 1.0;  // 0: greedy
    int top_k = 0;             // 0: off
    double top_p = 1.0;        // 1: off
    double min_p = 0.0;        // 0: off
    double repeat_penalty = 1.0;
    double frequency_penalty = 0.0;
    double presence_penalty = 0.0;
    int penalty_last_n = 64;

    void validate() const {
        if (!std::isfinite(temperature) || temperature < 0) fail("temperature must be >= 0, got ", temperature);
        if (top_k < 0) fail("top-k must be >= 0, got ", top_k);
        if (!(top_p > 0 && top_p <= 1)) fail("top-p must be in (0, 1], got ", top_p);
        if (!(min_p >= 0 && min_p <= 1)) fail("min-p must be in [0, 1], got ", min_p);
        if (!std::isfinite(repeat_penalty) || repeat_penalty <= 0)
            fail("repeat penalty must be > 0, got ", repeat_penalty);
        if (!std::isfinite(frequency_penalty)) fail("frequency penalty must be finite");
        if (!std::isfinite(presence_penalty)) fail("presence penalty must be finite");
        if (penalty_last_n < 0) fail("penalty window must be >= 0, got ", penalty_last_n);
    }
};

struct Candidate {
    int id;
    double p;
};

inline void check_logits(const float* logits, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(logits[i])) fail("sampling: logit of token ", i, " is ", logits[i], " (NaN or infinite)");
}

// 1. Penalties for tokens seen in `recent` (the caller passes the last penalty_last_n tokens).
inline void apply_penalties(float* logits, std::size_t n, std::span<const int> recent, const SamplingParams& s) {
    std::map<int, int> count;
    for (int id : recent)
        if (id >= 0 && std::size_t(id) < n) ++count[id];
    for (auto [id, c] : count) {
        float& l = logits[id];
        l = l > 0 ? float(l / s.repeat_penalty) : float(l * s.repeat_penalty);
        l -= float(c * s.frequency_penalty + s.presence_penalty);
    }
}

// 3. softmax(logits / T), sorted by probability, most likely first (ties: lower id first).
inline std::vector<Candidate> softmax_candidates(const float* logits, std::size_t n, double temperature) {
    std::vector<Candidate> c(n);
    double mx = -INFINITY;
    for (std::size_t i = 0; i < n; ++i) mx = std::max(mx, double(logits[i]) / temperature);
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
        c[i] = {int(i), std::exp(double(logits[i]) / temperature - mx)};
        sum += c[i].p;
    }
    for (auto& x : c) x.p /= sum;
    std::stable_sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) { return a.p > b.p; });
    return c;
}

// 4. top-k on sorted candidates.
inline void top_k(std::vector<Candidate>& c, int k) {
    if (k > 0 && std::size_t(k) < c.size()) c.resize(k);
}

// 5. top-p on sorted candidates: keep c[i] while Σ_{j<i} p_j ≤ p (so the crossing token stays).
inline void top_p(std::vector<Candidate>& c, double p) {
    double before = 0;
    std::size_t keep = 0;
    while (keep < c.size() && before <= p) before += c[keep++].p;
    c.resize(std::max<std::size_t>(keep, 1));
}

// 6. min-p on sorted candidates: keep p_i ≥ min_p · p_max.
inline void min_p(std::vector<Candidate>& c, double m) {
    if (c.empty()) return;
    const double cut = m * c.front().p;
    std::size_t keep = 0;
    while (keep < c.size() && c[keep].p >= cut) ++keep;
    c.resize(std::max<std::size_t>(keep, 1));
}

inline void renormalize(std::vector<Candidate>& c) {
    double sum = 0;
    for (const auto& x : c) sum += x.p;
    for (auto& x : c) x.p /= sum;
}

// 7. The draw: the first candidate whose cumulative probability exceeds coin ∈ [0, 1).
inline int sample(const std::vector<Candidate>& probs, double coin) {
    double cdf = 0;
    for (const auto& x : probs) {
        cdf += x.p;
        if (coin < cdf) return x.id;
    }
    return probs.back().id;  // rounding: coin ≥ the final sum
}

// The distribution llamaref samples from, after steps 1–6 (renormalised). Exposed for teaching
// and for the statistics tests.
inline std::vector<Candidate> sampling_distribution(std::vector<float> logits, std::span<const int> recent,
                                                    const SamplingParams& s) {
    s.validate();
    check_logits(logits.data(), logits.size());
    apply_penalties(logits.data(), logits.size(), recent, s);
    auto c = softmax_candidates(logits.data(), logits.size(), s.temperature);
    top_k(c, s.top_k);
    top_p(c, s.top_p);
    min_p(c, s.min_p);
    renormalize(c);
    return c;
}

// llama2.c's sampler (run.c: sample, sample_mult, sample_topp), float32 like the original, so
// that --rng llama2c reproduces its output. Its top-p first drops tokens below
// (1 − p)/(n − 1), sorts the rest (descending), keeps up to and including the token at which the
// cumulative probability exceeds p, and draws coin · (that cumulative probability).
inline int sample_llama2c(std::vector<float> logits, float temperature, float topp, Llama2cRng& rng) {
    const std::size_t n = logits.size();
    check_logits(logits.data(), n);
    if (temperature == 0.0f) return int(argmax(logits.data(), n));
    for (auto& l : logits) l /= temperature;
    float mx = logits[0];
    for (float l : logits) mx = std::max(mx, l);
    float sum = 0.0f;
    for (auto& l : logits) {
        l = std::exp(l - mx);
        sum += l;
    }
    for (auto& l : logits) l /= sum;
    const float coin = float(rng.coin());
    if (topp <= 0 || topp >= 1) {  // sample_mult
        float cdf = 0.0f;
        for (std::size_t i = 0; i < n; ++i) {
            cdf += logits[i];
            if (coin < cdf) return int(i);
        }
        return int(n - 1);
    }
    const float cutoff = (1.0f - topp) / float(n - 1);
    std::vector<std::pair<float, int>> c;
    for (std::size_t i = 0; i < n; ++i)
        if (logits[i] >= cutoff) c.push_back({logits[i], int(i)});
    std::stable_sort(c.begin(), c.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    float cumulative = 0.0f;
    std::size_t last = c.size() - 1;
    for (std::size_t i = 0; i < c.size(); ++i) {
        cumulative += c[i].first;
        if (cumulative > topp) {
            last = i;
            break;
        }
    }
    const float r = coin * cumulative;
    float cdf = 0.0f;
    for (std::size_t i = 0; i <= last; ++i) {
        cdf += c[i].first;
        if (r < cdf) return c[i].second;
    }
    return c[last].second;
}

// The whole chain with a generator: what generate and chat call once per token.
class Sampler {
  public:
    Sampler(SamplingParams params, Rng& rng) : p_(params), rng_(rng) { p_.validate(); }

    // logits: [V] of the last position; history: every token so far (the penalty window is cut here).
    int next(const float* logits, std::size_t n, std::span<const int> history) {
        if (p_.temperature == 0 && p_.repeat_penalty == 1 && p_.frequency_penalty == 0 && p_.presence_penalty == 0) {
            check_logits(logits, n);
            return int(argmax(logits, n));
        }
        const std::size_t w = std::min<std::size_t>(history.size(), std::size_t(p_.penalty_last_n));
        std::vector<float> l(logits, logits + n);
        if (p_.temperature == 0) {  // greedy after penalties
            check_logits(l.data(), n);
            apply_penalties(l.data(), n, history.last(w), p_);
            return int(argmax(l.data(), n));
        }
        return sample(sampling_distribution(std::move(l), history.last(w), p_), rng_.coin());
    }

  private:
    SamplingParams p_;
    Rng& rng_;
};

}  // namespace llamaref
