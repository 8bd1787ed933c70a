// The verification toolkit: traces match Meta's hidden states, compare() finds planted bugs at
// the right tensor, perplexity follows its definition.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <xtensor/xnpy.hpp>

#include <llamaref/formats/load.hpp>
#include <llamaref/formats/safetensors.hpp>
#include <llamaref/formats/write_gguf.hpp>
#include <llamaref/verify/compare.hpp>
#include <llamaref/verify/kl_divergence.hpp>
#include <llamaref/verify/perplexity.hpp>
#include <llamaref/verify/trace.hpp>

#include "test_data.hpp"
#include "test_formats_oracle.hpp"

using namespace llamaref;

namespace {

std::vector<int> fixture_tokens(const std::string& case_dir, bool with_generated) {
    std::ifstream f(case_dir + "/expected/tokens.json");
    const auto j = nlohmann::json::parse(f);
    auto t = j["prompt"].get<std::vector<int>>();
    if (with_generated)
        for (int g : j["generated"].get<std::vector<int>>()) t.push_back(g);
    return t;
}

enum class Bug { None, RotateHalfOnPairs, TiledKvHeads, WrongEps, SwappedW1W3, ScalingIgnored };

// The forward pass again, written out in the test from llamaref's building blocks, with one
// planted bug. It emits the same tensor names as Transformer so traces can be compared.
Trace buggy_trace(const Model& m, const std::vector<int>& tokens, Bug bug) {
    const ModelConfig& c = m.config;
    const std::size_t T = tokens.size(), D = c.dim, Q = c.q_dim(), K = c.kv_dim(), F = c.hidden_dim;
    const int H = c.n_heads, KV = c.n_kv_heads, Dh = c.head_dim;
    const double eps = bug == Bug::WrongEps ? c.norm_eps * 10 : c.norm_eps;
    RopeScaling scaling = c.rope_scaling;
    if (bug == Bug::ScalingIgnored) scaling.enabled = false;
    const RopeTable rope(rope_frequencies(Dh, c.rope_theta, scaling), 0, T);
    Trace tr;
    auto emit = [&](const std::string& name, const std::vector<float>& v, Shape shape) {
        tr.tensors.push_back({name, -1, std::move(shape), v, "", 0, 0});
    };
    std::vector<float> x(T * D), xn(T * D), q(T * Q), k(T * K), v(T * K), att(T * Q), sub(T * D), gate(T * F),
        up(T * F), hidden(T * F), probs(T * H * T);
    for (std::size_t t = 0; t < T; ++t) m.weights.tok_embeddings.row_to_f32(tokens[t], &x[t * D]);
    emit("tok_embeddings", x, {T, D});
    for (int l = 0; l < c.n_layers; ++l) {
        const auto& L = m.weights.layers[l];
        const std::string p = "layers." + std::to_string(l);
        rmsnorm_rows(x.data(), L.attention_norm.to_f32_vector().data(), xn.data(), T, D, eps);
        emit(p + ".attention_norm", xn, {T, D});
        matmul(L.wq, xn.data(), q.data(), T);
        matmul(L.wk, xn.data(), k.data(), T);
        matmul(L.wv, xn.data(), v.data(), T);
        emit(p + ".attention.wq", q, {T, Q});
        emit(p + ".attention.wk", k, {T, K});
        emit(p + ".attention.wv", v, {T, K});
        for (std::size_t t = 0; t < T; ++t) {
            if (bug == Bug::RotateHalfOnPairs) {
                rope_halves(&q[t * Q], H, Dh, rope, t);
                rope_halves(&k[t * K], KV, Dh, rope, t);
            } else {
                rope_pairs(&q[t * Q], H, Dh, rope, t);
                rope_pairs(&k[t * K], KV, Dh, rope, t);
            }
        }
        emit(p + ".attention.q_rope", q, {T, Q});
        emit(p + ".attention.k_rope", k, {T, K});
        for (std::size_t t = 0; t < T; ++t)
            for (int h = 0; h < H; ++h) {
                const int kvh = bug == Bug::TiledKvHeads ? h % KV : h / (H / KV);
                float* pr = &probs[(t * H + h) * T];
                for (std::size_t s = 0; s < T; ++s)
                    pr[s] = s <= t ? dot(&q[t * Q + h * Dh], &k[s * K + kvh * Dh], Dh) / std::sqrt(float(Dh)) : 0.0f;
                softmax(pr, t + 1);
                for (int d = 0; d < Dh; ++d) {
                    float o = 0;
                    for (std::size_t s = 0; s <= t; ++s) o += pr[s] * v[s * K + kvh * Dh + d];
                    att[t * Q + h * Dh + d] = o;
                }
            }
        emit(p + ".attention.probs", probs, {T, std::size_t(H), T});
        emit(p + ".attention.heads", att, {T, Q});
        matmul(L.wo, att.data(), sub.data(), T);
        emit(p + ".attention.wo", sub, {T, D});
        for (std::size_t i = 0; i < T * D; ++i) x[i] += sub[i];
        emit(p + ".h", x, {T, D});
        rmsnorm_rows(x.data(), L.ffn_norm.to_f32_vector().data(), xn.data(), T, D, eps);
        emit(p + ".ffn_norm", xn, {T, D});
        const bool swap = bug == Bug::SwappedW1W3;
        swiglu(swap ? L.w3 : L.w1, L.w2, swap ? L.w1 : L.w3, xn.data(), sub.data(), T, gate.data(), up.data(),
               hidden.data());
        emit(p + ".feed_forward.w1", gate, {T, F});
        emit(p + ".feed_forward.w3", up, {T, F});
        emit(p + ".feed_forward.hidden", hidden, {T, F});
        emit(p + ".feed_forward.w2", sub, {T, D});
        for (std::size_t i = 0; i < T * D; ++i) x[i] += sub[i];
        emit(p, x, {T, D});
    }
    rmsnorm_rows(x.data(), m.weights.norm.to_f32_vector().data(), xn.data(), T, D, eps);
    emit("norm", xn, {T, D});
    std::vector<float> logits(T * c.vocab_size);
    matmul(m.weights.output, xn.data(), logits.data(), T);
    emit("output", logits, {T, std::size_t(c.vocab_size)});
    return tr;
}

}  // namespace

