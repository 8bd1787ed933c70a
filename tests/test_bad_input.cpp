// Bad input is a clear llamaref::Error — never a crash, a read outside a file or a silent answer.
#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>

#include <llamaref/formats/load.hpp>
#include <llamaref/model/transformer.hpp>
#include <llamaref/tokenizer/sentencepiece.hpp>

#include "test_data.hpp"

using namespace llamaref;
using namespace llamaref::test;
namespace fs = std::filesystem;

TEST_CASE("truncated llama2.c checkpoints are reported, at every cut", "[bad-input]") {
    LLAMAREF_REQUIRE_DATA("models/stories260K/stories260K.bin");
    const std::string bytes = slurp(test::data("models/stories260K/stories260K.bin"));
    const auto dir = test::scratch("truncated-bin");
    for (std::size_t cut : {std::size_t(0), std::size_t(3), std::size_t(27), std::size_t(28), std::size_t(1000),
                            bytes.size() / 2, bytes.size() - 1}) {
        INFO("cut at " << cut);
        write_file(dir / "m.bin", bytes.substr(0, cut));
        CHECK_THROWS_AS(load_model((dir / "m.bin").string()), Error);
    }
    write_file(dir / "m.bin", bytes.substr(0, bytes.size() / 2));
    CHECK_THROWS_WITH(load_model((dir / "m.bin").string()), Catch::Contains("truncated"));
    // Extra bytes mean the header does not describe the file.
    write_file(dir / "m.bin", bytes + "xxxx");
    CHECK_THROWS_WITH(load_model((dir / "m.bin").string()), Catch::Contains("bytes after the last tensor"));
}

TEST_CASE("llama2.c header with absurd sizes", "[bad-input]") {
    const auto dir = test::scratch("absurd-bin");
    const int32_t h[7] = {1 << 30, 1 << 30, 1 << 20, 1 << 20, 1 << 20, 1 << 30, 1 << 30};
    write_file(dir / "m.bin", std::string(reinterpret_cast<const char*>(h), sizeof h));
    CHECK_THROWS_AS(load_model((dir / "m.bin").string()), Error);
    const int32_t neg[7] = {64, -5, 2, 8, 4, 512, 512};
    write_file(dir / "m.bin", std::string(reinterpret_cast<const char*>(neg), sizeof neg));
    CHECK_THROWS_WITH(load_model((dir / "m.bin").string()), Catch::Contains("hidden_dim must be positive"));
    const int32_t ver[9] = {0x616b3432, 7, 64, 128, 2, 8, 4, 512, 512};
    write_file(dir / "m.bin", std::string(reinterpret_cast<const char*>(ver), sizeof ver));
    CHECK_THROWS_WITH(load_model((dir / "m.bin").string()), Catch::Contains("version 7"));
}

TEST_CASE("safetensors: header length beyond the file, bad JSON, bad offsets", "[bad-input]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/hf/config.json");
    const auto dir = test::scratch("bad-safetensors");
    fs::copy_file(test::data("oracle/llama2-gqa/hf/config.json"), dir / "config.json");
    const std::string st = (dir / "model.safetensors").string();

    write_file(st, u64(1ull << 40) + "{}");
    CHECK_THROWS_WITH(load_model(dir.string()),
                      Catch::Contains("header length") && Catch::Contains("exceeds the file"));
    write_file(st, u64(~0ull) + "{}");
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("exceeds the file"));
    write_file(st, "abc");
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("truncated"));
    write_file(st, u64(5) + "{\"a\":");
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("not valid JSON"));
    const std::string past = R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
    write_file(st, u64(past.size()) + past + std::string(8, '\0'));
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("outside the data section"));
    const std::string mismatch = R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})";
    write_file(st, u64(mismatch.size()) + mismatch + std::string(16, '\0'));
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("needs 12 bytes"));
    const std::string overlap =
        R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"y":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
    write_file(st, u64(overlap.size()) + overlap + std::string(16, '\0'));
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("overlap"));
    // A valid container that lacks the model's tensors.
    const std::string empty = "{}";
    write_file(st, u64(empty.size()) + empty);
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("missing tensor model.embed_tokens.weight"));
}

