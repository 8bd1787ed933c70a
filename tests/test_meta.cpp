// Meta's original checkpoints (params.json + consolidated.NN.pth) against Meta's reference logits.
#include <catch2/catch.hpp>

#include <filesystem>
#include <iostream>

#include <llamaref/formats/meta.hpp>

#include "test_formats_oracle.hpp"
#include "test_formats_pth.hpp"
#include "test_meta_shards.hpp"

using namespace llamaref;
using namespace llamaref::test;
namespace fs = std::filesystem;

namespace {

Tensor2 logits_of(std::shared_ptr<const Model> m, const std::vector<int>& tokens) {
    Transformer tf(m);
    return tf.forward(tokens, 0);
}

}  // namespace

TEST_CASE("Meta fixtures from meta/ (consolidated.00.pth)", "[meta][oracle]") {
    for (const char* c : kOracleCases) {
        LLAMAREF_REQUIRE_DATA(std::string("oracle/") + c + "/meta/consolidated.00.pth");
        SECTION(c) {
            check_oracle_exact(c, data(std::string("oracle/") + c + "/meta"));
            auto m = load_model(data(std::string("oracle/") + c + "/meta"));
            CHECK(m->format == "meta (1 shard)");
            CHECK(m->config.n_kv_heads == m->config.n_heads / (std::string(c) == "llama1-mha"   ? 1
                                                               : std::string(c) == "llama2-gqa" ? 4
                                                                                                : 2));
        }
    }
}

TEST_CASE("a checkpoint split in shards the way Meta splits gives the same model", "[meta][oracle]") {
    for (const char* c : kOracleCases) {
        LLAMAREF_REQUIRE_DATA(std::string("oracle/") + c + "/meta/consolidated.00.pth");
        SECTION(c) {
            for (int n : {2, 4}) {
                INFO(n << " shards");
                const std::string dir = write_meta_folder(c, std::to_string(n) + "shards", n);
                auto sharded = load_model(dir);
                CHECK(sharded->format == "meta (" + std::to_string(n) + " shards)");
                // Concatenation restores every value exactly: logits equal bit for bit.
                const Oracle o = read_oracle(data(std::string("oracle/") + c));
                Tensor2 a = logits_of(sharded, o.prompt);
                Tensor2 b = logits_of(load_model(data(std::string("oracle/") + c + "/meta")), o.prompt);
                CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
                if (n == 2) check_oracle_exact(c, dir);
            }
        }
    }
}

TEST_CASE("bf16 storages equal llama.cpp's bf16 rounding, f16 storages within tolerance", "[meta]") {
    for (const char* c : kOracleCases) {
        LLAMAREF_REQUIRE_DATA(std::string("oracle/") + c + "/gguf/model-bf16.gguf");
        SECTION(c) {
            const Oracle o = read_oracle(data(std::string("oracle/") + c));
            // BF16: the same bf16 values as the GGUF that llama.cpp's converter wrote, so the same
            // logits bit for bit.
            auto bf16 = load_model(write_meta_folder(c, "bf16", 2, DType::BF16));
            CHECK(bf16->weights.layers[0].wq.dtype == DType::BF16);
            Tensor2 a = logits_of(bf16, o.prompt);
            Tensor2 b = logits_of(load_model(data(std::string("oracle/") + c + "/gguf/model-bf16.gguf")), o.prompt);
            CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
            // F16 keeps 11 significant bits (bf16: 8), so its rounding error is 8x smaller: the
            // logits stay within 0.12 / 8 = 0.015 of Meta's float32 ones.
            const OracleResult r = run_oracle(o, load_model(write_meta_folder(c, "f16", 1, DType::F16)));
            std::cout << c << " f16 prefill " << r.prefill << " decode " << r.decode << " full " << r.full << "\n";
            CHECK(r.prefill < 0.015);
            CHECK(r.decode < 0.015);
            CHECK(r.full < 0.015);
        }
    }
}

TEST_CASE("params.json of real Meta releases", "[meta]") {
    LLAMAREF_REQUIRE_DATA("params/llama3-8b.params.json");
    const ModelConfig c8 = parse_meta_params(read_json_file(data("params/llama3-8b.params.json")), "8b");
    CHECK(c8.hidden_dim == 14336);
    CHECK(c8.n_kv_heads == 8);
    CHECK(c8.head_dim == 128);
    CHECK(c8.rope_theta == 500000.0);
    CHECK(c8.max_seq_len == 8192);
    CHECK_FALSE(c8.rope_scaling.enabled);
    const ModelConfig c70 = parse_meta_params(read_json_file(data("params/llama3-70b.params.json")), "70b");
    CHECK(c70.hidden_dim == 28672);
    // Llama 2 7B as Meta shipped it (vocab_size -1: taken from the embeddings).
    const auto l2 = nlohmann::json::parse(R"({"dim": 4096, "multiple_of": 256, "n_heads": 32, "n_layers": 32,
                                              "norm_eps": 1e-05, "vocab_size": -1})");
    const ModelConfig c2 = parse_meta_params(l2, "llama2-7b");
    CHECK(c2.hidden_dim == 11008);
    CHECK(c2.vocab_size == 0);
    CHECK(c2.n_kv_heads == 32);
    // Llama 3.1: use_scaled_rope switches on Meta's 8 / 1 / 4 / 8192.
    const auto l31 =
        nlohmann::json::parse(R"({"dim": 4096, "ffn_dim_multiplier": 1.3, "multiple_of": 1024, "n_heads": 32,
        "n_kv_heads": 8, "n_layers": 32, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": true, "vocab_size": 128256})");
    const ModelConfig c31 = parse_meta_params(l31, "llama31-8b");
    CHECK(c31.rope_scaling.enabled);
    CHECK(c31.rope_scaling.factor == 8.0);
    CHECK(c31.rope_scaling.original_context == 8192);
    CHECK(c31.max_seq_len == 131072);
}
