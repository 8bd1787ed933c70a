// llamaref/verify/perplexity.hpp — perplexity of a model on a token sequence.
//
//   PPL = exp( (1/N) Σ_i −log p(x_i | x_<i) )   over the N scored tokens,
// reported with the standard error of the estimate: PPL · sqrt(var(−log p) / (N − 1)).
//
// Two ways to cut a long text into windows of ctx tokens:
//   * stride = 0 — llama.cpp's `llama-perplexity` definition: the text (tokenized with BOS) is cut
//     into ⌊N/ctx⌋ independent chunks; the first token of every chunk is replaced by BOS; in each
//     chunk only the second half is scored (tokens ctx/2+1 .. ctx−1, each predicted from at least
//     ctx/2 tokens of context). A trailing partial chunk is not used. Numbers are comparable with
//     llama.cpp on the same tokens and ctx.
//   * stride > 0 — the sliding window of Hugging Face's "perplexity of fixed-length models" guide:
//     windows [b, b+ctx) for b = 0, stride, 2·stride, …; each window scores only the tokens no
//     earlier window scored (the first window scores tokens 1 .. ctx−1). No BOS is inserted.
#pragma once

#include <cmath>
#include <functional>
#include <vector>

#include "../model/transformer.hpp"

namespace llamaref {

struct PerplexityResult {
    double ppl = 0, standard_error = 0;
    std::vector<double> nll;  // −log p of every scored token, in order
};

namespace detail {
// −log softmax(logits)[target], in double.
inline double nll_of(const float* logits, std::size_t V, int target) {
    double mx = logits[0];
    for (std::size_t i = 1; i < V; ++i) mx = std::max(mx, double(logits[i]));
    double sum = 0;
    for (std::size_t i = 0; i < V; ++i) sum += std::exp(double(logits[i]) - mx);
    return std::log(sum) + mx - double(logits[target]);
}
}  // namespace detail

// progress(windows_done, windows_total, running_ppl) after each window.
inline PerplexityResult perplexity(Transformer& model, const std::vector<int>& tokens, int ctx, int stride, int bos_id,
                                   const std::function<void(int, int, double)>& progress = nullptr) {
    if (ctx < 2) fail("perplexity: the context must hold at least 2 tokens, got ", ctx);
    if (stride < 0 || stride > ctx) fail("perplexity: stride must be in [0, ctx], got ", stride);
    if (ctx > model.config().max_seq_len)
        fail("perplexity: ctx ", ctx, " exceeds the context of ", model.config().max_seq_len);
    const int N = int(tokens.size());
    PerplexityResult r;
    double sum = 0;
    auto score = [&](const Tensor2& logits, std::span<const int> window, int from, int to) {
        for (int j = from; j < to; ++j) {  // logits row j predicts window[j + 1]
            r.nll.push_back(detail::nll_of(&logits(j, 0), logits.shape(1), window[j + 1]));
            sum += r.nll.back();
        }
    };
    if (stride == 0) {
        const int chunks = N / ctx;
        if (chunks < 1) fail("perplexity: the text has ", N, " tokens, fewer than one window of ", ctx);
        for (int c = 0; c < chunks; ++c) {
            std::vector<int> window(tokens.begin() + c * ctx, tokens.begin() + (c + 1) * ctx);
            window[0] = bos_id;
            score(model.forward(window, 0), window, ctx / 2, ctx - 1);
            if (progress) progress(c + 1, chunks, std::exp(sum / double(r.nll.size())));
        }
    } else {
        if (N < 2) fail("perplexity: the text has ", N, " tokens; at least 2 are needed");
        const int windows = N <= ctx ? 1 : 1 + (N - ctx + stride - 1) / stride;
        int scored_to = 0;  // tokens 1 .. scored_to have been scored (none yet)
        for (int w = 0; w < windows; ++w) {
            const int b = std::min(w * stride, std::max(0, N - ctx)), e = std::min(b + ctx, N);
            std::span<const int> window(tokens.data() + b, e - b);
            const int from = scored_to - b;  // row j predicts token b+j+1: start at token scored_to+1
            score(model.forward(window, 0), window, from, e - b - 1);
            scored_to = e - 1;
            if (progress) progress(w + 1, windows, std::exp(sum / double(r.nll.size())));
        }
    }
    const double n = double(r.nll.size()), mean = sum / n;
    double var = 0;
    for (double x : r.nll) var += (x - mean) * (x - mean);
    var /= n;
    r.ppl = std::exp(mean);
    r.standard_error = n > 1 ? r.ppl * std::sqrt(var / (n - 1)) : 0.0;
    return r;
}

}  // namespace llamaref
