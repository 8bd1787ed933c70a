// The whole model on the GPU (cuda::Runner) against independent references: Meta's reference
// logits (../shared/oracle, atol 1e-3 in float32, greedy ids exact), llama2.c's stories260K greedy
// text, and the CPU path for sampled generation with the same coins; the peers Mistral and Gemma
// 1 / 2 against their authors' reference code and the CPU path. Skips without a GPU.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>

#include <nlohmann/json.hpp>
#include <xtensor/xnpy.hpp>

#include <llamaref/cuda/runner.hpp>
#include <llamaref/formats/load.hpp>
#include <llamaref/generate.hpp>
#include <llamaref/sampling/sampler.hpp>
#include <llamaref/tokenizer/sentencepiece.hpp>
#include <llamaref/verify/trace.hpp>

#include "../test_data.hpp"
#include "../test_formats_oracle.hpp"
#include "require_gpu.hpp"

using namespace llamaref;

namespace {

using test::max_abs_diff;  // test_formats_oracle.hpp

int argmax_row(const std::vector<float>& v) { return int(argmax(v.data(), v.size())); }

void check_fixture(const std::string& name, const std::string& model_rel, double atol, bool fast_prefill) {
    LLAMAREF_REQUIRE_DATA("oracle/" + name + "/" + model_rel);
    const std::string dir = test::data("oracle/" + name);
    std::ifstream f(dir + "/expected/tokens.json");
    const auto j = nlohmann::json::parse(f);
    const auto prompt = j["prompt"].get<std::vector<int>>(), generated = j["generated"].get<std::vector<int>>();
    const auto decode = xt::load_npy<float>(dir + "/expected/decode_logits.npy");
    const auto full = xt::load_npy<float>(dir + "/expected/full_logits.npy");
    auto model = load_model(dir + "/" + model_rel);
    const std::size_t V = model->config.vocab_size, P = prompt.size(), G = generated.size();
    INFO(name << " " << model_rel << " fast_prefill " << fast_prefill);
    cuda::RunnerOptions o;
    o.fast_prefill = fast_prefill;
    cuda::Runner gpu(*model, o);

    // Full logits of prompt + continuation in one prefill pass.
    std::vector<int> all = prompt;
    all.insert(all.end(), generated.begin(), generated.end());
    const auto logits = gpu.forward(all, 0);
    REQUIRE(logits.size() == full.size());
    const double full_err = max_abs_diff(logits.data(), full.data(), logits.size());
    CHECK(full_err < atol);

    // Prefill the prompt, then decode through the device KV cache, one token at a time.
    const auto pre = gpu.forward(prompt, 0);
    double decode_err = max_abs_diff(pre.data() + (P - 1) * V, decode.data(), V);
    for (std::size_t k = 1; k < G; ++k) {
        const auto step = gpu.forward(std::vector<int>{generated[k - 1]}, int(P + k - 1));
        decode_err = std::max(decode_err, max_abs_diff(step.data(), decode.data() + k * V, V));
    }
    CHECK(decode_err < atol);

    // Greedy ids, chosen on the device.
    std::vector<int> ids;
    int next = gpu.next_token(prompt, 0, {}, 0.0);
    for (std::size_t k = 0; k < G; ++k) {
        ids.push_back(next);
        if (k + 1 < G) next = gpu.next_token(std::vector<int>{next}, int(P + k), {}, 0.0);
    }
    CHECK(ids == generated);
    WARN(name << " " << model_rel << ": max |logit - Meta| full " << full_err << ", decode " << decode_err);
}

}  // namespace

TEST_CASE("cuda: Meta fixtures within 1e-3 (f32), greedy ids exact", "[cuda][oracle]") {
    LLAMAREF_REQUIRE_GPU(cuda::device_available);
    for (const char* name : {"llama1-mha", "llama2-gqa", "llama31-scaled"}) {
        check_fixture(name, "hf", 1e-3, true);
        check_fixture(name, "hf", 1e-3, false);
    }
}

// The family's fixtures (computed by mistral-inference's one_file_ref.py and gemma_pytorch in
// float32; tests/test_family.cpp runs the CPU path on them): sliding windows of 12 and 8
// positions that 40 tokens outgrow, GeGLU, (1 + w) norms, embeddings × √D, tied output, Gemma 2's
// post-norms, query_pre_attn_scalar and soft-caps.
namespace {
const char* kFamilyCases[] = {"mistral-swa", "gemma-2b-like", "gemma2-like"};

}  // namespace

