// examples/cli/serve_api.hpp — llamaref serve's requests: a JSON body in, a checked request or an
// OpenAI-style error out.
//
// No HTTP and no model here, only the rules, so that the checks can be tested (and fuzzed) on
// their own: parse_completion_request, parse_chat_request, parse_tokenize_request and
// parse_detokenize_request take the body as the client sent it and return either the request,
// every value in range, or an ApiError {status, message, type, param}. Token ids are checked
// against the vocabulary here; text prompts are tokenized (and measured against the context) by
// the server, which has the tokenizer.
//
// Fields we do not know are ignored (clients send `user`, `metadata`, ...); fields we know but do
// not implement (n > 1, best_of, logit_bias, suffix, tools, response_format other than text) are
// refused rather than silently ignored.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <llamaref/sampling/sampler.hpp>
#include <llamaref/tokenizer/chat_format.hpp>

namespace llamaref::cli::serve {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;  // responses keep their fields (and top-logprob ranks) in order

// An error as OpenAI's API returns it: {"error": {"message", "type", "param", "code"}}.
struct ApiError {
    ApiError(int status_, std::string message_, std::string param_ = "", std::string type_ = "invalid_request_error",
             std::string code_ = "")
        : status(status_),
          message(std::move(message_)),
          param(std::move(param_)),
          type(std::move(type_)),
          code(std::move(code_)) {}
    int status;
    std::string message;
    std::string param;  // the offending field ("" = none)
    std::string type;
    std::string code;  // "" = null
};

inline ojson error_body(const ApiError& e) {
    ojson err;
    err["message"] = e.message;
    err["type"] = e.type;
    err["param"] = e.param.empty() ? ojson(nullptr) : ojson(e.param);
    err["code"] = e.code.empty() ? ojson(nullptr) : ojson(e.code);
    return ojson{{"error", err}};
}

// What a request may ask for. vocab_size and context come from the model.
struct Limits {
    int vocab_size = 0;
    int context = 0;          // positions: prompt + generated tokens
    int max_prompts = 128;    // prompts in one /v1/completions request
    int max_messages = 1024;  // messages in one chat request
    int max_logprobs = 20;    // alternatives per position (OpenAI's chat limit)
    int max_stop = 4;         // stop strings (OpenAI's limit)
    std::size_t max_stop_len = 256;
    int max_depth = 32;  // nesting of the JSON body
};

// One prompt of /v1/completions: text (tokenized by the server, with BOS) or token ids (as given).
struct Prompt {
    bool is_text = false;
    std::string text;
    std::vector<int> ids;
};

// A checked /v1/completions or /v1/chat/completions request.
struct GenerationRequest {
    bool chat = false;
    std::vector<Prompt> prompts;  // completions: one or more
    Dialog messages;              // chat: the dialog, rendered by the model's template
    int max_tokens = 16;          // new tokens at most (the context may end them sooner)
    SamplingParams sampling;      // OpenAI's defaults: temperature 1, top_p 1, nothing else
    std::optional<uint64_t> seed;
    std::vector<std::string> stop;
    int logprobs = -1;  // -1: none; N >= 0: the sampled token's log-probability and N alternatives
    bool echo = false;  // completions: the prompt's tokens too
    bool stream = false;
    bool include_usage = false;  // stream_options.include_usage
};

struct TokenizeRequest {
    std::string content;
    bool add_special = false;  // BOS (llama-server's default: false)
    bool with_pieces = false;
};

struct DetokenizeRequest {
    std::vector<int> tokens;
};

template <class T>
using Parsed = std::variant<T, ApiError>;

namespace detail {

struct Bad {  // thrown inside the parsers, returned as an ApiError
    ApiError e;
};

[[noreturn]] inline void bad(const std::string& param, const std::string& message) {
    throw Bad{ApiError{400, message, param}};
}

// Nesting depth of a JSON text, strings skipped (nlohmann's parser is iterative, but a body of a
// million '[' is refused before it is built).
inline int json_depth(std::string_view s) {
    int depth = 0, most = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            most = std::max(most, ++depth);
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return most;
}

inline json parse_object(std::string_view body, const Limits& lim) {
    if (json_depth(body) > lim.max_depth)
        bad("", "the JSON body is nested deeper than " + std::to_string(lim.max_depth) + " levels");
    json j;
    try {
        j = json::parse(body.begin(), body.end());
    } catch (const json::exception& e) { bad("", std::string("the body is not valid JSON: ") + e.what()); }
    if (!j.is_object()) bad("", "the body must be a JSON object, got " + std::string(j.type_name()));
    return j;
}

// The field `name` of object `o`, or nullptr when absent or null.
inline const json* field(const json& o, const char* name) {
    const auto it = o.find(name);
    return it == o.end() || it->is_null() ? nullptr : &*it;
}

inline std::optional<bool> boolean(const json& o, const char* name) {
    const json* v = field(o, name);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) bad(name, std::string("'") + name + "' must be a boolean, got " + v->type_name());
    return v->get<bool>();
}

inline std::optional<int64_t> integer(const json& o, const char* name, int64_t lo, int64_t hi) {
    const json* v = field(o, name);
    if (!v) return std::nullopt;
    if (!v->is_number_integer())
        bad(name, std::string("'") + name + "' must be an integer, got " +
                      (v->is_number() ? "a fractional number" : v->type_name()));
    bool in_range;
    if (v->is_number_unsigned()) {  // above INT64_MAX possibly
        const uint64_t u = v->get<uint64_t>();
        in_range = hi >= 0 && u <= uint64_t(hi) && (lo <= 0 || u >= uint64_t(lo));
    } else {
        in_range = v->get<int64_t>() >= lo && v->get<int64_t>() <= hi;
    }
    if (!in_range)
        bad(name, std::string("'") + name + "' must be an integer in [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "], got " + v->dump());
    return v->is_number_unsigned() ? int64_t(v->get<uint64_t>()) : v->get<int64_t>();
}

// A number in [lo, hi] (or (lo, hi] when lo_open).
inline std::optional<double> number(const json& o, const char* name, double lo, double hi, bool lo_open = false) {
    const json* v = field(o, name);
    if (!v) return std::nullopt;
    if (!v->is_number()) bad(name, std::string("'") + name + "' must be a number, got " + v->type_name());
    const double x = v->get<double>();
    if (!(x >= lo && x <= hi) || (lo_open && x == lo))
        bad(name, std::string("'") + name + "' must be a number in " + (lo_open ? "(" : "[") + json(lo).dump() + ", " +
                      json(hi).dump() + "], got " + v->dump());
    return x;
}

inline std::optional<std::string> string(const json& o, const char* name) {
    const json* v = field(o, name);
    if (!v) return std::nullopt;
    if (!v->is_string()) bad(name, std::string("'") + name + "' must be a string, got " + v->type_name());
    return v->get<std::string>();
}

// A list of token ids, each in [0, vocab_size).
inline std::vector<int> token_ids(const json& a, const std::string& param, const Limits& lim) {
    std::vector<int> ids;
    ids.reserve(a.size());
    for (const auto& x : a) {
        if (!x.is_number_integer()) bad(param, "'" + param + "' must hold integer token ids, got " + x.type_name());
        const bool ok = x.is_number_unsigned() ? x.get<uint64_t>() < uint64_t(lim.vocab_size)
                                               : x.get<int64_t>() >= 0 && x.get<int64_t>() < lim.vocab_size;
        if (!ok)
            bad(param, "token id " + x.dump() + " in '" + param + "' is out of range: the vocabulary has ids 0 .. " +
                           std::to_string(lim.vocab_size - 1));
        ids.push_back(int(x.get<int64_t>()));
    }
    return ids;
}

// Fields that would change the answer and that llamaref serve does not implement: refused.
inline void refuse_unsupported(const json& o, std::initializer_list<const char*> names) {
    for (const char* name : names) {
        const json* v = field(o, name);
        if (v && !(v->is_object() && v->empty()) && !(v->is_array() && v->empty()))
            bad(name, std::string("'") + name + "' is not supported by llamaref serve");
    }
}

// What completions and chat share: sampling, limits, stop, stream.
inline void parse_common(const json& o, const Limits& lim, GenerationRequest& r) {
    if (auto n = integer(o, "n", 1, 1)) (void)n;  // n > 1 (several answers) is not supported
    if (auto n = integer(o, "best_of", 1, 1)) (void)n;
    refuse_unsupported(o, {"logit_bias"});
    // max_tokens: OpenAI's name; max_completion_tokens: its newer chat name; n_predict: llama-server's.
    for (const char* name : {"max_tokens", "max_completion_tokens", "n_predict"})
        if (auto v = integer(o, name, 0, lim.context)) r.max_tokens = int(*v);
    SamplingParams& s = r.sampling;
    if (auto v = number(o, "temperature", 0, 100)) s.temperature = *v;
    if (auto v = number(o, "top_p", 0, 1, /*lo_open=*/true)) s.top_p = *v;
    if (auto v = integer(o, "top_k", 0, std::numeric_limits<int32_t>::max())) s.top_k = int(*v);
    if (auto v = number(o, "min_p", 0, 1)) s.min_p = *v;
    if (auto v = number(o, "frequency_penalty", -2, 2)) s.frequency_penalty = *v;
    if (auto v = number(o, "presence_penalty", -2, 2)) s.presence_penalty = *v;
    if (auto v = number(o, "repeat_penalty", 0, 100, /*lo_open=*/true)) s.repeat_penalty = *v;
    if (auto v = integer(o, "repeat_last_n", -1, lim.context)) s.penalty_last_n = *v < 0 ? lim.context : int(*v);
    if (auto v = integer(o, "seed", -1, std::numeric_limits<int64_t>::max()); v && *v >= 0) r.seed = uint64_t(*v);
    if (const json* v = field(o, "stop")) {
        if (v->is_string()) {
            r.stop.push_back(v->get<std::string>());
        } else if (v->is_array()) {
            if (int(v->size()) > lim.max_stop)
                bad("stop", "'stop' may hold at most " + std::to_string(lim.max_stop) + " strings");
            for (const auto& x : *v) {
                if (!x.is_string()) bad("stop", std::string("'stop' must hold strings, got ") + x.type_name());
                r.stop.push_back(x.get<std::string>());
            }
        } else {
            bad("stop", std::string("'stop' must be a string or a list of strings, got ") + v->type_name());
        }
        for (const auto& x : r.stop)
            if (x.empty() || x.size() > lim.max_stop_len)
                bad("stop", "each stop string must have 1 to " + std::to_string(lim.max_stop_len) + " bytes");
    }
    r.stream = boolean(o, "stream").value_or(false);
    if (const json* v = field(o, "stream_options")) {
        if (!v->is_object()) bad("stream_options", "'stream_options' must be an object");
        r.include_usage = boolean(*v, "include_usage").value_or(false);
    }
    if (auto m = field(o, "model"); m && !m->is_string()) bad("model", "'model' must be a string");
}

template <class F>
auto parsed(F&& f) -> Parsed<decltype(f())> {
    try {
        return f();
    } catch (const Bad& b) { return b.e; }
}

}  // namespace detail

