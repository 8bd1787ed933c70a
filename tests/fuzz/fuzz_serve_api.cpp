// tests/fuzz/fuzz_serve_api.cpp — libFuzzer harness: llamaref serve's request checks
// (examples/cli/serve_api.hpp), the JSON body of /v1/completions, /v1/chat/completions, /tokenize
// and /detokenize as a client sends it. Each parser must return a request or an ApiError (a 4xx):
// nothing may be thrown, and an accepted request must hold only what the limits allow.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "../../examples/cli/serve_api.hpp"

using namespace llamaref::cli::serve;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    Limits lim;
    lim.vocab_size = 512;
    lim.context = 64;
    lim.max_prompts = 8;
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    auto check = [&](const GenerationRequest& r) {
        if (r.max_tokens < 0 || r.max_tokens > lim.context || r.logprobs > lim.max_logprobs ||
            int(r.prompts.size()) > lim.max_prompts || int(r.stop.size()) > lim.max_stop)
            std::abort();
        for (const auto& p : r.prompts)
            for (int id : p.ids)
                if (id < 0 || id >= lim.vocab_size) std::abort();
        r.sampling.validate();  // throws (an uncaught exception: a finding) when out of range
    };
    for (const auto& r : {parse_completion_request(body, lim), parse_chat_request(body, lim)}) {
        if (const auto* g = std::get_if<GenerationRequest>(&r))
            check(*g);
        else if (std::get<ApiError>(r).status / 100 != 4)
            std::abort();
    }
    if (const auto d = parse_detokenize_request(body, lim); const auto* t = std::get_if<DetokenizeRequest>(&d))
        for (int id : t->tokens)
            if (id < 0 || id >= lim.vocab_size) std::abort();
    (void)parse_tokenize_request(body, lim);
    return 0;
}
