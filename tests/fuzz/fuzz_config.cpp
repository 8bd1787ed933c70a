// tests/fuzz/fuzz_config.cpp — libFuzzer harness: config.json (Hugging Face) and params.json (Meta).
//
// The same input is written as config.json beside a valid model.safetensors of the tiny model
// and loaded with load_hf, and as params.json beside a valid consolidated.00.pth and loaded with
// load_meta: the JSON parser, every field's type and range, ModelConfig::validate, the FFN size
// rule, and the weight lookups a hostile configuration drives (layer counts, dims, vocab).
// Only llamaref::Error may leave.
#include <llamaref/formats/hf.hpp>
#include <llamaref/formats/meta.hpp>

#include "fuzz_common.hpp"
#include "tiny_model.hpp"

using namespace llamaref;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    static const auto hf_dir = [] {
        auto d = fuzz::scratch_subdir("hf");
        fuzz::write_tiny_safetensors(d / "model.safetensors");
        return d;
    }();
    static const auto meta_dir = [] {
        auto d = fuzz::scratch_subdir("meta");
        fuzz::write_tiny_pth(d / "consolidated.00.pth");
        return d;
    }();
    fuzz::input_file(data, size, "config.json", hf_dir);
    fuzz::only_errors("load_hf (config.json)", [&] { (void)load_hf(hf_dir.string()); });
    fuzz::input_file(data, size, "params.json", meta_dir);
    fuzz::only_errors("load_meta (params.json)", [&] { (void)load_meta(meta_dir.string()); });
    return 0;
}
