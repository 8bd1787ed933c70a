// tests/fuzz/make_corpus.cpp — writes the seed corpus of every fuzz harness (no binary is committed).
//
//   make_corpus OUT_DIR [SHARED_DIR]
//
// OUT_DIR/<harness>/ receives small valid files, written by the project's own writers where it
// has them (write_gguf, write_hf / write_safetensors, write_llama2c; the .pth by the tests'
// torch.save writer) from the tiny model of tiny_model.hpp, and by the short composers below for
// the files llamaref only reads (GGUF vocabularies, tokenizer.model protobuf, tokenizer.json,
// tiktoken, tokenizer.bin). From SHARED_DIR (the test data, ../shared) the small real files are
// added when present: config.json / params.json of the oracle fixtures and llama2.c tokenizers.
// Larger shared files (real vocabularies, checkpoints of MBs) are left out: libFuzzer mutates
// small inputs many times faster, and the seeds here already hold every structure.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <llamaref/formats/write_gguf.hpp>
#include <llamaref/formats/write_llama2c.hpp>
#include <llamaref/formats/write_safetensors.hpp>
#include <llamaref/tokenizer/tiktoken.hpp>

#include "tiny_model.hpp"

using namespace llamaref;
namespace fs = std::filesystem;

namespace {

// --- little-endian pieces ----------------------------------------------------------------
template <class T>
std::string le(T v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

// --- the vocabulary every composed tokenizer holds -----------------------------------------
// <unk> <s> </s>, the 256 byte pieces <0x00>..<0xFF>, then a few words and their merges.
const std::vector<std::string> kWords = {
    "\xe2\x96\x81",    "H", "e", "l", "o", "w", "r", "d", "\xe2\x96\x81H", "ll", "llo", "\xe2\x96\x81w", "or",
    "\xe2\x96\x81wor", "ld"};

std::string byte_piece(int b) {
    char s[8];
    std::snprintf(s, sizeof s, "<0x%02X>", b);
    return s;
}

// --- GGUF vocabularies (metadata only, no tensors), composed byte by byte ------------------
std::string gguf_str(const std::string& s) { return le<uint64_t>(s.size()) + s; }
struct Kv {
    std::string bytes;
    int n = 0;
    void str(const std::string& k, const std::string& v) { bytes += gguf_str(k) + le<uint32_t>(8) + gguf_str(v), ++n; }
    void u32(const std::string& k, uint32_t v) { bytes += gguf_str(k) + le<uint32_t>(4) + le(v), ++n; }
    void boolean(const std::string& k, bool v) { bytes += gguf_str(k) + le<uint32_t>(7) + char(v ? 1 : 0), ++n; }
    void strings(const std::string& k, const std::vector<std::string>& v) {
        bytes += gguf_str(k) + le<uint32_t>(9) + le<uint32_t>(8) + le<uint64_t>(v.size());
        for (const auto& s : v) bytes += gguf_str(s);
        ++n;
    }
    void i32s(const std::string& k, const std::vector<int32_t>& v) {
        bytes += gguf_str(k) + le<uint32_t>(9) + le<uint32_t>(5) + le<uint64_t>(v.size());
        for (auto x : v) bytes += le(x);
        ++n;
    }
    void f32s(const std::string& k, const std::vector<float>& v) {
        bytes += gguf_str(k) + le<uint32_t>(9) + le<uint32_t>(6) + le<uint64_t>(v.size());
        for (auto x : v) bytes += le(x);
        ++n;
    }
    std::string file() const {
        std::string s = "GGUF" + le<uint32_t>(3) + le<uint64_t>(0) + le<uint64_t>(n) + bytes;
        s.append((32 - s.size() % 32) % 32, '\0');
        return s;
    }
};

// GPT-2's byte-to-unicode alphabet: printable bytes stand for themselves, the others for U+0100...
std::string byte_level_char(int b) {
    int cp = b;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
        int n = 0;
        for (int x = 0; x < b; ++x)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) ++n;
        cp = 256 + n;
    }
    std::string s;
    if (cp < 0x80)
        s += char(cp);
    else
        s += char(0xC0 | (cp >> 6)), s += char(0x80 | (cp & 0x3F));
    return s;
}

