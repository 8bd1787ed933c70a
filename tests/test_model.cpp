// The whole model against independent references: Meta's reference code (oracle fixtures) and
// llama2.c's published output for stories260K.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xnpy.hpp>

#include <llamaref/cpu/backend.hpp>
#include <llamaref/formats/load.hpp>
#include <llamaref/generate.hpp>
#include <llamaref/sampling/sampler.hpp>
#include <llamaref/tokenizer/sentencepiece.hpp>

#include "test_data.hpp"
#include "test_formats_oracle.hpp"

using namespace llamaref;

namespace {

using test::Oracle, test::read_oracle, test::max_abs_diff;  // test_formats_oracle.hpp

void check_against_oracle(const std::string& case_dir, const std::string& model_path,
                          Backend backend = reference_backend) {
    const Oracle o = read_oracle(case_dir);
    auto model = std::shared_ptr<const Model>(load_model(model_path));
    const int P = int(o.prompt.size()), G = int(o.generated.size());
    const std::size_t V = model->config.vocab_size, D = model->config.dim, L = model->config.n_layers;
    INFO("model " << model_path << (backend == cpu::fast_backend ? " (fast backend)" : ""));

    SECTION("prefill logits and hidden states") {
        Transformer tf(model);
        tf.set_backend(backend);
        std::map<std::string, std::vector<float>> seen;
        tf.set_observer([&](const Probe& p) {
            if (p.name == "tok_embeddings" || p.name == "norm" ||
                (p.name.rfind("layers.", 0) == 0 && p.name.find('.', 7) == std::string::npos))
                seen[p.name].assign(p.data, p.data + shape_numel(p.shape));
        });
        Tensor2 logits = tf.forward(o.prompt, 0);
        REQUIRE(logits.shape(0) == std::size_t(P));
        REQUIRE(logits.shape(1) == V);
        REQUIRE(o.prefill.size() == P * V);
        CHECK(max_abs_diff(logits.data(), o.prefill.data(), P * V) < 1e-4);

        REQUIRE(o.hidden.shape(0) == L + 2);
        std::vector<std::string> names{"tok_embeddings"};
        for (std::size_t l = 0; l < L; ++l) names.push_back("layers." + std::to_string(l));
        names.push_back("norm");
        for (std::size_t i = 0; i < names.size(); ++i) {
            INFO("hidden state " << names[i]);
            REQUIRE(seen[names[i]].size() == P * D);
            const float* want = o.hidden.data() + i * P * D;
            double scale = 0;
            for (std::size_t k = 0; k < P * D; ++k) scale = std::max(scale, double(std::fabs(want[k])));
            CHECK(max_abs_diff(seen[names[i]].data(), want, P * D) / scale < 1e-4);
        }
    }
    SECTION("decode logits through the KV cache") {
        Transformer tf(model);
        tf.set_backend(backend);
        Tensor2 logits = tf.forward(o.prompt, 0);
        REQUIRE(o.decode.size() == G * V);
        CHECK(max_abs_diff(&logits(P - 1, 0), o.decode.data(), V) < 1e-4);  // row 0 = last prefill row
        for (int k = 1; k < G; ++k) {
            const int tok[1] = {o.generated[k - 1]};
            Tensor2 step = tf.forward(tok, P + k - 1);
            INFO("decode step " << k);
            CHECK(max_abs_diff(step.data(), o.decode.data() + k * V, V) < 1e-4);
        }
    }
    SECTION("full logits of prompt + continuation in one pass") {
        Transformer tf(model);
        tf.set_backend(backend);
        std::vector<int> all = o.prompt;
        all.insert(all.end(), o.generated.begin(), o.generated.end());
        Tensor2 logits = tf.forward(all, 0);
        REQUIRE(o.full.size() == all.size() * V);
        CHECK(max_abs_diff(logits.data(), o.full.data(), all.size() * V) < 1e-4);
    }
    SECTION("greedy continuation ids are exact") {
        Transformer tf(model);
        tf.set_backend(backend);
        CHECK(generate_greedy(tf, o.prompt, G) == o.generated);
    }
}

}  // namespace

