// The Llama 3 tokenizer: Meta's own test vectors, Meta's tokenizer.model and the HF
// tokenizer.json agreeing on the corpus, and the npm `tiktoken` package (the real tiktoken core
// as WebAssembly, tests/tokenizer/oracle/) as an independent oracle.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <llamaref/tokenizer/tiktoken_files.hpp>

#include "test_data.hpp"
#include "tokenizer/corpus.hpp"

using namespace llamaref;
using nlohmann::json;

namespace {

const char* kMeta = "tokenizers/llama3/tokenizer.model";
const char* kJson = "tokenizers/llama3/tokenizer.json";
const char* kVectors = "tokenizers/llama3/meta_test_vectors.json";

const TiktokenTokenizer& meta() {
    static const TiktokenTokenizer tok = read_tiktoken_model(test::data(kMeta));
    return tok;
}
const TiktokenTokenizer& hf() {
    static const TiktokenTokenizer tok = read_tokenizer_json_bpe(test::data(kJson));
    return tok;
}

json load_json(const std::string& path) {
    std::ifstream in(path);
    return json::parse(in);
}

std::string show(const std::vector<int>& ids) {
    std::string s;
    for (int id : ids) s += std::to_string(id) + " ";
    return s;
}

std::string hex(const std::string& s) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) out += digits[c >> 4], out += digits[c & 15];
    return out;
}

}  // namespace

TEST_CASE("tiktoken: Meta's test vectors (encode, decode, special ids)", "[tokenizer][tiktoken]") {
    LLAMAREF_REQUIRE_DATA(kMeta);
    LLAMAREF_REQUIRE_DATA(kVectors);
    const json v = load_json(test::data(kVectors));
    const auto& tok = meta();
    CHECK(tok.num_ranks() == 128000);
    CHECK(tok.vocab_size() == 128256);
    for (auto it = v["special"].begin(); it != v["special"].end(); ++it)
        CHECK(tok.special_id(it.key()) == it.value().get<int>());
    const auto& e = v["encode"];
    CHECK(tok.encode(e["text"].get<std::string>(), e["bos"].get<bool>(), e["eos"].get<bool>()) ==
          e["ids"].get<std::vector<int>>());
    CHECK(tok.decode(v["decode"]["ids"].get<std::vector<int>>()) == v["decode"]["text"].get<std::string>());
    // Llama 3.1 names (llama-models): eom_id 128008, python_tag 128010
    CHECK(tok.special_id("<|eom_id|>") == 128008);
    CHECK(tok.special_id("<|python_tag|>") == 128010);
    CHECK(tok.special_id("<|reserved_special_token_2|>") == 128011);
    CHECK(tok.special_id("<|reserved_special_token_246|>") == 128255);
}

TEST_CASE("tiktoken: Llama 3.0 special-token names equal the HF tokenizer.json's added tokens",
          "[tokenizer][tiktoken]") {
    LLAMAREF_REQUIRE_DATA(kJson);
    const json j = load_json(test::data(kJson));
    const auto names = llama3_special_tokens(128000, Llama3Names::v3_0);
    REQUIRE(j["added_tokens"].size() == names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        CHECK(j["added_tokens"][i]["content"].get<std::string>() == names[i].first);
        CHECK(j["added_tokens"][i]["id"].get<int>() == names[i].second);
    }
}

TEST_CASE("tiktoken: tokenizer.model (ranks) and tokenizer.json (merges) give the same ids", "[tokenizer][tiktoken]") {
    LLAMAREF_REQUIRE_DATA(kMeta);
    LLAMAREF_REQUIRE_DATA(kJson);
    auto strings = test::tokenizer_corpus();
    REQUIRE(strings.size() >= 2000);
    for (auto& s : test::random_strings(3000, 99, false)) strings.push_back(s);
    int bad = 0;
    for (const auto& s : strings) {
        for (SpecialText mode : {SpecialText::plain, SpecialText::parse}) {
            const auto a = meta().encode(s, true, false, mode), b = hf().encode(s, true, false, mode);
            if (a != b && ++bad <= 5)
                UNSCOPED_INFO("text " << json(s).dump() << "\n  model: " << show(a) << "\n  json:  " << show(b));
        }
    }
    CHECK(bad == 0);
    // Meta's vocabulary bytes and the byte-level JSON vocabulary are the same tokens.
    for (int id = 0; id < 128256; id += 997) CHECK(meta().token_bytes(id) == hf().token_bytes(id));
}

