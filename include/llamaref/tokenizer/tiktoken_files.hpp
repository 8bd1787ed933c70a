// llamaref/tokenizer/tiktoken_files.hpp — Llama 3's tokenizer files -> TiktokenTokenizer.
//
// * Meta's tokenizer.model (tiktoken's .tiktoken format, tiktoken/load.py load_tiktoken_bpe):
//   one line per token, "<base64 of the token's bytes> <rank>", 128000 lines for Llama 3.
//   The special tokens are not in the file: Meta's tokenizer.py appends 256 of them after the
//   ranks, with names that changed between Llama 3 (meta-llama/llama3) and Llama 3.1
//   (meta-llama/llama-models): llama3_special_tokens() below.
// * Hugging Face tokenizer.json, byte-level BPE (the `tokenizers` library's format): model.vocab
//   maps each token, written with GPT-2's bytes_to_unicode alphabet (each byte one printable
//   character), to its id; model.merges lists the merges in priority order ("a b" or ["a", "b"]);
//   added_tokens are the special tokens; the pre_tokenizer's Split pattern is the regex.
//   model.ignore_merges = true is the whole-word-in-vocabulary shortcut (tiktoken's rule).
#pragma once

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/json.hpp"
#include "../core/mmap.hpp"
#include "../core/utf8.hpp"
#include "json_ids.hpp"
#include "read_guard.hpp"
#include "tiktoken.hpp"

namespace llamaref {

enum class Llama3Names {
    v3_0,
    v3_1
};  // 3.1 names ids 128004/5/8/10 finetune_right_pad_id, step_id, eom_id, python_tag

// The special tokens Meta's tokenizer.py adds after `num_base` ranks (256 of them).
inline std::vector<std::pair<std::string, int>> llama3_special_tokens(int num_base,
                                                                      Llama3Names names = Llama3Names::v3_1) {
    std::vector<std::string> named;
    if (names == Llama3Names::v3_0)
        named = {"<|begin_of_text|>",
                 "<|end_of_text|>",
                 "<|reserved_special_token_0|>",
                 "<|reserved_special_token_1|>",
                 "<|reserved_special_token_2|>",
                 "<|reserved_special_token_3|>",
                 "<|start_header_id|>",
                 "<|end_header_id|>",
                 "<|reserved_special_token_4|>",
                 "<|eot_id|>"};
    else
        named = {"<|begin_of_text|>",
                 "<|end_of_text|>",
                 "<|reserved_special_token_0|>",
                 "<|reserved_special_token_1|>",
                 "<|finetune_right_pad_id|>",
                 "<|step_id|>",
                 "<|start_header_id|>",
                 "<|end_header_id|>",
                 "<|eom_id|>",
                 "<|eot_id|>",
                 "<|python_tag|>"};
    const int first_reserved = names == Llama3Names::v3_0 ? 5 : 2;
    std::vector<std::pair<std::string, int>> out;
    for (int i = 0; i < 256; ++i) {
        const std::string text =
            i < int(named.size())
                ? named[i]
                : "<|reserved_special_token_" + std::to_string(first_reserved + i - int(named.size())) + "|>";
        out.emplace_back(text, num_base + i);
    }
    return out;
}

namespace detail {

// Standard base64 (RFC 4648 §4) with optional '=' padding; returns false on anything else.
inline bool base64_decode(std::string_view in, std::string& out) {
    out.clear();
    uint32_t acc = 0;
    int bits = 0;
    std::size_t i = 0;
    for (; i < in.size() && in[i] != '='; ++i) {
        const char c = in[i];
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else
            return false;
        acc = (acc << 6) | uint32_t(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += char((acc >> bits) & 0xFF);
        }
    }
    for (; i < in.size(); ++i)
        if (in[i] != '=') return false;
    return in.size() % 4 == 0 || in.find('=') == std::string_view::npos;
}

// GPT-2's bytes_to_unicode, inverted: the character that stands for each byte -> the byte.
inline std::vector<int> byte_level_decoder() {
    std::vector<int> to_byte(324, -1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        to_byte[printable ? b : 256 + extra++] = b;
    }
    return to_byte;
}

inline bool byte_level_to_bytes(std::string_view s, const std::vector<int>& to_byte, std::string& out) {
    out.clear();
    for (std::size_t i = 0, len; i < s.size(); i += len) {
        const char32_t c = utf8::decode(s, i, len);
        if (c == utf8::kInvalid || c >= to_byte.size() || to_byte[c] < 0) return false;
        out += char(to_byte[c]);
    }
    return !s.empty();
}

}  // namespace detail

// Meta's tokenizer.model (Llama 3 / 3.1 / 3.2 / 3.3). Ranks are 0..n-1 for n lines, so a rank is
// checked against the number of lines before it sizes anything.
inline TiktokenTokenizer read_tiktoken_model(const std::string& path, Llama3Names names = Llama3Names::v3_1) {
    return read_guard(path, [&] {
        MappedFile file(path);
        const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
        const std::size_t lines = std::size_t(std::count(text.begin(), text.end(), '\n')) + 1;  // at least the ranks
        std::vector<std::string> tokens;
        std::vector<bool> seen;
        std::string bytes;
        std::size_t line_no = 0, count = 0;
        for (std::size_t pos = 0; pos < text.size();) {
            std::size_t nl = text.find('\n', pos);
            if (nl == std::string_view::npos) nl = text.size();
            std::string_view line = text.substr(pos, nl - pos);
            pos = nl + 1;
            ++line_no;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.empty()) continue;
            const std::size_t space = line.find(' ');
            if (space == std::string_view::npos)
                fail(path, ": line ", line_no,
                     ": expected \"<base64 token> <rank>\", found no space (not a tiktoken file?)");
            const std::string_view b64 = line.substr(0, space), rank_text = line.substr(space + 1);
            if (!detail::base64_decode(b64, bytes) || bytes.empty())
                fail(path, ": line ", line_no, ": '", excerpt(b64, 40), "' is not base64 of a non-empty token");
            long rank = -1;
            std::size_t digits = 0;
            for (char c : rank_text) {
                if (c < '0' || c > '9' || ++digits > 9) {
                    rank = -1;
                    break;
                }
                rank = (rank < 0 ? 0 : rank * 10) + (c - '0');
            }
            if (rank < 0) fail(path, ": line ", line_no, ": rank '", excerpt(rank_text, 20), "' is not a number");
            if (std::size_t(rank) >= lines)
                fail(path, ": line ", line_no, ": rank ", rank, " is not below the number of lines (", lines,
                     "); expected the ranks 0..n-1 of n lines");
            if (rank >= long(tokens.size())) tokens.resize(rank + 1), seen.resize(rank + 1);
            if (seen[rank]) fail(path, ": line ", line_no, ": rank ", rank, " appears twice");
            seen[rank] = true;
            tokens[rank] = bytes;
            ++count;
        }
        if (count == 0) fail(path, ": no tokens (empty file?)");
        if (count != tokens.size())
            fail(path, ": ranks must be 0..", count - 1, " without gaps, but the largest is ", tokens.size() - 1);
        const int n = int(tokens.size());
        TiktokenTokenizer tok(std::move(tokens), llama3_special_tokens(n, names), kLlama3Pattern);
        tok.meta_chunking = true;
        return tok;
    });
}