TEST_CASE("Meta reference fixture llama1-mha (hf layout)", "[oracle]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama1-mha/hf/model.safetensors");
    check_against_oracle(test::data("oracle/llama1-mha"), test::data("oracle/llama1-mha/hf"));
}

TEST_CASE("Meta reference fixture llama2-gqa (hf layout)", "[oracle]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/hf/model.safetensors");
    check_against_oracle(test::data("oracle/llama2-gqa"), test::data("oracle/llama2-gqa/hf"));
}

TEST_CASE("Meta reference fixture llama31-scaled (hf layout)", "[oracle]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama31-scaled/hf/model.safetensors");
    check_against_oracle(test::data("oracle/llama31-scaled"), test::data("oracle/llama31-scaled/hf"));
}

TEST_CASE("Meta reference fixture llama2-gqa (llama2.c layout)", "[oracle]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/llama2c/model.bin");
    check_against_oracle(test::data("oracle/llama2-gqa"), test::data("oracle/llama2-gqa/llama2c/model.bin"));
}

TEST_CASE("llama2.c and hf copies of llama2-gqa give the same logits", "[oracle]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/llama2c/model.bin");
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/hf/model.safetensors");
    Transformer a(load_model(test::data("oracle/llama2-gqa/llama2c/model.bin")));
    Transformer b(load_model(test::data("oracle/llama2-gqa/hf")));
    const std::vector<int> tokens{1, 5, 17, 300, 42, 511, 0, 9};
    Tensor2 la = a.forward(tokens, 0), lb = b.forward(tokens, 0);
    REQUIRE(la.shape() == lb.shape());
    CHECK(max_abs_diff(la.data(), lb.data(), la.size()) < 1e-5);
}

TEST_CASE("prefill then decode equals decoding the prompt token by token", "[model]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama31-scaled/hf/model.safetensors");
    auto model = std::shared_ptr<const Model>(load_model(test::data("oracle/llama31-scaled/hf")));
    const std::vector<int> prompt{1, 20, 300, 4, 999, 7, 64};
    Transformer a(model), b(model);
    Tensor2 pa = a.forward(prompt, 0);
    for (std::size_t t = 0; t < prompt.size(); ++t) {
        Tensor2 pb = b.forward(std::span(prompt).subspan(t, 1), int(t));
        CHECK(max_abs_diff(&pa(t, 0), pb.data(), pb.size()) < 1e-5);
    }
}

TEST_CASE("results do not depend on the thread count", "[model]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/hf/model.safetensors");
    auto model = std::shared_ptr<const Model>(load_model(test::data("oracle/llama2-gqa/hf")));
    const std::vector<int> prompt{1, 2, 3, 400, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    set_num_threads(1);
    Tensor2 one = Transformer(model).forward(prompt, 0);
    set_num_threads(2);
    Tensor2 two = Transformer(model).forward(prompt, 0);
    set_num_threads(1);
    CHECK(std::equal(one.begin(), one.end(), two.begin(), two.end()));  // bit for bit
}

TEST_CASE("stories260K greedy: 256 ids and text equal llama2.c's", "[stories]") {
    LLAMAREF_REQUIRE_DATA("models/stories260K/stories260K.bin");
    const std::string dir = test::data("models/stories260K");
    Transformer tf(load_model(dir + "/stories260K.bin"));
    const auto tok = SentencePieceTokenizer::from_llama2c(dir + "/tok512.bin", tf.config().vocab_size);

    const std::vector<int> want = test::read_ints(dir + "/expected/greedy_n256_ids.txt");
    REQUIRE(want.size() == 256);

    const std::vector<int> bos{tok.bos_id};
    const auto got = generate_greedy(tf, bos, 256);
    CHECK(got == want);

    std::ifstream txt(dir + "/expected/greedy_n256.txt", std::ios::binary);
    std::stringstream expected;
    expected << txt.rdbuf();
    CHECK(tok.decode(got, tok.bos_id) + "\n" == expected.str());
}

