// Checks of a loaded model against the Meta-reference oracle fixtures (../shared/oracle/<case>),
// shared by the format tests. The expected logits were computed by Meta's model.py in float32.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xnpy.hpp>

#include <llamaref/formats/load.hpp>
#include <llamaref/model/transformer.hpp>

#include "test_data.hpp"

namespace llamaref::test {

inline const char* kOracleCases[] = {"llama1-mha", "llama2-gqa", "llama31-scaled"};

struct Oracle {
    std::vector<int> prompt, generated;
    std::vector<double> margins;  // top1 - top2 of the expected logits at each generated step
    xt::xarray<float> prefill, decode, full;
    xt::xarray<float> hidden;  // [L+2, P, D] hidden states of the prompt, where the fixture has them
};

inline Oracle read_oracle(const std::string& dir) {
    Oracle o;
    std::ifstream f(dir + "/expected/tokens.json");
    const auto j = nlohmann::json::parse(f);
    o.prompt = j["prompt"].get<std::vector<int>>();
    o.generated = j["generated"].get<std::vector<int>>();
    o.margins = j["greedy_margins"].get<std::vector<double>>();
    o.prefill = xt::load_npy<float>(dir + "/expected/prefill_logits.npy");
    o.decode = xt::load_npy<float>(dir + "/expected/decode_logits.npy");
    o.full = xt::load_npy<float>(dir + "/expected/full_logits.npy");
    const std::string hidden = dir + "/expected/hidden_prefill.npy";
    if (std::ifstream(hidden)) o.hidden = xt::load_npy<float>(hidden);
    return o;
}

// max |a − b| over n numbers (two [rows, V] arrays of the same shape, flattened).
inline double max_abs_diff(const float* a, const float* b, std::size_t n) {
    double m = 0;
    for (std::size_t i = 0; i < n; ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
    return m;
}

// What one model gives on one fixture: max |logit error| per path, and greedy ids.
struct OracleResult {
    double prefill = 0, decode = 0, full = 0;
    std::vector<int> greedy;          // free-running greedy continuation of the prompt
    std::vector<int> teacher_forced;  // argmax of the full pass at each generated position
};

inline OracleResult run_oracle(const Oracle& o, std::shared_ptr<const Model> model) {
    OracleResult r;
    const std::size_t P = o.prompt.size(), G = o.generated.size(), V = model->config.vocab_size;
    REQUIRE(o.prefill.size() == P * V);
    {
        Transformer tf(model);
        Tensor2 logits = tf.forward(o.prompt, 0);
        r.prefill = max_abs_diff(logits.data(), o.prefill.data(), P * V);
        r.decode = max_abs_diff(&logits(P - 1, 0), o.decode.data(), V);
        for (std::size_t k = 1; k < G; ++k) {
            const int tok[1] = {o.generated[k - 1]};
            Tensor2 step = tf.forward(tok, int(P + k - 1));
            r.decode = std::max(r.decode, max_abs_diff(step.data(), o.decode.data() + k * V, V));
        }
    }
    {
        Transformer tf(model);
        std::vector<int> all = o.prompt;
        all.insert(all.end(), o.generated.begin(), o.generated.end());
        Tensor2 logits = tf.forward(all, 0);
        r.full = max_abs_diff(logits.data(), o.full.data(), all.size() * V);
        for (std::size_t k = 0; k < G; ++k) r.teacher_forced.push_back(int(argmax(&logits(P - 1 + k, 0), V)));
    }
    // Free-running greedy decoding: each step feeds back our own argmax.
    Transformer tf(model);
    Tensor2 logits = tf.forward(o.prompt, 0);
    for (std::size_t k = 0; k < G; ++k) {
        const int next = int(argmax(&logits(logits.shape(0) - 1, 0), V));
        r.greedy.push_back(next);
        if (k + 1 < G) logits = tf.forward(std::span<const int>(&r.greedy.back(), 1), int(P + k));
    }
    return r;
}

// Float32 storage: every path within atol 1e-4 of Meta's logits, greedy ids exact.
inline void check_oracle_exact(const std::string& case_name, const std::string& model_path) {
    const Oracle o = read_oracle(data("oracle/" + case_name));
    INFO("model " << model_path);
    const OracleResult r = run_oracle(o, load_model(model_path));
    CHECK(r.prefill < 1e-4);
    CHECK(r.decode < 1e-4);
    CHECK(r.full < 1e-4);
    CHECK(r.greedy == o.generated);
}

}  // namespace llamaref::test
