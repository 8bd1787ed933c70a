// llamaref/tokenizer/sentencepiece_json.hpp — a Hugging Face tokenizer.json of the SentencePiece
// kind (Llama 1 / 2 and other byte-fallback BPE vocabularies) -> SentencePieceTokenizer.
//
// The format is that of Hugging Face's `tokenizers` library as transformers' LlamaConverter
// (convert_slow_tokenizer.py) writes it from a SentencePiece tokenizer.model:
//   model          {"type": "BPE", "byte_fallback": true, "fuse_unk": true, "unk_token": "<unk>",
//                   "vocab": {piece: id}, "merges": ["left right", ...] or [["left", "right"], ...]}
//                  pieces are SentencePiece's ("▁" for a space, "<0x0A>" for byte 0x0A);
//   added_tokens   [{"id": 0, "content": "<unk>", "special": true, ...}, <s>, </s>];
//   normalizer     Sequence[Prepend("▁"), Replace(" ", "▁")] and pre_tokenizer null, or (newer,
//                  "legacy": false files) normalizer null and pre_tokenizer Metaspace("▁",
//                  prepend_scheme, split: false);
//   decoder        Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1 left)].
//
// How HF encodes such a file: normalize, split into characters (a character not in the vocab
// becomes its <0xNN> byte tokens at once), then repeatedly merge the adjacent pair with the
// lowest rank in "merges" (leftmost on ties). SentencePiece instead merges the pair whose
// concatenation is the piece with the highest score. The converter lists, for every piece, every
// split into two vocabulary pieces, with the pieces in score order, so the merges of one piece
// are consecutive in the list. A piece's score here is therefore minus the rank of the first merge
// that produces it: the engine then picks the same piece HF picks (one piece beats another
// exactly when its merges come first). The reader checks that each piece's merges are consecutive
// and refuses a file where they are not (no single score per piece could reproduce it).
// Within one piece HF prefers the split listed first and SentencePiece the leftmost position;
// on Llama 2 no text where that matters was found (tests/test_tokenizer_sentencepiece_json.cpp).
//
// Piece types: the model's unk_token is unknown, special added tokens (<s>, </s>) are control,
// "<0xNN>" are bytes, non-special added tokens user-defined, the rest normal. Not reproduced:
// HF's parsing of special-token text in the input ("<s>" typed by a user is id 1 in HF, plain
// text here, as in SentencePiece) and HF's decoder spelling of specials (decode follows
// SentencePiece's DecodeIds: <s> and </s> invisible, <unk> " ⁇ ").
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/json.hpp"
#include "../core/mmap.hpp"
#include "json_ids.hpp"
#include "read_guard.hpp"
#include "sentencepiece.hpp"

