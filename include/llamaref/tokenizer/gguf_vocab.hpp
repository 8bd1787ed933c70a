// llamaref/tokenizer/gguf_vocab.hpp — the tokenizer a GGUF file carries in its metadata.
//
// GGUF (ggml docs/gguf.md, "Tokenizer") stores the vocabulary as tokenizer.ggml.* keys:
//   model        "llama": SentencePiece BPE (LLaMA 1/2)    "gpt2": byte-level BPE (Llama 3)
//   tokens       [V] piece text (SentencePiece "▁" form, or GPT-2's byte-to-unicode alphabet)
//   scores       [V] SentencePiece merge scores            merges  ["a b", ...] byte-level merges
//   token_type   [V] 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
//   bos_token_id / eos_token_id / unknown_token_id, add_space_prefix (SentencePiece dummy prefix)
//   pre          the pre-tokenizer: "llama-bpe" is Meta's Llama 3 pattern
// They are turned into the same SentencePieceVocab / TiktokenTokenizer that the tokenizer.model
// readers produce, so the encoders are the ones tested against the reference libraries.
// gguf_vocab_metadata writes a SentencePiece vocabulary back as these keys (llamaref convert -z),
// as llama.cpp's converters write it.
#pragma once

#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "../formats/gguf.hpp"
#include "../formats/write_gguf.hpp"
#include "any_tokenizer.hpp"
#include "read_guard.hpp"
#include "tiktoken_files.hpp"

