// The Llama 2 tokenizer against the real SentencePiece library (Debian libsentencepiece-dev,
// linked into this test only): identical ids on the corpus and on random strings, identical
// decoded text, and decode(encode(s)) == s wherever SentencePiece itself round-trips.
#include <sentencepiece_processor.h>

#include <random>
#include <string>
#include <vector>

#include <llamaref/tokenizer/sentencepiece.hpp>

#include "test_data.hpp"
#include "tokenizer/corpus.hpp"

using namespace llamaref;

namespace {

const char* kModel = "tokenizers/llama2/tokenizer.model";
const char* kBin = "tokenizers/llama2/tokenizer.bin";

sentencepiece::SentencePieceProcessor& library() {
    static sentencepiece::SentencePieceProcessor sp;
    static bool loaded = false;
    if (!loaded) {
        const auto status = sp.Load(test::data(kModel));
        REQUIRE(status.ok());
        loaded = true;
    }
    return sp;
}

std::vector<int> library_encode(const std::string& s) {
    std::vector<int> ids;
    REQUIRE(library().Encode(s, &ids).ok());
    return ids;
}

std::string library_decode(const std::vector<int>& ids) {
    std::string s;
    REQUIRE(library().Decode(ids, &s).ok());
    return s;
}

// Counts strings whose ids differ, reporting the first few.
int count_mismatches(const SentencePieceTokenizer& tok, const std::vector<std::string>& strings) {
    int bad = 0;
    for (const auto& s : strings) {
        const auto want = library_encode(s);
        const auto got = tok.encode(s, false, false);
        if (got != want && ++bad <= 5) {
            std::string w, g;
            for (int id : want) w += std::to_string(id) + " ";
            for (int id : got) g += std::to_string(id) + " ";
            UNSCOPED_INFO("text " << nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                                  << "\n  sentencepiece: " << w << "\n  llamaref:      " << g);
        }
    }
    return bad;
}

}  // namespace

TEST_CASE("SentencePiece tokenizer.model: the proto's pieces, types and normalizer settings",
          "[tokenizer][sentencepiece]") {
    LLAMAREF_REQUIRE_DATA(kModel);
    const SentencePieceVocab v = read_sentencepiece_model(test::data(kModel));
    auto& sp = library();
    REQUIRE(int(v.pieces.size()) == sp.GetPieceSize());
    for (int i = 0; i < sp.GetPieceSize(); ++i) {
        CHECK(v.pieces[i] == sp.IdToPiece(i));
        CHECK(v.scores[i] == sp.GetScore(i));
        CHECK((v.types[i] == PieceType::control) == sp.IsControl(i));
        CHECK((v.types[i] == PieceType::unknown) == sp.IsUnknown(i));
        CHECK((v.types[i] == PieceType::byte) == sp.IsByte(i));
        CHECK((v.types[i] == PieceType::unused) == sp.IsUnused(i));
    }
    CHECK(v.unk_id == sp.unk_id());
    CHECK(v.bos_id == sp.bos_id());
    CHECK(v.eos_id == sp.eos_id());
    CHECK(v.pad_id == sp.pad_id());
    // Llama 2's normalizer: identity, dummy prefix on, extra whitespace kept.
    CHECK(v.add_dummy_prefix);
    CHECK_FALSE(v.remove_extra_whitespaces);
    CHECK(v.escape_whitespaces);
    CHECK(v.byte_fallback);
}

TEST_CASE("SentencePiece: ids equal the SentencePiece library on the corpus", "[tokenizer][sentencepiece]") {
    LLAMAREF_REQUIRE_DATA(kModel);
    const auto corpus = test::tokenizer_corpus();
    REQUIRE(corpus.size() >= 2000);
    const auto tok = SentencePieceTokenizer::from_model_file(test::data(kModel));
    CHECK(count_mismatches(tok, corpus) == 0);
}

TEST_CASE("SentencePiece: llama2.c tokenizer.bin gives the library's ids too", "[tokenizer][sentencepiece]") {
    LLAMAREF_REQUIRE_DATA(kModel);
    LLAMAREF_REQUIRE_DATA(kBin);
    const auto tok = SentencePieceTokenizer::from_llama2c(test::data(kBin), 32000);
    CHECK(count_mismatches(tok, test::tokenizer_corpus()) == 0);
}