namespace llamaref {

namespace detail {

// Does a tokenizer.json say `"byte_fallback": true` (the SentencePiece kind)? A text scan, so that
// load_tokenizer_file can choose the reader without parsing the JSON twice.
inline bool tokenizer_json_byte_fallback(const std::string& path) {
    MappedFile file(path);
    const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
    constexpr std::string_view key = "\"byte_fallback\"";
    for (std::size_t at = text.find(key); at != std::string_view::npos; at = text.find(key, at + 1)) {
        std::size_t i = at + key.size();
        auto skip_space = [&] {
            while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
        };
        skip_space();
        if (i >= text.size() || text[i] != ':') continue;
        ++i;
        skip_space();
        if (text.substr(i, 4) == "true") return true;
    }
    return false;
}

inline bool is_byte_piece(std::string_view p) {  // "<0xNN>", N upper-case hex as SentencePiece writes it
    auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
    return p.size() == 6 && p.starts_with("<0x") && hex(p[3]) && hex(p[4]) && p[5] == '>';
}

}  // namespace detail

// Hugging Face tokenizer.json of the SentencePiece kind (byte-fallback BPE).
inline SentencePieceTokenizer read_tokenizer_json_sentencepiece(const std::string& path) {
    return read_guard(path, [&] {
        const nlohmann::json j = read_json_file(path);
        static constexpr std::string_view kSpace = SentencePieceTokenizer::kSpace;
        try {
            if (!j.is_object() || !j.contains("model"))
                fail(path, ": expected a tokenizer.json object with a \"model\"");
            const auto& model = j.at("model");
            const std::string type = model.value("type", std::string("(none)"));
            if (type != "BPE")
                fail(path, ": model.type is '", excerpt(type, 40),
                     "'; expected 'BPE' (a SentencePiece BPE tokenizer.json)");
            if (!model.value("byte_fallback", false))
                fail(path, ": model.byte_fallback is not true; expected the SentencePiece kind (byte-fallback BPE)");
            if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() > 0)
                fail(path, ": model.dropout is ", detail::json_brief(model["dropout"]),
                     "; expected null (BPE-dropout is random)");
            for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"})
                if (model.contains(affix) && !model[affix].is_null() && !model[affix].get<std::string>().empty())
                    fail(path, ": model.", affix, " is ", detail::json_brief(model[affix]), "; expected null");
            if (model.value("ignore_merges", false))
                fail(path, ": model.ignore_merges is true; expected false (SentencePiece BPE always merges)");
            if (!model.contains("vocab") || !model["vocab"].is_object())
                fail(path, ": model.vocab is missing; expected an object {piece: id}");

            // Pieces by id, then the added tokens beyond the model's vocabulary.
            SentencePieceVocab v;
            const auto& vocab = model["vocab"];
            v.pieces.resize(vocab.size());
            std::vector<bool> seen(vocab.size());
            std::unordered_map<std::string, int> ids;
            for (auto it = vocab.begin(); it != vocab.end(); ++it) {
                const int id = detail::json_token_id(it.value(), vocab.size(),
                                                     path + ": model.vocab['" + excerpt(it.key(), 40) + "']");
                if (seen[id])
                    fail(path, ": model.vocab: id ", id, " of '", excerpt(it.key(), 40),
                         "' is repeated; expected the ids 0..", vocab.size() - 1, " once each");
                seen[id] = true;
                v.pieces[id] = it.key();
                ids.emplace(it.key(), id);
            }
            v.types.assign(v.pieces.size(), PieceType::normal);
            for (std::size_t i = 0; i < v.pieces.size(); ++i)
                if (detail::is_byte_piece(v.pieces[i])) v.types[i] = PieceType::byte;
            v.bos_id = v.eos_id = -1;
            for (const auto& t : j.value("added_tokens", nlohmann::json::array())) {
                const int id = detail::json_token_id(t.at("id"), uint64_t(INT32_MAX), path + ": added token id");
                const std::string content = t.at("content").get<std::string>();
                const PieceType kind = t.value("special", false) ? PieceType::control : PieceType::user_defined;
                if (id == int(v.pieces.size())) {  // a token beyond model.vocab
                    v.pieces.push_back(content);
                    v.types.push_back(kind);
                    ids.emplace(content, id);
                } else if (id > int(v.pieces.size()) || v.pieces[id] != content) {
                    fail(path, ": added token '", excerpt(content, 40), "' has id ", id,
                         "; expected its id in model.vocab or the next id ", v.pieces.size());
                } else {
                    v.types[id] = kind;
                }
                if (content == "<s>") v.bos_id = id;
                if (content == "</s>") v.eos_id = id;
            }
            const std::string unk = model.value("unk_token", std::string());
            if (!ids.count(unk))
                fail(path, ": model.unk_token '", excerpt(unk, 40),
                     "' is not in the vocabulary; expected e.g. \"<unk>\"");
            v.unk_id = ids[unk];
            v.types[v.unk_id] = PieceType::unknown;
            if (v.bos_id < 0 || v.eos_id < 0)
                fail(path, ": expected added tokens \"<s>\" and \"</s>\" (BOS, EOS); found ",
                     v.bos_id < 0 ? "no <s>" : "no </s>");

            // Scores from the merges: minus the rank of a piece's first merge; the merges of one piece consecutive.
            if (!model.contains("merges") || !model["merges"].is_array())
                fail(path, ": model.merges is missing; expected a list of \"left right\" merges");
            const auto& merges = model["merges"];
            const float never = -float(merges.size()) - 1;  // pieces no merge makes (characters, bytes, specials)
            v.scores.assign(v.pieces.size(), never);
            std::vector<bool> done(v.pieces.size());  // pieces whose run of merges has ended
            int current = -1;
            for (std::size_t rank = 0; rank < merges.size(); ++rank) {
                const auto& m = merges[rank];
                std::string a, b;
                if (m.is_string()) {
                    const std::string s = m.get<std::string>();
                    const std::size_t sp = s.find(' ');
                    if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
                        fail(path, ": model.merges[", rank, "] is '", excerpt(s, 60),
                             "'; expected two tokens separated by one space");
                    a = s.substr(0, sp), b = s.substr(sp + 1);
                } else if (m.is_array() && m.size() == 2) {
                    a = m[0].get<std::string>(), b = m[1].get<std::string>();
                } else {
                    fail(path, ": model.merges[", rank, "] is ", detail::json_brief(m),
                         "; expected \"left right\" or [\"left\", \"right\"]");
                }
                for (const std::string& part : {a, b})
                    if (!ids.count(part))
                        fail(path, ": model.merges[", rank, "] '", excerpt(a + " " + b, 60), "' names the token '",
                             excerpt(part, 40), "', which is not in model.vocab");
                if (!ids.count(a + b))
                    fail(path, ": model.merges[", rank, "] '", excerpt(a + " " + b, 60), "' makes '",
                         excerpt(a + b, 40), "', which is not in model.vocab");
                const int id = ids[a + b];
                if (v.types[id] != PieceType::normal) continue;  // specials and bytes are never merged into
                if (id == current) continue;
                if (current >= 0) done[current] = true;
                if (done[id])
                    fail(path, ": model.merges[", rank, "] '", excerpt(a + " " + b, 60), "' makes '",
                         excerpt(v.pieces[id], 40),
                         "' again after merges of "
                         "other pieces; expected the merges of each piece to be consecutive (as the SentencePiece "
                         "converter writes them), since llamaref gives each piece one priority");
                v.scores[id] = -float(rank);
                current = id;
            }

            // Normalization: Prepend("▁") + Replace(" ", "▁"), or Metaspace without splitting.
            bool prefix = false, escape = false;
            auto normalizer = [&](const nlohmann::json& n) {
                const std::string t = n.value("type", std::string());
                if (t == "Prepend" && n.value("prepend", std::string()) == kSpace)
                    prefix = true;
                else if (t == "Replace" && n.at("pattern").value("String", std::string()) == " " &&
                         n.value("content", std::string()) == kSpace)
                    escape = true;
                else
                    fail(path, ": normalizer of type '", excerpt(t, 40),
                         "' is not one llamaref implements; expected "
                         "Prepend(\"▁\") and Replace(\" \", \"▁\") (SentencePiece's Llama normalization)");
            };
            const nlohmann::json none;
            const auto& norm = j.contains("normalizer") ? j["normalizer"] : none;
            if (norm.is_object() && norm.value("type", std::string()) == "Sequence")
                for (const auto& n : norm.at("normalizers")) normalizer(n);
            else if (!norm.is_null())
                normalizer(norm);
            const auto& pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : none;
            if (!pre.is_null()) {
                if (!pre.is_object() || pre.value("type", std::string()) != "Metaspace" ||
                    pre.value("replacement", std::string(kSpace)) != kSpace)
                    fail(path, ": pre_tokenizer ",
                         pre.is_object() ? "of type '" + excerpt(pre.value("type", std::string()), 40) + "'"
                                         : detail::json_brief(pre),
                         " is not one llamaref implements; expected null or Metaspace(\"▁\", split: false)");
                if (pre.value("split", true))
                    fail(path,
                         ": pre_tokenizer Metaspace splits the text at spaces before BPE; expected \"split\": false "
                         "(SentencePiece merges across spaces)");
                const std::string scheme =
                    pre.value("prepend_scheme", pre.value("add_prefix_space", true) ? "always" : "never");
                prefix = prefix || scheme != "never";  // "first": only the first section, and the text is one section
                escape = true;
            }
            if (!escape) fail(path, ": no normalizer replaces ' ' by '▁'; expected Replace(\" \", \"▁\") or Metaspace");
            v.add_dummy_prefix = prefix;
            v.remove_extra_whitespaces = false;
            v.escape_whitespaces = true;
            v.treat_whitespace_as_suffix = false;
            v.byte_fallback = true;
            v.pad_id = -1;
            return SentencePieceTokenizer(std::move(v));  // its errors get the file name from read_guard
        } catch (const nlohmann::json::exception& e) {
            fail(path, ": unexpected tokenizer.json layout: ", excerpt(e.what(), 300));
        }
    });
}

}  // namespace llamaref
