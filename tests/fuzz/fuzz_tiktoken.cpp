// tests/fuzz/fuzz_tiktoken.cpp — libFuzzer harness: Meta's Llama 3 tokenizer.model (tiktoken text).
//
// The input is written as tokenizer.model and read with read_tiktoken_model (lines of
// "<base64> <rank>", ranks 0..n-1, Llama 3's special tokens appended); a tokenizer that loads
// encodes and decodes a few texts. Only llamaref::Error may leave.
#include <llamaref/tokenizer/tokenizer.hpp>

#include "fuzz_tokenizer.hpp"

using namespace llamaref;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string path = fuzz::input_file(data, size, "tokenizer.model");
    fuzz::only_errors("read_tiktoken_model", [&] { fuzz::use_tokenizer(Tokenizer(read_tiktoken_model(path))); });
    return 0;
}
