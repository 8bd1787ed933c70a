// The writers: every fixture rewritten by llamaref as GGUF, safetensors and llama2.c must match
// the files that llama.cpp, Hugging Face and llama2.c tools wrote, and give Meta's logits.
#include <catch2/catch.hpp>

#include <filesystem>
#include <iostream>

#include <llamaref/formats/safetensors.hpp>
#include <llamaref/formats/write_gguf.hpp>
#include <llamaref/formats/write_llama2c.hpp>
#include <llamaref/formats/write_safetensors.hpp>
#include <llamaref/model/weights.hpp>

#include "test_formats_oracle.hpp"

using namespace llamaref;
using namespace llamaref::test;
namespace fs = std::filesystem;

namespace {
std::string meta_dir(const std::string& c) { return data("oracle/" + c + "/meta"); }
bool same_bytes(const std::byte* a, const std::byte* b, std::size_t n) { return std::equal(a, a + n, b); }
}  // namespace

TEST_CASE("GGUF writer: tensors byte-identical to llama.cpp's converter and llama-quantize", "[writer][gguf]") {
    for (const char* c : kOracleCases)
        for (const auto& [type, dt] :
             {std::pair<const char*, DType>{"f32", DType::F32}, {"bf16", DType::BF16}, {"q8_0", DType::Q8_0}}) {
            LLAMAREF_REQUIRE_DATA("oracle/" + std::string(c) + "/gguf/model-" + type + ".gguf");
            SECTION(std::string(c) + " " + type) {
                const std::string out = (scratch(std::string("gguf-") + c + type) / "m.gguf").string();
                write_gguf(*load_model(meta_dir(c)), out, dt);
                const GgufFile ours(out), theirs(data("oracle/" + std::string(c) + "/gguf/model-" + type + ".gguf"));
                REQUIRE(ours.tensors().size() == theirs.tensors().size());
                for (const auto& t : theirs.tensors()) {
                    INFO("tensor " << t.name);
                    REQUIRE(ours.has_tensor(t.name));
                    const auto& o = ours.tensor_info(t.name);
                    CHECK(o.shape == t.shape);
                    CHECK(o.type == t.type);
                    REQUIRE(o.nbytes == t.nbytes);
                    if (t.name == "rope_freqs.weight") {  // divisors computed in float64 by both, stored as f32
                        const auto a = ours.get(t.name).to_f32_vector(), b = theirs.get(t.name).to_f32_vector();
                        for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(b[i]).epsilon(1e-6));
                    } else {
                        CHECK(same_bytes(ours.tensor_data(o), theirs.tensor_data(t), t.nbytes));
                    }
                }
                for (const char* key :
                     {"llama.block_count", "llama.embedding_length", "llama.feed_forward_length",
                      "llama.attention.head_count", "llama.attention.head_count_kv", "general.file_type"})
                    CHECK(ours.get_int(key) == theirs.get_int(key));
                CHECK(ours.get_float("llama.rope.freq_base") == theirs.get_float("llama.rope.freq_base"));
                CHECK(ours.get_float("llama.attention.layer_norm_rms_epsilon") ==
                      theirs.get_float("llama.attention.layer_norm_rms_epsilon"));
                if (dt == DType::F32) check_oracle_exact(c, out);
            }
        }
}