TEST_CASE("trace of a Meta fixture: block outputs equal Meta's hidden states", "[verify]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/hf/model.safetensors");
    const std::string dir = test::data("oracle/llama2-gqa");
    auto model = std::shared_ptr<const Model>(load_model(dir + "/hf"));
    Transformer tf(model);
    const Trace t = Trace::record(tf, fixture_tokens(dir, false));
    const auto hidden = xt::load_npy<float>(dir + "/expected/hidden_prefill.npy");  // [L+2, T, D]
    const std::size_t L = model->config.n_layers, n = hidden.shape(1) * hidden.shape(2);
    std::vector<std::string> names{"tok_embeddings"};
    for (std::size_t l = 0; l < L; ++l) names.push_back("layers." + std::to_string(l));
    names.push_back("norm");
    for (std::size_t i = 0; i < names.size(); ++i) {
        INFO(names[i]);
        const TraceTensor* x = t.find(names[i]);
        REQUIRE(x != nullptr);
        REQUIRE(x->data.size() == n);
        TraceTensor want{names[i], -1, x->shape, std::vector<float>(hidden.data() + i * n, hidden.data() + (i + 1) * n),
                         "",       0,  0};
        double scale = 0;
        for (float w : want.data) scale = std::max(scale, double(std::fabs(w)));
        CHECK(compare_tensor(*x, want, {1e-4 * scale, 0}).within);
    }
    // Save and load back: the folder round-trips every tensor exactly.
    const auto out = test::scratch("trace-roundtrip");
    t.save(out.string());
    const Trace back = Trace::load(out.string());
    REQUIRE(back.tensors.size() == t.tensors.size());
    const auto r = compare_traces(back, t, {0, 0});
    CHECK_FALSE(r.first_divergence.has_value());
    CHECK(back.find("layers.0.attention.wq")->layout == "pairs");
}

