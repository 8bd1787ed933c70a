// tests/fuzz/fuzz_sentencepiece.cpp — libFuzzer harness: a SentencePiece tokenizer.model (protobuf).
//
// The input is written as tokenizer.model and read with SentencePieceTokenizer::from_model_file
// (varints, wire types, nested ModelProto / TrainerSpec / NormalizerSpec messages, piece types,
// special ids); a tokenizer that loads encodes and decodes a few texts. Only llamaref::Error may leave.
#include <llamaref/tokenizer/tokenizer.hpp>

#include "fuzz_tokenizer.hpp"

using namespace llamaref;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string path = fuzz::input_file(data, size, "tokenizer.model");
    fuzz::only_errors("SentencePiece tokenizer.model",
                      [&] { fuzz::use_tokenizer(Tokenizer(SentencePieceTokenizer::from_model_file(path))); });
    return 0;
}