std::string gguf_llama_vocab() {
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    std::vector<int32_t> types = {2, 3, 3};
    for (int b = 0; b < 256; ++b) tokens.push_back(byte_piece(b)), types.push_back(6);
    for (const auto& w : kWords) tokens.push_back(w), types.push_back(1);
    std::vector<float> scores(tokens.size(), 0.0f);
    for (std::size_t i = 259; i < tokens.size(); ++i) scores[i] = -float(i - 259);
    Kv kv;
    kv.str("general.architecture", "llama");
    kv.str("tokenizer.ggml.model", "llama");
    kv.strings("tokenizer.ggml.tokens", tokens);
    kv.f32s("tokenizer.ggml.scores", scores);
    kv.i32s("tokenizer.ggml.token_type", types);
    kv.u32("tokenizer.ggml.unknown_token_id", 0);
    kv.u32("tokenizer.ggml.bos_token_id", 1);
    kv.u32("tokenizer.ggml.eos_token_id", 2);
    kv.boolean("tokenizer.ggml.add_space_prefix", true);
    return kv.file();
}

// Byte-level words and merges shared by the GGUF "gpt2" vocabulary and the byte-level tokenizer.json.
struct ByteLevel {
    std::vector<std::string> tokens;  // ranks 0..: the 256 bytes, then merged words
    std::vector<std::string> merges;  // "a b"
};
ByteLevel byte_level_vocab() {
    ByteLevel v;
    for (int b = 0; b < 256; ++b) v.tokens.push_back(byte_level_char(b));
    const std::string sp = byte_level_char(' ');
    for (auto [a, b] : std::vector<std::pair<std::string, std::string>>{
             {"H", "e"}, {"l", "l"}, {"ll", "o"}, {sp, "w"}, {"o", "r"}, {sp + "w", "or"}, {"l", "d"}}) {
        v.tokens.push_back(a + b);
        v.merges.push_back(a + " " + b);
    }
    return v;
}

std::string gguf_gpt2_vocab() {
    ByteLevel v = byte_level_vocab();
    std::vector<int32_t> types(v.tokens.size(), 1);
    for (const char* s : {"<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"})
        v.tokens.push_back(s), types.push_back(3);
    Kv kv;
    kv.str("general.architecture", "llama");
    kv.str("tokenizer.ggml.model", "gpt2");
    kv.str("tokenizer.ggml.pre", "llama-bpe");
    kv.strings("tokenizer.ggml.tokens", v.tokens);
    kv.i32s("tokenizer.ggml.token_type", types);
    kv.strings("tokenizer.ggml.merges", v.merges);
    kv.u32("tokenizer.ggml.bos_token_id", uint32_t(v.tokens.size() - 3));
    kv.u32("tokenizer.ggml.eos_token_id", uint32_t(v.tokens.size() - 1));
    return kv.file();
}

