// The SentencePiece-kind Hugging Face tokenizer.json (sentencepiece_json.hpp). No genuine Llama 2
// tokenizer.json is available, so tests/tokenizer/make_sp_tokenizer_json.py writes one from
// tokenizer.model the way transformers' LlamaConverter does, into a scratch folder. Checked:
// ids equal to the SentencePiece library (Debian libsentencepiece-dev) and to our tokenizer.model
// path on the corpus and on random strings; ids equal to HF's BPE rule (pair ranks, written out
// below from tokenizers' bpe/word.rs) on the same strings; decoding; the newer file layout
// (Metaspace, merges as pairs); and clear errors for broken files.
#include <sentencepiece_processor.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <llamaref/tokenizer/sentencepiece_json.hpp>
#include <llamaref/tokenizer/tokenizer.hpp>

#include "test_data.hpp"
#include "tokenizer/corpus.hpp"

using namespace llamaref;
using nlohmann::json;

namespace {

const char* kModel = "tokenizers/llama2/tokenizer.model";

// The generated tokenizer.json, or "" when python3 is missing (the tests then skip).
const std::string& generated_json() {
    static const std::string path = [] {
        const auto dir = test::scratch("sp-tokenizer-json");
        const std::string out = (dir / "tokenizer.json").string();
        const std::string cmd = "/usr/bin/python3 '" + std::string(LLAMAREF_SOURCE_DIR) +
                                "/tests/tokenizer/make_sp_tokenizer_json.py' '" + test::data(kModel) + "' '" + out +
                                "'";
        return std::system(cmd.c_str()) == 0 ? out : std::string();
    }();
    return path;
}

#define REQUIRE_GENERATED_JSON()                                                          \
    LLAMAREF_REQUIRE_DATA(kModel);                                                        \
    if (generated_json().empty()) {                                                       \
        WARN("SKIPPED: /usr/bin/python3 could not write tokenizer.json from " << kModel); \
        return;                                                                           \
    }

sentencepiece::SentencePieceProcessor& library() {
    static sentencepiece::SentencePieceProcessor sp;
    static const bool loaded = sp.Load(test::data(kModel)).ok();
    REQUIRE(loaded);
    return sp;
}

// HF tokenizers' BPE on one normalized word: characters (a character not in the vocab becomes
// its <0xNN> tokens), then merge the adjacent pair of lowest rank, leftmost first, until none is left.
struct HfBpe {
    std::map<std::string, int> vocab;
    std::map<std::pair<int, int>, std::pair<int, int>> merges;  // (left, right) -> (rank, result)

    explicit HfBpe(const json& j) {
        for (auto it = j["model"]["vocab"].begin(); it != j["model"]["vocab"].end(); ++it) vocab[it.key()] = it.value();
        int rank = 0;
        for (const auto& m : j["model"]["merges"]) {
            const std::string s = m.get<std::string>(), a = s.substr(0, s.find(' ')), b = s.substr(s.find(' ') + 1);
            merges.emplace(std::pair(vocab.at(a), vocab.at(b)), std::pair(rank++, vocab.at(a + b)));
        }
    }
    std::vector<int> encode(const std::string& text) const {  // valid UTF-8 only: HF takes a str
        if (text.empty()) return {};
        std::string norm = "\xE2\x96\x81";  // Prepend("▁"), Replace(" ", "▁")
        for (char c : text) c == ' ' ? norm += "\xE2\x96\x81" : norm += c;
        std::vector<int> ids;
        for (std::size_t i = 0, n; i < norm.size(); i += n) {
            n = utf8::lead_length(static_cast<unsigned char>(norm[i]));
            if (auto it = vocab.find(norm.substr(i, n)); it != vocab.end()) {
                ids.push_back(it->second);
            } else {
                for (std::size_t k = 0; k < n; ++k) {
                    char name[8];
                    std::snprintf(name, sizeof name, "<0x%02X>", static_cast<unsigned char>(norm[i + k]));
                    ids.push_back(vocab.at(name));
                }
            }
        }
        for (;;) {
            int best = -1, best_rank = 0, result = 0;
            for (std::size_t i = 0; i + 1 < ids.size(); ++i)
                if (auto it = merges.find({ids[i], ids[i + 1]});
                    it != merges.end() && (best < 0 || it->second.first < best_rank))
                    best = int(i), best_rank = it->second.first, result = it->second.second;
            if (best < 0) return ids;
            ids[best] = result;
            ids.erase(ids.begin() + best + 1);
        }
    }
};

std::string show(const std::vector<int>& ids) {
    std::string s;
    for (int id : ids) s += std::to_string(id) + " ";
    return s;
}

// Strings whose ids from `tok` differ from the SentencePiece library's, from the tokenizer.model
// path, or (valid UTF-8 only) from HF's rule; the first few are reported.
struct Mismatches {
    int library = 0, model = 0, hf = 0;
};
Mismatches compare(const SentencePieceTokenizer& tok, const std::vector<std::string>& strings, const HfBpe* hf) {
    static const auto model = SentencePieceTokenizer::from_model_file(test::data(kModel));
    Mismatches m;
    for (const auto& s : strings) {
        std::vector<int> want;
        REQUIRE(library().Encode(s, &want).ok());
        const auto got = tok.encode(s, false, false);
        if (got != want && ++m.library <= 5)
            UNSCOPED_INFO("text " << json(s).dump(-1, ' ', false, json::error_handler_t::replace)
                                  << "\n  sentencepiece: " << show(want) << "\n  tokenizer.json: " << show(got));
        if (got != model.encode(s, false, false)) ++m.model;
        if (hf && utf8::is_valid(s) && hf->encode(s) != got && ++m.hf <= 5)
            UNSCOPED_INFO("HF rule differs on " << json(s).dump() << ": " << show(hf->encode(s)));
    }
    return m;
}

json load_json(const std::string& path) {
    std::ifstream in(path);
    return json::parse(in);
}

}  // namespace

