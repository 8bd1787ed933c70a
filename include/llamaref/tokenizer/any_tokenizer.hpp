// llamaref/tokenizer/any_tokenizer.hpp — Tokenizer: either of the family's two tokenizers behind
// one interface. SentencePiece BPE (LLaMA 1, Llama 2, Mistral, Gemma: sentencepiece.hpp) or
// tiktoken-style byte-level BPE (Llama 3: tiktoken.hpp); load_tokenizer (tokenizer.hpp) picks one
// from the files.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sentencepiece.hpp"
#include "tiktoken.hpp"

namespace llamaref {

class Tokenizer {
  public:
    explicit Tokenizer(SentencePieceTokenizer t) : t_(std::move(t)) {}
    explicit Tokenizer(TiktokenTokenizer t) : t_(std::move(t)) {}

    template <class F>
    auto visit(F&& f) const {  // f(the SentencePieceTokenizer or TiktokenTokenizer)
        return std::visit(std::forward<F>(f), t_);
    }

    bool is_sentencepiece() const { return std::holds_alternative<SentencePieceTokenizer>(t_); }
    const SentencePieceTokenizer* sentencepiece() const { return std::get_if<SentencePieceTokenizer>(&t_); }
    const TiktokenTokenizer* tiktoken() const { return std::get_if<TiktokenTokenizer>(&t_); }
    std::string kind() const { return is_sentencepiece() ? "SentencePiece BPE" : "tiktoken BPE"; }

    int bos_id() const {
        return visit([](const auto& t) { return t.bos_id; });
    }
    int eos_id() const {
        return visit([](const auto& t) { return t.eos_id; });
    }
    int vocab_size() const {
        return visit([](const auto& t) { return t.vocab_size(); });
    }

    // Special-token text: SpecialText::plain (Meta) or parse (HF); SentencePiece never parses it.
    std::vector<int> encode(std::string_view text, bool bos, bool eos, SpecialText special = SpecialText::plain) const {
        if (auto* t = tiktoken()) return t->encode(text, bos, eos, special);
        return sentencepiece()->encode(text, bos, eos);
    }
    std::string decode(const std::vector<int>& ids) const {
        return visit([&](const auto& t) { return t.decode(ids); });
    }
    std::string decode(int prev, int id) const {
        return visit([&](const auto& t) { return t.decode(prev, id); });
    }
    // The vocabulary entry of one id, as stored: SentencePiece text with "▁", or raw tiktoken bytes.
    std::string piece(int id) const {
        if (auto* t = tiktoken()) return t->token_bytes(id);
        return sentencepiece()->piece(id);
    }

  private:
    std::variant<SentencePieceTokenizer, TiktokenTokenizer> t_;
};

}  // namespace llamaref
