// llamaref/verify/kl_divergence.hpp — how far a model's next-token distributions lie from a base model's.
//
// Perplexity says how well a model predicts a text; it cannot tell a quantized model that moves
// probability around from the float model it came from. These statistics can (llama.cpp's
// `llama-perplexity --kl-divergence`, which introduced them for quantization, reports the same
// ones). At every scored position i, with P_i the base model's next-token distribution (the float
// model, the reference) and Q_i the model's under test, both log-softmax of their logits in double:
//
//   KLD_i   = KL(P_i ‖ Q_i) = Σ_v P_i(v) · (log P_i(v) − log Q_i(v))      (nats; 0 iff P_i = Q_i)
//   Δp_i    = Q_i(x_i) − P_i(x_i)        the change of the probability of the text's next token x_i
//   same_i  = argmax P_i = argmax Q_i   ("same top p", top-1 agreement; ties: the first id)
//
// summarised over the N positions as: mean KLD with its standard error (sd / √(N−1)), its
// percentiles (the value at rank round(q·(N−1)) of the sorted values; 0 %: the minimum, 100 %: the
// maximum), mean Δp ± its standard error, RMS Δp = √(mean Δp²), Δp's percentiles, and the share of
// positions with the same top token (± √(f(1−f)/(N−1))).
//
// When only the base's top K log-probabilities are at hand (an API returns a few; a saved base
// keeps a few MB instead of V floats per position), the estimate below groups the vocabulary into
// the K tokens and "the rest" and takes KL between those K + 1-bin distributions:
//
//   KL_K = Σ_{v ∈ top K} P(v)·(log P(v) − log Q(v))  +  P_rest·(log P_rest − log Q_rest),
//   P_rest = 1 − Σ_{top K} P(v),   Q_rest = 1 − Σ_{top K} Q(v)
//
// Merging bins never increases a KL divergence (the log-sum inequality), so 0 ≤ KL_K ≤ KL, and
// KL_K = KL when K = V. The gap is what the rest's tokens move among themselves;
// tests/test_verify.cpp measures it on the fixtures.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <vector>

#include "../core/error.hpp"
#include "perplexity.hpp"

namespace llamaref {

// log softmax(logits) in double.   logits: [V] -> [V]
inline std::vector<double> log_softmax(const float* logits, std::size_t V) {
    double mx = logits[0];
    for (std::size_t v = 1; v < V; ++v) mx = std::max(mx, double(logits[v]));
    double sum = 0;
    for (std::size_t v = 0; v < V; ++v) sum += std::exp(double(logits[v]) - mx);
    const double log_z = mx + std::log(sum);
    std::vector<double> out(V);
    for (std::size_t v = 0; v < V; ++v) out[v] = double(logits[v]) - log_z;
    return out;
}

// KL(P ‖ Q) over the whole vocabulary, from log-probabilities.   lp, lq: [V]
inline double kl_divergence(const std::vector<double>& lp, const std::vector<double>& lq) {
    if (lp.size() != lq.size()) fail("kl_divergence: ", lp.size(), " and ", lq.size(), " probabilities");
    double kl = 0;
    for (std::size_t v = 0; v < lp.size(); ++v)
        if (std::isfinite(lp[v])) kl += std::exp(lp[v]) * (lp[v] - lq[v]);
    return kl;
}

// The base's K most likely tokens and their log-probabilities, most likely first (ties: lower id).
struct TopLogprobs {
    std::vector<int> ids;
    std::vector<double> logprobs;
};
inline TopLogprobs top_logprobs(const std::vector<double>& lp, std::size_t K) {
    std::vector<int> order(lp.size());
    std::iota(order.begin(), order.end(), 0);
    K = std::min(K, lp.size());
    std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(K), order.end(), [&](int a, int b) {
        return lp[std::size_t(a)] > lp[std::size_t(b)] || (lp[std::size_t(a)] == lp[std::size_t(b)] && a < b);
    });
    TopLogprobs t;
    for (std::size_t i = 0; i < K; ++i) {
        t.ids.push_back(order[i]);
        t.logprobs.push_back(lp[std::size_t(order[i])]);
    }
    return t;
}

// KL(P ‖ Q) of the two distributions grouped into the bins {v} for each v of a set of ids, and
// "the rest": lp_ids and lq_ids are P's and Q's log-probabilities at those ids (the rest's masses
// are 1 − their sums). Merging bins never increases a KL divergence: 0 ≤ this ≤ KL(P ‖ Q).
inline double kl_divergence_binned(const std::vector<double>& lp_ids, const std::vector<double>& lq_ids) {
    if (lp_ids.size() != lq_ids.size()) fail("kl_divergence_binned: ", lp_ids.size(), " and ", lq_ids.size(), " bins");
    double kl = 0, p_top = 0, q_top = 0;
    for (std::size_t i = 0; i < lp_ids.size(); ++i) {
        if (std::isfinite(lp_ids[i])) kl += std::exp(lp_ids[i]) * (lp_ids[i] - lq_ids[i]);
        p_top += std::exp(lp_ids[i]), q_top += std::exp(lq_ids[i]);
    }
    // The rest's mass, 1 − Σ: below 1e-12 it is the rounding of the sum (the ids ≈ all), not probability.
    const double p_rest = 1.0 - p_top, q_rest = std::max(1.0 - q_top, 1e-300);
    if (p_rest > 1e-12) kl += p_rest * (std::log(p_rest) - std::log(q_rest));
    return kl;
}

