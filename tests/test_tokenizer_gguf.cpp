// Tokenizers from GGUF metadata: the Llama 2 vocabulary stored in GGUF files encodes and decodes
// exactly like SentencePiece's own tokenizer.model (itself checked against the SentencePiece
// library in test_tokenizer_sentencepiece).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include <llamaref/formats/load.hpp>
#include <llamaref/formats/write_gguf.hpp>
#include <llamaref/tokenizer/chat_format.hpp>
#include <llamaref/tokenizer/gguf_vocab.hpp>
#include <llamaref/tokenizer/tokenizer.hpp>

#include "test_data.hpp"
#include "tokenizer/corpus.hpp"

using namespace llamaref;

TEST_CASE("GGUF SentencePiece vocabularies encode like tokenizer.model", "[tokenizer][gguf]") {
    LLAMAREF_REQUIRE_DATA("tokenizers/llama2/tokenizer.model");
    LLAMAREF_REQUIRE_DATA("gguf/llama-2-tiny-random.gguf");
    const auto reference = SentencePieceTokenizer::from_model_file(test::data("tokenizers/llama2/tokenizer.model"));
    auto strings = test::tokenizer_corpus();
    REQUIRE(strings.size() > 2000);
    for (auto& s : test::random_strings(1000, 7, true)) strings.push_back(s);
    for (const char* file : {"gguf/llama-2-tiny-random.gguf", "gguf/ggml-vocab-llama-spm.gguf"}) {
        INFO(file);
        const Tokenizer tok = tokenizer_from_gguf(GgufFile(test::data(file)));
        REQUIRE(tok.is_sentencepiece());
        CHECK(tok.vocab_size() == 32000);
        CHECK(tok.bos_id() == 1);
        CHECK(tok.eos_id() == 2);
        std::size_t mismatches = 0;
        for (const auto& s : strings) {
            const auto ids = tok.encode(s, true, false);
            if (ids != reference.encode(s, true, false)) ++mismatches;
            if (tok.decode(ids) != reference.decode(ids)) ++mismatches;
        }
        CHECK(mismatches == 0);
    }
}

// gguf_vocab_metadata (llamaref convert -z) against llama.cpp's own converter: the Llama 2
// tokenizer.model written as GGUF keys equals ggml-vocab-llama-spm.gguf key for key, and reads back
// to a tokenizer that encodes as tokenizer.model does.
TEST_CASE("a SentencePiece vocabulary written into GGUF is llama.cpp's, and reads back", "[tokenizer][gguf]") {
    LLAMAREF_REQUIRE_DATA("tokenizers/llama2/tokenizer.model");
    LLAMAREF_REQUIRE_DATA("gguf/ggml-vocab-llama-spm.gguf");
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/hf/model.safetensors");
    const auto sp = SentencePieceTokenizer::from_model_file(test::data("tokenizers/llama2/tokenizer.model"));
    const Tokenizer tok{SentencePieceTokenizer(sp)};
    const auto kv = gguf_vocab_metadata(tok);
    const std::string path = (std::filesystem::temp_directory_path() / "llamaref_vocab_test.gguf").string();
    write_gguf(*load_model(test::data("oracle/llama2-gqa/hf")), path, DType::F32, kv);
    const GgufFile ours(path), theirs(test::data("gguf/ggml-vocab-llama-spm.gguf"));
    CHECK(ours.get_string("tokenizer.ggml.model") == theirs.get_string("tokenizer.ggml.model"));
    CHECK(ours.string_array("tokenizer.ggml.tokens") == theirs.string_array("tokenizer.ggml.tokens"));
    CHECK(ours.float_array("tokenizer.ggml.scores") == theirs.float_array("tokenizer.ggml.scores"));
    CHECK(ours.int_array("tokenizer.ggml.token_type") == theirs.int_array("tokenizer.ggml.token_type"));
    for (const char* key :
         {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id"})
        CHECK(ours.get_int(key) == theirs.get_int(key));
    const Tokenizer back = tokenizer_from_gguf(ours);
    std::size_t mismatches = 0;
    for (const auto& s : test::tokenizer_corpus())
        mismatches += back.encode(s, true, false) != sp.encode(s, true, false);
    CHECK(mismatches == 0);
    std::filesystem::remove(path);
    // A byte-level (tiktoken) vocabulary is refused, not written wrong.
    LLAMAREF_REQUIRE_DATA("tokenizers/llama3/tokenizer.model");
    CHECK_THROWS_WITH(gguf_vocab_metadata(load_tokenizer(test::data("tokenizers/llama3/tokenizer.model"))),
                      Catch::Contains("not implemented yet"));
}

TEST_CASE("the fixtures' GGUF vocabularies load and match their models", "[tokenizer][gguf]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/gguf/model-f32.gguf");
    const Tokenizer tok = tokenizer_from_gguf(GgufFile(test::data("oracle/llama2-gqa/gguf/model-f32.gguf")));
    CHECK(tok.is_sentencepiece());
    CHECK(tok.vocab_size() == 512);
    // llama.cpp's converter gave the fixtures a synthetic vocabulary: piece i is "<ti>".
    for (int id : {259, 79, 511}) CHECK(tok.piece(id) == "<t" + std::to_string(id) + ">");
    CHECK(tok.decode(std::vector<int>{1, 79, 111}) == "<t79><t111>");  // BOS is a control piece: invisible
}

TEST_CASE("a GGUF Llama 3 (gpt2-kind) vocabulary encodes like tokenizer.json", "[tokenizer][gguf]") {
    LLAMAREF_REQUIRE_DATA("tokenizers/llama3/tokenizer.json");
    // No Llama 3 GGUF is in the test data: write the vocabulary the way llama.cpp's converter
    // stores it (tests/tokenizer/make_llama3_gguf_vocab.py) and compare with the tokenizer.json
    // path, which test_tokenizer_tiktoken checks against npm tiktoken and Meta's vectors.
    const auto dir = test::scratch("llama3-gguf-vocab");
    const std::string gguf = (dir / "vocab.gguf").string();
    const std::string cmd = "/usr/bin/python3 '" + std::string(LLAMAREF_SOURCE_DIR) +
                            "/tests/tokenizer/make_llama3_gguf_vocab.py' '" +
                            test::data("tokenizers/llama3/tokenizer.json") + "' '" + gguf + "'";
    if (std::system(cmd.c_str()) != 0) {
        WARN("SKIPPED: /usr/bin/python3 could not write the GGUF vocabulary");
        return;
    }
    const Tokenizer tok = tokenizer_from_gguf(GgufFile(gguf));
    const Tokenizer reference = load_tokenizer(test::data("tokenizers/llama3/tokenizer.json"));
    REQUIRE_FALSE(tok.is_sentencepiece());
    CHECK(tok.vocab_size() == reference.vocab_size());
    CHECK(tok.bos_id() == 128000);
    auto strings = test::tokenizer_corpus();
    for (auto& s : test::random_strings(2000, 11, false)) strings.push_back(s);
    std::size_t mismatches = 0;
    for (const auto& s : strings)
        for (auto special : {SpecialText::plain, SpecialText::parse}) {
            const auto ids = tok.encode(s, true, false, special);
            if (ids != reference.encode(s, true, false, special)) ++mismatches;
            if (tok.decode(ids) != reference.decode(ids)) ++mismatches;
        }
    CHECK(mismatches == 0);
    CHECK(stop_tokens(*tok.tiktoken()) == stop_tokens(*reference.tiktoken()));
}