// Every weight-owning module a trace names is a tensor of the Hugging Face checkpoint itself (the
// fixtures' files were written by transformers): Llama 2 and Gemma 2, whose norms are named otherwise.
TEST_CASE("a trace's Hugging Face names are the checkpoint's tensor names", "[verify]") {
    for (const std::string fixture : {"llama2-gqa", "gemma2-like"}) {
        INFO(fixture);
        LLAMAREF_REQUIRE_DATA("oracle/" + fixture + "/hf/model.safetensors");
        const std::string dir = test::data("oracle/" + fixture);
        const SafetensorsFile file(dir + "/hf/model.safetensors");
        auto model = std::shared_ptr<const Model>(load_model(dir + "/hf"));
        Transformer tf(model);
        const Trace t = Trace::record(tf, fixture_tokens(dir, false));
        int weights = 0;
        for (const auto& x : t.tensors) {
            const TensorName n = describe_tensor(x.name, t.post_norms);
            INFO(x.name << " -> " << n.hf);
            CHECK_FALSE(n.what.empty());
            const bool module_output = !n.hf.empty() && n.hf[0] != '<' && x.name.rfind("layers.", 0) == 0 &&
                                       x.name.find('.', 7) != std::string::npos;  // not a block's output
            if (!module_output) continue;
            CHECK(file.entries().count(n.hf + ".weight") == 1);
            ++weights;
        }
        // 9 per Llama block, 11 per Gemma 2 block (its two post-norms)
        CHECK(weights == model->config.n_layers * (model->config.post_norms ? 11 : 9));
        if (model->config.post_norms)
            CHECK(describe_tensor("layers.0.ffn_norm", true).hf == "model.layers.0.pre_feedforward_layernorm");
    }
}

TEST_CASE("compare() names the first wrong tensor of planted bugs", "[verify]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama31-scaled/hf/model.safetensors");
    struct Case {
        const char* fixture;
        Bug bug;
        const char* first;
    };
    const Case cases[] = {
        {"llama2-gqa", Bug::None, ""},
        {"llama31-scaled", Bug::None, ""},
        {"llama2-gqa", Bug::RotateHalfOnPairs, "layers.0.attention.q_rope"},
        {"llama2-gqa", Bug::TiledKvHeads, "layers.0.attention.probs"},
        {"llama2-gqa", Bug::WrongEps, "layers.0.attention_norm"},
        {"llama2-gqa", Bug::SwappedW1W3, "layers.0.feed_forward.w1"},
        {"llama31-scaled", Bug::ScalingIgnored, "layers.0.attention.q_rope"},
    };
    for (const auto& c : cases) {
        INFO(c.fixture << " bug " << int(c.bug));
        const std::string dir = test::data(std::string("oracle/") + c.fixture);
        auto model = std::shared_ptr<const Model>(load_model(dir + "/hf"));
        const auto tokens = fixture_tokens(dir, true);
        Transformer tf(model);
        const Trace right = Trace::record(tf, tokens);
        const Trace wrong = buggy_trace(*model, tokens, c.bug);
        const auto r = compare_traces(wrong, right, {1e-4, 1e-4});
        CHECK(r.rows.size() == wrong.tensors.size());
        if (*c.first == '\0') {
            CHECK_FALSE(r.first_divergence.has_value());
        } else {
            REQUIRE(r.first_divergence.has_value());
            CHECK(*r.first_divergence == c.first);
        }
    }
}