TEST_CASE("GGUF writer: F16, tied output and a copied vocabulary round-trip", "[writer][gguf]") {
    LLAMAREF_REQUIRE_DATA("gguf/llama-2-tiny-random.gguf");
    const std::string src = data("gguf/llama-2-tiny-random.gguf");
    auto m = load_model(src);
    const std::string out = (scratch("gguf-tiny") / "tiny.gguf").string();
    write_gguf(*m, out, DType::F16, gguf_tokenizer_metadata(GgufFile(src)));
    const GgufFile a(src), b(out);
    CHECK(b.string_array("tokenizer.ggml.tokens") == a.string_array("tokenizer.ggml.tokens"));
    CHECK(b.int_array("tokenizer.ggml.token_type") == a.int_array("tokenizer.ggml.token_type"));
    for (const auto& t : a.tensors()) {
        INFO(t.name);
        REQUIRE(b.has_tensor(t.name));
        CHECK(same_bytes(a.tensor_data(t), b.tensor_data(b.tensor_info(t.name)), t.nbytes));
    }
    // A tied model: no output.weight, and the reader ties it back.
    auto tied = std::make_shared<Model>(*m);
    tied->config.tied_embeddings = true;
    tied->weights.output = tied->weights.tok_embeddings;
    write_gguf(*tied, out, DType::F32);
    CHECK_FALSE(GgufFile(out).has_tensor("output.weight"));
    auto back = load_model(out);
    CHECK(back->config.tied_embeddings);
    CHECK(back->weights.output.data == back->weights.tok_embeddings.data);
}

TEST_CASE("safetensors writer: the Hugging Face layout, byte-identical to the fixture's", "[writer][hf]") {
    for (const char* c : kOracleCases) {
        LLAMAREF_REQUIRE_DATA("oracle/" + std::string(c) + "/hf/model.safetensors");
        SECTION(c) {
            const auto dir = scratch(std::string("hf-") + c);
            write_hf(*load_model(meta_dir(c)), dir.string(), DType::F32);
            const SafetensorsFile ours((dir / "model.safetensors").string()),
                theirs(data("oracle/" + std::string(c) + "/hf/model.safetensors"));
            CHECK(ours.entries().size() == theirs.entries().size());
            for (const auto& [name, e] : theirs.entries()) {
                INFO("tensor " << name);
                REQUIRE(ours.has(name));
                const TensorView a = ours.get(name), b = theirs.get(name);
                CHECK(a.shape == b.shape);
                CHECK(same_bytes(a.data, b.data, b.nbytes()));  // q/k permuted exactly as HF's converter does
            }
            const auto theirs_cfg = read_json_file(data("oracle/" + std::string(c) + "/hf/config.json"));
            const ModelConfig a = parse_hf_config(read_json_file((dir / "config.json").string()), "ours"),
                              b = parse_hf_config(theirs_cfg, "theirs");
            CHECK(a.describe().substr(0, a.describe().find(", context")) ==
                  b.describe().substr(0, b.describe().find(", context")));
            check_oracle_exact(c, dir.string());
        }
    }
}

TEST_CASE("llama2.c writer: versions 0 and 1 give Meta's logits, version 2 within Q8 tolerance", "[writer][llama2c]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/llama2c/model.bin");
    auto m = load_model(meta_dir("llama2-gqa"));
    const auto dir = scratch("llama2c-writer");
    // Version 0 is the fixture's own format: every weight equals llama2.c's export.
    write_llama2c(*m, (dir / "v0.bin").string(), 0);
    auto ours = load_model((dir / "v0.bin").string()), theirs = load_model(data("oracle/llama2-gqa/llama2c/model.bin"));
    CHECK(ours->format == "llama2c v0");
    CHECK(same_bytes(ours->weights.layers[1].w2.data, theirs->weights.layers[1].w2.data,
                     theirs->weights.layers[1].w2.nbytes()));
    CHECK(same_bytes(ours->weights.output.data, theirs->weights.output.data, theirs->weights.output.nbytes()));
    check_oracle_exact("llama2-gqa", (dir / "v0.bin").string());
    write_llama2c(*m, (dir / "v1.bin").string(), 1);
    CHECK(load_model((dir / "v1.bin").string())->format == "llama2c v1");
    check_oracle_exact("llama2-gqa", (dir / "v1.bin").string());

    // Version 2: int8 groups of 64 with a float32 scale each (coarser groups than GGUF's Q8_0 of
    // 32, a finer scale): held to the bound llama.cpp's own Q8_0 reaches, 0.22; measured 0.19.
    write_llama2c(*m, (dir / "v2.bin").string(), 2);
    auto q = load_model((dir / "v2.bin").string());
    CHECK(q->format == "llama2c v2");
    const Oracle o = read_oracle(data("oracle/llama2-gqa"));
    const OracleResult r = run_oracle(o, q);
    std::cout << "llama2.c v2: prefill " << r.prefill << " decode " << r.decode << " full " << r.full << "\n";
    CHECK(r.prefill < 0.22);
    CHECK(r.full < 0.22);
    for (std::size_t k = 0; k < o.generated.size(); ++k)
        if (o.margins[k] >= 0.05) CHECK(r.teacher_forced[k] == o.generated[k]);
    // Dequantized exactly: value = int8 · scale, within half a quantization step of the original.
    const auto a = q->weights.layers[0].wq.to_f32_vector(), b = m->weights.layers[0].wq.to_f32_vector();
    double worst = 0, amax = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        worst = std::max(worst, double(std::fabs(a[i] - b[i]))), amax = std::max(amax, double(std::fabs(b[i])));
    CHECK(worst <= amax / 127 / 2 * 1.0001);

    // What the format cannot state is refused, not silently changed.
    CHECK_THROWS_WITH(write_llama2c(*load_model(meta_dir("llama1-mha")), (dir / "x.bin").string(), 1),
                      Catch::Contains("assumes"));
    CHECK_THROWS_WITH(write_llama2c(*load_model(meta_dir("llama31-scaled")), (dir / "x.bin").string(), 1),
                      Catch::Contains("assumes"));
    CHECK_FALSE(fs::exists(dir / "x.bin"));
}

