// tests/fuzz/fuzz_llama2c.cpp — libFuzzer harness: a llama2.c model .bin (versions 0, 1, 2).
//
// The input is written as model.bin and loaded with load_llama2c (legacy header, version
// magic, Q8_0 groups, weight sizes against the file); a model that loads runs one token.
// Only llamaref::Error may leave.
#include <llamaref/formats/llama2c.hpp>
#include <llamaref/model/transformer.hpp>

#include "fuzz_common.hpp"

using namespace llamaref;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string path = fuzz::input_file(data, size, "model.bin");
    fuzz::only_errors("load_llama2c", [&] {
        auto m = load_llama2c(path);
        Transformer tf(m, /*context_len=*/4);
        (void)tf.forward(std::vector<int>{0}, 0);
    });
    return 0;
}
