// tests/test_serve_api.cpp — llamaref serve's request checks (examples/cli/serve_api.hpp) on their
// own: good bodies become the request they say, bad ones an OpenAI-style 400 naming the field, and
// no body (every prefix of a good one, every byte changed) throws or crashes (also under ASan).
#include <catch2/catch.hpp>

#include <string>

#include "../examples/cli/serve_api.hpp"

using namespace llamaref::cli::serve;

namespace {

Limits limits() {
    Limits l;
    l.vocab_size = 512;
    l.context = 64;
    l.max_prompts = 4;
    return l;
}

GenerationRequest completion(const std::string& body) {
    auto r = parse_completion_request(body, limits());
    if (auto* e = std::get_if<ApiError>(&r)) FAIL(body << " -> " << e->message);
    return std::get<GenerationRequest>(r);
}

ApiError completion_error(const std::string& body) {
    auto r = parse_completion_request(body, limits());
    REQUIRE(std::holds_alternative<ApiError>(r));
    return std::get<ApiError>(r);
}

}  // namespace

TEST_CASE("serve api: completion requests become what they say") {
    const auto r = completion(R"({"prompt": "Once", "max_tokens": 5, "temperature": 0.5, "top_k": 3, "top_p": 0.9,
        "min_p": 0.1, "seed": 7, "stop": ".", "logprobs": 2, "echo": true, "stream": true, "user": "ignored"})");
    REQUIRE(r.prompts.size() == 1);
    CHECK(r.prompts[0].is_text);
    CHECK(r.prompts[0].text == "Once");
    CHECK(r.max_tokens == 5);
    CHECK(r.sampling.temperature == 0.5);
    CHECK(r.sampling.top_k == 3);
    CHECK(r.sampling.top_p == 0.9);
    CHECK(r.sampling.min_p == 0.1);
    CHECK(r.seed == 7u);
    CHECK(r.stop == std::vector<std::string>{"."});
    CHECK(r.logprobs == 2);
    CHECK(r.echo);
    CHECK(r.stream);

    const auto d = completion(R"({"prompt": [1, 2, 3]})");  // OpenAI's defaults
    REQUIRE(d.prompts.size() == 1);
    CHECK(d.prompts[0].ids == std::vector<int>{1, 2, 3});
    CHECK(d.max_tokens == 16);
    CHECK(d.sampling.temperature == 1.0);
    CHECK(d.sampling.top_p == 1.0);
    CHECK(d.logprobs == -1);
    CHECK(!d.seed);

    const auto m = completion(R"({"prompt": ["a", [5, 6], ""], "seed": -1, "n": 1, "logit_bias": {}})");
    REQUIRE(m.prompts.size() == 3);
    CHECK(m.prompts[1].ids == std::vector<int>{5, 6});
    CHECK(m.prompts[2].is_text);
    CHECK(!m.seed);
}

