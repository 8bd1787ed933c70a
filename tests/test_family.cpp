// The Llama family's peers — Mistral 7B (sliding window, rolling-buffer cache) and Gemma 1 and 2 —
// against their authors' reference code (../shared/oracle/{mistral-swa,gemma-2b-like,gemma2-like},
// computed by mistral-inference's one_file_ref.py and google/gemma_pytorch in float32), on both
// backends, from the HF folder and from GGUF written by llamaref's writer; the rolling cache far
// past the window; and the refusal of every architecture llamaref does not implement.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <random>

#include <llamaref/cpu/attention.hpp>
#include <llamaref/cpu/backend.hpp>
#include <llamaref/formats/write_gguf.hpp>
#include <llamaref/formats/write_safetensors.hpp>

#include "../cuda/llamaref/cuda/runner.hpp"  // require_supported only (plain C++)
#include "test_data.hpp"
#include "test_formats_oracle.hpp"

using namespace llamaref;
using namespace llamaref::test;

namespace {

const char* kFamilyCases[] = {"mistral-swa", "gemma-2b-like", "gemma2-like"};

// Max |h − expected| / max(1, max|expected|) over the prefill's hidden states:
// [embeddings (× √D for Gemma), block 0..L−1 outputs, final norm output].
double hidden_error(const std::string& dir, std::shared_ptr<const Model> model, Backend backend) {
    const auto expected = xt::load_npy<float>(dir + "/expected/hidden_prefill.npy");
    const Oracle o = read_oracle(dir);
    const int L = model->config.n_layers;
    const std::size_t T = o.prompt.size(), D = model->config.dim;
    REQUIRE(expected.size() == std::size_t(L + 2) * T * D);
    std::vector<std::vector<float>> got(L + 2);
    Transformer tf(model);
    tf.set_backend(backend);
    tf.set_observer([&](const Probe& p) {
        int row = -1;
        if (p.name == "tok_embeddings")
            row = 0;
        else if (p.name == "norm")
            row = L + 1;
        else if (p.layer >= 0 && p.name == "layers." + std::to_string(p.layer))
            row = p.layer + 1;
        if (row >= 0) got[row].assign(p.data, p.data + T * D);
    });
    tf.forward(o.prompt, 0);
    double worst = 0;
    for (int r = 0; r < L + 2; ++r) {
        REQUIRE(got[r].size() == T * D);
        const float* e = expected.data() + std::size_t(r) * T * D;
        double scale = 1;
        for (std::size_t i = 0; i < T * D; ++i) scale = std::max(scale, double(std::fabs(e[i])));
        worst = std::max(worst, max_abs_diff(got[r].data(), e, T * D) / scale);
    }
    return worst;
}

// run_oracle on one backend (the fast one also in prefill chunks of 5 tokens).
OracleResult run_backend(const Oracle& o, std::shared_ptr<const Model> model, Backend b) {
    if (b == reference_backend) return run_oracle(o, model);
    // run_oracle builds its own Transformers: repeat its three paths here with the fast backend.
    OracleResult r;
    const std::size_t P = o.prompt.size(), G = o.generated.size(), V = model->config.vocab_size;
    Transformer tf(model);
    tf.set_backend(cpu::fast_backend);
    tf.set_prefill_chunk(5);
    Tensor2 logits = tf.forward(o.prompt, 0);
    r.prefill = max_abs_diff(logits.data(), o.prefill.data(), P * V);
    r.decode = max_abs_diff(&logits(P - 1, 0), o.decode.data(), V);
    for (std::size_t k = 1; k < G; ++k) {
        const int tok[1] = {o.generated[k - 1]};
        Tensor2 step = tf.forward(tok, int(P + k - 1));
        r.decode = std::max(r.decode, max_abs_diff(step.data(), o.decode.data() + k * V, V));
    }
    Transformer full(model);
    full.set_backend(cpu::fast_backend);
    std::vector<int> all = o.prompt;
    all.insert(all.end(), o.generated.begin(), o.generated.end());
    Tensor2 fl = full.forward(all, 0);
    r.full = max_abs_diff(fl.data(), o.full.data(), all.size() * V);
    Transformer g(model);
    g.set_backend(cpu::fast_backend);
    Tensor2 lg = g.forward(o.prompt, 0);
    for (std::size_t k = 0; k < G; ++k) {
        const int next = int(argmax(&lg(lg.shape(0) - 1, 0), V));
        r.greedy.push_back(next);
        if (k + 1 < G) lg = g.forward(std::span<const int>(&r.greedy.back(), 1), int(P + k));
    }
    return r;
}

void check_case(const std::string& name, const std::string& model_path, const std::string& label) {
    const std::string dir = test::data("oracle/" + name);
    const Oracle o = read_oracle(dir);
    auto model = load_model(model_path);
    for (Backend b : {reference_backend, cpu::fast_backend}) {
        const char* bn = b == reference_backend ? "reference" : "fast";
        const OracleResult r = run_backend(o, model, b);
        const double h = hidden_error(dir, model, b);
        std::printf("%-14s %-5s %-9s max|dlogit| prefill %.2e decode %.2e full %.2e; hidden %.2e (rel); greedy %s\n",
                    name.c_str(), label.c_str(), bn, r.prefill, r.decode, r.full, h,
                    r.greedy == o.generated ? "exact" : "DIFFERS");
        INFO(name << " " << label << " " << bn);
        CHECK(r.prefill < 1e-4);
        CHECK(r.decode < 1e-4);
        CHECK(r.full < 1e-4);
        CHECK(h < 1e-4);
        CHECK(r.greedy == o.generated);
    }
}

// Full logits of the fixture's 40 tokens with a modified copy of the model's config.
double full_change(const std::string& name, void (*modify)(ModelConfig&)) {
    const std::string dir = test::data("oracle/" + name);
    const Oracle o = read_oracle(dir);
    auto m = std::make_shared<Model>(*load_model(dir + "/hf"));
    modify(m->config);
    std::vector<int> all = o.prompt;
    all.insert(all.end(), o.generated.begin(), o.generated.end());
    Transformer tf(m);
    Tensor2 l = tf.forward(all, 0);
    return max_abs_diff(l.data(), o.full.data(), l.size());
}

}  // namespace

