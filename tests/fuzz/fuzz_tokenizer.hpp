// tests/fuzz/fuzz_tokenizer.hpp — the small use every tokenizer harness makes of a loaded tokenizer.
#pragma once

#include <string_view>

#include <llamaref/tokenizer/tokenizer.hpp>

#include "fuzz_common.hpp"

namespace llamaref::fuzz {

// Short texts the tokenizers encode once a file has loaded: ASCII, spaces, a newline,
// multi-byte UTF-8 and an invalid byte.
inline constexpr std::string_view kSampleTexts[] = {"Hello world", "  a\n\tb  ",
                                                    "caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80", "\xff<s>x"};

// A small use of a loaded tokenizer (llamaref::Tokenizer): encode the sample texts with and without
// BOS/EOS and with special-token parsing, decode the ids again, and read the first pieces.
template <class Tok>
void use_tokenizer(const Tok& tok) {
    for (std::string_view text : kSampleTexts) {
        const auto ids = tok.encode(text, true, true);
        (void)tok.decode(ids);
        (void)tok.encode(text, false, false, llamaref::SpecialText::parse);
    }
    const int n = tok.vocab_size() < 64 ? tok.vocab_size() : 64;
    for (int id = 0; id < n; ++id) (void)tok.piece(id);
}

}  // namespace llamaref::fuzz
