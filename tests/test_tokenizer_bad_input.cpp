// Tokenizers on hostile input: malformed UTF-8, NUL bytes, a 10 MB single line, and truncated or
// corrupt files of every format — never a crash; a llamaref::Error naming the file when the file
// is at fault.
#include <climits>
#include <cstdint>
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
    const std::string nasty[] = {std::string("\xFF\xFE\x80\xC0\xAF", 5),
                                 std::string("a\0b\0", 4),
                                 "\xED\xA0\x80",
                                 "\xF4\x90\x80\x80",
                                 "\xE2\x82",
                                 std::string(1, '\0')};
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
    CHECK(check_cuts(sp, dir / "sp.model", 40,
                     [](const std::string& p) { SentencePieceTokenizer::from_model_file(p); }) >= 39);
    std::string bad = sp;
    bad[0] = char(0x0F);  // field 1 with wire type 7: no such wire type
    write(dir / "bad.model", bad);
    CHECK_THROWS_WITH(SentencePieceTokenizer::from_model_file((dir / "bad.model").string()),
                      Catch::Contains("wire type 7"));
    bad = sp;
    bad[1] = char(0xFF), bad[2] = char(0xFF), bad[3] = char(0x7F);  // a length beyond the end
    write(dir / "bad.model", bad);
    CHECK_THROWS_WITH(SentencePieceTokenizer::from_model_file((dir / "bad.model").string()),
                      Catch::Contains("truncated"));

    // llama2.c tokenizer.bin
    const std::string bin = slurp(test::data(kBin));
    CHECK(check_cuts(bin, dir / "t.bin", 20,
                     [](const std::string& p) { SentencePieceTokenizer::from_llama2c(p, 32000); }) >= 20);

    // Meta's Llama 3 tokenizer.model: cuts lose ranks (a cut mid-line is a bad base64 or rank).
    const std::string meta = slurp(test::data(kMeta)).substr(0, 40000);
    write(dir / "m.model", meta.substr(0, 30) + "!!!! 7\n");
    CHECK_THROWS_WITH(read_tiktoken_model((dir / "m.model").string()), Catch::Contains("not base64"));
    write(dir / "m.model", "IQ== 0\nIg== 0\n");
    CHECK_THROWS_WITH(read_tiktoken_model((dir / "m.model").string()), Catch::Contains("rank 0 appears twice"));
    write(dir / "m.model", "IQ== 0\nIg== 2\nIw== 3\n");
    CHECK_THROWS_WITH(read_tiktoken_model((dir / "m.model").string()), Catch::Contains("without gaps"));
    write(dir / "m.model", "IQ== 0\nIg== 5\n");
    CHECK_THROWS_WITH(read_tiktoken_model((dir / "m.model").string()),
                      Catch::Contains("not below the number of lines"));
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
    write(dir / "t.json",
          R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": null, "added_tokens": []})");
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

namespace {

// load() must throw a llamaref::Error (nothing else) whose message names `file`, says `text`
// and stays short whatever the file holds.
template <class Load>
void check_error(const fs::path& file, const std::string& text, Load load) {
    try {
        load(file.string());
        FAIL_CHECK("no error for " << file.string() << " (expected '" << text << "')");
    } catch (const Error& e) {
        const std::string m = e.what();
        CHECK_THAT(m, Catch::Contains(file.string()) && Catch::Contains(text));
        CHECK(m.size() < 1000);
    }
}

std::string varint(uint64_t v) {
    std::string out;
    for (; v >= 0x80; v >>= 7) out += char(0x80 | (v & 0x7F));
    return out + char(v);
}
std::string proto_bytes(int field, const std::string& payload) {
    return varint(uint64_t(field) << 3 | 2) + varint(payload.size()) + payload;
}
std::string proto_int(int field, uint64_t v) { return varint(uint64_t(field) << 3) + varint(v); }

// A SentencePiece tokenizer.model: BPE, no byte fallback, <unk> (id 0) and the given pieces.
std::string sp_model(const std::vector<std::string>& pieces, const std::string& trainer_extra = "") {
    std::string m = proto_bytes(1, proto_bytes(1, "<unk>") + proto_int(3, 2));
    for (const auto& p : pieces) m += proto_bytes(1, proto_bytes(1, p));
    return m + proto_bytes(2, proto_int(3, 2) + proto_int(35, 0) + trainer_extra);
}

// A Llama 3 kind tokenizer.json around a vocab, added tokens and a pre_tokenizer (JSON text).
const std::string kPre =
    R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "a"}}, {"type": "ByteLevel"}]})";
std::string bpe_json(const std::string& vocab, const std::string& added = "[]", const std::string& pre = kPre) {
    return R"({"model": {"type": "BPE", "ignore_merges": true, "vocab": )" + vocab +
           R"(, "merges": []}, "pre_tokenizer": )" + pre + R"(, "added_tokens": )" + added + "}";
}

}  // namespace