TEST_CASE("Mistral and Gemma 1/2 match their authors' reference code (HF folders, both backends)", "[family][oracle]") {
    for (const char* name : kFamilyCases) {
        LLAMAREF_REQUIRE_DATA(std::string("oracle/") + name + "/hf/config.json");
        check_case(name, test::data(std::string("oracle/") + name + "/hf"), "hf");
    }
}

TEST_CASE("Mistral and Gemma 1/2 from GGUF written by llamaref's writer match the references",
          "[family][oracle][gguf]") {
    for (const char* name : kFamilyCases) {
        LLAMAREF_REQUIRE_DATA(std::string("oracle/") + name + "/hf/config.json");
        const auto dir = test::scratch(std::string("family-gguf-") + name);
        const std::string path = (dir / "model-f32.gguf").string();
        auto hf = load_model(test::data(std::string("oracle/") + name + "/hf"));
        write_gguf(*hf, path, DType::F32);
        auto g = load_model(path);
        CHECK(g->config.arch == hf->config.arch);
        CHECK(g->config.beyond_llama().empty() == hf->config.beyond_llama().empty());
        check_case(name, path, "gguf");
    }
}

TEST_CASE("Mistral's own folder layout: params.json + consolidated.safetensors with Meta's names",
          "[family][oracle][meta]") {
    LLAMAREF_REQUIRE_DATA("oracle/mistral-swa/hf/config.json");
    const auto dir = test::scratch("family-mistral-native");
    auto hf = load_model(test::data("oracle/mistral-swa/hf"));
    std::vector<SafetensorsOut> ts;
    auto put = [&](const std::string& name, const TensorView& v) {
        ts.push_back({name, v.dtype, v.shape, [v] { return tensor_bytes(v, v.dtype); }});
    };
    const Weights& w = hf->weights;  // q/k already in the adjacent-pair order mistral-inference uses
    put("tok_embeddings.weight", w.tok_embeddings);
    for (int l = 0; l < hf->config.n_layers; ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        const LayerWeights& L = w.layers[l];
        put(p + "attention_norm.weight", L.attention_norm);
        put(p + "attention.wq.weight", L.wq);
        put(p + "attention.wk.weight", L.wk);
        put(p + "attention.wv.weight", L.wv);
        put(p + "attention.wo.weight", L.wo);
        put(p + "ffn_norm.weight", L.ffn_norm);
        put(p + "feed_forward.w1.weight", L.w1);
        put(p + "feed_forward.w2.weight", L.w2);
        put(p + "feed_forward.w3.weight", L.w3);
    }
    put("norm.weight", w.norm);
    put("output.weight", w.output);
    write_safetensors((dir / "consolidated.safetensors").string(), ts);
    // mistral-inference's ModelArgs fields, as in case.json "native".
    test::write_file(dir / "params.json",
                     R"({"dim": 128, "n_layers": 3, "head_dim": 16, "hidden_dim": 448, "n_heads": 8,
        "n_kv_heads": 2, "norm_eps": 1e-05, "vocab_size": 768, "sliding_window": 12})");
    auto native = load_model(dir.string());
    CHECK(native->format == "meta (consolidated.safetensors)");
    CHECK(native->config.arch == "mistral");
    check_case("mistral-swa", dir.string(), "native");
}

