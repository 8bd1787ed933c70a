// tests/fuzz/fuzz_tokenizer_json.cpp — libFuzzer harness: a Hugging Face tokenizer.json, both kinds.
//
// The input is written as tokenizer.json and read by both readers whatever it says: the
// SentencePiece kind (read_tokenizer_json_sentencepiece: byte-fallback BPE, merges -> scores,
// added tokens) and the byte-level kind (read_tokenizer_json_bpe: Llama 3, a PCRE2 pattern from
// the file, merges, specials), then through load_tokenizer_file, which picks one by content.
// A tokenizer that loads encodes and decodes a few texts. Only llamaref::Error may leave.
#include <llamaref/tokenizer/tokenizer.hpp>

#include "fuzz_tokenizer.hpp"

using namespace llamaref;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string path = fuzz::input_file(data, size, "tokenizer.json");
    fuzz::only_errors("tokenizer.json (SentencePiece kind)",
                      [&] { fuzz::use_tokenizer(Tokenizer(read_tokenizer_json_sentencepiece(path))); });
    fuzz::only_errors("tokenizer.json (byte-level kind)",
                      [&] { fuzz::use_tokenizer(Tokenizer(read_tokenizer_json_bpe(path))); });
    fuzz::only_errors("load_tokenizer_file (tokenizer.json)", [&] { (void)load_tokenizer_file(path); });
    return 0;
}