// --- SentencePiece tokenizer.model (protobuf) ----------------------------------------------
std::string varint(uint64_t v) {
    std::string s;
    do {
        s += char((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return s;
}
std::string pb_bytes(int field, const std::string& b) {
    return varint(uint64_t(field) << 3 | 2) + varint(b.size()) + b;
}
std::string pb_int(int field, uint64_t v) { return varint(uint64_t(field) << 3) + varint(v); }
std::string pb_float(int field, float f) { return varint(uint64_t(field) << 3 | 5) + le(f); }

std::string sentencepiece_model(bool byte_fallback) {
    std::string m;
    auto piece = [&](const std::string& text, float score, int type) {
        m += pb_bytes(1, pb_bytes(1, text) + pb_float(2, score) + pb_int(3, uint64_t(type)));
    };
    piece("<unk>", 0, 2), piece("<s>", 0, 3), piece("</s>", 0, 3);
    if (byte_fallback)
        for (int b = 0; b < 256; ++b) piece(byte_piece(b), 0, 6);
    for (std::size_t i = 0; i < kWords.size(); ++i) piece(kWords[i], -float(i), 1);
    // TrainerSpec: model_type BPE (2), byte_fallback, unk/bos/eos/pad ids, unk surface
    m += pb_bytes(2, pb_int(3, 2) + pb_int(35, byte_fallback) + pb_int(40, 0) + pb_int(41, 1) + pb_int(42, 2) +
                         pb_int(43, uint64_t(int64_t(-1))) + pb_bytes(44, " \xE2\x81\x87 "));
    // NormalizerSpec: identity, add_dummy_prefix, remove_extra_whitespaces off, escape_whitespaces
    m += pb_bytes(3, pb_bytes(1, "identity") + pb_int(3, 1) + pb_int(4, 0) + pb_int(5, 1));
    return m;
}

// --- tokenizer.json, both kinds ------------------------------------------------------------
std::string tokenizer_json_sentencepiece(bool legacy) {
    nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
    int id = 0;
    vocab["<unk>"] = id++, vocab["<s>"] = id++, vocab["</s>"] = id++;
    for (int b = 0; b < 256; ++b) vocab[byte_piece(b)] = id++;
    for (const auto& w : kWords) vocab[w] = id++;
    const std::string sp = "\xe2\x96\x81";
    nlohmann::ordered_json j;
    j["version"] = "1.0";
    j["added_tokens"] = {{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                         {{"id", 1}, {"content", "<s>"}, {"special", true}},
                         {{"id", 2}, {"content", "</s>"}, {"special", true}}};
    if (legacy) {
        j["normalizer"] = {{"type", "Sequence"},
                           {"normalizers",
                            {{{"type", "Prepend"}, {"prepend", sp}},
                             {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", sp}}}}};
        j["pre_tokenizer"] = nullptr;
    } else {
        j["normalizer"] = nullptr;
        j["pre_tokenizer"] = {
            {"type", "Metaspace"}, {"replacement", sp}, {"prepend_scheme", "first"}, {"split", false}};
    }
    j["decoder"] = {{"type", "Sequence"},
                    {"decoders",
                     {{{"type", "Replace"}, {"pattern", {{"String", sp}}}, {"content", " "}},
                      {{"type", "ByteFallback"}},
                      {{"type", "Fuse"}},
                      {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
    j["model"] = {{"type", "BPE"},
                  {"dropout", nullptr},
                  {"unk_token", "<unk>"},
                  {"continuing_subword_prefix", nullptr},
                  {"end_of_word_suffix", nullptr},
                  {"fuse_unk", true},
                  {"byte_fallback", true},
                  {"ignore_merges", false},
                  {"vocab", vocab},
                  {"merges", {sp + " H", "l l", "ll o", sp + " w", "o r", sp + "w or", "l d"}}};
    return j.dump(1) + "\n";
}

std::string tokenizer_json_bpe(bool pair_merges) {
    const ByteLevel v = byte_level_vocab();
    nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < v.tokens.size(); ++i) vocab[v.tokens[i]] = i;
    nlohmann::ordered_json merges = nlohmann::ordered_json::array();
    for (const auto& m : v.merges) {
        const auto sp = m.find(' ');
        if (pair_merges)
            merges.push_back({m.substr(0, sp), m.substr(sp + 1)});
        else
            merges.push_back(m);
    }
    const int n = int(v.tokens.size());
    nlohmann::ordered_json j;
    j["version"] = "1.0";
    j["added_tokens"] = {{{"id", n}, {"content", "<|begin_of_text|>"}, {"special", true}},
                         {{"id", n + 1}, {"content", "<|end_of_text|>"}, {"special", true}},
                         {{"id", n + 2}, {"content", "<|eot_id|>"}, {"special", true}}};
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", kLlama3Pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
    j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
    j["model"] = {{"type", "BPE"},
                  {"dropout", nullptr},
                  {"unk_token", nullptr},
                  {"continuing_subword_prefix", nullptr},
                  {"end_of_word_suffix", nullptr},
                  {"fuse_unk", false},
                  {"byte_fallback", false},
                  {"ignore_merges", true},
                  {"vocab", vocab},
                  {"merges", merges}};
    return j.dump(1) + "\n";
}

// --- Meta's tiktoken tokenizer.model: "<base64 bytes> <rank>" lines -------------------------
std::string base64(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const uint32_t v = uint8_t(in[i]) << 16 | uint8_t(in[i + 1]) << 8 | uint8_t(in[i + 2]);
        out += t[v >> 18], out += t[(v >> 12) & 63], out += t[(v >> 6) & 63], out += t[v & 63];
    }
    if (i + 1 == in.size()) {
        const uint32_t v = uint8_t(in[i]) << 16;
        out += t[v >> 18], out += t[(v >> 12) & 63], out += "==";
    } else if (i + 2 == in.size()) {
        const uint32_t v = uint8_t(in[i]) << 16 | uint8_t(in[i + 1]) << 8;
        out += t[v >> 18], out += t[(v >> 12) & 63], out += t[(v >> 6) & 63], out += '=';
    }
    return out;
}

std::string tiktoken_model() {
    std::vector<std::string> tokens;
    for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, char(b)));
    for (const char* w : {"He", "ll", "llo", " w", "or", " wor", "ld"}) tokens.push_back(w);
    std::string s;
    for (std::size_t r = 0; r < tokens.size(); ++r) s += base64(tokens[r]) + " " + std::to_string(r) + "\n";
    return s;
}

// --- llama2.c tokenizer.bin: int32 max_token_length, then (float score, int32 len, bytes) ----
std::string llama2c_tokenizer(int n) {
    std::vector<std::string> pieces = {"<unk>", "\n<s>\n", "\n</s>\n"};
    for (int b = 0; pieces.size() < std::size_t(n) && b < 256; ++b) pieces.push_back(byte_piece(b));
    std::string s = le<int32_t>(8);
    for (std::size_t i = 0; i < pieces.size(); ++i) {
        if (i >= 3 + 64) pieces[i] = kWords[i % kWords.size()];
        s += le<float>(-float(i)) + le<int32_t>(int32_t(pieces[i].size())) + pieces[i];
    }
    return s;
}

// --- output --------------------------------------------------------------------------------
int files_written = 0;
void put(const fs::path& dir, const std::string& name, const std::string& bytes) {
    fs::create_directories(dir);
    fuzz::write_text(dir / name, bytes);
    ++files_written;
}
void copy_if_small(const fs::path& from, const fs::path& dir, const std::string& name) {
    std::error_code ec;
    if (!fs::is_regular_file(from, ec) || fs::file_size(from, ec) > 64 * 1024) return;
    fs::create_directories(dir);
    fs::copy_file(from, dir / name, fs::copy_options::overwrite_existing);
    ++files_written;
}
std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: make_corpus OUT_DIR [SHARED_DIR]\n");
        return 2;
    }
    try {
        const fs::path out = argv[1];
        const fs::path tmp = out / "tmp";
        fs::create_directories(tmp);
        const auto m8 = fuzz::tiny_model(fuzz::tiny_config(8));
        const auto m32 = fuzz::tiny_model(fuzz::tiny_config(32));
        // Tied, with Llama 3.1 RoPE scaling: head_dim 16, so that GGUF's rope_freqs divisors (one per
        // pair) include fully scaled pairs and the reader can recover the scaling's parameters.
        ModelConfig tied_cfg = fuzz::tiny_config(32);
        tied_cfg.n_heads = 2, tied_cfg.n_kv_heads = 1, tied_cfg.head_dim = 16;
        tied_cfg.tied_embeddings = true;
        tied_cfg.rope_theta = 500000;
        tied_cfg.rope_scaling = {true, 8.0, 1.0, 4.0, 8192};
        const auto m8_tied = fuzz::tiny_model(tied_cfg);

        // GGUF: the model in each dtype, a tied one with Llama 3.1 RoPE scaling, two vocabularies.
        const fs::path gguf = out / "gguf";
        fs::create_directories(gguf);
        write_gguf(*m8, (gguf / "tiny-f32.gguf").string(), DType::F32);
        write_gguf(*m8, (gguf / "tiny-f16.gguf").string(), DType::F16);
        write_gguf(*m8, (gguf / "tiny-bf16.gguf").string(), DType::BF16);
        write_gguf(*m32, (gguf / "tiny32-q8_0.gguf").string(), DType::Q8_0);
        write_gguf(*m8_tied, (gguf / "tiny-tied-scaled.gguf").string(), DType::F32);
        files_written += 5;
        put(gguf, "vocab-llama.gguf", gguf_llama_vocab());
        put(gguf, "vocab-gpt2.gguf", gguf_gpt2_vocab());
        // the model with each vocabulary in its metadata (copied by the converter's own function)
        for (const char* kind : {"llama", "gpt2"}) {
            const GgufFile vocab((gguf / (std::string("vocab-") + kind + ".gguf")).string());
            write_gguf(*m8, (gguf / (std::string("tiny-f32-vocab-") + kind + ".gguf")).string(), DType::F32,
                       gguf_tokenizer_metadata(vocab));
            ++files_written;
        }

        // safetensors: F32, F16, BF16 of the model the harness's config.json describes.
        for (auto [dtype, name] : {std::pair{DType::F32, "f32"}, {DType::F16, "f16"}, {DType::BF16, "bf16"}}) {
            write_hf(*m8, (tmp / name).string(), dtype);
            put(out / "safetensors", std::string("tiny-") + name + ".safetensors",
                slurp(tmp / name / "model.safetensors"));
        }

        // config.json / params.json: the tiny model's, a tied 3.1-scaled config.json, and the fixtures'.
        put(out / "config", "tiny-config.json", fuzz::tiny_hf_config_json());
        put(out / "config", "tiny-params.json", fuzz::tiny_params_json());
        put(out / "config", "tied-scaled-config.json", hf_config_json(tied_cfg, DType::BF16).dump(2));

        // .pth: the model with a separate output matrix, and tied (no output.weight).
        fuzz::write_tiny_pth(tmp / "a.pth", *m8);
        put(out / "pth", "tiny.pth", slurp(tmp / "a.pth"));
        ModelConfig tied8 = fuzz::tiny_config(8);
        tied8.tied_embeddings = true;
        fuzz::write_tiny_pth(tmp / "b.pth", *fuzz::tiny_model(tied8));
        put(out / "pth", "tiny-tied.pth", slurp(tmp / "b.pth"));

        // llama2.c: versions 0, 1, 2 (group size 8) and a tied version 0.
        ModelConfig l2c_tied = fuzz::tiny_config(8);
        l2c_tied.tied_embeddings = true;
        const auto m8_l2c_tied = fuzz::tiny_model(l2c_tied);
        for (int version : {0, 1, 2}) {
            write_llama2c(*m8, (tmp / "m.bin").string(), version);
            put(out / "llama2c", "tiny-v" + std::to_string(version) + ".bin", slurp(tmp / "m.bin"));
        }
        write_llama2c(*m8_l2c_tied, (tmp / "m.bin").string(), 0);
        put(out / "llama2c", "tiny-tied-v0.bin", slurp(tmp / "m.bin"));

        // Tokenizers.
        put(out / "llama2c_tokenizer", "tok16.bin", llama2c_tokenizer(16));
        put(out / "llama2c_tokenizer", "tok100.bin", llama2c_tokenizer(100));
        put(out / "sentencepiece", "byte-fallback.model", sentencepiece_model(true));
        put(out / "sentencepiece", "no-byte-fallback.model", sentencepiece_model(false));
        put(out / "tokenizer_json", "sentencepiece-legacy.json", tokenizer_json_sentencepiece(true));
        put(out / "tokenizer_json", "sentencepiece-metaspace.json", tokenizer_json_sentencepiece(false));
        put(out / "tokenizer_json", "bpe-string-merges.json", tokenizer_json_bpe(false));
        put(out / "tokenizer_json", "bpe-pair-merges.json", tokenizer_json_bpe(true));
        put(out / "tiktoken", "tiny.tiktoken", tiktoken_model());
        // llamaref serve's request bodies (examples/cli/serve_api.hpp)
        put(out / "serve_api", "completion.json",
            R"({"prompt": "Once upon a time", "max_tokens": 16, "temperature": 0.8, "top_k": 40, "top_p": 0.95,)"
            R"( "min_p": 0.05, "seed": 7, "stop": ["."], "logprobs": 5, "echo": true, "stream": true})");
        put(out / "serve_api", "prompts.json", R"({"prompt": ["a", [1, 2, 3], ""], "n": 1, "repeat_penalty": 1.1})");
        put(out / "serve_api", "chat.json",
            R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": )"
            R"("text", "text": "hi"}]}], "logprobs": true, "top_logprobs": 3, "stream_options": {"include_usage": true}})");
        put(out / "serve_api", "tokens.json", R"({"content": "hello", "add_special": true, "tokens": [1, 2]})");

        // An engine's /v1/completions answers as `llamaref check` reads them (examples/cli/check_api.hpp).
        put(out / "check_answer", "legacy.json",
            R"({"choices": [{"text": " a", "token_ids": [5], "prompt_token_ids": [1, 3], "logprobs": {"tokens": )"
            R"(["<s>", " b", " a"], "token_logprobs": [null, -0.5, -0.1], "top_logprobs": [null, {" b": -0.5}, )"
            R"({" a": -0.1, " c": -2.5}], "token_ids": [1, 3, 5], "top_token_ids": [null, [3], [5, 7]], )"
            R"("top_token_logprobs": [null, [-0.5], [-0.1, -2.5]]}}]})");
        put(out / "check_answer", "vllm.json",
            R"({"choices": [{"logprobs": {"tokens": ["token_id:5"], "token_logprobs": [-0.2], )"
            R"("top_logprobs": [{"token_id:5": -0.2, "token_id:9": -1.9}]}}]})");
        put(out / "check_answer", "chat-style.json",
            R"({"choices": [{"logprobs": {"content": [{"id": 5, "token": " a", "logprob": -0.2, "top_logprobs": )"
            R"([{"id": 5, "token": " a", "logprob": -0.2}, {"id": 9, "token": " b", "logprob": -1.9}]}]}}]})");

        // Small real files from the shared test data, when it is there.
        if (argc == 3 && fs::is_directory(argv[2])) {
            const fs::path shared = argv[2];
            for (const char* fixture :
                 {"llama1-mha", "llama2-gqa", "llama31-scaled", "mistral-swa", "gemma-2b-like", "gemma2-like"}) {
                copy_if_small(shared / "oracle" / fixture / "hf" / "config.json", out / "config",
                              std::string(fixture) + "-config.json");
                copy_if_small(shared / "oracle" / fixture / "meta" / "params.json", out / "config",
                              std::string(fixture) + "-params.json");
                copy_if_small(shared / "oracle" / fixture / "llama2c" / "tokenizer.bin", out / "llama2c_tokenizer",
                              std::string(fixture) + "-tokenizer.bin");
            }
            for (const char* p : {"llama3-8b.params.json", "llama3-70b.params.json"})
                copy_if_small(shared / "params" / p, out / "config", p);
            copy_if_small(shared / "models" / "stories260K" / "tok512.bin", out / "llama2c_tokenizer", "tok512.bin");
        }
        fs::remove_all(tmp);
        std::printf("make_corpus: %d seed files in %s\n", files_written, out.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make_corpus: %s\n", e.what());
        return 1;
    }
    return 0;
}