TEST_CASE("each switch matters: the fixtures catch a wrong window, scale and soft-caps", "[family][oracle]") {
    LLAMAREF_REQUIRE_DATA("oracle/gemma2-like/hf/config.json");
    // Each change moves the logits by far more than the tolerance (case.json "sensitivity").
    CHECK(full_change("mistral-swa", [](ModelConfig& c) { c.sliding_window = 0; }) > 1.0);
    CHECK(full_change("mistral-swa", [](ModelConfig& c) { c.sliding_window = 13; }) > 1.0);
    CHECK(full_change("gemma2-like", [](ModelConfig& c) { c.attn_softcap = 0; }) > 1.0);
    CHECK(full_change("gemma2-like", [](ModelConfig& c) { c.final_softcap = 0; }) > 0.5);
    CHECK(full_change("gemma2-like", [](ModelConfig& c) { c.query_pre_attn_scalar = 0; }) > 0.3);
    CHECK(full_change("gemma2-like", [](ModelConfig& c) { c.sliding_layers = SlidingLayers::all; }) > 1.0);
    CHECK(full_change("gemma2-like", [](ModelConfig& c) { c.sliding_window = 9; }) > 1.0);
    CHECK(full_change("gemma-2b-like", [](ModelConfig& c) { c.embed_scale = false; }) > 1.0);
    CHECK(full_change("gemma-2b-like", [](ModelConfig& c) { c.activation = Activation::silu; }) > 0.1);
}

TEST_CASE("rolling-buffer cache: W slots, decode far past the window equals one full pass", "[family][cache]") {
    LLAMAREF_REQUIRE_DATA("oracle/mistral-swa/hf/config.json");
    auto model = load_model(test::data("oracle/mistral-swa/hf"));
    const int W = model->config.sliding_window, N = 8 * W + 5;  // 101 positions, 8 wraps
    REQUIRE(W == 12);
    std::mt19937 rng(7);
    std::vector<int> ids(N);
    for (int& t : ids) t = 3 + int(rng() % 700);
    for (Backend b : {reference_backend, cpu::fast_backend}) {
        Transformer full(model, N);
        full.set_backend(b);
        const Tensor2 want = full.forward(ids, 0);  // every key fresh: no cache is read
        Transformer tf(model, N);
        tf.set_backend(b);
        tf.set_prefill_chunk(7);
        // A prefill longer than the window (30 > 12), then a chunk of 5, then one token at a time.
        Tensor2 got = Tensor2::from_shape({std::size_t(N), want.shape(1)});
        auto put = [&](const Tensor2& l, int at) { std::copy(l.begin(), l.end(), &got(at, 0)); };
        put(tf.forward(std::span<const int>(ids).subspan(0, 30), 0), 0);
        put(tf.forward(std::span<const int>(ids).subspan(30, 5), 30), 30);
        for (int p = 35; p < N; ++p) put(tf.forward(std::span<const int>(ids).subspan(p, 1), p), p);
        CHECK(max_abs_diff(got.data(), want.data(), got.size()) < 2e-5);
        for (int l = 0; l < model->config.n_layers; ++l) {
            CHECK(tf.kv_cache().rolling(l));
            CHECK(tf.kv_cache().slots(l) == W);  // memory of W positions, not N
        }
    }
}