TEST_CASE("cuda: Mistral and Gemma 1/2 fixtures match their authors' reference and the CPU path", "[cuda][family]") {
    LLAMAREF_REQUIRE_GPU(cuda::device_available);
    for (const char* name : kFamilyCases) {
        LLAMAREF_REQUIRE_DATA(std::string("oracle/") + name + "/hf/config.json");
        INFO(name);
        const std::string dir = test::data(std::string("oracle/") + name);
        std::ifstream f(dir + "/expected/tokens.json");
        const auto j = nlohmann::json::parse(f);
        const auto prompt = j["prompt"].get<std::vector<int>>(), generated = j["generated"].get<std::vector<int>>();
        const auto decode = xt::load_npy<float>(dir + "/expected/decode_logits.npy");
        const auto full = xt::load_npy<float>(dir + "/expected/full_logits.npy");
        std::vector<int> all = prompt;
        all.insert(all.end(), generated.begin(), generated.end());
        auto model = std::shared_ptr<const Model>(load_model(dir + "/hf"));
        const std::size_t V = model->config.vocab_size, P = prompt.size(), G = generated.size();

        // The 40 tokens in one prefill: against the reference and against the CPU path. (The
        // fixtures are F32, whose prefill is cuBLAS's float32 SGEMM whatever fast_prefill says.)
        Transformer cpu_full(model);
        const Tensor2 cpu_logits = cpu_full.forward(all, 0);
        cuda::Runner gpu(*model);
        const auto logits = gpu.forward(all, 0);
        REQUIRE(logits.size() == full.size());
        const double full_err = max_abs_diff(logits.data(), full.data(), logits.size());
        const double full_cpu = max_abs_diff(logits.data(), cpu_logits.data(), logits.size());
        CHECK(full_err < 1e-4);
        CHECK(full_cpu < 1e-4);
        // The same with attention_plain.cuh's kernel (version 1, the CPU function's loops).
        cuda::RunnerOptions plain_attention;
        plain_attention.plain_attention = true;
        cuda::Runner gpu_plain(*model, plain_attention);
        const auto logits_plain = gpu_plain.forward(all, 0);
        CHECK(max_abs_diff(logits_plain.data(), full.data(), logits_plain.size()) < 1e-4);
        CHECK(max_abs_diff(logits_plain.data(), cpu_logits.data(), logits_plain.size()) < 1e-4);
        CHECK(gpu_plain.decode_path() == "plain");

        // Prefill the prompt, then greedy decoding through the device cache past the windows (12
        // and 8 positions; 40 tokens), ids chosen on the device: the fused step as a CUDA graph
        // (GeGLUInput, the post-norm adds and the final cap captured in it) and the step kernel by
        // kernel, each against the reference's decode logits, the CPU path (whose windowed layers
        // keep a rolling buffer of W slots, where the device masks a full cache) and each other.
        cuda::RunnerOptions plain;
        plain.fused_decode = false;
        cuda::Runner unfused(*model, plain);
        REQUIRE(gpu.decode_path() == "graph");
        REQUIRE(unfused.decode_path() == "plain");
        Transformer cpu(model);
        Tensor2 cpu_step = cpu.forward(prompt, 0, LogitRows::last);
        double decode_err = 0, decode_cpu = 0, fused_vs_plain = 0;
        std::vector<int> ids, ids_plain;
        for (std::size_t k = 0; k < G; ++k) {
            const std::span<const int> in =
                k == 0 ? std::span<const int>(prompt) : std::span<const int>(&ids.back(), 1);
            const std::span<const int> in_plain =
                k == 0 ? std::span<const int>(prompt) : std::span<const int>(&ids_plain.back(), 1);
            const int pos = k == 0 ? 0 : int(P + k - 1);
            ids.push_back(gpu.next_token(in, pos, {}, 0.0));
            ids_plain.push_back(unfused.next_token(in_plain, pos, {}, 0.0));
            const auto a = gpu.last_logits(), b = unfused.last_logits();
            if (k > 0) cpu_step = cpu.forward(std::span<const int>(&generated[k - 1], 1), pos, LogitRows::last);
            decode_err = std::max({decode_err, max_abs_diff(a.data(), decode.data() + k * V, V),
                                   max_abs_diff(b.data(), decode.data() + k * V, V)});
            decode_cpu = std::max(
                {decode_cpu, max_abs_diff(a.data(), cpu_step.data(), V), max_abs_diff(b.data(), cpu_step.data(), V)});
            fused_vs_plain = std::max(fused_vs_plain, max_abs_diff(a.data(), b.data(), V));
        }
        CHECK(decode_err < 1e-4);
        CHECK(decode_cpu < 1e-4);
        CHECK(fused_vs_plain < 1e-4);
        CHECK(ids == generated);
        CHECK(ids_plain == generated);
        std::printf(
            "%-14s max |logit diff|: full vs reference %.2e, vs cpu %.2e; decode (graph and plain) vs reference "
            "%.2e, vs cpu %.2e; graph vs plain %.2e; greedy %s\n",
            name, full_err, full_cpu, decode_err, decode_cpu, fused_vs_plain,
            ids == generated && ids_plain == generated ? "exact" : "DIFFERS");
        std::fflush(stdout);
    }
}