TEST_CASE("tiktoken: special-token text, plain (Meta) or parsed (HF)", "[tokenizer][tiktoken]") {
    LLAMAREF_REQUIRE_DATA(kMeta);
    const auto& tok = meta();
    const std::string s = "<|eot_id|>";
    const auto plain = tok.encode(s, false, false, SpecialText::plain);
    CHECK(plain.size() > 1);
    for (int id : plain) CHECK(id < 128000);
    CHECK(tok.decode(plain) == s);
    CHECK(tok.encode(s, false, false, SpecialText::parse) == std::vector<int>{128009});
    CHECK(tok.encode("a<|eot_id|>b<|begin_of_text|>", false, false, SpecialText::parse) ==
          std::vector<int>{tok.encode("a", false, false)[0], 128009, tok.encode("b", false, false)[0], 128000});
}

TEST_CASE("tiktoken: ids equal the npm tiktoken oracle", "[tokenizer][tiktoken][oracle]") {
    LLAMAREF_REQUIRE_DATA(kMeta);
    const std::filesystem::path oracle = std::filesystem::path(LLAMAREF_SOURCE_DIR) / "tests/tokenizer/oracle";
    if (!std::filesystem::exists(oracle / "node_modules/tiktoken") ||
        std::system("node --version > /dev/null 2>&1") != 0) {
        WARN("SKIPPED: the npm tiktoken oracle is not installed (run `npm ci` in tests/tokenizer/oracle; needs node)");
        return;
    }
    auto strings = test::tokenizer_corpus();
    for (auto& s : test::random_strings(3000, 7, false)) strings.push_back(s);
    // Runs of more than 25,000 characters trigger Meta's chunking; the cut must fall at the same
    // character (code points, not bytes: "😀ab" is 3 characters in 6 bytes). tiktoken's BPE is
    // quadratic in a word's length, so the long single words are kept few.
    strings.push_back(std::string(25001, 'a'));
    strings.push_back(std::string(25001, ' ') + "x");
    std::string mixed, emoji;
    for (int i = 0; i < 9000; ++i)
        mixed += "ab1", emoji +=
                        "\xF0\x9F\x98\x80"
                        "ab";
    strings.push_back(mixed);
    strings.push_back(emoji);
    std::string big;
    while (big.size() < 420000) big += "Hello world, this is llamaref. ";
    strings.push_back(big);
    const auto malformed = test::random_strings(1000, 8, true);

    json in;
    in["plain"] = strings;
    in["parse"] = strings;
    in["bytes_hex"] = json::array();
    for (const auto& s : malformed) in["bytes_hex"].push_back(hex(s));
    const auto dir = test::scratch("tiktoken-oracle");
    std::ofstream(dir / "in.json") << in.dump();
    const std::string cmd = "node '" + (oracle / "tiktoken_oracle.mjs").string() + "' '" + test::data(kMeta) + "' '" +
                            (dir / "in.json").string() + "' '" + (dir / "out.json").string() + "'";
    REQUIRE(std::system(cmd.c_str()) == 0);
    const json out = load_json((dir / "out.json").string());

    int bad = 0;
    auto compare = [&](const std::string& s, const std::vector<int>& got, const json& want) {
        if (got != want.get<std::vector<int>>() && ++bad <= 5)
            UNSCOPED_INFO("text of " << s.size() << " bytes "
                                     << json(s.substr(0, 80)).dump(-1, ' ', false, json::error_handler_t::replace)
                                     << "\n  tiktoken: " << show(want.get<std::vector<int>>()).substr(0, 300)
                                     << "\n  llamaref: " << show(got).substr(0, 300));
    };
    for (std::size_t i = 0; i < strings.size(); ++i) {
        compare(strings[i], meta().encode(strings[i], false, false, SpecialText::plain), out["plain"][i]);
        compare(strings[i], meta().encode(strings[i], false, false, SpecialText::parse), out["parse"][i]);
    }
    for (std::size_t i = 0; i < malformed.size(); ++i)
        compare(malformed[i], meta().encode(malformed[i], false, false), out["bytes_hex"][i]);
    CHECK(bad == 0);
    CHECK(strings.size() >= 5000);
}

TEST_CASE("tiktoken: decode is Python's errors=\"replace\" and round-trips valid text", "[tokenizer][tiktoken]") {
    LLAMAREF_REQUIRE_DATA(kMeta);
    const auto& tok = meta();
    for (const auto& s : test::tokenizer_corpus()) CHECK(tok.decode(tok.encode(s, false, false)) == s);
    // 'é' is C3 A9; alone, C3 is a maximal subpart -> one U+FFFD; E2 82 is one subpart of "€".
    const std::string c3 = "\xC3", e282 = "\xE2\x82";
    CHECK(tok.decode(tok.encode(c3 + "x", false, false)) == "\xEF\xBF\xBDx");
    CHECK(tok.decode(std::vector<int>{tok.encode("é", false, false)}) == "é");
    CHECK(tok.decode(tok.encode(e282 + "A", false, false)) ==
          "\xEF\xBF\xBD"
          "A");
    CHECK_THROWS_WITH(tok.decode(std::vector<int>{128256}), Catch::Contains("out of range"));
}
