// Tokenizers from GGUF metadata: the Llama 2 vocabulary stored in GGUF files encodes and decodes
// exactly like SentencePiece's own tokenizer.model (itself checked against the SentencePiece
// library in test_tokenizer_sentencepiece).
#include <catch2/catch.hpp>

#include <llamaref/tokenizer/gguf_vocab.hpp>

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