TEST_CASE("llama2.c version 1 ('ak42' header) reads the same model as version 0", "[llama2c]") {
    LLAMAREF_REQUIRE_DATA("models/stories260K/stories260K.bin");
    auto v0 = std::shared_ptr<const Model>(load_model(test::data("models/stories260K/stories260K.bin")));
    REQUIRE(v0->format == "llama2c v0");
    const ModelConfig& c = v0->config;
    // Write the same weights in export.py's version-1 layout: 256-byte header, norms first.
    const auto dir = test::scratch("llama2c-v1");
    const std::string path = (dir / "v1.bin").string();
    {
        std::ofstream f(path, std::ios::binary);
        auto put = [&](const void* p, std::size_t n) { f.write(static_cast<const char*>(p), std::streamsize(n)); };
        const uint32_t magic = kLlama2cMagic;
        const int32_t version = 1;
        const int32_t h[7] = {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.max_seq_len};
        const uint8_t shared = c.tied_embeddings ? 1 : 0;
        put(&magic, 4);
        put(&version, 4);
        put(h, sizeof h);
        put(&shared, 1);
        const std::string pad(256 - 4 - 4 - sizeof h - 1, '\0');
        put(pad.data(), pad.size());
        const Weights& w = v0->weights;
        auto tensor = [&](const TensorView& t) { put(t.data, t.nbytes()); };
        for (const auto& L : w.layers) tensor(L.attention_norm);
        for (const auto& L : w.layers) tensor(L.ffn_norm);
        tensor(w.norm);
        tensor(w.tok_embeddings);
        for (auto field : {&LayerWeights::wq, &LayerWeights::wk, &LayerWeights::wv, &LayerWeights::wo,
                           &LayerWeights::w1, &LayerWeights::w2, &LayerWeights::w3})
            for (const auto& L : w.layers) tensor(L.*field);
        if (!c.tied_embeddings) tensor(w.output);
    }
    auto v1 = std::shared_ptr<const Model>(load_model(path));
    CHECK(v1->format == "llama2c v1");
    CHECK(v1->config.describe() == c.describe());
    const std::vector<int> tokens{1, 403, 407, 261, 378};
    Tensor2 a = Transformer(v0).forward(tokens, 0), b = Transformer(v1).forward(tokens, 0);
    CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
}

namespace {
// Files opened while it lives are read into memory (--no-mmap); mapped again afterwards.
struct ReadFiles {
    ReadFiles() { set_file_loading(FileLoading::read); }
    ~ReadFiles() { set_file_loading(FileLoading::mapped); }
};
}  // namespace

TEST_CASE("files read into memory (--no-mmap) hold the same bytes and give the same logits", "[model][mmap]") {
    LLAMAREF_REQUIRE_DATA("models/stories260K/stories260K.bin");
    const std::string path = test::data("models/stories260K/stories260K.bin");
    const MappedFile mapped_file(path);
    auto mapped = std::shared_ptr<const Model>(load_model(path));
    const auto dir = test::scratch("no-mmap");
    { std::ofstream((dir / "empty.bin").string()); }
    ReadFiles reading;
    const MappedFile read_file(path);
    REQUIRE(read_file.size() == mapped_file.size());
    CHECK(read_file.data() != mapped_file.data());
    CHECK(std::memcmp(read_file.data(), mapped_file.data(), read_file.size()) == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(read_file.data()) % (std::size_t(2) << 20) == 0);  // 2 MiB pages fit
    auto read = std::shared_ptr<const Model>(load_model(path));
    const std::vector<int> tokens{1, 403, 407, 261, 378};
    Tensor2 a = Transformer(mapped).forward(tokens, 0), b = Transformer(read).forward(tokens, 0);
    CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
    // An empty file and a missing one behave as when mapped: size 0, and a clear error.
    CHECK(MappedFile((dir / "empty.bin").string()).size() == 0);
    CHECK_THROWS_WITH(MappedFile((dir / "absent.bin").string()), Catch::Contains("cannot open"));
}