// Hugging Face tokenizer.json of the byte-level BPE kind (Llama 3).
inline TiktokenTokenizer read_tokenizer_json_bpe(const std::string& path) {
    return read_guard(path, [&] {
        const nlohmann::json j = read_json_file(path);
        try {
            const auto& model = j.at("model");
            if (model.value("type", std::string("BPE")) != "BPE") fail(path, ": model.type is not BPE");
            if (model.value("byte_fallback", false))
                fail(path, ": a byte-fallback BPE (SentencePiece kind), not byte-level BPE (Llama 3 kind)");
            if (!model.value("ignore_merges", false))
                fail(path,
                     ": model.ignore_merges is false; llamaref implements the Llama 3 rule (a word in the "
                     "vocabulary is one token)");
            // The pattern: pre_tokenizer Split(Regex), alone or inside a Sequence; and it must be byte-level.
            std::string pattern;
            bool byte_level = false;
            auto visit = [&](const nlohmann::json& p) {
                if (p.is_null()) return;
                const std::string type = p.value("type", std::string());
                if (type == "Split" && p.contains("pattern") && p["pattern"].contains("Regex"))
                    pattern = p["pattern"]["Regex"].get<std::string>();
                if (type == "ByteLevel") byte_level = true;
            };
            const auto& pre = j.at("pre_tokenizer");
            if (pre.is_object() && pre.value("type", std::string()) == "Sequence")
                for (const auto& p : pre.at("pretokenizers")) visit(p);
            else
                visit(pre);
            if (!byte_level || pattern.empty())
                fail(path, ": pre_tokenizer is not a Split(Regex) + ByteLevel sequence (not a Llama 3 tokenizer.json)");

            const auto to_byte = detail::byte_level_decoder();
            const auto& vocab = model.at("vocab");
            std::vector<std::string> tokens(vocab.size());
            std::vector<bool> seen(vocab.size());
            std::unordered_map<std::string, int> ids;
            std::string bytes;
            for (auto it = vocab.begin(); it != vocab.end(); ++it) {
                const int id = detail::json_token_id(it.value(), vocab.size(),
                                                     path + ": model.vocab['" + excerpt(it.key(), 40) + "']");
                if (seen[id]) fail(path, ": vocab id ", id, " of '", excerpt(it.key(), 40), "' is repeated");
                if (!detail::byte_level_to_bytes(it.key(), to_byte, bytes))
                    fail(path, ": vocab entry '", excerpt(it.key(), 40), "' is not in the byte-level alphabet");
                seen[id] = true;
                tokens[id] = bytes;
                ids.emplace(it.key(), id);
            }
            std::vector<std::pair<int, int>> merges;
            merges.reserve(model.at("merges").size());
            for (const auto& m : model.at("merges")) {
                std::string a, b;
                if (m.is_string()) {
                    const std::string s = m.get<std::string>();
                    const auto sp = s.find(' ');
                    if (sp == std::string::npos)
                        fail(path, ": merge '", excerpt(s, 60), "' is not two tokens separated by a space");
                    a = s.substr(0, sp), b = s.substr(sp + 1);
                } else {
                    a = m.at(0).get<std::string>(), b = m.at(1).get<std::string>();
                }
                auto ia = ids.find(a), ib = ids.find(b);
                if (ia == ids.end() || ib == ids.end())
                    fail(path, ": merge '", excerpt(a + " " + b, 60), "' uses a token not in the vocab");
                merges.emplace_back(ia->second, ib->second);
            }
            std::vector<std::pair<std::string, int>> specials;
            const auto& added = j.at("added_tokens");
            for (const auto& t : added) {
                const int id =
                    detail::json_token_id(t.at("id"), tokens.size() + added.size(), path + ": added token id");
                if (id >= int(tokens.size())) specials.emplace_back(t.at("content").get<std::string>(), id);
            }
            TiktokenTokenizer tok(std::move(tokens), std::move(specials), pattern, std::move(merges));
            tok.meta_chunking = false;
            return tok;
        } catch (const nlohmann::json::exception& e) {
            fail(path, ": unexpected tokenizer.json layout: ", excerpt(e.what(), 300));
        }
    });
}

}  // namespace llamaref
