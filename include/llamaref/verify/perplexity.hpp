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
#include <numeric>
#include <span>
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

// The windows of ctx tokens a text is cut into (the two ways above): calls
// fn(window, from, to, done, total) for each, where rows from .. to−1 of the window's logits are
// scored (row j predicts window[j + 1]) and done/total count the windows.
template <class F>
inline void for_each_window(const std::vector<int>& tokens, int ctx, int stride, int bos_id, int max_seq_len, F&& fn) {
    if (ctx < 2) fail("perplexity: the context must hold at least 2 tokens, got ", ctx);
    if (stride < 0 || stride > ctx) fail("perplexity: stride must be in [0, ctx], got ", stride);
    if (ctx > max_seq_len) fail("perplexity: ctx ", ctx, " exceeds the context of ", max_seq_len);
    const int N = int(tokens.size());
    if (stride == 0) {
        const int chunks = N / ctx;
        if (chunks < 1) fail("perplexity: the text has ", N, " tokens, fewer than one window of ", ctx);
        for (int c = 0; c < chunks; ++c) {
            std::vector<int> window(tokens.begin() + c * ctx, tokens.begin() + (c + 1) * ctx);
            window[0] = bos_id;
            fn(std::span<const int>(window), ctx / 2, ctx - 1, c + 1, chunks);
        }
    } else {
        if (N < 2) fail("perplexity: the text has ", N, " tokens; at least 2 are needed");
        const int windows = N <= ctx ? 1 : 1 + (N - ctx + stride - 1) / stride;
        int scored_to = 0;  // tokens 1 .. scored_to have been scored (none yet)
        for (int w = 0; w < windows; ++w) {
            const int b = std::min(w * stride, std::max(0, N - ctx)), e = std::min(b + ctx, N);
            // row j predicts token b+j+1: start at token scored_to+1
            fn(std::span<const int>(tokens.data() + b, std::size_t(e - b)), scored_to - b, e - b - 1, w + 1, windows);
            scored_to = e - 1;
        }
    }
}

// PPL and its standard error from the −log p of the scored tokens.
inline PerplexityResult perplexity_of(std::vector<double> nll) {
    PerplexityResult r;
    r.nll = std::move(nll);
    const double n = double(r.nll.size()), mean = std::accumulate(r.nll.begin(), r.nll.end(), 0.0) / n;
    double var = 0;
    for (double x : r.nll) var += (x - mean) * (x - mean);
    var /= n;
    r.ppl = std::exp(mean);
    r.standard_error = n > 1 ? r.ppl * std::sqrt(var / (n - 1)) : 0.0;
    return r;
}

// progress(windows_done, windows_total, running_ppl) after each window.
inline PerplexityResult perplexity(Transformer& model, const std::vector<int>& tokens, int ctx, int stride, int bos_id,
                                   const std::function<void(int, int, double)>& progress = nullptr) {
    std::vector<double> nll;
    double sum = 0;
    for_each_window(tokens, ctx, stride, bos_id, model.config().max_seq_len,
                    [&](std::span<const int> window, int from, int to, int done, int total) {
                        const Tensor2 logits = model.forward(window, 0);
                        for (int j = from; j < to; ++j) {  // logits row j predicts window[j + 1]
                            nll.push_back(detail::nll_of(&logits(j, 0), logits.shape(1), window[j + 1]));
                            sum += nll.back();
                        }
                        if (progress) progress(done, total, std::exp(sum / double(nll.size())));
                    });
    return perplexity_of(std::move(nll));
}

}  // namespace llamaref
