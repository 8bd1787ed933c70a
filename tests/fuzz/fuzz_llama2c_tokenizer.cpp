// tests/fuzz/fuzz_llama2c_tokenizer.cpp — libFuzzer harness: a llama2.c tokenizer.bin.
//
// The input is written as tok.bin and read twice: as the records it holds (the size scan
// load_tokenizer_file uses, then SentencePieceTokenizer::from_llama2c with that count), and
// as the vocabulary of a 16-token model (what `-z tok.bin` with such a model reads). A
// tokenizer that loads encodes and decodes a few texts. Only llamaref::Error may leave.
#include <llamaref/tokenizer/tokenizer.hpp>

#include "fuzz_tokenizer.hpp"

using namespace llamaref;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string path = fuzz::input_file(data, size, "tok.bin");
    fuzz::only_errors("llama2c tokenizer (own size)", [&] {
        const int n = detail::llama2c_tokenizer_size(path);
        if (n > 0) fuzz::use_tokenizer(Tokenizer(SentencePieceTokenizer::from_llama2c(path, n)));
    });
    fuzz::only_errors("llama2c tokenizer (16 tokens)",
                      [&] { fuzz::use_tokenizer(Tokenizer(SentencePieceTokenizer::from_llama2c(path, 16))); });
    return 0;
}