TEST_CASE("SentencePiece: ids equal the library on random and malformed strings", "[tokenizer][sentencepiece]") {
    LLAMAREF_REQUIRE_DATA(kModel);
    const auto tok = SentencePieceTokenizer::from_model_file(test::data(kModel));
    CHECK(count_mismatches(tok, test::random_strings(3000, 1234, /*malformed=*/false)) == 0);
    CHECK(count_mismatches(tok, test::random_strings(3000, 5678, /*malformed=*/true)) == 0);
}

TEST_CASE("SentencePiece: BOS and EOS options and known Llama 2 ids", "[tokenizer][sentencepiece]") {
    LLAMAREF_REQUIRE_DATA(kModel);
    const auto tok = SentencePieceTokenizer::from_model_file(test::data(kModel));
    CHECK(tok.bos_id == 1);
    CHECK(tok.eos_id == 2);
    // "▁Hello" 15043, "▁world" 3186 (Llama 2 vocabulary)
    CHECK(tok.encode("Hello world", true, false) == std::vector<int>{1, 15043, 3186});
    CHECK(tok.encode("Hello world", true, true) == std::vector<int>{1, 15043, 3186, 2});
    CHECK(tok.encode("Hello world", false, true) == std::vector<int>{15043, 3186, 2});
    CHECK(tok.encode("", true, true) == std::vector<int>{1, 2});  // no dummy prefix for empty text
    CHECK(tok.encode("", false, false).empty());
    // a newline is a byte piece: <0x0A> is id 3 + 0x0A = 13
    CHECK(tok.encode("\n", false, false) == library_encode("\n"));
    CHECK(tok.encode("\n", false, false).back() == 13);
}

TEST_CASE("SentencePiece: decoding equals the library's DecodeIds", "[tokenizer][sentencepiece]") {
    LLAMAREF_REQUIRE_DATA(kModel);
    const auto tok = SentencePieceTokenizer::from_model_file(test::data(kModel));
    int bad = 0, round_trips = 0, checked = 0;
    for (const auto& s : test::tokenizer_corpus()) {
        const auto ids = tok.encode(s, true, false);
        const std::string want = library_decode(ids);
        if (tok.decode(ids) != want && ++bad <= 5)
            UNSCOPED_INFO("decode differs for a text of " << s.size() << " bytes");
        if (want == s) {  // SentencePiece round-trips this text: so must we
            ++round_trips;
            if (tok.decode(ids) != s) ++bad;
        }
        ++checked;
    }
    CHECK(bad == 0);
    CHECK(round_trips > checked / 2);  // most of the corpus round-trips (not: leading spaces, NULs ...)

    // Random id sequences: byte pieces that form no character, <unk>, <s>, </s>, lone "▁".
    std::mt19937 rng(42);
    const int special[] = {0, 1, 2, 3, 13, 29871, 200, 230, 231, 250, 258, 259, 31999};
    for (int k = 0; k < 3000; ++k) {
        std::vector<int> ids(rng() % 12);
        for (int& id : ids) id = rng() % 3 ? int(rng() % 32000) : special[rng() % std::size(special)];
        const std::string want = library_decode(ids);
        if (tok.decode(ids) != want && ++bad <= 5) {
            std::string list;
            for (int id : ids) list += std::to_string(id) + " ";
            UNSCOPED_INFO("decode differs for ids " << list);
        }
    }
    CHECK(bad == 0);
}

TEST_CASE("SentencePiece: streaming decode(prev, id) rebuilds the text byte for byte", "[tokenizer][sentencepiece]") {
    LLAMAREF_REQUIRE_DATA(kModel);
    const auto tok = SentencePieceTokenizer::from_model_file(test::data(kModel));
    for (const std::string s : {"Hello world", "I love pizza 🍕!", "你好，世界", "a\n\tb"}) {
        const auto ids = tok.encode(s, true, false);
        std::string streamed;
        for (std::size_t i = 1; i < ids.size(); ++i) streamed += tok.decode(ids[i - 1], ids[i]);
        CHECK(streamed == s);
        CHECK(streamed == library_decode(ids));
    }
    CHECK_THROWS_WITH(tok.decode(1, 32000), Catch::Contains("out of range"));
    CHECK_THROWS_WITH(tok.decode(std::vector<int>{5, -1}), Catch::Contains("out of range"));
}