TEST_CASE("fast attention equals the reference with windows, soft-caps, scales and rolling caches",
          "[family][attention]") {
    std::mt19937 rng(11);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    struct Case {
        int H, KV, Dh, window, start, T;
        double cap;
        float scale;
    };
    for (const Case c : {Case{4, 2, 16, 12, 0, 40, 0.0, 0.0f}, Case{4, 1, 32, 5, 70, 3, 5.0, 0.144f},
                         Case{2, 2, 8, 64, 100, 70, 0.0, 0.0f}, Case{8, 2, 16, 0, 60, 9, 2.0, 0.0f},
                         Case{4, 4, 8, 1, 10, 4, 0.0, 0.0f}, Case{4, 2, 16, 70, 130, 1, 3.0, 0.2f}}) {
        INFO("H " << c.H << " KV " << c.KV << " Dh " << c.Dh << " W " << c.window << " start " << c.start << " T "
                  << c.T);
        const int K = c.KV * c.Dh, S = c.start + c.T;
        // The cache: rolling (W slots) when there is a window, holding positions < start.
        KVCache cache(1, S, c.KV, c.Dh, {c.window});
        cache.reserve(S);
        std::vector<float> keys(std::size_t(S) * K), vals(keys.size()), q(std::size_t(c.T) * c.H * c.Dh);
        for (auto* v : {&keys, &vals, &q})
            for (float& x : *v) x = nd(rng);
        for (int s = 0; s < c.start; ++s)
            cache.store(0, s, keys.data() + std::size_t(s) * K, vals.data() + std::size_t(s) * K);
        const KVSpan kv{cache, 0, c.start, keys.data() + std::size_t(c.start) * K,
                        vals.data() + std::size_t(c.start) * K};
        const AttentionOptions opt{c.window, c.scale, c.cap};
        std::vector<float> ref(q.size()), fast(q.size()), plain(q.size());
        attention(q.data(), kv, c.start, c.T, Heads{c.H, c.KV, c.Dh}, opt, ref.data());
        cpu::attention(q.data(), kv, c.start, c.T, Heads{c.H, c.KV, c.Dh}, opt, fast.data());
        CHECK(max_abs_diff(ref.data(), fast.data(), q.size()) < 1e-5);
        // Brute force from the definition: softmax over positions max(0, i−W+1) .. i.
        const float scale = c.scale > 0 ? c.scale : 1.0f / std::sqrt(float(c.Dh));
        for (int t = 0; t < c.T; ++t)
            for (int h = 0; h < c.H; ++h) {
                const int i = c.start + t, lo = c.window > 0 ? std::max(0, i - c.window + 1) : 0, g = h / (c.H / c.KV);
                std::vector<double> w;
                double mx = -1e300, sum = 0;
                for (int s = lo; s <= i; ++s) {
                    double d = 0;
                    for (int e = 0; e < c.Dh; ++e)
                        d += double(q[(std::size_t(t) * c.H + h) * c.Dh + e]) * keys[std::size_t(s) * K + g * c.Dh + e];
                    d *= scale;
                    if (c.cap > 0) d = c.cap * std::tanh(d / c.cap);
                    w.push_back(d);
                    mx = std::max(mx, d);
                }
                for (double& x : w) sum += (x = std::exp(x - mx));
                for (int e = 0; e < c.Dh; ++e) {
                    double o = 0;
                    for (int s = lo; s <= i; ++s) o += w[s - lo] / sum * vals[std::size_t(s) * K + g * c.Dh + e];
                    plain[(std::size_t(t) * c.H + h) * c.Dh + e] = float(o);
                }
            }
        CHECK(max_abs_diff(ref.data(), plain.data(), q.size()) < 1e-5);
    }
}

// ---- refusals ---------------------------------------------------------------------------------

namespace {

nlohmann::json mistral_config() {
    return nlohmann::json::parse(test::slurp(test::data("oracle/mistral-swa/hf/config.json")));
}

std::string hf_error(const nlohmann::json& j) {
    try {
        parse_hf_config(j, "config.json");
    } catch (const Error& e) { return e.what(); }
    return "(no error)";
}

}  // namespace