TEST_CASE("compare() un-permutes Hugging Face q/k rows", "[verify]") {
    // A [2, 8] q tensor of 2 heads of 4 in pairs order, and the same in HF's halves order.
    TraceTensor pairs{"layers.0.attention.wq", 0, {2, 8}, {}, "pairs", 2, 4};
    for (int i = 0; i < 16; ++i) pairs.data.push_back(float(i));
    TraceTensor halves = pairs;
    halves.layout = "halves";
    for (int r = 0; r < 2; ++r)
        for (int i = 0; i < 8; ++i) halves.data[r * 8 + hf_row_of_meta_row(i, 4)] = pairs.data[r * 8 + i];
    CHECK(halves.data != pairs.data);
    CHECK(compare_tensor(halves, pairs, {0, 0}).within);
    halves.layout = "";  // without the layout tag they differ
    CHECK_FALSE(compare_tensor(halves, pairs, {0, 0}).within);
}

TEST_CASE("perplexity follows its definition and does not depend on threads", "[verify]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/hf/model.safetensors");
    auto model = std::shared_ptr<const Model>(load_model(test::data("oracle/llama2-gqa/hf")));
    std::vector<int> tokens;
    for (int i = 0; i < 70; ++i) tokens.push_back((i * 37 + 11) % 512);
    // Reference: −log softmax of a forward pass, computed here in long double.
    auto nll = [&](const std::vector<int>& window, int row) {
        Transformer tf(model);
        const Tensor2 lg = tf.forward(window, 0);
        long double mx = -1e30L, s = 0;
        for (std::size_t v = 0; v < lg.shape(1); ++v) mx = std::max(mx, (long double)lg(row, v));
        for (std::size_t v = 0; v < lg.shape(1); ++v) s += std::exp((long double)lg(row, v) - mx);
        return double(std::log(s) + mx - lg(row, window[row + 1]));
    };
    SECTION("llama.cpp chunks: BOS first, second half scored") {
        Transformer tf(model);
        const auto r = perplexity(tf, tokens, 32, 0, 1);
        REQUIRE(r.nll.size() == 2 * (32 - 1 - 16));  // 70 tokens -> 2 chunks of 32
        double sum = 0;
        std::size_t i = 0;
        for (int chunk = 0; chunk < 2; ++chunk) {
            std::vector<int> w(tokens.begin() + chunk * 32, tokens.begin() + chunk * 32 + 32);
            w[0] = 1;
            for (int j = 16; j < 31; ++j, ++i) {
                const double want = nll(w, j);
                CHECK(r.nll[i] == Approx(want).epsilon(1e-6));
                sum += want;
            }
        }
        CHECK(r.ppl == Approx(std::exp(sum / 30)).epsilon(1e-6));
    }
    SECTION("sliding window: every token scored once") {
        Transformer tf(model);
        const auto whole = perplexity(tf, tokens, 70, 70, 1);  // one window: all 69 predictions
        REQUIRE(whole.nll.size() == 69);
        double sum = 0;
        for (int j = 0; j < 69; ++j) sum += nll(tokens, j);
        CHECK(whole.ppl == Approx(std::exp(sum / 69)).epsilon(1e-6));
        const auto slid = perplexity(tf, tokens, 32, 8, 1);
        CHECK(slid.nll.size() == 69);
        // the first window's predictions are the same as with the whole text in view
        for (int j = 0; j < 31; ++j) CHECK(slid.nll[j] == Approx(whole.nll[j]).epsilon(1e-5));
    }
    SECTION("threads") {
        set_num_threads(1);
        Transformer a(model);
        const double one = perplexity(a, tokens, 32, 8, 1).ppl;
        set_num_threads(2);
        Transformer b(model);
        const double two = perplexity(b, tokens, 32, 8, 1).ppl;
        set_num_threads(1);
        CHECK(one == two);
    }
    CHECK_THROWS_WITH(
        [&] {
            Transformer tf(model);
            perplexity(tf, tokens, 100, 0, 1);
        }(),
        Catch::Contains("fewer than one window"));
}