TEST_CASE("prefill + decode samples the same tokens as feeding the prompt one token at a time", "[model][sampling]") {
    LLAMAREF_REQUIRE_DATA("models/stories260K/stories260K.bin");
    auto model = std::shared_ptr<const Model>(load_model(test::data("models/stories260K/stories260K.bin")));
    const std::vector<int> prompt{1, 403, 407, 261, 378, 432, 383, 286, 261};
    SamplingParams sp;
    sp.temperature = 1.0;
    sp.top_p = 0.95;
    auto run = [&](bool one_by_one) {
        Transformer tf(model);
        Mt19937Rng rng(2024);
        Sampler sampler(sp, rng);
        auto pick = [&](const float* l, std::size_t V, std::span<const int> h) { return sampler.next(l, V, h); };
        if (!one_by_one) return generate(tf, prompt, 100, {}, pick, nullptr);
        for (std::size_t t = 0; t + 1 < prompt.size(); ++t) tf.forward(std::span(prompt).subspan(t, 1), int(t));
        return generate(tf, std::span(prompt).last(1), 100, {}, pick, nullptr, nullptr, int(prompt.size()) - 1);
    };
    const auto a = run(false), b = run(true);
    REQUIRE(a.size() == 100);
    CHECK(a == b);
}

// --- the fast backend (cpu/): the same references, the same tolerances --------------------------

TEST_CASE("fast backend: Meta reference fixtures within 1e-4, greedy ids exact", "[oracle][fast]") {
    for (const std::string c : {"llama1-mha", "llama2-gqa", "llama31-scaled"}) {
        LLAMAREF_REQUIRE_DATA("oracle/" + c + "/hf/model.safetensors");
        check_against_oracle(test::data("oracle/" + c), test::data("oracle/" + c + "/hf"), cpu::fast_backend);
    }
}

TEST_CASE("fast backend: stories260K greedy 256 ids equal llama2.c's", "[stories][fast]") {
    LLAMAREF_REQUIRE_DATA("models/stories260K/stories260K.bin");
    const std::string dir = test::data("models/stories260K");
    Transformer tf(load_model(dir + "/stories260K.bin"));
    tf.set_backend(cpu::fast_backend);
    const std::vector<int> bos{1};
    CHECK(generate_greedy(tf, bos, 256) == test::read_ints(dir + "/expected/greedy_n256_ids.txt"));
}

TEST_CASE("fast backend: bit-identical for 1 and 2 threads, chunked or not, prefill or decode", "[model][fast]") {
    LLAMAREF_REQUIRE_DATA("models/stories260K/stories260K.bin");
    auto model = std::shared_ptr<const Model>(load_model(test::data("models/stories260K/stories260K.bin")));
    std::vector<int> prompt(300);
    for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = int((i * 7919 + 13) % 512);
    auto run = [&](int threads, int chunk) {
        set_num_threads(threads);
        Transformer tf(model);
        tf.set_backend(cpu::fast_backend);
        tf.set_prefill_chunk(chunk);
        Tensor2 logits = tf.forward(prompt, 0);
        set_num_threads(1);
        return logits;
    };
    const Tensor2 one = run(1, 512), two = run(2, 512), chunked = run(2, 64), odd = run(1, 37);
    CHECK(std::equal(one.begin(), one.end(), two.begin(), two.end()));
    CHECK(std::equal(one.begin(), one.end(), chunked.begin(), chunked.end()));
    CHECK(std::equal(one.begin(), one.end(), odd.begin(), odd.end()));

    // Token by token through the KV cache: every row the same bits as the prefill's.
    Transformer tf(model);
    tf.set_backend(cpu::fast_backend);
    const std::size_t V = one.shape(1);
    for (std::size_t t = 0; t < 40; ++t) {
        const Tensor2 step = tf.forward(std::span(prompt).subspan(t, 1), int(t));
        INFO("position " << t);
        CHECK(std::equal(step.begin(), step.end(), &one(t, 0), &one(t, 0) + V));
    }
    // ... and the reference within 1e-4 of the fast backend on the whole prompt.
    const Tensor2 ref = Transformer(model).forward(prompt, 0);
    CHECK(max_abs_diff(ref.data(), one.data(), ref.size()) < 1e-4);
}