TEST_CASE("cuda: bf16 and Q8_0 GGUF fixtures within the bounds llama.cpp shows", "[cuda][oracle]") {
    LLAMAREF_REQUIRE_GPU(cuda::device_available);
    // The same bounds as the CPU path's test_gguf (max |logit − Meta| of llama.cpp on these files).
    for (const char* name : {"llama1-mha", "llama2-gqa", "llama31-scaled"}) {
        LLAMAREF_REQUIRE_DATA(std::string("oracle/") + name + "/gguf/model-bf16.gguf");
        const std::string dir = test::data(std::string("oracle/") + name);
        const auto full = xt::load_npy<float>(dir + "/expected/full_logits.npy");
        std::ifstream f(dir + "/expected/tokens.json");
        const auto j = nlohmann::json::parse(f);
        std::vector<int> all = j["prompt"].get<std::vector<int>>();
        for (int id : j["generated"].get<std::vector<int>>()) all.push_back(id);
        for (auto [file, bound] : {std::pair{"model-bf16.gguf", 0.12}, {"model-q8_0.gguf", 0.22}}) {
            INFO(name << " " << file);
            auto model = std::shared_ptr<const Model>(load_model(dir + "/gguf/" + file));
            // float32 activations (the CPU path's arithmetic): llama.cpp's bounds, and the CPU
            // path on the same file within 1e-3.
            cuda::RunnerOptions exact;
            exact.fast_prefill = false;
            cuda::Runner gpu_exact(*model, exact);
            const auto e = gpu_exact.forward(all, 0);
            CHECK(max_abs_diff(e.data(), full.data(), e.size()) < bound);
            Transformer cpu(model);
            const Tensor2 c = cpu.forward(all, 0);
            CHECK(max_abs_diff(e.data(), c.data(), e.size()) < 1e-3);
            // Tensor-core prefill (bf16 activations for bf16 weights; Q8_0 is unaffected): the
            // rounding of the activations adds about as much error as that of the weights.
            cuda::Runner gpu_fast(*model);
            const auto tc = gpu_fast.forward(all, 0);
            const double fast_err = max_abs_diff(tc.data(), full.data(), tc.size());
            CHECK(fast_err < 2 * bound);
            WARN(name << " " << file << ": max |logit - Meta| float32 activations "
                      << max_abs_diff(e.data(), full.data(), e.size()) << ", tensor-core prefill " << fast_err);
        }
    }
}

TEST_CASE("cuda: stories260K greedy 256 tokens equal the CPU text and llama2.c's", "[cuda][stories]") {
    LLAMAREF_REQUIRE_GPU(cuda::device_available);
    LLAMAREF_REQUIRE_DATA("models/stories260K/stories260K.bin");
    const std::string dir = test::data("models/stories260K");
    auto model = std::shared_ptr<const Model>(load_model(dir + "/stories260K.bin"));
    const auto tok = SentencePieceTokenizer::from_llama2c(dir + "/tok512.bin", model->config.vocab_size);
    const std::vector<int> want = test::read_ints(dir + "/expected/greedy_n256_ids.txt");
    REQUIRE(want.size() == 256);

    Transformer cpu(model);
    const std::vector<int> bos{tok.bos_id};
    const auto cpu_ids = generate_greedy(cpu, bos, 256);

    cuda::Runner gpu(*model);
    auto step = [&](std::span<const int> tokens, int pos, std::span<const int>) {
        return gpu.next_token(tokens, pos, {}, 0.0);
    };
    const auto gpu_ids = generate_steps(step, model->config.max_seq_len, bos, 256, {}, nullptr);
    CHECK(gpu_ids == cpu_ids);
    CHECK(gpu_ids == want);
    std::ifstream txt(dir + "/expected/greedy_n256.txt", std::ios::binary);
    std::stringstream expected;
    expected << txt.rdbuf();
    CHECK(tok.decode(gpu_ids, tok.bos_id) + "\n" == expected.str());
}