// KL divergence (verify/kl_divergence.hpp): the full-vocabulary value against its definition, and
// the top-K estimate between 0 and it, equal at K = V; the gap measured on a quantized model.
TEST_CASE("KL divergence: definition, and the top-K estimate's bound", "[verify][kld]") {
    // Two 3-token distributions by hand: P = (0.5, 0.25, 0.25), Q = (0.25, 0.5, 0.25).
    const float p[3] = {std::log(0.5f), std::log(0.25f), std::log(0.25f)},
                q[3] = {std::log(0.25f), std::log(0.5f), std::log(0.25f)};
    const auto lp = log_softmax(p, 3), lq = log_softmax(q, 3);
    CHECK(kl_divergence(lp, lq) ==
          Approx(0.25 * std::log(2.0)).epsilon(1e-7));  // float logits  // 0.5·log 2 + 0.25·log ½
    CHECK(kl_divergence(lp, lp) == 0);
    const PositionComparison c = compare_position(p, q, 3, 1);
    CHECK(std::exp(c.logp_base) == Approx(0.25));
    CHECK(std::exp(c.logp_model) == Approx(0.5));
    CHECK(c.dp() == Approx(0.25));
    CHECK_FALSE(c.same_top);
    // One rest bin of P (0.5 | 0.5) against Q's (0.25 | 0.75): K = 1.
    CHECK(kl_divergence_top_k(top_logprobs(lp, 1), lq) ==
          Approx(0.5 * std::log(0.5 / 0.25) + 0.5 * std::log(0.5 / 0.75)).epsilon(1e-7));

    // The gap, measured: a random-weight fixture (flat distributions) and stories260K (a trained
    // model's peaked ones), each quantized to Q8_0 against its float32 self.
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/gguf/model-q8_0.gguf");
    LLAMAREF_REQUIRE_DATA("models/stories260K/stories260K.bin");
    const std::string q8 = (std::filesystem::temp_directory_path() / "llamaref_kld_stories_q8_0.gguf").string();
    write_gguf(*load_model(test::data("models/stories260K/stories260K.bin")), q8, DType::Q8_0);
    const test::Oracle o = test::read_oracle(test::data("oracle/llama2-gqa"));
    const std::vector<int> story{1,   403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426,
                                 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 335};
    struct Pair {
        const char* name;
        std::string base, quant;
        std::vector<int> tokens;
    };
    for (const Pair& c : {Pair{"llama2-gqa", test::data("oracle/llama2-gqa/gguf/model-f32.gguf"),
                               test::data("oracle/llama2-gqa/gguf/model-q8_0.gguf"), o.prompt},
                          Pair{"stories260K", test::data("models/stories260K/stories260K.bin"), q8, story}}) {
        Transformer base(load_model(c.base)), quant(load_model(c.quant));
        const Tensor2 P = base.forward(c.tokens, 0), Q = quant.forward(c.tokens, 0);
        const std::size_t V = P.shape(1), T = c.tokens.size();
        for (std::size_t K : {std::size_t(1), std::size_t(5), std::size_t(20), std::size_t(100), V}) {
            double full = 0, est = 0;
            for (std::size_t t = 0; t < T; ++t) {
                const auto a = log_softmax(&P(t, 0), V), b = log_softmax(&Q(t, 0), V);
                const double kl = kl_divergence(a, b), kl_k = kl_divergence_top_k(top_logprobs(a, K), b);
                CHECK(kl_k >= -1e-15);
                CHECK(kl_k <= kl + 1e-12);
                if (K == V) CHECK(kl_k == Approx(kl).epsilon(1e-6).margin(1e-12));  // the rest: 1 − Σp rounds
                full += kl, est += kl_k;
            }
            WARN(c.name << " Q8_0 vs float32, " << T << " positions, V " << V << ": mean KL " << full / double(T)
                        << ", top-" << K << " estimate " << est / double(T) << " (" << 100 * est / full << " %)");
        }
    }
    std::filesystem::remove(q8);
}