TEST_CASE("LogitRows::last and forward_last give the last row of all", "[model][fast]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/hf/model.safetensors");
    auto model = std::shared_ptr<const Model>(load_model(test::data("oracle/llama2-gqa/hf")));
    const std::vector<int> prompt{1, 2, 3, 400, 5, 6, 7, 8, 9};
    for (Backend b : {reference_backend, cpu::fast_backend}) {
        Transformer all(model), last(model), next(model);
        for (auto* tf : {&all, &last, &next}) tf->set_backend(b);
        const Tensor2 a = all.forward(prompt, 0);
        const Tensor2 l = last.forward(prompt, 0, LogitRows::last);
        const std::span<const float> n = next.forward_last(prompt, 0);
        REQUIRE(l.shape(0) == 1);
        const float* want = &a(prompt.size() - 1, 0);
        CHECK(std::equal(l.begin(), l.end(), want, want + a.shape(1)));
        CHECK(std::equal(n.begin(), n.end(), want, want + a.shape(1)));
    }
}

TEST_CASE("fast backend: a 4096-token prompt in chunks, last logits within 1e-4 of the reference",
          "[model][fast][long]") {
    // A small random model (the values are noise; the shapes and the length are what matter).
    ModelConfig c;
    c.dim = 64, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 16, c.hidden_dim = 160;
    c.vocab_size = 300, c.max_seq_len = 4096, c.rope_theta = 500000;
    auto model = std::make_shared<Model>();
    model->config = c;
    uint64_t state = 88172645463325252ull;
    auto tensor = [&](Shape shape, float scale) {  // xorshift64 values in [-scale, scale]
        auto data = std::make_shared<std::vector<float>>(shape_numel(shape));
        for (float& v : *data) {
            state ^= state << 13, state ^= state >> 7, state ^= state << 17;
            v = scale * (float(state >> 40) / float(1 << 24) * 2 - 1);
        }
        model->storage.push_back(data);
        return TensorView{DType::F32, shape, reinterpret_cast<const std::byte*>(data->data())};
    };
    const std::size_t D = c.dim, Q = c.q_dim(), K = c.kv_dim(), F = c.hidden_dim, V = c.vocab_size;
    model->weights.tok_embeddings = tensor({V, D}, 1.0f);
    for (int l = 0; l < c.n_layers; ++l)
        model->weights.layers.push_back({tensor({D}, 1.0f),
                                         tensor({Q, D}, 0.3f),
                                         tensor({K, D}, 0.3f),
                                         tensor({K, D}, 0.3f),
                                         tensor({D, Q}, 0.1f),
                                         tensor({D}, 1.0f),
                                         tensor({F, D}, 0.2f),
                                         tensor({D, F}, 0.1f),
                                         tensor({F, D}, 0.2f),
                                         {},
                                         {}});
    model->weights.norm = tensor({D}, 1.0f);
    model->weights.output = tensor({V, D}, 0.3f);

    std::vector<int> prompt(4096);
    for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = int((i * 2654435761u) % V);
    Transformer ref(model), fast(model);
    fast.set_backend(cpu::fast_backend);  // chunks of 512: eight calls, only the last computes logits
    const Tensor2 want = ref.forward(prompt, 0, LogitRows::last);
    const std::span<const float> got = fast.forward_last(prompt, 0);
    REQUIRE(got.size() == V);
    const double diff = max_abs_diff(got.data(), want.data(), V);
    WARN("4096 tokens: max |fast - reference| over the last logits = " << diff);
    CHECK(diff < 1e-4);
}