TEST_CASE("serve api: bad completion requests are 400s that name the field") {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"prompt": "a", "max_tokens": -1})", "max_tokens"},
        {R"({"prompt": "a", "max_tokens": 65})", "max_tokens"},
        {R"({"prompt": "a", "max_tokens": 18446744073709551615})", "max_tokens"},
        {R"({"prompt": "a", "max_tokens": 1.5})", "max_tokens"},
        {R"({"prompt": "a", "max_tokens": true})", "max_tokens"},
        {R"({"prompt": "a", "temperature": -0.1})", "temperature"},
        {R"({"prompt": "a", "temperature": "1"})", "temperature"},
        {R"({"prompt": "a", "top_p": 0})", "top_p"},
        {R"({"prompt": "a", "min_p": 2})", "min_p"},
        {R"({"prompt": "a", "top_k": -1})", "top_k"},
        {R"({"prompt": "a", "n": 2})", "n"},
        {R"({"prompt": "a", "best_of": 3})", "best_of"},
        {R"({"prompt": "a", "logprobs": 21})", "logprobs"},
        {R"({"prompt": "a", "seed": -2})", "seed"},
        {R"({"prompt": "a", "stop": ["a", "b", "c", "d", "e"]})", "stop"},
        {R"({"prompt": "a", "stop": [""]})", "stop"},
        {R"({"prompt": "a", "stop": 5})", "stop"},
        {R"({"prompt": "a", "echo": 1})", "echo"},
        {R"({"prompt": "a", "logit_bias": {"1": 5}})", "logit_bias"},
        {R"({"prompt": "a", "suffix": "b"})", "suffix"},
        {R"({"prompt": "a", "model": 5})", "model"},
        {R"({"prompt": [1, 512]})", "prompt"},
        {R"({"prompt": [1, -1]})", "prompt"},
        {R"({"prompt": [1, "a"]})", "prompt"},
        {R"({"prompt": ["a", [1, 999]]})", "prompt[1]"},
        {R"({"prompt": ["a", []]})", "prompt[1]"},
        {R"({"prompt": ["a", "b", "c", "d", "e"]})", "prompt"},
        {R"({"prompt": []})", "prompt"},
        {R"({"prompt": {}})", "prompt"},
        {R"({"max_tokens": 3})", "prompt"},
    };
    for (const auto& [body, param] : cases) {
        const ApiError e = completion_error(body);
        INFO(body << " -> " << e.message);
        CHECK(e.status == 400);
        CHECK(e.param == param);
        CHECK(e.type == "invalid_request_error");
    }
    for (const char* body : {"", "{", "[1]", "\"a\"", "null", "{\"prompt\": \"a\xff\"}", "{\"prompt\": \"\\ud800\"}"}) {
        const ApiError e = completion_error(body);
        CHECK(e.status == 400);
        CHECK(e.param.empty());
    }
    CHECK(completion_error(std::string(100000, '[') + std::string(100000, ']')).message.find("nested") !=
          std::string::npos);
}

TEST_CASE("serve api: chat, tokenize and detokenize requests") {
    auto r = parse_chat_request(R"({"messages": [{"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "tool", "content": "42"}], "logprobs": true, "top_logprobs": 3})",
                                limits());
    REQUIRE(std::holds_alternative<GenerationRequest>(r));
    const auto& c = std::get<GenerationRequest>(r);
    REQUIRE(c.messages.size() == 3);
    CHECK(c.messages[0].role == "system");
    CHECK(c.messages[1].content == "ab");
    CHECK(c.messages[2].role == "ipython");
    CHECK(c.logprobs == 3);
    CHECK(c.max_tokens == 64);  // the context
    for (const char* body :
         {R"({"messages": []})", R"({"messages": [{"role": "x", "content": "a"}]})",
          R"({"messages": [{"role": "user"}]})",
          R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
          R"({"messages": [{"role": "user", "content": "a"}], "tools": [{"type": "function"}]})",
          R"({"messages": [{"role": "user", "content": "a"}], "top_logprobs": 2})",
          R"({"messages": [{"role": "user", "content": "a"}], "response_format": {"type": "json_object"}})"}) {
        INFO(body);
        CHECK(std::holds_alternative<ApiError>(parse_chat_request(body, limits())));
    }
    auto t = parse_tokenize_request(R"({"content": "hi", "add_special": true})", limits());
    REQUIRE(std::holds_alternative<TokenizeRequest>(t));
    CHECK(std::get<TokenizeRequest>(t).add_special);
    CHECK(std::holds_alternative<ApiError>(parse_tokenize_request(R"({"content": 1})", limits())));
    auto d = parse_detokenize_request(R"({"tokens": [1, 2]})", limits());
    REQUIRE(std::holds_alternative<DetokenizeRequest>(d));
    CHECK(std::holds_alternative<ApiError>(parse_detokenize_request(R"({"tokens": [512]})", limits())));
}

TEST_CASE("serve api: no prefix or one-byte change of a request throws") {
    const std::string good = R"({"prompt": ["Once", [1, 2]], "max_tokens": 5, "temperature": 0.5, "stop": ["."],)"
                             R"( "logprobs": 2, "echo": true, "messages": [{"role": "user", "content": "a"}]})";
    const std::string bytes = std::string("\0\xff\"[]{},:-.e9\\ ua", 18);
    std::size_t accepted = 0;
    auto all = [&](const std::string& body) {
        const auto a = parse_completion_request(body, limits());
        const auto b = parse_chat_request(body, limits());
        const auto c = parse_tokenize_request(body, limits());
        const auto d = parse_detokenize_request(body, limits());
        accepted += std::holds_alternative<GenerationRequest>(a) + std::holds_alternative<GenerationRequest>(b) +
                    std::holds_alternative<TokenizeRequest>(c) + std::holds_alternative<DetokenizeRequest>(d);
    };
    for (std::size_t n = 0; n <= good.size(); ++n) REQUIRE_NOTHROW(all(good.substr(0, n)));
    for (std::size_t i = 0; i < good.size(); ++i)
        for (char ch : bytes) {
            std::string body = good;
            body[i] = ch;
            REQUIRE_NOTHROW(all(body));
        }
    CHECK(accepted > 0);
}

