// llamaref check — grade a running engine through its OpenAI-compatible HTTP API against the reference.
//
// For each prompt (a file of prompts, one per line, or a built-in set) it asks the engine
//
//   POST URL/v1/completions  {"prompt": TEXT, "max_tokens": N, "temperature": 0, "logprobs": K, "echo": true}
//
// and, if the engine refuses echo (llama-server does), again without it: then only the generated
// positions can be graded, and the report says so. From the answer it takes the token ids the
// engine ran (its prompt and what it generated) and, per position, the id it chose with its
// log-probability and its K likeliest ids with theirs. Two answer shapes are read:
//   OpenAI's legacy completions logprobs (tokens, token_logprobs, top_logprobs) with the ids in
//     llamaref serve's token_ids / top_token_ids / top_token_logprobs, or vLLM's "token_id:N" strings
//     (--return-tokens-as-token-ids);
//   the chat-style logprobs.content[i] = {id, logprob, top_logprobs: [{id, logprob}]} that
//     llama-server returns from /v1/completions.
// An API that names tokens only by their text cannot be graded (a text may be several ids): said.
//
// The reference (-m MODEL, the CPU path) then runs exactly the engine's ids, and each position i
// is compared (verify/kl_divergence.hpp):
//   KLD_i  = KL(P_ref ‖ Q_engine) over the bins {engine's K ids} + the rest — the engine gives only
//            those K probabilities — a lower bound of the full KL (docs/verify.md measures how much
//            of it top-K sees);
//   Δp_i   = Q_engine(x_i) − P_ref(x_i) for the token x_i the engine ran there;
//   same_i = the engine's likeliest id is the reference's (top-1 agreement).
// and the report adds the first difference of tokenization (the engine's prompt ids against the
// reference tokenizer's, side by side) and the first greedy divergence (the first generated token
// that is not the reference's argmax). Exit 1 when the mean KLD exceeds --max-kld, else 0.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <llamaref/verify/kl_divergence.hpp>

#include "check_api.hpp"
#include "commands.hpp"
#include "common.hpp"

#ifndef LLAMAREF_WITH_HTTPLIB
namespace llamaref::cli {
int cmd_check(int, char**) {
    fail(
        "llamaref check needs cpp-httplib, and this llamaref was built without it: install it (Debian: apt-get "
        "install libcpp-httplib-dev, or scripts/install-deps.sh) and configure again");
}
}  // namespace llamaref::cli
#else
#include <httplib.h>