// Sizes and ids from a file are bounded by the number of entries the file holds, nesting is
// bounded, and every message names the file: no file makes a reader allocate gigabytes, overflow
// an int, overflow the stack or throw anything but llamaref::Error.
TEST_CASE("tokenizer files with hostile ids, sizes and nesting are clear errors naming the file",
          "[tokenizer][bad-input]") {
    const auto dir = test::scratch("hostile-tokenizer-files");
    const auto any = [](const std::string& p) { load_tokenizer(p); };
    const auto tiktoken = [](const std::string& p) { read_tiktoken_model(p); };
    const auto bpe = [](const std::string& p) { read_tokenizer_json_bpe(p); };
    const auto sp_json = [](const std::string& p) { read_tokenizer_json_sentencepiece(p); };

    // Meta's tokenizer.model: a rank of 999,999,999 once sized the rank table (~32 GB).
    const fs::path meta = dir / "tokenizer.model";
    write(meta, "IQ== 0\nIg== 999999999\n");
    check_error(meta, "rank 999999999 is not below the number of lines", tiktoken);
    check_error(meta, "rank 999999999", any);

    // tokenizer.json (Llama 3 kind): added-token ids of 2e9 or INT_MAX, vocab ids that are no int.
    const fs::path json = dir / "tokenizer.json";
    write(json, bpe_json(R"({"a": 0})", R"([{"id": 2000000000, "content": "<|x|>"}])"));
    check_error(json, "added token id is 2000000000; expected a token id below 2", bpe);
    write(json, bpe_json(R"({"a": 0})", R"([{"id": 2147483647, "content": "<|x|>"}])"));
    check_error(json, "2147483647", any);
    write(json, bpe_json(R"({"a": 1e20})"));
    check_error(json, "model.vocab['a'] is 1e+20; expected a token id", bpe);
    write(json, bpe_json(R"({"a": 1099511627776})"));
    check_error(json, "is 1099511627776; expected a token id below 1", bpe);
    write(json, bpe_json(R"({"a": "0"})"));
    check_error(json, "is \"0\"; expected a token id", any);
    write(json, bpe_json(R"({"a": -1})"));
    check_error(json, "is -1; expected a token id", any);
    write(json, bpe_json("{\"" + std::string(100000, 'x') + "\\u0001\": 0}"));  // a long key outside the alphabet
    check_error(json, "is not in the byte-level alphabet", bpe);
    write(json, "{\"model\": \"" + std::string(1000000, 'x') + "\x01\"}");  // a parser's message quotes the token
    check_error(json, "JSON", any);
    // A wrong type deep in the layout: nlohmann's type_error becomes an Error naming the file.
    write(json, bpe_json(R"({"a": 0})", "[]", R"({"type": "Split", "pattern": {"Regex": 5}})"));
    check_error(json, "unexpected tokenizer.json layout", any);
    // The constructor itself: a special id of INT_MAX is refused before id + 1 is computed.
    std::vector<std::string> bytes;
    for (int b = 0; b < 256; ++b) bytes.push_back(std::string(1, char(b)));
    CHECK_THROWS_WITH(TiktokenTokenizer(bytes, {{"<|x|>", INT_MAX}}, kLlama3Pattern), Catch::Contains("ids 0..256"));

    // tokenizer.json (SentencePiece kind).
    write(json, R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"<unk>": 1e20}, "merges": []}})");
    check_error(json, "model.vocab['<unk>'] is 1e+20", sp_json);
    check_error(json, "is 1e+20", any);
    write(json, R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"<unk>": 0}, "merges": []},
                    "added_tokens": [{"id": 1e300, "content": "<s>"}]})");
    check_error(json, "added token id is 1e+300", sp_json);
    write(json, R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"<unk>": 0}, "merges": []},
                    "added_tokens": [{"id": 0, "content": 5}]})");
    check_error(json, "unexpected tokenizer.json layout", any);

    // JSON nested 100,000 deep (printing or copying it would overflow the stack).
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    write(json, bpe_json(R"({"a": 0})", "[]", deep));
    check_error(json, "nested", bpe);
    check_error(json, "nested", any);
    write(json,
          R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"<unk>": 0}, "merges": []}, "added_tokens": )" +
              deep + "}");
    check_error(json, "nested", sp_json);
    write(json, R"({"model": {"type": "BPE", "byte_fallback": true}, "pre_tokenizer": {"a": )" + deep + "}}");
    check_error(json, "nested", any);

    // SentencePiece tokenizer.model: the vocabulary's own checks name the file too.
    const fs::path sp = dir / "sp.model";
    write(sp, sp_model({"a", ""}));
    check_error(sp, "SentencePiece vocabulary: piece 2 is empty",
                [](const std::string& p) { SentencePieceTokenizer::from_model_file(p); });
    check_error(sp, "piece 2 is empty", any);
    write(sp, sp_model({"a", "b"}, proto_int(41, 2000000000)));  // bos_id
    check_error(sp, "bos_id 2000000000 is neither -1", any);
    write(sp, sp_model({"a", "b"}, proto_int(42, uint64_t(-5))));  // eos_id -5
    check_error(sp, "eos_id -5", any);
    write(sp, sp_model({"a", "b"}));
    CHECK(load_tokenizer(sp.string()).vocab_size() == 3);  // the same file without the bad ids loads

    // llama2.c tokenizer.bin for a model that claims 2^31 - 1 tokens: refused before sizing anything.
    const fs::path bin = dir / "tokenizer.bin";
    write(bin, std::string("\x10\0\0\0", 4) + std::string(80, '\0'));
    check_error(bin, "hold at most 10", [](const std::string& p) { SentencePieceTokenizer::from_llama2c(p, INT_MAX); });
    check_error(bin, "too few", [](const std::string& p) { SentencePieceTokenizer::from_llama2c(p, -1); });
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