// POST /v1/completions
inline Parsed<GenerationRequest> parse_completion_request(std::string_view body, const Limits& lim) {
    return detail::parsed([&] {
        using namespace detail;
        const json o = parse_object(body, lim);
        GenerationRequest r;
        refuse_unsupported(o, {"suffix"});
        parse_common(o, lim, r);
        if (auto v = integer(o, "logprobs", 0, lim.max_logprobs)) r.logprobs = int(*v);
        r.echo = boolean(o, "echo").value_or(false);
        const json* p = field(o, "prompt");
        if (!p) bad("prompt", "'prompt' is required");
        auto one = [&](const json& x, const std::string& param) {
            Prompt q;
            if (x.is_string()) {
                q.is_text = true, q.text = x.get<std::string>();
            } else if (x.is_array()) {
                if (x.empty()) bad(param, "a prompt of token ids must not be empty");
                q.ids = token_ids(x, param, lim);
            } else {
                bad(param, std::string("a prompt must be a string or a list of token ids, got ") + x.type_name());
            }
            r.prompts.push_back(std::move(q));
        };
        if (p->is_string()) {
            one(*p, "prompt");
        } else if (!p->is_array()) {
            bad("prompt", std::string("'prompt' must be a string, a list of token ids or a list of prompts, got ") +
                              p->type_name());
        } else if (p->empty()) {
            bad("prompt", "'prompt' must not be an empty list");
        } else if ((*p)[0].is_number()) {  // one prompt of ids
            one(*p, "prompt");
        } else {
            if (int(p->size()) > lim.max_prompts)
                bad("prompt", "'prompt' holds " + std::to_string(p->size()) + " prompts; at most " +
                                  std::to_string(lim.max_prompts) + " are allowed per request");
            for (std::size_t i = 0; i < p->size(); ++i) one((*p)[i], "prompt[" + std::to_string(i) + "]");
        }
        return r;
    });
}