TEST_CASE("SentencePiece tokenizer.json: the vocabulary, types and specials of tokenizer.model",
          "[tokenizer][sentencepiece-json]") {
    REQUIRE_GENERATED_JSON();
    const auto tok = read_tokenizer_json_sentencepiece(generated_json());
    const auto model = SentencePieceTokenizer::from_model_file(test::data(kModel));
    REQUIRE(tok.vocab_size() == model.vocab_size());
    int differ = 0;
    for (int i = 0; i < tok.vocab_size(); ++i)
        if (tok.piece(i) != model.piece(i) || tok.type(i) != model.type(i)) ++differ;
    CHECK(differ == 0);
    CHECK(tok.bos_id == 1);
    CHECK(tok.eos_id == 2);
    CHECK(tok.vocab().unk_id == 0);
    CHECK(tok.vocab().add_dummy_prefix);
    CHECK_FALSE(tok.vocab().remove_extra_whitespaces);
    CHECK(tok.encode("Hello world", true, false) == std::vector<int>{1, 15043, 3186});

    // load_tokenizer dispatches: byte_fallback -> this reader; the Llama 3 file -> byte-level BPE.
    const Tokenizer t = load_tokenizer(generated_json());
    CHECK(t.is_sentencepiece());
    CHECK(t.encode("Hello world", true, true) == std::vector<int>{1, 15043, 3186, 2});
    if (std::filesystem::exists(test::data("tokenizers/llama3/tokenizer.json")))
        CHECK_FALSE(load_tokenizer(test::data("tokenizers/llama3/tokenizer.json")).is_sentencepiece());
}

TEST_CASE("SentencePiece tokenizer.json: ids equal the library, tokenizer.model and HF's rule",
          "[tokenizer][sentencepiece-json]") {
    REQUIRE_GENERATED_JSON();
    const auto tok = read_tokenizer_json_sentencepiece(generated_json());
    const HfBpe hf(load_json(generated_json()));
    const auto corpus = test::tokenizer_corpus();
    REQUIRE(corpus.size() >= 2000);
    const auto valid = test::random_strings(3000, 4321, /*malformed=*/false);
    const auto malformed = test::random_strings(3000, 8765, /*malformed=*/true);

    // Where HF's rule (the split listed first) and SentencePiece's (the leftmost) could part: runs
    // of a character whose pieces overlap ("---" "-" vs "-" "---" for "----"), alone and in words.
    std::vector<std::string> runs;
    for (const std::string unit : {"-", ".", "=", "*", "/", "_", ")", "I", "w", "en", "ere", "a", " ", "\t", "0"})
        for (int n = 1; n <= 40; ++n) {
            std::string r;
            for (int k = 0; k < n; ++k) r += unit;
            runs.push_back(r);
            runs.push_back("x" + r + " y " + r + "z");
        }

    const Mismatches c = compare(tok, corpus, &hf), v = compare(tok, valid, &hf), b = compare(tok, malformed, nullptr),
                     r = compare(tok, runs, &hf);
    WARN("tokenizer.json vs SentencePiece library: "
         << c.library << " of " << corpus.size() << " corpus strings, " << v.library << " of " << valid.size()
         << " random strings, " << b.library << " of " << malformed.size() << " random strings with malformed UTF-8, "
         << r.library << " of " << runs.size() << " runs differ; vs HF's rule: " << c.hf << " corpus, " << v.hf
         << " random, " << r.hf << " runs");
    CHECK(c.library == 0);
    CHECK(v.library == 0);
    CHECK(b.library == 0);  // HF takes only valid UTF-8; here the shared SentencePiece normalizer repairs it
    CHECK(r.library == 0);
    CHECK(c.model + v.model + b.model + r.model == 0);
    CHECK(c.hf + v.hf + r.hf == 0);
}

TEST_CASE("SentencePiece tokenizer.json: decoding equals the library's DecodeIds", "[tokenizer][sentencepiece-json]") {
    REQUIRE_GENERATED_JSON();
    const auto tok = read_tokenizer_json_sentencepiece(generated_json());
    int bad = 0;
    for (const auto& s : test::tokenizer_corpus()) {
        const auto ids = library().EncodeAsIds(s);
        if (tok.decode(ids) != library().DecodeIds(ids) && ++bad <= 5)
            UNSCOPED_INFO("decode differs on " << json(s).dump());
    }
    CHECK(bad == 0);
}

