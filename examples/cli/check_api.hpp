// examples/cli/check_api.hpp — what `llamaref check` reads of an engine's /v1/completions answer.
//
// Kept apart from check.cpp (the HTTP client and the report) so that tests/fuzz/fuzz_check_answer
// can feed it any bytes: an engine's answer is untrusted input. read_answer returns the engine's
// token ids and log-probabilities, or throws llamaref::Error saying what is missing or malformed;
// it throws nothing else and allocates no more than the answer's own size.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <llamaref/core/error.hpp>

namespace llamaref::cli::check {

using json = nlohmann::ordered_json;  // keeps top_logprobs' keys in the engine's order

// One graded position: the id the engine ran there, its log-probability and its top K.
struct EnginePosition {
    int id = -1;
    std::optional<double> logprob;  // null: the first prompt token
    std::vector<int> top_ids;
    std::vector<double> top_logprobs;
};

// The engine's answer to one prompt: its ids and, where it gave them, its log-probabilities.
struct EngineAnswer {
    std::vector<int> prompt_ids;  // empty when the API did not say
    std::vector<int> generated_ids;
    std::vector<EnginePosition> positions;  // echo: prompt positions first (the first one null)
    bool echoed = false;
};

// "token_id:123" (vLLM) → 123; anything else → nullopt.
inline std::optional<int> id_from_text(const std::string& s) {
    if (s.rfind("token_id:", 0) != 0) return std::nullopt;
    try {
        return std::stoi(s.substr(9));
    } catch (...) { return std::nullopt; }
}

// Reads choices[0] of a completions answer in either shape (the file's opening).
inline EngineAnswer read_answer_unchecked(const json& body, bool echoed) {
    if (!body.is_object() || !body.contains("choices") || !body.at("choices").is_array() || body.at("choices").empty())
        fail("check: the engine's answer has no choices[0]: ", body.dump().substr(0, 300));
    const json& c = body.at("choices").at(0);
    EngineAnswer a;
    a.echoed = echoed;
    if (body.contains("prompt_token_ids") && body.at("prompt_token_ids").is_array())
        a.prompt_ids = body.at("prompt_token_ids").get<std::vector<int>>();
    else if (c.contains("prompt_token_ids") && c.at("prompt_token_ids").is_array())
        a.prompt_ids = c.at("prompt_token_ids").get<std::vector<int>>();
    if (!c.contains("logprobs") || !c.at("logprobs").is_object())
        fail("check: the engine returned no logprobs (asked with \"logprobs\": K); it cannot be graded");
    const json& lp = c.at("logprobs");
    if (lp.contains("content") && lp.at("content").is_array()) {  // chat-style (llama-server)
        for (const json& e : lp.at("content")) {
            EnginePosition p;
            if (!e.contains("id"))
                fail("check: logprobs.content entries carry no token id; the engine cannot be graded");
            p.id = e.at("id").get<int>();
            if (e.contains("logprob") && e.at("logprob").is_number()) p.logprob = e.at("logprob").get<double>();
            for (const json& t : e.value("top_logprobs", json::array())) {
                if (!t.contains("id")) fail("check: top_logprobs entries carry no token id");
                p.top_ids.push_back(t.at("id").get<int>());
                p.top_logprobs.push_back(t.at("logprob").get<double>());
            }
            a.positions.push_back(std::move(p));
        }
    } else {  // OpenAI's legacy shape
        const json tokens = lp.value("tokens", json::array()), token_lps = lp.value("token_logprobs", json::array()),
                   tops = lp.value("top_logprobs", json::array());
        const json ids = lp.value("token_ids", json()), top_ids = lp.value("top_token_ids", json()),
                   top_id_lps = lp.value("top_token_logprobs", json());
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            EnginePosition p;
            if (ids.is_array() && i < ids.size())
                p.id = ids[i].get<int>();
            else if (auto v = id_from_text(tokens[i].get<std::string>()))
                p.id = *v;
            else
                fail("check: the engine names its tokens by text only (\"", tokens[i].get<std::string>(),
                     "\"), not by id; a text may be several ids, so it cannot be graded (vLLM: "
                     "--return-tokens-as-token-ids)");
            if (i < token_lps.size() && token_lps[i].is_number()) p.logprob = token_lps[i].get<double>();
            const bool by_id = top_ids.is_array() && i < top_ids.size() && top_ids[i].is_array() &&
                               top_id_lps.is_array() && i < top_id_lps.size() && top_id_lps[i].is_array();
            if (by_id) {  // llamaref serve: the ids and their log-probabilities, in order
                p.top_ids = top_ids[i].get<std::vector<int>>();
                p.top_logprobs = top_id_lps[i].get<std::vector<double>>();
                if (p.top_ids.size() != p.top_logprobs.size())
                    fail("check: top_token_ids and top_token_logprobs differ in length");
            } else if (i < tops.size() && tops[i].is_object()) {  // {text: logprob}: the ids from the texts
                for (auto it = tops[i].begin(); it != tops[i].end(); ++it) {
                    const auto id = id_from_text(it.key());
                    if (!id)
                        fail("check: top_logprobs names tokens by text only (\"", it.key(),
                             "\"); a text may be several ids, so the engine cannot be graded (vLLM: "
                             "--return-tokens-as-token-ids)");
                    p.top_ids.push_back(*id);
                    p.top_logprobs.push_back(it.value().get<double>());
                }
            }
            a.positions.push_back(std::move(p));
        }
    }
    if (c.contains("token_ids") && c.at("token_ids").is_array())
        a.generated_ids = c.at("token_ids").get<std::vector<int>>();
    return a;
}

// read_answer_unchecked, with the JSON library's own errors (a field of the wrong type) as an Error.
inline EngineAnswer read_answer(const json& body, bool echoed) {
    try {
        return read_answer_unchecked(body, echoed);
    } catch (const json::exception& e) { fail("check: the engine's answer is malformed (", e.what(), ")"); }
}

}  // namespace llamaref::cli::check
