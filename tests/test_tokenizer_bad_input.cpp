// Tokenizers on hostile input: malformed UTF-8, NUL bytes, a 10 MB single line, and truncated or
// corrupt files of every format — never a crash; a llamaref::Error naming the file when the file
// is at fault.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <llamaref/tokenizer/tokenizer.hpp>

#include "test_data.hpp"

using namespace llamaref;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

// Every cut of `bytes` at `cuts` positions must load or throw llamaref::Error — nothing else.
template <class Load>
int check_cuts(const std::string& bytes, const fs::path& file, int cuts, Load load) {
    int errors = 0;
    for (int k = 0; k <= cuts; ++k) {
        write(file, bytes.substr(0, bytes.size() * k / (cuts + 1)));
        try {
            load(file.string());
        } catch (const Error& e) {
            ++errors;
            CHECK(std::string(e.what()).find(file.string()) != std::string::npos);  // names the file
        }
    }
    return errors;
}

const char* kSp = "tokenizers/llama2/tokenizer.model";
const char* kBin = "tokenizers/llama2/tokenizer.bin";
const char* kMeta = "tokenizers/llama3/tokenizer.model";
const char* kJson = "tokenizers/llama3/tokenizer.json";

}  // namespace

TEST_CASE("tokenizers: malformed UTF-8, NUL bytes and a 10 MB line", "[tokenizer][bad-input]") {
    LLAMAREF_REQUIRE_DATA(kSp);
    LLAMAREF_REQUIRE_DATA(kMeta);
    const Tokenizer sp(SentencePieceTokenizer::from_model_file(test::data(kSp)));
    const Tokenizer tt(read_tiktoken_model(test::data(kMeta)));
    const std::string nasty[] = {std::string("\xFF\xFE\x80\xC0\xAF", 5), std::string("a\0b\0", 4), "\xED\xA0\x80",
                                 "\xF4\x90\x80\x80", "\xE2\x82", std::string(1, '\0')};
    for (const auto& tok : {&sp, &tt}) {
        for (const auto& s : nasty) {
            const auto ids = tok->encode(s, true, true);
            CHECK(ids.size() >= 2);
            CHECK_NOTHROW(tok->decode(ids));
        }
        CHECK(tok->decode(tok->encode(std::string("a\0b", 3), false, false)) == std::string("a\0b", 3));
    }
    // 10 MB on one line: words, a 1 MB run of one letter, a 1 MB run of spaces.
    std::string big;
    while (big.size() < 8'000'000) big += "The quick brown fox, 12345 émoji 🍕 jumps. ";
    big += std::string(1'000'000, 'a') + std::string(1'000'000, ' ') + "end";
    for (const auto& tok : {&sp, &tt}) {
        const auto ids = tok->encode(big, false, false);
        CHECK(ids.size() > 1'000'000);
        CHECK(tok->decode(ids).size() >= big.size() - 1);  // SentencePiece drops the dummy-prefix space only
    }
}