// POST /v1/chat/completions
inline Parsed<GenerationRequest> parse_chat_request(std::string_view body, const Limits& lim) {
    return detail::parsed([&] {
        using namespace detail;
        const json o = parse_object(body, lim);
        GenerationRequest r;
        r.chat = true;
        r.max_tokens = lim.context;  // chat: until a stop token or the end of the context
        refuse_unsupported(o, {"tools", "functions", "tool_choice", "function_call"});
        if (const json* f = field(o, "response_format")) {
            if (!f->is_object() || string(*f, "type").value_or("text") != "text")
                bad("response_format", "only the response_format {\"type\": \"text\"} is supported");
        }
        parse_common(o, lim, r);
        if (boolean(o, "logprobs").value_or(false))
            r.logprobs = int(integer(o, "top_logprobs", 0, lim.max_logprobs).value_or(0));
        else if (field(o, "top_logprobs") && integer(o, "top_logprobs", 0, lim.max_logprobs))
            bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
        const json* m = field(o, "messages");
        if (!m) bad("messages", "'messages' is required");
        if (!m->is_array() || m->empty()) bad("messages", "'messages' must be a non-empty list of messages");
        if (int(m->size()) > lim.max_messages)
            bad("messages", "at most " + std::to_string(lim.max_messages) + " messages are allowed");
        for (std::size_t i = 0; i < m->size(); ++i) {
            const json& x = (*m)[i];
            const std::string param = "messages[" + std::to_string(i) + "]";
            if (!x.is_object()) bad(param, param + " must be an object");
            ChatMessage msg;
            const auto role = string(x, "role");
            if (!role) bad(param + ".role", param + " has no 'role'");
            if (*role != "system" && *role != "developer" && *role != "user" && *role != "assistant" &&
                *role != "tool" && *role != "ipython")
                bad(param + ".role", "unknown role '" + *role + "' (system, user, assistant, tool)");
            msg.role = *role == "developer" ? "system" : *role == "tool" ? "ipython" : *role;
            refuse_unsupported(x, {"tool_calls", "function_call"});
            const json* c = field(x, "content");
            if (!c) bad(param + ".content", param + " has no 'content'");
            if (c->is_string()) {
                msg.content = c->get<std::string>();
            } else if (c->is_array()) {  // content parts: text only
                for (const auto& part : *c) {
                    if (!part.is_object() || string(part, "type").value_or("") != "text" || !field(part, "text") ||
                        !part["text"].is_string())
                        bad(param + ".content",
                            "only text content parts ({\"type\": \"text\", \"text\": ...}) are supported");
                    msg.content += part["text"].get<std::string>();
                }
            } else {
                bad(param + ".content", param + ".content must be a string or a list of text parts");
            }
            r.messages.push_back(std::move(msg));
        }
        return r;
    });
}

// POST /tokenize {content, add_special?, with_pieces?}
inline Parsed<TokenizeRequest> parse_tokenize_request(std::string_view body, const Limits& lim) {
    return detail::parsed([&] {
        using namespace detail;
        const json o = parse_object(body, lim);
        TokenizeRequest r;
        const auto c = string(o, "content");
        if (!c) bad("content", "'content' (a string) is required");
        r.content = *c;
        r.add_special = boolean(o, "add_special").value_or(false);
        r.with_pieces = boolean(o, "with_pieces").value_or(false);
        return r;
    });
}

// POST /detokenize {tokens}
inline Parsed<DetokenizeRequest> parse_detokenize_request(std::string_view body, const Limits& lim) {
    return detail::parsed([&] {
        using namespace detail;
        const json o = parse_object(body, lim);
        const json* t = field(o, "tokens");
        if (!t || !t->is_array()) bad("tokens", "'tokens' (a list of token ids) is required");
        return DetokenizeRequest{token_ids(*t, "tokens", lim)};
    });
}

}  // namespace llamaref::cli::serve