TEST_CASE("cuda: sampling on the device picks the CPU sampler's tokens for the same seed", "[cuda][sampling]") {
    LLAMAREF_REQUIRE_GPU(cuda::device_available);
    LLAMAREF_REQUIRE_DATA("models/stories260K/stories260K.bin");
    auto model = std::shared_ptr<const Model>(load_model(test::data("models/stories260K/stories260K.bin")));
    SamplingParams sp;
    sp.temperature = 1.0, sp.top_p = 0.9, sp.top_k = 40;
    const std::vector<int> prompt{1};

    Transformer cpu(model);
    Mt19937Rng rng_cpu(42);
    Sampler sampler(sp, rng_cpu);
    auto pick = [&](const float* l, std::size_t V, std::span<const int> h) { return sampler.next(l, V, h); };
    const auto cpu_ids = generate(cpu, prompt, 200, {}, pick, nullptr);

    cuda::Runner gpu(*model);
    Mt19937Rng rng_gpu(42);
    const cuda::DeviceSampling ds{sp.temperature, sp.top_k, sp.top_p, sp.min_p};
    auto step = [&](std::span<const int> tokens, int pos, std::span<const int>) {
        return gpu.next_token(tokens, pos, ds, rng_gpu.coin());
    };
    const auto gpu_ids = generate_steps(step, model->config.max_seq_len, prompt, 200, {}, nullptr);
    CHECK(gpu_ids == cpu_ids);
}

TEST_CASE("cuda: the fused decode step, with and without a CUDA graph, equals the kernel-by-kernel step", "[cuda]") {
    LLAMAREF_REQUIRE_GPU(cuda::device_available);
    // stories260K's F = 172 is not a multiple of 8: it runs kernel by kernel whatever is asked.
    for (auto [file, fusable] : {std::pair{"oracle/llama2-gqa/hf", true},
                                 {"oracle/llama31-scaled/gguf/model-bf16.gguf", true},
                                 {"oracle/llama1-mha/gguf/model-q8_0.gguf", true},
                                 {"models/stories260K/stories260K.bin", false}}) {
        LLAMAREF_REQUIRE_DATA(file);
        INFO(file);
        auto model = load_model(test::data(file));
        cuda::RunnerOptions plain, no_graph;
        plain.fused_decode = false;
        no_graph.cuda_graph = false;
        cuda::Runner graph(*model), fused(*model, no_graph), unfused(*model, plain);
        REQUIRE(graph.decode_path() == (fusable ? "graph" : "plain"));
        REQUIRE(fused.decode_path() == (fusable ? "fused" : "plain"));
        REQUIRE(unfused.decode_path() == "plain");
        const std::vector<int> prompt{1, 5, 9, 13, 2};
        for (auto* r : {&graph, &fused, &unfused}) r->forward(prompt, 0);
        // 300 steps: past the first decode split of 256 positions, and through the KV cache's
        // growth (each growth captures the graph again).
        const int V = model->config.vocab_size, steps = std::min(300, model->config.max_seq_len - 6);
        double fused_err = 0, graph_err = 0;
        int token = 3;
        for (int k = 0; k < steps; ++k) {
            const auto a = graph.forward(std::vector<int>{token}, 5 + k);
            const auto b = fused.forward(std::vector<int>{token}, 5 + k);
            const auto c = unfused.forward(std::vector<int>{token}, 5 + k);
            graph_err = std::max(graph_err, max_abs_diff(a.data(), b.data(), V));
            fused_err = std::max(fused_err, max_abs_diff(b.data(), c.data(), V));
            token = argmax_row(c);
        }
        CHECK(graph_err == 0);    // the same kernels, replayed
        CHECK(fused_err < 1e-4);  // the same operations in other kernels (expected: 0)
        WARN(file << ": fused vs unfused decode, max |logit diff| " << fused_err << " over " << steps << " steps");
    }
}

