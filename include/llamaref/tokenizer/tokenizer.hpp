// llamaref/tokenizer/tokenizer.hpp — one Tokenizer for every Llama, chosen from the files.
//
// load_tokenizer(path) accepts a tokenizer file or a model (file or folder) and picks the
// tokenizer next to it, by content rather than by name:
//   SentencePiece tokenizer.model  protobuf (first byte 0x0A: field 1 "pieces", length-delimited)
//   Meta's Llama 3 tokenizer.model  text lines "<base64> <rank>"
//   Hugging Face tokenizer.json     JSON; "byte_fallback": true is the SentencePiece kind (Llama 1/2,
//                                   sentencepiece_json.hpp), otherwise byte-level BPE (Llama 3)
//   llama2.c tokenizer.bin          int32 max_token_length, then (score, length, bytes) records
//   GGUF file                       "GGUF": the vocabulary in its metadata (gguf_vocab.hpp)
// Beside a model it looks for tokenizer.model, tokenizer.json, tokenizer.bin, then tok<V>.bin; a
// .gguf model carries its own. The Tokenizer type itself is in any_tokenizer.hpp.
#pragma once

#include <climits>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "../core/error.hpp"
#include "../core/mmap.hpp"
#include "any_tokenizer.hpp"
#include "gguf_vocab.hpp"
#include "read_guard.hpp"
#include "sentencepiece_json.hpp"
#include "tiktoken_files.hpp"

namespace llamaref {

namespace detail {

// Counts the records of a llama2.c tokenizer.bin, or returns -1 if the file is not one.
inline int llama2c_tokenizer_size(const std::string& path) {
    MappedFile file(path);
    ByteReader in(file);
    if (in.remaining() < 4) return -1;
    const int32_t max_len = in.read<int32_t>("max_token_length");
    if (max_len <= 0 || max_len > 1 << 16) return -1;
    int n = 0;
    while (in.remaining() > 0) {
        if (in.remaining() < 8 || n == INT_MAX) return -1;
        in.read<float>("score");
        const int32_t len = in.read<int32_t>("length");
        if (len < 0 || len > max_len || std::size_t(len) > in.remaining()) return -1;
        in.take(std::size_t(len), "text");
        ++n;
    }
    return n;
}

inline std::string file_head(const std::string& path, std::size_t n) {
    MappedFile file(path);
    return std::string(reinterpret_cast<const char*>(file.data()), std::min(n, file.size()));
}

}  // namespace detail

// A tokenizer file, recognised by its content. Whatever the file holds, only a llamaref::Error
// naming it leaves (read_guard).
inline Tokenizer load_tokenizer_file(const std::string& path) {
    return read_guard(path, [&] {
        const std::string head = detail::file_head(path, 256);
        if (head.empty()) fail(path, ": empty file, not a tokenizer");
        if (head.starts_with("GGUF")) return tokenizer_from_gguf(GgufFile(path));
        std::size_t first = head.find_first_not_of(" \t\r\n");
        if (first != std::string::npos && head[first] == '{') {
            if (detail::tokenizer_json_byte_fallback(path)) return Tokenizer(read_tokenizer_json_sentencepiece(path));
            return Tokenizer(read_tokenizer_json_bpe(path));
        }
        // "<base64> <digits>\n": Meta's tiktoken file
        const std::size_t sp = head.find(' ');
        if (sp != std::string::npos && sp > 0 &&
            head.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == sp &&
            sp + 1 < head.size() && head[sp + 1] >= '0' && head[sp + 1] <= '9')
            return Tokenizer(read_tiktoken_model(path));
        if (static_cast<unsigned char>(head[0]) == 0x0A)
            return Tokenizer(SentencePieceTokenizer::from_model_file(path));
        if (const int n = detail::llama2c_tokenizer_size(path); n > 0)
            return Tokenizer(SentencePieceTokenizer::from_llama2c(path, n));
        fail(path,
             ": not a tokenizer llamaref knows (SentencePiece tokenizer.model, Meta's Llama 3 tokenizer.model, "
             "Hugging Face tokenizer.json, llama2.c tokenizer.bin, a GGUF file with a vocabulary)");
    });
}

// The tokenizer file beside a model (a model file or a folder), or nullopt.
inline std::optional<std::string> find_tokenizer_beside(const std::string& model, int vocab_size = -1) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::is_directory(model) ? fs::path(model) : fs::path(model).parent_path();
    std::vector<std::string> names = {"tokenizer.model", "tokenizer.json", "tokenizer.bin"};
    if (vocab_size > 0) names.push_back("tok" + std::to_string(vocab_size) + ".bin");
    for (const auto& name : names)
        if (fs::is_regular_file(dir / name)) return (dir / name).string();
    if (vocab_size <= 0 && fs::is_directory(dir))  // llama2.c's custom vocabularies: tok<V>.bin
        for (const auto& e : fs::directory_iterator(dir)) {
            const std::string n = e.path().filename().string();
            if (e.is_regular_file() && n.starts_with("tok") && n.ends_with(".bin")) return e.path().string();
        }
    return std::nullopt;
}

// A tokenizer file, or the tokenizer beside a model file or inside a model folder.
inline Tokenizer load_tokenizer(const std::string& path, int vocab_size = -1) {
    return read_guard(path, [&] {
        namespace fs = std::filesystem;
        if (!fs::exists(path)) fail(path, ": no such file or folder");
        if (!fs::is_directory(path)) {
            const std::string name = fs::path(path).filename().string();
            const bool tokenizer_name = name.find("tok") != std::string::npos;
            if (tokenizer_name || name.ends_with(".gguf") ||
                !(name.ends_with(".bin") || name.ends_with(".safetensors")))
                return load_tokenizer_file(path);  // (a .gguf model: the vocabulary inside it)
        }
        if (auto found = find_tokenizer_beside(path, vocab_size)) return load_tokenizer_file(*found);
        fail("no tokenizer beside ", path, " (looked for tokenizer.model, tokenizer.json, tokenizer.bin",
             vocab_size > 0 ? ", tok" + std::to_string(vocab_size) + ".bin" : ", tok*.bin", ")");
    });
}

}  // namespace llamaref
