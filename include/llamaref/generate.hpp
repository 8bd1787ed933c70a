// llamaref/generate.hpp — the generation loop: prefill the prompt, then decode token by token.
//
//   next = step(prompt, 0)                           one call for the whole prompt (prefill)
//   repeat: stop? emit next
//           next = step([next], pos++)               one position through the KV cache (decode)
//
// A step runs tokens and picks the next one: on the CPU, Transformer::forward then pick(logits
// [last]) with sampler.hpp or argmax (generate); generate_steps takes any step (e.g. a GPU's).
//
// Stops on a stop token (not emitted), after max_new_tokens, or when the context is full (then
// `context_full` is set and the caller says so). Text is streamed through Utf8Stream so a
// character whose bytes arrive in several tokens (byte-fallback pieces) is never split.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.hpp"
#include "model/transformer.hpp"

namespace llamaref {

// Buffers bytes until they form complete UTF-8 characters. What it emits, over all pushes and the
// flush, is utf8::replace_invalid of all the bytes (Python's errors="replace"): every maximal
// subpart of an ill-formed sequence becomes one U+FFFD (core/utf8.hpp).
class Utf8Stream {
  public:
    // Returns the complete characters now available.
    std::string push(std::string_view bytes) {
        pending_ += bytes;
        std::string out;
        std::size_t i = 0, len = 0;
        while (i < pending_.size()) {
            if (utf8::decode(pending_, i, len) != utf8::kInvalid) {
                out.append(pending_, i, len);
            } else {
                // A valid beginning (lead C2..F4, right continuations) that the bytes so far end:
                // wait for the rest. Anything else is ill-formed already.
                const unsigned char lead = pending_[i];
                if (lead >= 0xC2 && lead <= 0xF4 && i + len == pending_.size()) break;
                out += utf8::kReplacement;
            }
            i += len;
        }
        pending_.erase(0, i);
        return out;
    }
    // End of text: what is left is the beginning of a character cut short.
    std::string flush() {
        std::string out = pending_.empty() ? "" : std::string(utf8::kReplacement);
        pending_.clear();
        return out;
    }

  private:
    std::string pending_;
};

struct GenerationStats {
    std::size_t prompt_tokens = 0, generated_tokens = 0;
    double prefill_seconds = 0, decode_seconds = 0;  // decode: after the first token
    double time_to_first_token = 0;
    bool context_full = false;
    bool stopped_by_token = false;
    int stop_token = -1;  // which of the stop tokens ended it (when stopped_by_token)
};

// One step of the loop: run `tokens` at positions start_pos .. and return the next token id.
// history holds every token so far, the ones just run included (for penalties). A step may run
// on the CPU (generate below) or anywhere else (the CUDA Runner in examples/cli/generate.cpp).
using GenerationStep = std::function<int(std::span<const int> tokens, int start_pos, std::span<const int> history)>;

// The loop itself: the prompt in one step (prefill), then one step per new token (decode), in a
// context of `ctx` positions. The prompt is always run, so the cache holds it even when
// max_new_tokens is 0 (its token is then not used). on_token(id) is called for every emitted
// token. Returns the new tokens. Stats: prefill_seconds is the first step, decode_seconds the rest.
inline std::vector<int> generate_steps(const GenerationStep& step, int ctx, std::span<const int> prompt,
                                       int max_new_tokens, std::span<const int> stop_tokens,
                                       const std::function<void(int)>& on_token, GenerationStats* stats = nullptr,
                                       int start_pos = 0) {
    using clock = std::chrono::steady_clock;
    GenerationStats st;
    st.prompt_tokens = prompt.size();
    std::vector<int> history(prompt.begin(), prompt.end()), out;
    if (start_pos + int(prompt.size()) > ctx)
        fail("the prompt needs ", start_pos + prompt.size(), " positions but the context holds ", ctx);
    const auto t0 = clock::now();
    int next = step(prompt, start_pos, history);
    const auto t1 = clock::now();
    st.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
    int pos = start_pos + int(prompt.size());
    while (int(out.size()) < max_new_tokens) {
        if (out.empty()) st.time_to_first_token = std::chrono::duration<double>(clock::now() - t0).count();
        if (std::find(stop_tokens.begin(), stop_tokens.end(), next) != stop_tokens.end()) {
            st.stopped_by_token = true;
            st.stop_token = next;
            break;
        }
        out.push_back(next);
        history.push_back(next);
        if (on_token) on_token(next);
        if (int(out.size()) == max_new_tokens) break;
        if (pos >= ctx) {
            st.context_full = true;
            break;
        }
        const int one[1] = {next};
        next = step(one, pos++, history);
    }
    st.generated_tokens = out.size();
    st.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
    if (stats) *stats = st;
    return out;
}

// generate_steps on the CPU: step = model.forward, then pick(logits [V] of the last position,
// history of all tokens so far) -> next id.
inline std::vector<int> generate(Transformer& model, std::span<const int> prompt, int max_new_tokens,
                                 std::span<const int> stop_tokens,
                                 const std::function<int(const float*, std::size_t, std::span<const int>)>& pick,
                                 const std::function<void(int)>& on_token, GenerationStats* stats = nullptr,
                                 int start_pos = 0) {
    auto step = [&](std::span<const int> tokens, int pos, std::span<const int> history) {
        const std::span<const float> logits = model.forward_last(tokens, pos);  // [V] of the last position
        if (max_new_tokens <= 0) return -1;  // nothing to emit: no pick, so a sampler draws no coin
        return pick(logits.data(), logits.size(), history);
    };
    return generate_steps(step, model.config().max_seq_len, prompt, max_new_tokens, stop_tokens, on_token, stats,
                          start_pos);
}

// Greedy decoding: the most likely next token, again and again. Returns up to n new ids after
// `prompt` (a stop token ends it and is not included).
inline std::vector<int> generate_greedy(Transformer& model, std::span<const int> prompt, int n,
                                        std::span<const int> stop = {}) {
    auto pick = [](const float* logits, std::size_t V, std::span<const int>) { return int(argmax(logits, V)); };
    return generate(model, prompt, n, stop, pick, nullptr);
}

}  // namespace llamaref