TEST_CASE("HF configs of architectures llamaref does not implement are refused, naming them", "[family][refuse]") {
    LLAMAREF_REQUIRE_DATA("oracle/mistral-swa/hf/config.json");
    using Catch::Matchers::Contains;
    auto j = mistral_config();
    CHECK(parse_hf_config(j, "config.json").sliding_window == 12);
    j["sliding_window"] = nullptr;
    CHECK(parse_hf_config(j, "config.json").sliding_window == 0);  // null: no window
    auto with = [&](const char* key, nlohmann::json v) {
        auto k = mistral_config();
        k[key] = v;
        return hf_error(k);
    };
    CHECK_THAT(with("model_type", "qwen2"), Contains("qwen2") && Contains("supported: llama"));
    CHECK_THAT(with("model_type", "mixtral"), Contains("mixtral") && Contains("gemma2"));
    CHECK_THAT(with("architectures", {"Qwen2ForCausalLM"}), Contains("Qwen2ForCausalLM"));
    CHECK_THAT(with("architectures", {"GemmaForCausalLM"}), Contains("not implemented"));  // type mistral
    CHECK_THAT(with("attention_bias", true), Contains("attention_bias"));
    CHECK_THAT(with("mlp_bias", true), Contains("mlp_bias"));
    CHECK_THAT(with("num_local_experts", 8), Contains("mixture of experts"));
    CHECK_THAT(with("hidden_act", "gelu"), Contains("gelu"));
    CHECK_THAT(with("hidden_act", "relu"), Contains("silu"));
    auto g = nlohmann::json::parse(test::slurp(test::data("oracle/gemma2-like/hf/config.json")));
    CHECK(parse_hf_config(g, "c").attn_softcap == 5.0);
    g["hidden_activation"] = "gelu";  // the exact GELU is not Gemma's
    CHECK_THAT(hf_error(g), Contains("tanh GELU"));
    g["hidden_activation"] = "gelu_pytorch_tanh";
    g["layer_types"] = {"full_attention", "sliding_attention", "full_attention", "sliding_attention"};
    CHECK_THAT(hf_error(g), Contains("layer_types"));
    g.erase("layer_types");
    g["attn_logit_softcapping"] = nullptr;  // null: off; absent: Gemma2Config's 50
    CHECK(parse_hf_config(g, "c").attn_softcap == 0.0);
    g.erase("attn_logit_softcapping");
    CHECK(parse_hf_config(g, "c").attn_softcap == 50.0);
    auto l = mistral_config();
    l["model_type"] = "llama";
    l["architectures"] = {"LlamaForCausalLM"};
    CHECK_THAT(hf_error(l), Contains("sliding_window"));  // a Llama config with a window is not Llama
}

