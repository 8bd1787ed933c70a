// tests/fuzz/fuzz_gguf.cpp — libFuzzer harness: a .gguf file, as a model and as a vocabulary.
//
// The input is written as model.gguf and given to load_gguf (header, metadata, tensor table,
// llama.* config, weight shapes); a model that loads runs one token through the Transformer.
// Independently the metadata is read as a tokenizer (tokenizer_from_gguf, SentencePiece "llama"
// or byte-level "gpt2" vocabularies) and encodes a few texts. Only llamaref::Error may leave.
#include <llamaref/formats/gguf_llama.hpp>
#include <llamaref/model/transformer.hpp>
#include <llamaref/tokenizer/gguf_vocab.hpp>

#include "fuzz_tokenizer.hpp"

using namespace llamaref;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string path = fuzz::input_file(data, size, "model.gguf");
    fuzz::only_errors("load_gguf", [&] {
        auto m = load_gguf(path);
        Transformer tf(m, /*context_len=*/4);
        (void)tf.forward(std::vector<int>{0}, 0);
    });
    fuzz::only_errors("tokenizer_from_gguf", [&] {
        GgufFile g(path);
        fuzz::use_tokenizer(tokenizer_from_gguf(g));
    });
    return 0;
}