TEST_CASE("SentencePiece tokenizer.json: the newer layout (Metaspace, merges as pairs)",
          "[tokenizer][sentencepiece-json]") {
    REQUIRE_GENERATED_JSON();
    json j = load_json(generated_json());
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {
        {"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}, {"split", false}};
    for (auto& m : j["model"]["merges"]) {
        const std::string s = m.get<std::string>();
        m = json::array({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
    }
    const auto dir = test::scratch("sp-tokenizer-json-newer");
    test::write_file(dir / "tokenizer.json", j.dump());
    const auto tok = read_tokenizer_json_sentencepiece((dir / "tokenizer.json").string());
    auto corpus = test::tokenizer_corpus();
    corpus.resize(500);
    CHECK(compare(tok, corpus, nullptr).library == 0);

    j["pre_tokenizer"]["split"] = true;  // splitting at spaces is not SentencePiece's BPE
    test::write_file(dir / "tokenizer.json", j.dump());
    CHECK_THROWS_WITH(read_tokenizer_json_sentencepiece((dir / "tokenizer.json").string()),
                      Catch::Contains("\"split\": false"));
}

TEST_CASE("SentencePiece tokenizer.json: broken files are clear errors", "[tokenizer][sentencepiece-json][bad-input]") {
    const auto dir = test::scratch("sp-tokenizer-json-bad");
    const std::string path = (dir / "tokenizer.json").string();
    const std::string sp = "\xE2\x96\x81";  // "▁"
    // A small valid file: specials, the 256 byte pieces, ▁ a b ▁a ab ▁ab.
    json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        vocab[name] = 3 + b;
    }
    int next = 259;
    for (const std::string& p : {sp, std::string("a"), std::string("b"), sp + "a", std::string("ab"), sp + "ab"})
        vocab[p] = next++;
    auto special = [](int id, const char* s) { return json{{"id", id}, {"content", s}, {"special", true}}; };
    const json good = {{"added_tokens", {special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")}},
                       {"normalizer",
                        {{"type", "Sequence"},
                         {"normalizers",
                          {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                           {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}},
                       {"pre_tokenizer", nullptr},
                       {"model",
                        {{"type", "BPE"},
                         {"byte_fallback", true},
                         {"unk_token", "<unk>"},
                         {"vocab", vocab},
                         {"merges", {sp + " a", "a b", sp + "a b", sp + " ab"}}}}};
    auto load = [&](const json& j) {
        test::write_file(path, j.dump());
        return read_tokenizer_json_sentencepiece(path);
    };
    // "▁ab": "▁ a" (rank 0) before "a b" (rank 1), so ▁a + b; "ba" has no merge; "c" falls back to a byte.
    // ids: ▁ 259, a 260, b 261, ▁a 262, ab 263, ▁ab 264
    CHECK(load(good).encode("ab ba c", false, false) == std::vector<int>{264, 259, 261, 260, 259, 3 + 'c'});
    CHECK(load(good).encode("b ab", false, false) == std::vector<int>{259, 261, 264});
    CHECK(load_tokenizer(path).is_sentencepiece());

    auto fails = [&](const json& j, const char* message) {
        test::write_file(path, j.dump());
        CHECK_THROWS_WITH(read_tokenizer_json_sentencepiece(path), Catch::Contains(path) && Catch::Contains(message));
    };
    const std::string text = good.dump();
    test::write_file(path, text.substr(0, text.size() / 2));
    CHECK_THROWS_WITH(read_tokenizer_json_sentencepiece(path),
                      Catch::Contains(path) && Catch::Contains("not valid JSON"));
    CHECK_THROWS_WITH(load_tokenizer(path), Catch::Contains("not valid JSON"));

    json j = good;
    j["model"].erase("vocab");
    fails(j, "model.vocab is missing");
    j = good;
    j["model"]["merges"].push_back("a c");
    fails(j, "names the token 'c', which is not in model.vocab");
    j = good;
    j["model"]["merges"].push_back("b a");
    fails(j, "makes 'ba', which is not in model.vocab");
    j = good;
    // Merges that make one piece must be consecutive: "▁ab" by "▁a b", then "ab", then "▁ab" again.
    j["model"]["merges"] = {sp + "a b", "a b", sp + " ab", sp + " a"};
    fails(j, "again after merges of other pieces");
    j = good;
    j["model"]["merges"] = {"a"};
    fails(j, "expected two tokens separated by one space");
    j = good;
    j["model"]["byte_fallback"] = false;
    fails(j, "byte_fallback is not true");
    j = good;
    j["model"]["type"] = "Unigram";
    fails(j, "expected 'BPE'");
    j = good;
    j["model"]["vocab"].erase("<0x41>");
    j["model"]["vocab"]["x"] = 3 + 0x41;
    fails(j, "no byte piece <0x41>");
    j = good;
    j["normalizer"] = {{"type", "NFKC"}};
    fails(j, "expected Prepend");
    j = good;
    j["added_tokens"] = {special(0, "<unk>")};
    fails(j, "no <s>");
}