TEST_CASE("unknown tensors, GGUF architectures, experts and params.json keys are refused", "[family][refuse]") {
    LLAMAREF_REQUIRE_DATA("oracle/mistral-swa/hf/config.json");
    using Catch::Matchers::Contains;
    auto model = load_model(test::data("oracle/mistral-swa/hf"));
    auto error = [](auto&& f) -> std::string {
        try {
            f();
        } catch (const Error& e) { return e.what(); }
        return "(no error)";
    };
    // An HF folder with one more tensor (a bias, as Qwen2 has).
    {
        const auto dir = test::scratch("family-extra-tensor");
        write_hf(*model, dir.string(), DType::F32);
        SafetensorsFile st((dir / "model.safetensors").string());
        std::vector<SafetensorsOut> ts;
        std::vector<float> bias(128, 0.5f);
        for (const auto& [name, e] : st.entries()) {
            const TensorView v = st.get(name);
            ts.push_back({name, v.dtype, v.shape, [v] { return tensor_bytes(v, v.dtype); }});
        }
        ts.push_back({"model.layers.0.self_attn.q_proj.bias", DType::F32, {128}, [&] {
                          return tensor_bytes(
                              TensorView{DType::F32, {128}, reinterpret_cast<const std::byte*>(bias.data())},
                              DType::F32);
                      }});
        write_safetensors((dir / "model.safetensors.tmp").string(), ts);
        std::filesystem::rename(dir / "model.safetensors.tmp", dir / "model.safetensors");
        CHECK_THAT(error([&] { load_model(dir.string()); }),
                   Contains("q_proj.bias") && Contains("not part of a mistral"));
    }
    // write_hf keeps the window (MistralForCausalLM); Gemma has no such folder writer.
    {
        const auto dir = test::scratch("family-mistral-hf");
        write_hf(*model, dir.string(), DType::F32);
        CHECK(load_model(dir.string())->config.sliding_window == 12);
        LLAMAREF_REQUIRE_DATA("oracle/gemma-2b-like/hf/config.json");
        auto gemma = load_model(test::data("oracle/gemma-2b-like/hf"));
        CHECK_THAT(error([&] { write_hf(*gemma, (dir / "g").string(), DType::F32); }), Contains("GeGLU"));
        // The CUDA path runs the peers (tests/cuda/test_cuda_model.cpp) and refuses what its kernels lack.
        CHECK_NOTHROW(cuda::require_supported(gemma->config));
        CHECK_NOTHROW(cuda::require_supported(model->config));
        CHECK_NOTHROW(cuda::require_supported(load_model(test::data("oracle/llama2-gqa/hf"))->config));
        ModelConfig wide = gemma->config;
        wide.head_dim = 512;
        CHECK_THAT(error([&] { cuda::require_supported(wide); }),
                   Contains("CUDA path does not implement") && Contains("head_dim 512"));
        // ... and weights in a block format its kernels do not load (only the dtype is read here)
        CHECK_NOTHROW(cuda::require_supported(*gemma));
        Model q4 = *gemma;
        q4.weights.layers.back().w2.dtype = DType::Q4_K;
        CHECK_THAT(error([&] { cuda::require_supported(q4); }), Contains("not Q4_K") && Contains("--device cpu"));
        q4 = *gemma;
        q4.weights.layers[0].ffn_norm.dtype = DType::BF16;  // norms are converted on the host: any dtype
        CHECK_NOTHROW(cuda::require_supported(q4));
    }
    // GGUF: another architecture, Mixtral's expert_count, an extra tensor.
    {
        const auto dir = test::scratch("family-gguf-refuse");
        const std::string p = (dir / "m.gguf").string();
        write_gguf(*model, p, DType::F32, {{"general.architecture", gguf_str("qwen2")}});
        // (extra keys never replace the model's own: rewrite the architecture by editing bytes)
        std::string bytes = test::slurp(p);
        const auto at = bytes.find("llama");
        REQUIRE(at != std::string::npos);
        bytes.replace(at, 5, "qwen2");
        test::write_file(dir / "q.gguf", bytes);
        CHECK_THAT(error([&] { load_model((dir / "q.gguf").string()); }),
                   Contains("\"qwen2\"") && Contains("supported"));
        write_gguf(*model, p, DType::F32, {{"llama.expert_count", gguf_u32(8)}});
        CHECK_THAT(error([&] { load_model(p); }), Contains("expert_count") && Contains("Mixtral"));
        // A tensor the model does not use (here: output.weight renamed, so the output is tied
        // and outpXt.weight is left over).
        write_gguf(*model, p, DType::F32);
        bytes = test::slurp(p);
        const std::string name = test::u64(13) + "output.weight";
        const auto o = bytes.find(name);
        REQUIRE(o != std::string::npos);
        bytes.replace(o + 8, 13, "outpXt.weight");
        test::write_file(dir / "x.gguf", bytes);
        CHECK_THAT(error([&] { load_model((dir / "x.gguf").string()); }),
                   Contains("outpXt.weight") && Contains("not part of"));
    }
    // Meta params.json: a key that changes the mathematics.
    {
        auto j = nlohmann::json::parse(
            R"({"dim": 128, "n_layers": 2, "n_heads": 4, "vocab_size": 64, "moe": {"num_experts": 8}})");
        CHECK_THAT(error([&] { parse_meta_params(j, "params.json"); }), Contains("\"moe\""));
        j.erase("moe");
        j["sliding_window"] = 16;
        j["hidden_dim"] = 300;
        j["head_dim"] = 40;
        const ModelConfig c = parse_meta_params(j, "params.json");
        CHECK(c.arch == "mistral");
        CHECK(c.sliding_window == 16);
        CHECK(c.hidden_dim == 300);
        CHECK(c.head_dim == 40);
    }
}

TEST_CASE("a rolling cache refuses to go back past what it still holds", "[family][cache]") {
    LLAMAREF_REQUIRE_DATA("oracle/mistral-swa/hf/config.json");
    auto model = load_model(test::data("oracle/mistral-swa/hf"));
    std::vector<int> ids(30, 5);
    Transformer tf(model);
    tf.forward(ids, 0);                                                      // positions 0..29 (W = 12)
    CHECK_NOTHROW(tf.forward(std::span<const int>(ids).subspan(0, 1), 29));  // one back: still held
    CHECK_THROWS_WITH(tf.forward(std::span<const int>(ids).subspan(0, 1), 20), Catch::Contains("overwritten position"));
    CHECK_NOTHROW(tf.forward(ids, 0));  // from the start is always right
}

// ---- chat formats ------------------------------------------------------------------------------

