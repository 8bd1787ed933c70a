// Every input the fuzz harnesses of tests/fuzz/ found, kept as a test (issue 11): no binary file
// is committed, so each case rebuilds its bytes (a hex string, or a few lines of code for a large
// input), writes them where the harness would, makes the same reader call and requires a
// llamaref::Error — the contract the harness checks. A case tagged [!mayfail] is a finding whose
// fix had not landed when it was recorded; remove the tag when the fix is in.
//
// To add a finding (a file in <build-fuzz>/tests/fuzz/findings/<harness>/): minimise it first
// (`fuzz_<harness> -minimize_crash=1 -runs=10000 FILE`), print it with `xxd -p FILE | tr -d '\n'`,
// and add a TEST_CASE below with the harness's name in its tags.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <llamaref/formats/gguf_llama.hpp>
#include <llamaref/formats/hf.hpp>
#include <llamaref/formats/llama2c.hpp>
#include <llamaref/formats/meta.hpp>
#include <llamaref/tokenizer/tokenizer.hpp>

#include "fuzz/tiny_model.hpp"
#include "test_data.hpp"

using namespace llamaref;
namespace fs = std::filesystem;

namespace {

// "0a1bff" -> the bytes 0x0a 0x1b 0xff (whitespace ignored).
[[maybe_unused]] std::string unhex(std::string_view hex) {
    auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    std::string out;
    int hi = -1;
    for (char c : hex) {
        if (c == ' ' || c == '\n') continue;
        if (hi < 0)
            hi = nibble(c);
        else
            out += char(hi << 4 | nibble(c)), hi = -1;
    }
    return out;
}

// The reader calls of each harness (tests/fuzz/fuzz_<name>.cpp), on `bytes`.
void gguf_model(const std::string& bytes) {
    const auto f = test::scratch("fuzz-gguf") / "model.gguf";
    test::write_file(f, bytes);
    (void)load_gguf(f.string());
}
[[maybe_unused]] void gguf_vocab(const std::string& bytes) {
    const auto f = test::scratch("fuzz-gguf-vocab") / "model.gguf";
    test::write_file(f, bytes);
    GgufFile g(f.string());
    (void)tokenizer_from_gguf(g).encode("Hello world", true, true);
}
void hf_config(const std::string& bytes) {  // fuzz_config: config.json beside the tiny model's weights
    const auto dir = test::scratch("fuzz-hf-config");
    fuzz::write_tiny_safetensors(dir / "model.safetensors");
    test::write_file(dir / "config.json", bytes);
    (void)load_hf(dir.string());
}
void meta_params(const std::string& bytes) {  // fuzz_config: params.json beside the tiny model's .pth
    const auto dir = test::scratch("fuzz-meta-params");
    fuzz::write_tiny_pth(dir / "consolidated.00.pth");
    test::write_file(dir / "params.json", bytes);
    (void)load_meta(dir.string());
}
[[maybe_unused]] void meta_pth(const std::string& bytes) {  // fuzz_pth: consolidated.00.pth beside the tiny params.json
    const auto dir = test::scratch("fuzz-meta-pth");
    fuzz::write_text(dir / "params.json", fuzz::tiny_params_json());
    test::write_file(dir / "consolidated.00.pth", bytes);
    (void)load_meta(dir.string());
}
[[maybe_unused]] void hf_safetensors(
    const std::string& bytes) {  // fuzz_safetensors: model.safetensors beside the tiny config.json
    const auto dir = test::scratch("fuzz-hf-safetensors");
    fuzz::write_text(dir / "config.json", fuzz::tiny_hf_config_json());
    test::write_file(dir / "model.safetensors", bytes);
    (void)load_hf(dir.string());
}
void llama2c_model(const std::string& bytes) {
    const auto f = test::scratch("fuzz-llama2c") / "model.bin";
    test::write_file(f, bytes);
    (void)load_llama2c(f.string());
}
void tokenizer_file(const std::string& bytes, const std::string& name) {  // the tokenizer harnesses
    const auto f = test::scratch("fuzz-tokenizer") / name;
    test::write_file(f, bytes);
    (void)load_tokenizer_file(f.string()).encode("Hello world", true, true);
}

}  // namespace

// --- findings ----------------------------------------------------------------------------------
//
// The first cases are the classes the issue's own fuzzing found (issue 11), rebuilt through the
// harnesses' routes; each finding of tests/fuzz/ is added after them.

namespace {
std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }
std::string le32(int32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
}  // namespace