// --- llamaref check's reader of an engine's answer (examples/cli/check_api.hpp) ---------------

#include "../examples/cli/check_api.hpp"

TEST_CASE("check reads the three answer shapes, and refuses what cannot be graded", "[serve][check]") {
    using namespace llamaref::cli::check;
    auto read = [](const char* text, bool echo) { return read_answer(llamaref::cli::check::json::parse(text), echo); };
    // llamaref serve's legacy shape with ids, echoed: prompt [1, 3], generated [5].
    const EngineAnswer a = read(
        R"({"choices": [{"token_ids": [5], "prompt_token_ids": [1, 3], "logprobs": {"tokens": ["<s>", " b", " a"],)"
        R"( "token_logprobs": [null, -0.5, -0.1], "top_logprobs": [null, {" b": -0.5}, {" a": -0.1, " c": -2.5}],)"
        R"( "token_ids": [1, 3, 5], "top_token_ids": [null, [3], [5, 7]], "top_token_logprobs": [null, [-0.5], [-0.1, -2.5]]}}]})",
        true);
    CHECK(a.prompt_ids == std::vector<int>{1, 3});
    CHECK(a.generated_ids == std::vector<int>{5});
    REQUIRE(a.positions.size() == 3);
    CHECK_FALSE(a.positions[0].logprob);
    CHECK(a.positions[2].id == 5);
    CHECK(*a.positions[2].logprob == -0.1);
    CHECK(a.positions[2].top_ids == std::vector<int>{5, 7});
    CHECK(a.positions[2].top_logprobs == std::vector<double>{-0.1, -2.5});
    // vLLM's "token_id:N" names, in the engine's order.
    const EngineAnswer v = read(R"({"choices": [{"logprobs": {"tokens": ["token_id:5"], "token_logprobs": [-0.2],)"
                                R"( "top_logprobs": [{"token_id:9": -1.9, "token_id:5": -0.2}]}}]})",
                                false);
    REQUIRE(v.positions.size() == 1);
    CHECK(v.positions[0].top_ids == std::vector<int>{9, 5});
    // llama-server's chat-style shape.
    const EngineAnswer c = read(R"({"choices": [{"logprobs": {"content": [{"id": 5, "logprob": -0.2, "top_logprobs":)"
                                R"( [{"id": 5, "logprob": -0.2}, {"id": 9, "logprob": -1.9}]}]}}]})",
                                false);
    CHECK(c.positions.at(0).top_ids == std::vector<int>{5, 9});
    // Tokens named only by their text; no logprobs; a top entry without its logprob (the fuzzer's
    // first finding: an absent key read through the const operator[]); wrong types.
    CHECK_THROWS_WITH(read(R"({"choices": [{"logprobs": {"tokens": [" a"], "token_logprobs": [-1]}}]})", false),
                      Catch::Contains("by text only"));
    CHECK_THROWS_WITH(read(R"({"choices": [{"text": "a"}]})", false), Catch::Contains("no logprobs"));
    CHECK_THROWS_AS(
        read(R"({"choices": [{"logprobs": {"content": [{"id": 5, "logprob": -0.2, "top_logprobs": [{"id": 5}]}]}}]})",
             false),
        llamaref::Error);
    CHECK_THROWS_AS(read(R"({"choices": [{"logprobs": {"content": [{"id": "x", "logprob": -0.2}]}}]})", false),
                    llamaref::Error);
    CHECK_THROWS_AS(read(R"({"choices": []})", false), llamaref::Error);
    CHECK_THROWS_AS(read(R"([1, 2])", false), llamaref::Error);
}