TEST_CASE("tokenizers: truncated and corrupt files of each format are clear errors", "[tokenizer][bad-input]") {
    LLAMAREF_REQUIRE_DATA(kSp);
    LLAMAREF_REQUIRE_DATA(kBin);
    LLAMAREF_REQUIRE_DATA(kMeta);
    LLAMAREF_REQUIRE_DATA(kJson);
    const auto dir = test::scratch("bad-tokenizer-files");

    // SentencePiece tokenizer.model: every cut inside a piece is a truncated protobuf.
    const std::string sp = slurp(test::data(kSp));
    CHECK(check_cuts(sp, dir / "sp.model", 40, [](const std::string& p) { SentencePieceTokenizer::from_model_file(p); }) >= 39);
    std::string bad = sp;
    bad[0] = char(0x0F);  // field 1 with wire type 7: no such wire type
    write(dir / "bad.model", bad);
    CHECK_THROWS_WITH(SentencePieceTokenizer::from_model_file((dir / "bad.model").string()), Catch::Contains("wire type 7"));
    bad = sp;
    bad[1] = char(0xFF), bad[2] = char(0xFF), bad[3] = char(0x7F);  // a length beyond the end
    write(dir / "bad.model", bad);
    CHECK_THROWS_WITH(SentencePieceTokenizer::from_model_file((dir / "bad.model").string()), Catch::Contains("truncated"));

    // llama2.c tokenizer.bin
    const std::string bin = slurp(test::data(kBin));
    CHECK(check_cuts(bin, dir / "t.bin", 20, [](const std::string& p) { SentencePieceTokenizer::from_llama2c(p, 32000); }) >= 20);

    // Meta's Llama 3 tokenizer.model: cuts lose ranks (a cut mid-line is a bad base64 or rank).
    const std::string meta = slurp(test::data(kMeta)).substr(0, 40000);
    write(dir / "m.model", meta.substr(0, 30) + "!!!! 7\n");
    CHECK_THROWS_WITH(read_tiktoken_model((dir / "m.model").string()), Catch::Contains("not base64"));
    write(dir / "m.model", "IQ== 0\nIg== 0\n");
    CHECK_THROWS_WITH(read_tiktoken_model((dir / "m.model").string()), Catch::Contains("rank 0 appears twice"));
    write(dir / "m.model", "IQ== 0\nIg== 5\n");
    CHECK_THROWS_WITH(read_tiktoken_model((dir / "m.model").string()), Catch::Contains("without gaps"));
    write(dir / "m.model", "IQ== x\n");
    CHECK_THROWS_WITH(read_tiktoken_model((dir / "m.model").string()), Catch::Contains("not a number"));
    write(dir / "m.model", "IQ== 0\n");  // one rank: no token for most single bytes
    CHECK_THROWS_WITH(read_tiktoken_model((dir / "m.model").string()), Catch::Contains("single byte"));
    check_cuts(meta, dir / "m.model", 20, [](const std::string& p) { read_tiktoken_model(p); });

    // HF tokenizer.json: cut JSON, wrong layout.
    const std::string json = slurp(test::data(kJson));
    for (std::size_t cut : {std::size_t(0), std::size_t(100), json.size() / 2, json.size() - 2}) {
        write(dir / "t.json", json.substr(0, cut));
        CHECK_THROWS_AS(read_tokenizer_json_bpe((dir / "t.json").string()), Error);
    }
    write(dir / "t.json", R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": null, "added_tokens": []})");
    CHECK_THROWS_WITH(read_tokenizer_json_bpe((dir / "t.json").string()), Catch::Contains("ignore_merges"));
    write(dir / "t.json", R"({"model": {"type": "BPE", "ignore_merges": true, "vocab": {"a": 0}, "merges": []},
        "pre_tokenizer": {"type": "ByteLevel"}, "added_tokens": []})");
    CHECK_THROWS_WITH(read_tokenizer_json_bpe((dir / "t.json").string()), Catch::Contains("Split(Regex)"));

    // Detection by content.
    write(dir / "junk", "this is not a tokenizer\n");
    CHECK_THROWS_WITH(load_tokenizer((dir / "junk").string()), Catch::Contains("not a tokenizer llamaref knows"));
    write(dir / "empty", "");
    CHECK_THROWS_WITH(load_tokenizer((dir / "empty").string()), Catch::Contains("empty"));
    CHECK_THROWS_WITH(load_tokenizer((dir / "missing").string()), Catch::Contains("no such file"));
}

TEST_CASE("load_tokenizer picks the format from the content and the files beside a model", "[tokenizer]") {
    LLAMAREF_REQUIRE_DATA(kSp);
    LLAMAREF_REQUIRE_DATA(kBin);
    LLAMAREF_REQUIRE_DATA(kMeta);
    LLAMAREF_REQUIRE_DATA(kJson);
    CHECK(load_tokenizer(test::data(kSp)).is_sentencepiece());
    CHECK(load_tokenizer(test::data(kBin)).is_sentencepiece());
    CHECK(load_tokenizer(test::data(kBin)).vocab_size() == 32000);
    CHECK_FALSE(load_tokenizer(test::data(kMeta)).is_sentencepiece());
    CHECK_FALSE(load_tokenizer(test::data(kJson)).is_sentencepiece());
    CHECK(load_tokenizer(test::data("tokenizers/llama3")).vocab_size() == 128256);  // a folder
    // The same text, the same ids, whichever Llama 2 file was picked.
    CHECK(load_tokenizer(test::data(kSp)).encode("Hello world", true, false) ==
          load_tokenizer(test::data(kBin)).encode("Hello world", true, false));
    if (fs::exists(test::data("models/stories260K/stories260K.bin")))
        CHECK(load_tokenizer(test::data("models/stories260K/stories260K.bin")).vocab_size() == 512);
}