// KL_K: the divergence of the K + 1-bin distributions (the base's top K, and the rest) above.
// lq: the model's log-probabilities over the whole vocabulary [V].
inline double kl_divergence_top_k(const TopLogprobs& base, const std::vector<double>& lq) {
    std::vector<double> lq_ids;
    for (int id : base.ids) lq_ids.push_back(lq.at(std::size_t(id)));
    return kl_divergence_binned(base.logprobs, lq_ids);
}

// One scored position, compared.
struct PositionComparison {
    double kld = 0;         // KL(P ‖ Q)
    double logp_base = 0;   // log P(x): the base's log-probability of the text's next token
    double logp_model = 0;  // log Q(x)
    bool same_top = false;
    double dp() const { return std::exp(logp_model) - std::exp(logp_base); }  // Δp
};

// The two distributions of one position: base and model logits [V], the text's next token.
inline PositionComparison compare_position(const float* base_logits, const float* model_logits, std::size_t V,
                                           int next) {
    const std::vector<double> lp = log_softmax(base_logits, V), lq = log_softmax(model_logits, V);
    PositionComparison c;
    c.kld = kl_divergence(lp, lq);
    c.logp_base = lp.at(std::size_t(next));
    c.logp_model = lq.at(std::size_t(next));
    c.same_top =
        std::max_element(lp.begin(), lp.end()) - lp.begin() == std::max_element(lq.begin(), lq.end()) - lq.begin();
    return c;
}

// The summary of many positions (the header's definitions).
struct KlSummary {
    std::size_t n = 0;
    double kld_mean = 0, kld_stderr = 0;
    double dp_mean = 0, dp_stderr = 0, dp_rms = 0;
    double same_top = 0, same_top_stderr = 0;  // fractions
    // Percentiles at kPercentiles (0: minimum … 1: maximum).
    std::vector<double> kld_pct, dp_pct;
    static constexpr double kPercentiles[] = {1.0, 0.999, 0.99, 0.95, 0.90, 0.5, 0.10, 0.05, 0.01, 0.001, 0.0};
};

// The value at rank round(q·(n−1)) of the sorted values.
inline double percentile(const std::vector<double>& sorted, double q) {
    return sorted[std::size_t(std::llround(q * double(sorted.size() - 1)))];
}

inline KlSummary summarize(const std::vector<PositionComparison>& c) {
    if (c.empty()) fail("KL divergence: no positions were scored");
    KlSummary s;
    s.n = c.size();
    const double n = double(s.n);
    auto mean_and_stderr = [&](const std::vector<double>& x, double& mean, double& se) {
        mean = std::accumulate(x.begin(), x.end(), 0.0) / n;
        double var = 0;
        for (double v : x) var += (v - mean) * (v - mean);
        se = s.n > 1 ? std::sqrt(var / n / (n - 1)) : 0.0;
    };
    std::vector<double> kld, dp;
    double same = 0, sq = 0;
    for (const auto& p : c) {
        kld.push_back(p.kld);
        dp.push_back(p.dp());
        sq += dp.back() * dp.back();
        same += p.same_top ? 1 : 0;
    }
    mean_and_stderr(kld, s.kld_mean, s.kld_stderr);
    mean_and_stderr(dp, s.dp_mean, s.dp_stderr);
    s.dp_rms = std::sqrt(sq / n);
    s.same_top = same / n;
    s.same_top_stderr = s.n > 1 ? std::sqrt(s.same_top * (1 - s.same_top) / (n - 1)) : 0.0;
    std::sort(kld.begin(), kld.end());
    std::sort(dp.begin(), dp.end());
    for (double q : KlSummary::kPercentiles) {
        s.kld_pct.push_back(percentile(kld, q));
        s.dp_pct.push_back(percentile(dp, q));
    }
    return s;
}

// Both models on the same windows of the text (perplexity.hpp's cut): each one's perplexity, and
// every scored position compared. progress(windows_done, windows_total) after each window.
struct BaseComparison {
    PerplexityResult model, base;
    std::vector<PositionComparison> positions;
};
inline BaseComparison compare_to_base(Transformer& model, Transformer& base, const std::vector<int>& tokens, int ctx,
                                      int stride, int bos_id, const std::function<void(int, int)>& progress = nullptr) {
    if (model.config().vocab_size != base.config().vocab_size)
        fail("KL divergence: the models' vocabularies differ (", model.config().vocab_size, " and ",
             base.config().vocab_size, " tokens)");
    const std::size_t V = std::size_t(model.config().vocab_size);
    std::vector<double> nll_model, nll_base;
    BaseComparison r;
    const int max_seq = std::min(model.config().max_seq_len, base.config().max_seq_len);
    for_each_window(tokens, ctx, stride, bos_id, max_seq,
                    [&](std::span<const int> window, int from, int to, int done, int total) {
                        const Tensor2 q = model.forward(window, 0), p = base.forward(window, 0);  // [ctx, V] each
                        for (int j = from; j < to; ++j) {  // row j predicts window[j + 1]
                            const PositionComparison c = compare_position(&p(j, 0), &q(j, 0), V, window[j + 1]);
                            r.positions.push_back(c);
                            nll_model.push_back(-c.logp_model);
                            nll_base.push_back(-c.logp_base);
                        }
                        if (progress) progress(done, total);
                    });
    r.model = perplexity_of(std::move(nll_model));
    r.base = perplexity_of(std::move(nll_base));
    return r;
}

}  // namespace llamaref
