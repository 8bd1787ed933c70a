// tests/fuzz/fuzz_safetensors.cpp — libFuzzer harness: a safetensors file (length, JSON header, data).
//
// The input is written as model.safetensors beside a fixed, valid config.json of the tiny model
// make_corpus writes (dim 8, 1 layer): first read alone (SafetensorsFile: header JSON, dtypes,
// shapes, byte ranges; every tensor viewed), then as a Hugging Face folder (load_hf: names,
// shapes against the config, the q/k un-permutation). Only llamaref::Error may leave.
#include <llamaref/formats/hf.hpp>
#include <llamaref/formats/safetensors.hpp>

#include "fuzz_common.hpp"
#include "tiny_model.hpp"

using namespace llamaref;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    static const auto dir = [] {
        auto d = fuzz::scratch_subdir("hf");
        fuzz::write_text(d / "config.json", fuzz::tiny_hf_config_json());
        return d;
    }();
    const std::string path = fuzz::input_file(data, size, "model.safetensors", dir);
    fuzz::only_errors("SafetensorsFile", [&] {
        SafetensorsFile st(path);
        for (const auto& [name, e] : st.entries()) {
            const TensorView v = st.get(name);
            (void)v.nbytes();
        }
    });
    fuzz::only_errors("load_hf", [&] { (void)load_hf(dir.string()); });
    return 0;
}
