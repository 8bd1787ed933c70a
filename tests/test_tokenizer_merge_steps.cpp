// merge_steps(): the BPE loop of both tokenizers recorded step by step (tokenizer/bpe_step.hpp),
// for teaching. Hand-checkable vocabularies first, then the real Llama 2 and Llama 3 files: the
// recorded steps must end in exactly the parts that encode() turns into ids.
#include <string>
#include <vector>

#include <llamaref/tokenizer/sentencepiece.hpp>
#include <llamaref/tokenizer/tiktoken_files.hpp>

#include "test_data.hpp"

using namespace llamaref;

namespace {

using Parts = std::vector<std::string>;
const std::string kSp = "\xE2\x96\x81";  // "▁"

// The texts of the real-vocabulary checks (no byte fallback needed for Llama 2).
const std::vector<std::string> kTexts = {"Hello world", "The tokenization of unbelievably long words",
                                         "  two spaces, 12345 digits!", "naïve café", ""};

}  // namespace

TEST_CASE("SentencePiece merge_steps: the highest score joins first, hand-checked") {
    // llama2.c-style vocabulary: plain spaces become "▁"; no byte pieces, so no byte fallback.
    const SentencePieceTokenizer tok({"<unk>", "<s>", "</s>", " ", "a", "b", "c", "ab", "bc", " ab"},
                                     {0, 0, 0, 0, 0, 0, 0, -1, -2, -3});
    const auto steps = tok.merge_steps("abc");  // normalized: "▁abc"
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].word == kSp + "abc");
    CHECK(steps[0].left == "a");
    CHECK(steps[0].right == "b");  // "ab" (-1) beats "bc" (-2)
    CHECK(steps[0].priority == -1);
    CHECK(steps[0].parts == Parts{kSp, "ab", "c"});
    CHECK(steps[1].left == kSp);
    CHECK(steps[1].right == "ab");
    CHECK(steps[1].priority == -3);
    CHECK(steps[1].parts == Parts{kSp + "ab", "c"});
    CHECK(tok.encode("abc", false, false) == std::vector<int>{9, 6});
    CHECK(tok.merge_steps("").empty());
}

TEST_CASE("tiktoken merge_steps: the lowest rank joins first, leftmost on ties, hand-checked") {
    std::vector<std::string> tokens;
    for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, char(b)));
    tokens.push_back("ab");   // rank 256
    tokens.push_back("abc");  // rank 257
    const TiktokenTokenizer tok(tokens, {}, R"(\S+|\s+)");
    const auto steps = tok.merge_steps("abcab ab");
    // "abcab": ab (256) at 0, ab (256) at 3, then abc (257); " ": a token; "ab": a token.
    REQUIRE(steps.size() == 5);
    CHECK((steps[0].left == "a" && steps[0].right == "b" && steps[0].priority == 256));
    CHECK(steps[0].parts == Parts{"ab", "c", "a", "b"});
    CHECK(steps[1].parts == Parts{"ab", "c", "ab"});
    CHECK((steps[2].left == "ab" && steps[2].right == "c" && steps[2].priority == 257));
    CHECK(steps[2].parts == Parts{"abc", "ab"});
    CHECK((steps[3].word == " " && steps[3].right.empty() && steps[3].parts == Parts{" "}));
    CHECK((steps[4].word == "ab" && steps[4].left == "ab" && steps[4].right.empty() && steps[4].priority == 256));
    CHECK(tok.encode("abcab ab", false, false) == std::vector<int>{257, 256, ' ', 256});
}

TEST_CASE("SentencePiece merge_steps on Llama 2 end in the pieces encode() gives") {
    LLAMAREF_REQUIRE_DATA("tokenizers/llama2/tokenizer.model");
    const auto tok = SentencePieceTokenizer::from_model_file(test::data("tokenizers/llama2/tokenizer.model"));
    for (const auto& text : kTexts) {
        const auto steps = tok.merge_steps(text);
        const auto ids = tok.encode(text, false, false);
        if (text.empty()) {
            CHECK(steps.empty());
            continue;
        }
        REQUIRE(!steps.empty());
        std::vector<int> from_steps;
        for (const auto& p : steps.back().parts) from_steps.push_back(tok.piece_id(p));
        CHECK(from_steps == ids);
        // every step joins two neighbours: one part fewer each time
        for (std::size_t i = 1; i < steps.size(); ++i) CHECK(steps[i].parts.size() + 1 == steps[i - 1].parts.size());
        std::string joined;
        for (const auto& p : steps.back().parts) joined += p;
        CHECK(joined == tok.normalize(text));
    }
}

TEST_CASE("tiktoken merge_steps on Llama 3 end in the tokens encode() gives") {
    LLAMAREF_REQUIRE_DATA("tokenizers/llama3/tokenizer.model");
    const auto tok = read_tiktoken_model(test::data("tokenizers/llama3/tokenizer.model"));
    const Regex words(tok.pattern());
    for (const auto& text : kTexts) {
        // word by word (the pre-tokenizer's matches): the last step's parts are the word's tokens
        std::vector<std::string> parts;
        words.for_each_match(text, [&](std::size_t b, std::size_t e) {
            const std::string word = text.substr(b, e - b);
            const auto steps = tok.merge_steps(word);
            REQUIRE(!steps.empty());  // no word of these texts is left as single bytes
            for (const auto& s : steps) CHECK(s.word == word);
            parts.insert(parts.end(), steps.back().parts.begin(), steps.back().parts.end());
        });
        std::vector<std::string> from_encode;
        for (int id : tok.encode(text, false, false)) from_encode.push_back(tok.token_bytes(id));
        CHECK(parts == from_encode);
        CHECK(tok.merge_steps(text).size() >= parts.size());
    }
}