namespace llamaref {

inline Tokenizer tokenizer_from_gguf(const GgufFile& g) {
    const std::string& path = g.path();
    return read_guard(path, [&] {
        if (!g.has("tokenizer.ggml.model"))
            fail(path, ": the GGUF file has no tokenizer (no tokenizer.ggml.model key)");
        const std::string model = g.get_string("tokenizer.ggml.model");
        if (model == "none") fail(path, ": the GGUF file has no tokenizer (tokenizer.ggml.model is \"none\")");
        const auto tokens = g.string_array("tokenizer.ggml.tokens");
        std::vector<int64_t> types = g.has("tokenizer.ggml.token_type") ? g.int_array("tokenizer.ggml.token_type")
                                                                        : std::vector<int64_t>(tokens.size(), 1);
        if (types.size() != tokens.size())
            fail(path, ": ", tokens.size(), " tokens but ", types.size(), " token types");
        for (std::size_t i = 0; i < types.size(); ++i)
            if (types[i] < 1 || types[i] > 6) fail(path, ": token ", i, " has unknown token type ", types[i]);
        auto id_key = [&](const char* key, int fallback) {
            const int64_t id = g.has(key) ? g.get_int(key) : fallback;
            if (id < -1 || id >= int64_t(tokens.size())) fail(path, ": ", key, " = ", id, " is outside the vocabulary");
            return int(id);
        };

        if (model == "llama") {
            SentencePieceVocab v;
            v.pieces = tokens;
            v.scores = g.has("tokenizer.ggml.scores") ? g.float_array("tokenizer.ggml.scores")
                                                      : std::vector<float>(tokens.size(), 0.0f);
            if (v.scores.size() != tokens.size())
                fail(path, ": ", tokens.size(), " tokens but ", v.scores.size(), " scores");
            for (int64_t t : types) v.types.push_back(PieceType(t));
            v.unk_id = id_key("tokenizer.ggml.unknown_token_id", 0);
            v.bos_id = id_key("tokenizer.ggml.bos_token_id", 1);
            v.eos_id = id_key("tokenizer.ggml.eos_token_id", 2);
            v.add_dummy_prefix =
                g.has("tokenizer.ggml.add_space_prefix") ? g.get_bool("tokenizer.ggml.add_space_prefix") : true;
            v.byte_fallback = std::find(types.begin(), types.end(), 6) != types.end();
            SentencePieceTokenizer t(std::move(v));  // its errors get the file name from read_guard
            return Tokenizer(std::move(t));
        }
        if (model == "gpt2") {
            const std::string pre = g.has("tokenizer.ggml.pre") ? g.get_string("tokenizer.ggml.pre") : "";
            if (pre != "llama-bpe" && pre != "llama3")
                fail(path, ": GGUF byte-level tokenizer with pre-tokenizer \"", excerpt(pre, 40),
                     "\"; llamaref implements Llama 3's (\"llama-bpe\")");
            // Normal tokens are the BPE ranks 0..n-1; control / user-defined entries are special tokens.
            const auto to_byte = detail::byte_level_decoder();
            std::vector<std::string> base;
            std::vector<std::pair<std::string, int>> specials;
            std::unordered_map<std::string, int> ids;
            std::string bytes;
            for (std::size_t i = 0; i < tokens.size(); ++i) {
                if (types[i] == 3 || types[i] == 4) {
                    specials.emplace_back(tokens[i], int(i));
                    continue;
                }
                if (base.size() != i) fail(path, ": token ", i, " is a normal token after special tokens");
                if (!detail::byte_level_to_bytes(tokens[i], to_byte, bytes))
                    fail(path, ": token ", i, " is not in the byte-level alphabet");
                base.push_back(bytes);
                ids.emplace(tokens[i], int(i));
            }
            std::vector<std::pair<int, int>> merges;
            for (const auto& m : g.string_array("tokenizer.ggml.merges")) {
                const auto sp = m.find(' ');
                auto a = ids.find(m.substr(0, sp)), b = ids.find(sp == std::string::npos ? "" : m.substr(sp + 1));
                if (sp == std::string::npos || a == ids.end() || b == ids.end())
                    fail(path, ": merge '", excerpt(m, 60), "' is not two tokens of the vocabulary");
                merges.emplace_back(a->second, b->second);
            }
            TiktokenTokenizer t(std::move(base), std::move(specials), kLlama3Pattern, std::move(merges));
            t.meta_chunking = false;  // llama.cpp does not chunk
            t.bos_id = id_key("tokenizer.ggml.bos_token_id", t.bos_id);
            t.eos_id = id_key("tokenizer.ggml.eos_token_id", t.eos_id);
            return Tokenizer(std::move(t));
        }
        fail(path, ": GGUF tokenizer model \"", excerpt(model, 40),
             "\" is not a Llama tokenizer (expected \"llama\" or \"gpt2\")");
    });
}

// A SentencePiece vocabulary (LLaMA 1/2, Mistral, Gemma; from tokenizer.model, tokenizer.json or a
// llama2.c tokenizer.bin) as llama.cpp's converters write it: tokenizer.ggml.model "llama", the
// pieces, scores and types, the special ids, add_bos_token / add_eos_token as Llama's (BOS, no EOS)
// and add_space_prefix. tokenizer_from_gguf reads it back to the same vocabulary; a normalizer
// option these keys cannot state is refused rather than lost. A byte-level (tiktoken, Llama 3)
// vocabulary needs its merges reconstructed from the ranks: not written yet, refused.
inline std::vector<std::pair<std::string, GgufValue>> gguf_vocab_metadata(const Tokenizer& tok) {
    const SentencePieceTokenizer* sp = tok.sentencepiece();
    if (!sp)
        fail(
            "writing a byte-level (tiktoken, Llama 3) vocabulary into a GGUF file is not implemented yet; convert "
            "without -z and give the tokenizer to llamaref with -z when running");
    const SentencePieceVocab& v = sp->vocab();
    const SentencePieceVocab plain;  // the options GGUF's keys take for granted
    if (v.remove_extra_whitespaces != plain.remove_extra_whitespaces ||
        v.escape_whitespaces != plain.escape_whitespaces ||
        v.treat_whitespace_as_suffix != plain.treat_whitespace_as_suffix || v.unk_surface != plain.unk_surface)
        fail(
            "this SentencePiece vocabulary uses normalizer options that GGUF's tokenizer keys cannot state "
            "(extra-whitespace removal, whitespace escaping or suffix, the <unk> surface)");
    const bool has_bytes = std::find(v.types.begin(), v.types.end(), PieceType::byte) != v.types.end();
    if (v.byte_fallback != has_bytes)
        fail("this SentencePiece vocabulary's byte fallback (", v.byte_fallback,
             ") does not follow from its byte pieces, as GGUF readers infer it");
    std::vector<int32_t> types;
    for (PieceType t : v.types) types.push_back(int32_t(t));
    std::vector<std::pair<std::string, GgufValue>> kv = {
        {"tokenizer.ggml.model", gguf_str("llama")},
        {"tokenizer.ggml.tokens", gguf_string_array(v.pieces)},
        {"tokenizer.ggml.scores", gguf_f32_array(v.scores)},
        {"tokenizer.ggml.token_type", gguf_i32_array(types)},
        {"tokenizer.ggml.add_bos_token", gguf_bool(true)},
        {"tokenizer.ggml.add_eos_token", gguf_bool(false)},
        {"tokenizer.ggml.add_space_prefix", gguf_bool(v.add_dummy_prefix)},
    };
    auto id = [&](const char* key, int value) {
        if (value >= 0) kv.push_back({key, gguf_u32(uint32_t(value))});
    };
    id("tokenizer.ggml.bos_token_id", v.bos_id);
    id("tokenizer.ggml.eos_token_id", v.eos_id);
    id("tokenizer.ggml.unknown_token_id", v.unk_id);
    id("tokenizer.ggml.padding_token_id", v.pad_id);
    return kv;
}

}  // namespace llamaref
