// Tokenizers from GGUF metadata: the Llama 2 vocabulary stored in GGUF files encodes and decodes
// exactly like SentencePiece's own tokenizer.model (itself checked against the SentencePiece
// library in test_tokenizer_sentencepiece).
#include <catch2/catch.hpp>

#include <cstdlib>

#include <llamaref/tokenizer/chat_format.hpp>
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