TEST_CASE("summary: parameter count, bytes and dtypes per tensor kind", "[info]") {
    for (const char* c : kOracleCases) {
        LLAMAREF_REQUIRE_DATA("oracle/" + std::string(c) + "/case.json");
        SECTION(c) {
            // The count from case.json's sizes alone.
            const auto j = read_json_file(data("oracle/" + std::string(c) + "/case.json"));
            const std::size_t D = j["params"]["dim"], L = j["params"]["n_layers"], H = j["params"]["n_heads"],
                              KV = j["params"]["n_kv_heads"], V = j["params"]["vocab_size"],
                              F = j["derived"]["ffn_hidden_dim"], Dh = j["derived"]["head_dim"];
            const std::size_t want = 2 * V * D + D + L * (2 * D + D * H * Dh * 2 + 2 * D * KV * Dh + 3 * D * F);
            for (const std::string& path : {meta_dir(c), data("oracle/" + std::string(c) + "/hf"),
                                            data("oracle/" + std::string(c) + "/gguf/model-f32.gguf")}) {
                INFO(path);
                const ModelSummary s = summarize(*load_model(path));
                CHECK(s.parameters == want);
                CHECK(s.bytes == 4 * want);
            }
            const ModelSummary q = summarize(*load_model(data("oracle/" + std::string(c) + "/gguf/model-q8_0.gguf")));
            CHECK(q.parameters == want);
            CHECK(q.dtypes.at("attention") == std::set<std::string>{"Q8_0"});
            CHECK(q.dtypes.at("norms") == std::set<std::string>{"F32"});
        }
    }
}

// Gemma 2's block has two norms more (post_norms): the count is that of the tensors in the Hugging
// Face file itself (written by transformers; tied output, so no lm_head in it).
TEST_CASE("summarize counts every tensor of the Hugging Face file, Gemma included", "[formats]") {
    for (const char* c : {"gemma2-like", "gemma-2b-like", "mistral-swa", "llama2-gqa"}) {
        LLAMAREF_REQUIRE_DATA("oracle/" + std::string(c) + "/hf/model.safetensors");
        INFO(c);
        const std::string dir = data("oracle/" + std::string(c) + "/hf");
        const SafetensorsFile file(dir + "/model.safetensors");
        std::size_t want = 0;
        for (const auto& [name, e] : file.entries()) {
            std::size_t n = 1;
            for (std::size_t d : e.shape) n *= d;
            want += n;
        }
        CHECK(summarize(*load_model(dir)).parameters == want);
    }
}
