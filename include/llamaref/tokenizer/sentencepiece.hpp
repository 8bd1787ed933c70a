// llamaref/tokenizer/sentencepiece.hpp — the LLaMA 1 / Llama 2 tokenizer (SentencePiece BPE).
//
// Kudo & Richardson 2018, "SentencePiece"; LLaMA paper §2.1 "Tokenizer": BPE over Unicode
// characters with byte fallback — characters outside the vocabulary become the byte pieces
// <0x00>..<0xFF> (ids 3..258 in Llama's vocabulary).
//
// Encoding:
//   1. prepend one space (SentencePiece's add_dummy_prefix) and start with one piece per UTF-8
//      character; a character that is not in the vocabulary becomes its bytes' <0xNN> pieces;
//   2. repeatedly merge the adjacent pair whose concatenation is in the vocabulary with the
//      highest score (the leftmost such pair on ties), until no pair merges.
// Decoding maps ids back to piece text; byte pieces become the raw byte; the space that
// follows BOS (the dummy prefix) is dropped.
//
// Vocabulary file read here: llama2.c's tokenizer.bin —
//   int32 max_token_length, then per id: float32 score, int32 length, `length` bytes of text.
// (In that file SentencePiece's "▁" is already written as a plain space.)
#pragma once

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "../formats/mmap.hpp"

namespace llamaref {

class SentencePieceTokenizer {
  public:
    int bos_id = 1;
    int eos_id = 2;

    SentencePieceTokenizer(std::vector<std::string> pieces, std::vector<float> scores)
        : pieces_(std::move(pieces)), scores_(std::move(scores)) {
        for (int i = 0; i < int(pieces_.size()); ++i) ids_.emplace(pieces_[i], i);  // first id wins
        for (int b = 0; b < 256; ++b) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            auto it = ids_.find(name);
            byte_ids_[b] = it == ids_.end() ? -1 : it->second;
        }
    }

    // llama2.c tokenizer.bin; vocab_size must match the model's.
    static SentencePieceTokenizer from_llama2c(const std::string& path, int vocab_size) {
        MappedFile file(path);
        ByteReader in(file);
        const int32_t max_len = in.read<int32_t>("max_token_length");
        if (max_len <= 0) fail(path, ": max_token_length ", max_len, " is not positive (not a llama2.c tokenizer?)");
        std::vector<std::string> pieces(vocab_size);
        std::vector<float> scores(vocab_size);
        for (int i = 0; i < vocab_size; ++i) {
            scores[i] = in.read<float>("token score");
            const int32_t len = in.read<int32_t>("token length");
            if (len < 0 || len > max_len)
                fail(path, ": token ", i, " has length ", len, " (max_token_length is ", max_len, ")");
            pieces[i] = in.read_string(len, "token text");
        }
        if (in.remaining() != 0)
            fail(path, ": ", in.remaining(), " bytes after ", vocab_size, " tokens: the tokenizer does not match a ",
                 vocab_size, "-token model");
        return SentencePieceTokenizer(std::move(pieces), std::move(scores));
    }

    int vocab_size() const { return int(pieces_.size()); }
    const std::string& piece(int id) const { return pieces_.at(id); }

    // Bytes that token `id` adds to the text when it follows token `prev`.
    std::string decode(int prev, int id) const {
        if (id < 0 || id >= vocab_size()) fail("tokenizer: id ", id, " is out of range [0, ", vocab_size(), ")");
        std::string_view p = pieces_[id];
        if (prev == bos_id && !p.empty() && p[0] == ' ') p.remove_prefix(1);
        unsigned byte;
        if (p.size() == 6 && std::sscanf(std::string(p).c_str(), "<0x%02X>", &byte) == 1)
            return std::string(1, char(byte));
        return std::string(p);
    }

    std::string decode(const std::vector<int>& ids, int prev = -1) const {
        std::string out;
        for (int id : ids) {
            out += decode(prev, id);
            prev = id;
        }
        return out;
    }

    std::vector<int> encode(std::string_view text, bool bos, bool eos) const {
        std::vector<int> ids;
        if (bos) ids.push_back(bos_id);
        if (!text.empty()) {
            std::vector<int> sym;  // current pieces
            const std::string s = " " + std::string(text);
            for (std::size_t i = 0; i < s.size();) {
                std::size_t n = utf8_length(static_cast<unsigned char>(s[i]));
                if (i + n > s.size()) n = 1;
                auto it = ids_.find(s.substr(i, n));
                if (it != ids_.end()) {
                    sym.push_back(it->second);
                } else {
                    for (std::size_t k = 0; k < n; ++k) {
                        const int b = byte_ids_[static_cast<unsigned char>(s[i + k])];
                        if (b < 0) fail("tokenizer: vocabulary has no byte piece for 0x", std::hex, int((unsigned char)s[i + k]));
                        sym.push_back(b);
                    }
                }
                i += n;
            }
            while (true) {  // merge the best-scoring pair, leftmost on ties
                float best = -1e30f;
                int best_id = -1, best_at = -1;
                for (std::size_t i = 0; i + 1 < sym.size(); ++i) {
                    auto it = ids_.find(pieces_[sym[i]] + pieces_[sym[i + 1]]);
                    if (it != ids_.end() && scores_[it->second] > best) {
                        best = scores_[it->second];
                        best_id = it->second;
                        best_at = int(i);
                    }
                }
                if (best_at < 0) break;
                sym[best_at] = best_id;
                sym.erase(sym.begin() + best_at + 1);
            }
            ids.insert(ids.end(), sym.begin(), sym.end());
        }
        if (eos) ids.push_back(eos_id);
        return ids;
    }

  private:
    static std::size_t utf8_length(unsigned char c) {
        if (c < 0x80) return 1;
        if ((c & 0xE0) == 0xC0) return 2;
        if ((c & 0xF0) == 0xE0) return 3;
        if ((c & 0xF8) == 0xF0) return 4;
        return 1;
    }

    std::vector<std::string> pieces_;
    std::vector<float> scores_;
    std::unordered_map<std::string, int> ids_;
    int byte_ids_[256];
};

}  // namespace llamaref
