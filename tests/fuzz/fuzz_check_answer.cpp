// tests/fuzz/fuzz_check_answer.cpp — libFuzzer harness: what `llamaref check` reads of an engine's
// /v1/completions answer (examples/cli/check_api.hpp). Any bytes: not JSON is skipped as check.cpp
// skips it; JSON must give an answer or a llamaref::Error — nothing else may be thrown — and an
// answer's top-K lists must pair ids with log-probabilities.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "../../examples/cli/check_api.hpp"

using namespace llamaref::cli::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const json body = json::parse(std::string_view(reinterpret_cast<const char*>(data), size), nullptr, false);
    if (body.is_discarded()) return 0;
    for (bool echoed : {false, true}) {
        try {
            const EngineAnswer a = read_answer(body, echoed);
            for (const EnginePosition& p : a.positions)
                if (p.top_ids.size() != p.top_logprobs.size()) std::abort();
        } catch (const llamaref::Error&) {}
    }
    return 0;
}