namespace llamaref::cli {

namespace {

// Varied texts for a model of any size: prose, dialogue, numbers, code, a list, another language.
const char* kBuiltinPrompts[] = {
    "Once upon a time, there was a little girl named Lily. She loved to play outside",
    "\"Can I have the red ball?\" asked Tom. His mother smiled and said,",
    "The numbers 3, 7, 15, 31 and 63 follow a rule: each is",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "Ingredients: 2 eggs, 1 cup of flour, a pinch of salt.\nSteps:\n1.",
    "Le petit chat dort sur le canapé pendant que",
};

}  // namespace

using namespace check;

int cmd_check(int argc, char** argv) {
    ArgParser args("check", "--url URL -m MODEL [-z TOKENIZER] [--prompts FILE] [--max-kld X]",
                   "Grade a running engine (llama-server, vLLM, llamaref serve, ...) through its OpenAI-compatible\n"
                   "/v1/completions against the reference MODEL: greedy completions with the engine's top-K\n"
                   "log-probabilities, then the reference on the very ids the engine ran. Reports tokenization\n"
                   "differences, KL divergence (over the engine's K ids + the rest: a lower bound), top-1 agreement,\n"
                   "delta-p and the first greedy divergence. Exit 1 when the mean KLD exceeds --max-kld, else 0.\n"
                   "Definitions: include/llamaref/verify/kl_divergence.hpp and docs/verify.md.");
    args.option("--url", "URL", "the engine's base URL, e.g. http://127.0.0.1:8080")
        .option("-m,--model", "MODEL", model_help())
        .option("-z,--tokenizer", "FILE", "tokenizer (default: beside MODEL)")
        .option("--prompts", "FILE", "prompts, one per line (default: a built-in set of 6 varied texts)")
        .option("-n,--n-predict", "N", "tokens to generate per prompt", "16")
        .option("--top-logprobs", "K", "log-probabilities per position asked of the engine", "10")
        .option("--max-kld", "X", "the verdict's bound on the mean KL divergence (nats)", "0.01")
        .option("--api-key", "KEY", "sent as Authorization: Bearer KEY")
        .option("--model-name", "NAME", "the \"model\" field of the requests", "llamaref")
        .option("--timeout", "S", "seconds to wait for each answer", "300");
    add_cpu_options(args);
    args.parse(argc, argv);
    if (!args.given("--url")) throw UsageError("llamaref check: --url is required");
    const CpuOptions cpu = cpu_options_from(args, "check");
    const int n_predict = int(args.integer("-n", 1, 4096)), K = int(args.integer("--top-logprobs", 1, 20));
    const int timeout = int(args.integer("--timeout", 1, 86400));
    const std::string max_kld_s = args.str("--max-kld");
    char* end = nullptr;
    const double max_kld = std::strtod(max_kld_s.c_str(), &end);
    if (max_kld_s.empty() || *end != '\0' || !std::isfinite(max_kld) || max_kld < 0)
        throw UsageError("llamaref check: --max-kld must be a number >= 0, got '" + max_kld_s + "'");

    std::vector<std::string> prompts;
    if (args.given("--prompts")) {
        std::ifstream f(args.str("--prompts"));
        if (!f) fail(args.str("--prompts"), ": cannot open");
        for (std::string line; std::getline(f, line);)
            if (!line.empty()) prompts.push_back(line);
        if (prompts.empty()) fail(args.str("--prompts"), ": no prompts (one per line)");
    } else {
        prompts.assign(std::begin(kBuiltinPrompts), std::end(kBuiltinPrompts));
    }

    const std::string path = model_path(args);
    auto model = std::shared_ptr<const Model>(load_model(path));
    const Tokenizer tok = load_tokenizer(args, path, model->config.vocab_size);
    const std::size_t V = std::size_t(model->config.vocab_size);
    Transformer ref(model);
    cpu.apply(ref);

    httplib::Client http(args.str("--url"));
    http.set_read_timeout(timeout, 0);
    http.set_connection_timeout(10, 0);
    if (args.given("--api-key")) http.set_bearer_token_auth(args.str("--api-key"));
    auto ask = [&](const std::string& prompt, bool echo) -> std::optional<json> {
        const json req = {{"model", args.str("--model-name")},
                          {"prompt", prompt},
                          {"max_tokens", n_predict},
                          {"temperature", 0},
                          {"logprobs", K},
                          {"echo", echo}};
        const auto res = http.Post("/v1/completions", req.dump(), "application/json");
        if (!res) fail("check: no answer from ", args.str("--url"), ": ", httplib::to_string(res.error()));
        if (res->status != 200) {
            if (echo) return std::nullopt;  // refused echo: ask again without it
            fail("check: the engine answered HTTP ", res->status, ": ", res->body.substr(0, 300));
        }
        json body = json::parse(res->body, nullptr, false);
        if (body.is_discarded()) fail("check: the engine's answer is not JSON: ", res->body.substr(0, 200));
        return body;
    };

    std::vector<PositionComparison> all;
    bool any_echo_refused = false, tokenization_differs = false;
    std::optional<std::string> first_divergence, first_over;  // greedy; the first KLD above --max-kld
    int greedy_checked = 0, greedy_same = 0;
    for (std::size_t pi = 0; pi < prompts.size(); ++pi) {
        const std::string& prompt = prompts[pi];
        std::optional<json> body = ask(prompt, true);
        const bool echoed = body.has_value();
        if (!echoed) {
            any_echo_refused = true;
            body = ask(prompt, false);
        }
        EngineAnswer a = read_answer(*body, echoed);
        // The engine's prompt ids: echoed positions, or prompt_token_ids; the reference's own.
        const std::vector<int> ours = tok.encode(prompt, true, false);
        std::vector<int> prompt_ids = a.prompt_ids;
        std::size_t gen_from = 0;  // the first generated position in a.positions
        if (echoed) {              // the prompt's positions first: how many, from what the API says (else ours)
            if (!a.generated_ids.empty() && a.positions.size() >= a.generated_ids.size())
                gen_from = a.positions.size() - a.generated_ids.size();
            else
                gen_from = std::min(a.positions.size(), prompt_ids.empty() ? ours.size() : prompt_ids.size());
            if (prompt_ids.empty())
                for (std::size_t i = 0; i < gen_from; ++i) prompt_ids.push_back(a.positions[i].id);
        }
        if (prompt_ids.empty()) prompt_ids = ours;  // the API did not say: assume the reference's
        if (prompt_ids != ours) {
            tokenization_differs = true;
            std::size_t i = 0;
            while (i < prompt_ids.size() && i < ours.size() && prompt_ids[i] == ours[i]) ++i;
            auto at = [&](const std::vector<int>& v) {
                std::string s;
                for (std::size_t j = i; j < v.size() && j < i + 5; ++j) s += std::to_string(v[j]) + " ";
                return s.empty() ? std::string("(end)") : s;
            };
            std::printf("prompt %zu: tokenization differs at position %zu: engine %s| reference %s\n", pi + 1, i,
                        at(prompt_ids).c_str(), at(ours).c_str());
        }
        // The ids the engine ran: its prompt, then what it generated (from the positions).
        std::vector<int> run = prompt_ids;
        for (std::size_t i = gen_from; i < a.positions.size(); ++i) run.push_back(a.positions[i].id);
        if (run.size() < 2) continue;
        if (int(run.size()) > ref.config().max_seq_len) fail("check: prompt ", pi + 1, " is longer than the context");
        const Tensor2 logits = ref.forward(run, 0);  // [T, V]; row t predicts run[t + 1]
        for (std::size_t i = 0; i < a.positions.size(); ++i) {
            const std::size_t t = echoed ? i : prompt_ids.size() + i;  // the position in `run`
            const EnginePosition& e = a.positions[i];
            if (t == 0 || !e.logprob || e.top_ids.empty()) continue;  // the first token: no distribution
            if (e.id < 0 || std::size_t(e.id) >= V)
                fail("check: the engine's token id ", e.id, " is outside the vocabulary");
            const std::vector<double> lp = log_softmax(&logits(t - 1, 0), V);
            std::vector<double> lp_ids;
            for (int id : e.top_ids) {
                if (id < 0 || std::size_t(id) >= V)
                    fail("check: the engine's token id ", id, " is outside the vocabulary");
                lp_ids.push_back(lp[std::size_t(id)]);
            }
            PositionComparison c;
            c.kld = kl_divergence_binned(lp_ids, e.top_logprobs);
            c.logp_base = lp[std::size_t(e.id)];
            c.logp_model = *e.logprob;
            const int ref_top = int(std::max_element(lp.begin(), lp.end()) - lp.begin());
            c.same_top = e.top_ids[0] == ref_top;
            all.push_back(c);
            if (c.kld > max_kld && !first_over) {
                char buf[256];
                std::snprintf(buf, sizeof buf, "prompt %zu, position %zu (token %d): KLD %.6f", pi + 1, t, e.id, c.kld);
                first_over = buf;
            }
            if (i >= gen_from) {  // a generated token, chosen greedily by the engine
                ++greedy_checked;
                if (e.id == ref_top) {
                    ++greedy_same;
                } else if (!first_divergence) {
                    char buf[512];
                    std::snprintf(buf, sizeof buf,
                                  "prompt %zu, generated token %zu (position %zu): engine chose %d (p %.4f; reference "
                                  "p %.4f), the reference's argmax is %d (p %.4f)",
                                  pi + 1, i - gen_from + 1, t, e.id, std::exp(*e.logprob),
                                  std::exp(lp[std::size_t(e.id)]), ref_top, std::exp(lp[std::size_t(ref_top)]));
                    first_divergence = buf;
                }
            }
        }
    }
    if (all.empty()) fail("check: the engine's answers gave no position to grade");
    const KlSummary s = summarize(all);
    std::printf("engine %s against %s: %zu prompts, %zu positions graded%s\n", args.str("--url").c_str(), path.c_str(),
                prompts.size(), s.n,
                any_echo_refused ? " (echo refused: generated positions only)" : " (prompt and generated)");
    std::printf("tokenization: %s\n", tokenization_differs ? "DIFFERS (above)" : "the same ids for every prompt");
    std::printf(
        "KL divergence over the engine's top %d + rest (nats): mean %.6f +/- %.6f, median %.6f, 99%% %.6f, max %.6f\n",
        K, s.kld_mean, s.kld_stderr, s.kld_pct[5], s.kld_pct[2], s.kld_pct[0]);
    std::printf("top-1 agreement: %.3f %%\n", 100 * s.same_top);
    std::printf("delta-p of the token run: mean %.4f %%, RMS %.4f %%, 1%% %.4f %%, 99%% %.4f %%\n", 100 * s.dp_mean,
                100 * s.dp_rms, 100 * s.dp_pct[8], 100 * s.dp_pct[2]);
    std::printf("greedy: %d of %d generated tokens are the reference's argmax\n", greedy_same, greedy_checked);
    std::printf("first greedy divergence: %s\n", first_divergence ? first_divergence->c_str() : "none");
    std::printf("first position above --max-kld: %s\n", first_over ? first_over->c_str() : "none");
    if (any_echo_refused)
        std::printf("not provided by this engine's API: the prompt's log-probabilities (echo refused)\n");
    const bool pass = s.kld_mean <= max_kld;
    std::printf("%s: mean KLD %.6f %s --max-kld %g\n", pass ? "PASS" : "FAIL", s.kld_mean, pass ? "within" : "exceeds",
                max_kld);
    return pass ? 0 : 1;
}

}  // namespace llamaref::cli
#endif