TEST_CASE("cuda: a trace of the device's forward pass matches the CPU's, tensor by tensor", "[cuda][trace]") {
    LLAMAREF_REQUIRE_GPU(cuda::device_available);
    for (const char* file : {"oracle/llama2-gqa/hf", "oracle/mistral-swa/hf", "oracle/gemma2-like/hf"}) {
        LLAMAREF_REQUIRE_DATA(file);
        INFO(file);
        auto model = std::shared_ptr<const Model>(load_model(test::data(file)));
        cuda::RunnerOptions o;
        o.fast_prefill = false;  // float32 products, as the CPU
        cuda::Runner gpu(*model, o);
        Transformer cpu(model);
        const std::vector<int> prompt{1, 5, 9, 13, 2, 7};
        // The prefill, then one decode step (observed: the plain path, not the fused one).
        for (const auto& [tokens, start] : {std::pair{prompt, 0}, std::pair{std::vector<int>{11}, 6}}) {
            if (start > 0) {  // the prompt's keys and values in both caches, unobserved
                gpu.forward(prompt, 0);
                cpu.forward(prompt, 0);
            }
            Trace g, c;
            g.post_norms = c.post_norms = model->config.post_norms;
            auto keep = [](Trace& t) {
                return [&t](const Probe& p) {
                    TraceTensor x;
                    x.name = p.name, x.layer = p.layer, x.shape = p.shape;
                    x.data.assign(p.data, p.data + shape_numel(p.shape));
                    t.tensors.push_back(std::move(x));
                };
            };
            gpu.set_observer(keep(g));
            cpu.set_observer(keep(c));
            const auto gl = gpu.forward(tokens, start);
            const Tensor2 cl = cpu.forward(tokens, start);
            gpu.set_observer(nullptr), cpu.set_observer(nullptr);
            INFO("start " << start);
            CHECK(max_abs_diff(gl.data(), cl.data(), cl.size()) < 1e-4);  // the observed run's logits
            // Every CPU tensor but the two the device does not hold, in the same order, within
            // float32 rounding of the CPU's values.
            std::vector<std::string> want;
            for (const auto& t : c.tensors)
                if (!t.name.ends_with("post_attention_norm") && !t.name.ends_with("post_ffn_norm"))
                    want.push_back(t.name);
            std::vector<std::string> got;
            for (const auto& t : g.tensors) got.push_back(t.name);
            CHECK(got == want);
            double worst = 0;
            for (const auto& t : g.tensors) {
                const TraceTensor* ref = c.find(t.name);
                REQUIRE(ref);
                INFO(t.name);
                REQUIRE(t.shape == ref->shape);
                double scale = 1;
                for (float v : ref->data) scale = std::max(scale, double(std::abs(v)));
                const double err = max_abs_diff(t.data.data(), ref->data.data(), t.data.size()) / scale;
                CHECK(err < 1e-4);
                worst = std::max(worst, err);
            }
            WARN(file << " start " << start << ": " << g.tensors.size() << " tensors, worst |gpu - cpu| / max|cpu| "
                      << worst);
        }
    }
}

TEST_CASE("cuda: bad input is an error, not a crash", "[cuda]") {
    LLAMAREF_REQUIRE_GPU(cuda::device_available);
    LLAMAREF_REQUIRE_DATA("models/stories260K/stories260K.bin");
    auto model = load_model(test::data("models/stories260K/stories260K.bin"));
    cuda::RunnerOptions o;
    o.context_len = 16;
    cuda::Runner gpu(*model, o);
    CHECK_THROWS_WITH(gpu.forward(std::vector<int>{1, 99999}, 0), Catch::Contains("outside the vocabulary"));
    CHECK_THROWS_WITH(gpu.forward(std::vector<int>(17, 1), 0), Catch::Contains("context holds 16"));
    CHECK_THROWS_WITH(gpu.next_token(std::vector<int>{1}, 0, {1.0, 0, 1.5, 0.0}, 0.5), Catch::Contains("out of range"));
    CHECK(argmax_row(gpu.forward(std::vector<int>{1}, 0)) >= 0);  // still usable afterwards
}