// A 16-bit KV cache (-ctk / -ctv, model/kv_cache.hpp): the cache holds exactly the 16-bit
// rounding of what the exact model computes, and the logits move by the measured amount only.
TEST_CASE("KV cache in F16 / BF16: rounded keys and values, logits near Meta's", "[kv_cache][oracle]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/hf/model.safetensors");
    const Oracle o = read_oracle(test::data("oracle/llama2-gqa"));
    auto model = std::shared_ptr<const Model>(load_model(test::data("oracle/llama2-gqa/hf")));
    const int P = int(o.prompt.size());
    const std::size_t V = model->config.vocab_size, K = model->config.kv_dim();
    std::vector<int> all = o.prompt;
    all.insert(all.end(), o.generated.begin(), o.generated.end());
    const int S = int(all.size());

    for (Backend backend : {reference_backend, cpu::fast_backend}) {
        double effect_f16 = 0;
        Transformer exact(model);  // the F32 cache, same backend (the same sums up to the rounding)
        exact.set_backend(backend);
        const Tensor2 exact_logits = exact.forward(all, 0);
        for (DType t : {DType::F16, DType::BF16}) {
            INFO("cache type " << dtype_name(t)
                               << (backend == cpu::fast_backend ? ", fast backend" : ", reference backend"));
            Transformer tf(model);
            tf.set_backend(backend);
            tf.set_kv_cache_types(t, t);
            const Tensor2 logits = tf.forward(all, 0);
            // Layer 0's keys and values come from the embeddings alone, so the 16-bit cache holds
            // the exact model's rounded; and it holds them in half the bytes.
            std::vector<float> want_k(K), want_v(K), k(K), v(K);
            for (int pos = 0; pos < S; ++pos) {
                exact.kv_cache().load(0, pos, want_k.data(), want_v.data());
                round_kv(t, want_k.data(), K);
                round_kv(t, want_v.data(), K);
                tf.kv_cache().load(0, pos, k.data(), v.data());
                REQUIRE(k == want_k);
                REQUIRE(v == want_v);
            }
            CHECK(tf.kv_cache().key_type() == t);
            CHECK(tf.kv_cache().bytes() * 2 == exact.kv_cache().bytes());
            // The rounding shows in the logits (the option does something) but stays small
            // next to Meta's exact logits; the measured figures are in docs/performance.md.
            const double from_exact = max_abs_diff(logits.data(), exact_logits.data(), S * V);
            const double from_meta = max_abs_diff(logits.data(), o.full.data(), S * V);
            WARN("max |Δlogit| from the F32 cache: " << from_exact << ", from Meta's logits: " << from_meta);
            // Measured: F16 3.9e-3, BF16 3.2e-2 (8 bits of mantissa fewer, ~8× the effect).
            CHECK(from_exact > 0);
            CHECK(from_meta < (t == DType::F16 ? 1e-2 : 8e-2));
            if (t == DType::BF16)
                CHECK(from_exact > 2 * effect_f16);
            else
                effect_f16 = from_exact;
            // Decoding through the cache sees the same rounded keys as the single pass.
            Transformer step(model);
            step.set_backend(backend);
            step.set_kv_cache_types(t, t);
            const Tensor2 prefill = step.forward(o.prompt, 0);
            CHECK(max_abs_diff(&prefill(P - 1, 0), &logits(P - 1, 0), V) < 1e-4);
            for (int s = P; s < S; ++s) {
                const int tok[1] = {all[s]};
                const Tensor2 row = step.forward(tok, s);
                CHECK(max_abs_diff(row.data(), &logits(s, 0), V) < 1e-4);
            }
        }
    }
    Transformer bad(model);
    CHECK_THROWS_WITH(bad.set_kv_cache_types(DType::Q8_0, DType::F32), Catch::Contains("F32, F16 or BF16"));
}