#include <llamaref/tokenizer/chat_format.hpp>

TEST_CASE("Mistral Instruct v0.1 chat: mistral-common V1 layout, BOS once, EOS after answers", "[family][chat]") {
    LLAMAREF_REQUIRE_DATA("tokenizers/llama2/tokenizer.model");
    // Llama 2's SentencePiece model stands in for Mistral's (the same kind: BPE, byte fallback,
    // dummy prefix); the layout is what is checked.
    const auto tok = SentencePieceTokenizer::from_model_file(test::data("tokenizers/llama2/tokenizer.model"));
    const Dialog d{{"system", "Be brief."}, {"user", "Hello"}, {"assistant", "Fine"}, {"user", "More"}};
    std::vector<int> want{tok.bos_id};
    for (const auto& part :
         {tok.encode("[INST] Be brief.\n\nHello [/INST]", false, false), tok.encode("Fine", false, false)})
        want.insert(want.end(), part.begin(), part.end());
    want.push_back(tok.eos_id);
    const auto last = tok.encode("[INST] More [/INST]", false, false);
    want.insert(want.end(), last.begin(), last.end());
    CHECK(mistral_chat(tok, d) == want);
    CHECK(tok.decode(want) == "[INST] Be brief.\n\nHello [/INST] Fine [INST] More [/INST]");
    CHECK_THROWS_WITH(mistral_chat(tok, Dialog{{"assistant", "x"}}), Catch::Contains("user, assistant"));
}

TEST_CASE(
    "Gemma chat on a synthetic Gemma-like SentencePiece model: user-defined turn markers, byte fallback, no dummy "
    "prefix",
    "[family][chat]") {
    // Gemma's tokenizer.model (not available here) has: <pad> 0, <eos> 1, <bos> 2, <unk> 3, byte
    // pieces, <start_of_turn> / <end_of_turn> as user-defined pieces, add_dummy_prefix false.
    SentencePieceVocab v;
    auto add = [&](std::string p, PieceType t, float score = 0) {
        v.pieces.push_back(std::move(p));
        v.types.push_back(t);
        v.scores.push_back(score);
        return int(v.pieces.size()) - 1;
    };
    add("<pad>", PieceType::control), add("<eos>", PieceType::control), add("<bos>", PieceType::control);
    add("<unk>", PieceType::unknown);
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        add(name, PieceType::byte);
    }
    const int sot = add("<start_of_turn>", PieceType::user_defined),
              eot = add("<end_of_turn>", PieceType::user_defined);
    const int space = add("\xE2\x96\x81", PieceType::normal), nl = add("\n", PieceType::normal);
    for (const char* c : {"u", "s", "e", "r", "m", "o", "d", "l", "H", "i"}) add(c, PieceType::normal, -10);
    for (const char* c : {"us", "er", "mo", "de", "del", "Hi"}) add(c, PieceType::normal, 1);
    const int user = add("user", PieceType::normal, 2), model = add("model", PieceType::normal, 2);
    const int hi = int(v.pieces.size()) - 3;  // "Hi"
    v.add_dummy_prefix = false;
    v.unk_id = 3, v.bos_id = 2, v.eos_id = 1, v.pad_id = 0;
    const SentencePieceTokenizer tok(v);
    const Dialog d{{"user", " Hi \xC3\xA9 "}};  // stripped; é is not in the vocabulary: two byte pieces
    CHECK(gemma_chat_text(d) == "<start_of_turn>user\nHi \xC3\xA9<end_of_turn>\n<start_of_turn>model\n");
    const std::vector<int> want{2,  sot, user,  nl, int(v.pieces.size()) - 3, space, 4 + 0xC3, 4 + 0xA9, eot,
                                nl, sot, model, nl};
    CHECK(hi == int(v.pieces.size()) - 3);
    CHECK(gemma_chat(tok, d) == want);
    CHECK(gemma_stop_tokens(tok) == std::vector<int>{1, eot});
    CHECK_THROWS_WITH(gemma_chat(tok, Dialog{{"system", "x"}, {"user", "y"}}), Catch::Contains("no system role"));
    const Dialog two{{"user", "Hi"}, {"assistant", "Hi"}, {"user", "Hi"}};
    CHECK(gemma_chat_text(two) ==
          "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHi<end_of_turn>\n<start_of_turn>user\nHi<end_of_"
          "turn>\n<start_of_turn>model\n");
}