TEST_CASE("truncated safetensors of a real model", "[bad-input]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/hf/model.safetensors");
    const auto dir = test::scratch("truncated-safetensors");
    fs::copy_file(test::data("oracle/llama2-gqa/hf/config.json"), dir / "config.json");
    const std::string bytes = slurp(test::data("oracle/llama2-gqa/hf/model.safetensors"));
    for (std::size_t cut : {std::size_t(7), std::size_t(100), bytes.size() - 4}) {
        INFO("cut at " << cut);
        write_file(dir / "model.safetensors", bytes.substr(0, cut));
        CHECK_THROWS_AS(load_model(dir.string()), Error);
    }
}

TEST_CASE("config.json: missing or malformed fields", "[bad-input]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/hf/config.json");
    const auto dir = test::scratch("bad-config");
    fs::copy_file(test::data("oracle/llama2-gqa/hf/model.safetensors"), dir / "model.safetensors");
    std::ifstream in(test::data("oracle/llama2-gqa/hf/config.json"));
    const auto good = nlohmann::json::parse(in);
    auto with = [&](auto edit) {
        auto j = good;
        edit(j);
        write_file(dir / "config.json", j.dump());
    };
    with([](auto& j) { j.erase("hidden_size"); });
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("missing field \"hidden_size\""));
    with([](auto& j) { j["num_attention_heads"] = "eight"; });
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("\"num_attention_heads\" must be a number"));
    with([](auto& j) { j["num_key_value_heads"] = 3; });
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("multiple of n_kv_heads"));
    with([](auto& j) { j["intermediate_size"] = 353; });  // disagrees with the stored tensors
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("has shape") && Catch::Contains("config implies"));
    with([](auto& j) { j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; });
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("\"yarn\" is not supported"));
    write_file(dir / "config.json", "{ not json");
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("not valid JSON"));
}

TEST_CASE("out-of-range token ids and a full context are errors", "[bad-input]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/hf/model.safetensors");
    Transformer tf(load_model(test::data("oracle/llama2-gqa/hf")), 8);
    const std::vector<int> bad{1, 512}, neg{-1}, nine{1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK_THROWS_WITH(tf.forward(bad, 0), Catch::Contains("token id 512 is out of range [0, 512)"));
    CHECK_THROWS_WITH(tf.forward(neg, 0), Catch::Contains("token id -1"));
    CHECK_THROWS_WITH(tf.forward(nine, 0), Catch::Contains("context full"));
    const std::vector<int> one{1};
    CHECK_THROWS_WITH(tf.forward(one, 8), Catch::Contains("context full"));
    CHECK_NOTHROW(tf.forward(one, 7));
}

TEST_CASE("missing files and unknown formats", "[bad-input]") {
    CHECK_THROWS_WITH(load_model("/nonexistent/model.bin"), Catch::Contains("no such file"));
    const auto dir = test::scratch("unknown-format");
    write_file(dir / "m.xyz", "hello");
    CHECK_THROWS_WITH(load_model((dir / "m.xyz").string()), Catch::Contains("unknown model format"));
    CHECK_THROWS_WITH(load_model(dir.string()), Catch::Contains("neither config.json"));
}

TEST_CASE("llama2.c tokenizer.bin: truncated or mismatched", "[bad-input]") {
    LLAMAREF_REQUIRE_DATA("models/stories260K/tok512.bin");
    const std::string bytes = slurp(test::data("models/stories260K/tok512.bin"));
    const auto dir = test::scratch("bad-tokenizer");
    write_file(dir / "t.bin", bytes.substr(0, bytes.size() - 10));
    CHECK_THROWS_WITH(SentencePieceTokenizer::from_llama2c((dir / "t.bin").string(), 512),
                      Catch::Contains("truncated"));
    CHECK_THROWS_WITH(SentencePieceTokenizer::from_llama2c(test::data("models/stories260K/tok512.bin"), 32000),
                      Catch::Contains("the model has 32000 tokens") && Catch::Contains("hold at most"));
    CHECK_THROWS_WITH(SentencePieceTokenizer::from_llama2c(test::data("models/stories260K/tok512.bin"), 100),
                      Catch::Contains("does not match"));
}