TEST_CASE("fuzz regression: config.json nested 100,000 deep in a field is an Error, not a stack overflow",
          "[fuzz-regression][config]") {
    CHECK_THROWS_AS(hf_config("{\"hidden_size\": " + nested(100000) + "}"), Error);
    CHECK_THROWS_AS(meta_params("{\"dim\": " + nested(100000) + "}"), Error);
}

TEST_CASE("fuzz regression: config.json sizes that overflow or exhaust memory are Errors",
          "[fuzz-regression][config]") {
    const std::string base = fuzz::tiny_hf_config_json();
    auto with = [&](const std::string& key, const std::string& value) {
        auto j = nlohmann::json::parse(base);
        j[key] = nlohmann::json::parse(value);
        return j.dump();
    };
    CHECK_THROWS_AS(hf_config(with("num_hidden_layers", "2147483647")), Error);  // per-layer storage of 773 GB
    CHECK_THROWS_AS(hf_config(with("num_attention_heads", "2147483647")), Error);
    CHECK_THROWS_AS(hf_config(with("head_dim", "1073741824")), Error);  // heads × head_dim overflows int
    CHECK_THROWS_AS(hf_config(with("vocab_size", "1e20")), Error);
    CHECK_THROWS_AS(hf_config(with("rope_scaling", "{\"rope_type\": 5}")), Error);  // was a json type_error
}

TEST_CASE("fuzz regression: params.json ffn_dim_multiplier 1e300 and n_layers 2^31-1 are Errors",
          "[fuzz-regression][config]") {
    auto j = nlohmann::json::parse(fuzz::tiny_params_json());
    j["ffn_dim_multiplier"] = 1e300;
    CHECK_THROWS_AS(meta_params(j.dump()), Error);
    j = nlohmann::json::parse(fuzz::tiny_params_json());
    j["n_layers"] = 2147483647;
    CHECK_THROWS_AS(meta_params(j.dump()), Error);
}

TEST_CASE("fuzz regression: llama2.c header with vocab_size INT_MIN is an Error", "[fuzz-regression][llama2c]") {
    // version 0 header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
    const std::string header = le32(8) + le32(24) + le32(1) + le32(2) + le32(1) + le32(INT32_MIN) + le32(32);
    CHECK_THROWS_AS(llama2c_model(header + std::string(4096, '\0')), Error);
}

TEST_CASE("fuzz regression: GGUF block_count 2^31-1 is an Error before any per-layer storage",
          "[fuzz-regression][gguf]") {
    auto kv_u32 = [](const std::string& k, uint32_t v) {
        return test::u64(k.size()) + k + le32(4) + std::string(reinterpret_cast<const char*>(&v), 4);
    };
    auto kv_str = [](const std::string& k, const std::string& v) {
        return test::u64(k.size()) + k + le32(8) + test::u64(v.size()) + v;
    };
    std::string kvs = kv_str("general.architecture", "llama") + kv_u32("llama.block_count", 0x7fffffff) +
                      kv_u32("llama.embedding_length", 8) + kv_u32("llama.feed_forward_length", 24) +
                      kv_u32("llama.attention.head_count", 2) + kv_u32("llama.attention.head_count_kv", 1) +
                      kv_u32("llama.context_length", 32);
    std::string file = "GGUF" + le32(3) + test::u64(0) + test::u64(7) + kvs;
    file.append((32 - file.size() % 32) % 32, '\0');
    CHECK_THROWS_AS(gguf_model(file), Error);
}

TEST_CASE("fuzz regression: tokenizer ids out of range (1e20, INT_MAX + 1, rank 999,999,999) are Errors",
          "[fuzz-regression][tokenizer_json][tiktoken]") {
    // a tiktoken file whose one rank would size the id table to a billion entries
    CHECK_THROWS_AS(tokenizer_file("QQ== 999999999\n", "tokenizer.model"), Error);
    // tokenizer.json (byte-level kind) with a vocab id of 1e20
    const std::string bpe = R"({"model": {"type": "BPE", "ignore_merges": true, "vocab": {"a": 1e20}, "merges": []},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "a"}},
        {"type": "ByteLevel"}]}, "added_tokens": []})";
    CHECK_THROWS_AS(tokenizer_file(bpe, "tokenizer.json"), Error);
    // tokenizer.json (SentencePiece kind) with an added token of id INT_MAX
    const std::string sp = R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"<unk>": 0}, "merges": []},
        "added_tokens": [{"id": 2147483647, "content": "x", "special": true}]})";
    CHECK_THROWS_AS(tokenizer_file(sp, "tokenizer.json"), Error);
}
