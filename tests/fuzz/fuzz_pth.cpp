// tests/fuzz/fuzz_pth.cpp — libFuzzer harness: a Meta consolidated.00.pth (zip + pickle).
//
// The input is written as consolidated.00.pth beside a fixed, valid params.json of the tiny
// model and loaded with load_meta: the zip directory and local headers, the data.pkl pickle
// (every opcode; nothing is executed), _rebuild_tensor_v2 views against their storages, Meta's
// tensor names and shapes. Only llamaref::Error may leave.
#include <llamaref/formats/meta.hpp>

#include "fuzz_common.hpp"
#include "tiny_model.hpp"

using namespace llamaref;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    static const auto dir = [] {
        auto d = fuzz::scratch_subdir("meta");
        fuzz::write_text(d / "params.json", fuzz::tiny_params_json());
        return d;
    }();
    fuzz::input_file(data, size, "consolidated.00.pth", dir);
    fuzz::only_errors("load_meta (.pth)", [&] { (void)load_meta(dir.string()); });
    return 0;
}
