// llamaref serve — an OpenAI-compatible HTTP server over the reference: /v1/completions (with
// echo and exact logprobs), /v1/chat/completions, /v1/models, /health, /tokenize, /detokenize.
//
// The HTTP side is cpp-httplib (Debian's libcpp-httplib-dev, the library llama.cpp's server is
// built on): a thread pool answers connections; requests that run the model take one lock, so
// they run one at a time, each from position 0, never mixed (a bounded number may wait; more get
// 429). Requests are checked first (serve_api.hpp): a bad one gets an OpenAI-style JSON error and
// a 4xx status, and the model never sees it.
//
// One completion is `llamaref generate`'s loop (generate_steps' order: run, pick, stop?, emit),
// with its sampler (sampler.hpp, Mt19937Rng seeded the same way) on the engine's logits
// (device.hpp: --backend fast|ref as for `llamaref logits`). The log-probabilities are
// log-softmax, in double, of exactly those float32 logits: the model's own distribution, before
// temperature, penalties or cutoffs. Documented in docs/serve.md.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <numeric>

#include <llamaref/generate.hpp>
#include <llamaref/sampling/sampler.hpp>

#include "chat_template.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "device.hpp"
#include "serve_api.hpp"

#ifndef LLAMAREF_WITH_HTTPLIB
namespace llamaref::cli {
int cmd_serve(int, char**) {
    fail(
        "llamaref serve needs cpp-httplib, and this llamaref was built without it: install it (Debian: apt-get "
        "install libcpp-httplib-dev, or scripts/install-deps.sh) and configure again");
}
}  // namespace llamaref::cli
#else
#include <httplib.h>

namespace llamaref::cli {

namespace {

using serve::ApiError;
using serve::GenerationRequest;
using serve::ojson;

constexpr std::size_t kMaxEchoLogits = std::size_t(1) << 28;  // 1 GiB of float32 logits
constexpr int kMaxQueue = 8;                                  // requests that run or wait for the model

// One position's log-probabilities: the token there, and the most likely alternatives.
struct TokenLogprob {
    int id = 0;
    std::string text;                         // the token's piece in context (raw bytes)
    std::optional<double> logprob;            // null for the first prompt token
    std::vector<std::pair<int, double>> top;  // most likely first (ties: lower id)
    std::vector<std::string> top_text;
};

// log-softmax (double) of logits [V] at `id`, and the n most likely ids.
void log_softmax_at(std::span<const float> logits, int id, int n, TokenLogprob& out) {
    double mx = -INFINITY;
    for (float l : logits) mx = std::max(mx, double(l));
    double sum = 0;
    for (float l : logits) sum += std::exp(double(l) - mx);
    const double lse = mx + std::log(sum);
    out.logprob = double(logits[id]) - lse;
    std::vector<int> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    const auto k = std::min<std::size_t>(std::size_t(n), order.size());
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    for (std::size_t i = 0; i < k; ++i) out.top.push_back({order[i], double(logits[order[i]]) - lse});
}

// One finished (or streamed) choice.
struct Choice {
    std::vector<int> prompt, tokens;  // prompt ids; generated ids (a stop token is not included)
    std::string text;                 // generated text, cut before a stop string
    std::string echo_text;            // the prompt's text (echo)
    std::vector<TokenLogprob> echo_lp, lp;
    std::string finish_reason = "length";
};

// What a chunk of a stream carries: new text and the tokens that made it.
struct Delta {
    std::string text;
    std::vector<int> tokens;
    std::vector<TokenLogprob> lp;
};

class Server {
  public:
    Server(const CliModel& model, std::unique_ptr<Engine> engine, Tokenizer tok, int ctx, std::string model_id,
           std::string tmpl, std::vector<int> stop)
        : engine_(std::move(engine)),
          tok_(std::move(tok)),
          ctx_(ctx),
          model_id_(std::move(model_id)),
          template_(std::move(tmpl)),
          stop_ids_(std::move(stop)) {
        limits_.vocab_size = model.config().vocab_size;
        limits_.context = ctx;
    }
    serve::Limits& limits() { return limits_; }
    const std::string& model_id() const { return model_id_; }
    const Tokenizer& tok() const { return tok_; }

    // The prompts' ids: text tokenized with BOS (as generate does), chat rendered by the template;
    // each within the context (a prompt that fills it gets one new token, as in generate).
    std::optional<ApiError> prepare(GenerationRequest& r, std::vector<std::vector<int>>& prompts) const {
        try {
            if (r.chat) {
                prompts.push_back(render(template_, tok_, r.messages));
            } else {
                for (const auto& p : r.prompts)
                    prompts.push_back(p.is_text ? tok_.encode(p.text, /*bos=*/true, /*eos=*/false) : p.ids);
            }
        } catch (const Error& e) { return ApiError{400, e.what(), r.chat ? "messages" : "prompt"}; }
        const std::string param = r.chat ? "messages" : "prompt";
        for (const auto& p : prompts) {
            if (p.empty()) return ApiError{400, "the prompt has no tokens", param};
            if (int(p.size()) > ctx_)
                return ApiError{400,
                                "the prompt is " + std::to_string(p.size()) + " tokens; the context holds " +
                                    std::to_string(ctx_) + " (prompt and new tokens together)",
                                param, "invalid_request_error", "context_length_exceeded"};
            // echo with logprobs holds the logits of every prompt position at once: [T, V] floats
            if (r.echo && r.logprobs >= 0 && p.size() * std::size_t(limits_.vocab_size) > kMaxEchoLogits)
                return ApiError{400,
                                "echo with logprobs over " + std::to_string(p.size()) +
                                    " tokens needs more memory than the server allows (" +
                                    std::to_string(kMaxEchoLogits / std::size_t(limits_.vocab_size)) +
                                    " tokens at most for this vocabulary); send a shorter prompt",
                                param};
        }
        return std::nullopt;
    }

    // Runs one prompt; on_delta (may be empty) gets the text as it is released and returns false
    // when the client has gone (the run then ends).
    Choice run(const std::vector<int>& prompt, const GenerationRequest& r, uint64_t seed,
               const std::function<bool(const Delta&)>& on_delta) {
        Choice c;
        c.prompt = prompt;
        const std::size_t V = std::size_t(limits_.vocab_size);
        const int T = int(prompt.size());
        const int want_lp = r.logprobs;
        auto text_of = [&](int prev, int id) {
            return prev < 0 ? tok_.decode(std::vector<int>{id}) : tok_.decode(prev, id);
        };
        auto entry = [&](std::span<const float> logits, int prev, int id) {
            TokenLogprob e;
            e.id = id;
            e.text = text_of(prev, id);
            log_softmax_at(logits, id, std::max(want_lp, 0), e);
            for (const auto& [alt, lp] : e.top) e.top_text.push_back(text_of(prev, alt));
            return e;
        };
        std::vector<float> last;  // logits [V] of the last position run
        if (r.echo) {
            c.echo_text = r.chat ? "" : tok_.decode(prompt);
            if (want_lp >= 0) {  // every prompt position: one forward over the prompt, all rows
                TokenLogprob first;
                first.id = prompt[0];
                first.text = text_of(-1, prompt[0]);
                c.echo_lp.push_back(first);
                const std::vector<float> all = engine_->forward(prompt, 0);  // [T, V]
                for (int t = 1; t < T; ++t)
                    c.echo_lp.push_back(
                        entry(std::span(all).subspan(std::size_t(t - 1) * V, V), prompt[t - 1], prompt[t]));
                last.assign(all.end() - std::ptrdiff_t(V), all.end());
            }
        }
        if (on_delta && (!c.echo_text.empty() || !c.echo_lp.empty()))
            if (!on_delta(Delta{c.echo_text, {}, c.echo_lp})) return c;
        if (r.max_tokens == 0) return c;
        if (last.empty()) {
            const std::span<const float> l = engine_->forward_last(prompt, 0);
            last.assign(l.begin(), l.end());
        }
        Mt19937Rng mt(seed);
        Sampler sampler(r.sampling, mt);
        std::vector<int> history = prompt;
        Utf8Stream utf8;
        std::string all_text;      // complete characters so far
        std::size_t released = 0;  // bytes of all_text sent (stop strings may hold some back)
        std::size_t longest_stop = 0;
        for (const auto& s : r.stop) longest_stop = std::max(longest_stop, s.size());
        int prev = prompt.back(), pos = T;
        bool cut_at_stop_string = false;
        Delta d;
        // Releases text up to `upto` with the tokens since the last delta.
        auto release = [&](std::size_t upto) {
            d.text = all_text.substr(released, upto - released);
            released = upto;
            const bool ok = !on_delta || on_delta(d);
            d = Delta{};
            return ok;
        };
        while (int(c.tokens.size()) < r.max_tokens) {
            const int next = sampler.next(last.data(), V, history);
            if (std::find(stop_ids_.begin(), stop_ids_.end(), next) != stop_ids_.end()) {
                c.finish_reason = "stop";
                break;
            }
            if (want_lp >= 0) d.lp.push_back(entry(last, prev, next)), c.lp.push_back(d.lp.back());
            c.tokens.push_back(next), d.tokens.push_back(next), history.push_back(next);
            all_text += utf8.push(tok_.decode(prev, next));
            prev = next;
            // A stop string ends the text before it; text that could begin one waits.
            std::size_t cut = std::string::npos;
            const std::size_t from = released > longest_stop ? released - longest_stop : 0;
            for (const auto& s : r.stop) cut = std::min(cut, all_text.find(s, from));
            if (cut != std::string::npos) {
                all_text.resize(cut);
                c.finish_reason = "stop", cut_at_stop_string = true;
                release(std::max(cut, released));
                break;
            }
            std::size_t hold = 0;
            for (const auto& s : r.stop)
                for (std::size_t k = std::min(s.size() - 1, all_text.size()); k > hold; --k)
                    if (all_text.compare(all_text.size() - k, k, s, 0, k) == 0) {
                        hold = k;
                        break;
                    }
            if (!release(all_text.size() - hold)) return c;  // the client has gone
            if (int(c.tokens.size()) == r.max_tokens || pos >= ctx_) break;
            const int one[1] = {next};
            const std::span<const float> l = engine_->forward_last(one, pos++);
            last.assign(l.begin(), l.end());
        }
        if (!cut_at_stop_string) {  // the text held back, and a character cut short (U+FFFD, as generate)
            all_text += utf8.flush();
            if (released < all_text.size()) release(all_text.size());
        }
        c.text = all_text.substr(0, released);
        return c;
    }

    std::mutex& model_lock() { return model_mutex_; }
    std::atomic<int>& waiting() { return waiting_; }

  private:
    std::unique_ptr<Engine> engine_;
    Tokenizer tok_;
    int ctx_;
    std::string model_id_, template_;
    std::vector<int> stop_ids_;
    serve::Limits limits_;
    std::mutex model_mutex_;
    std::atomic<int> waiting_{0};
};

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

ojson bytes_of(const std::string& s) {
    ojson b = ojson::array();
    for (unsigned char ch : s) b.push_back(int(ch));
    return b;
}

// The legacy completions shape: tokens, token_logprobs, top_logprobs, text_offset (+ token_ids,
// top_token_ids, top_token_logprobs: llamaref's, since two ids may share a text).
ojson legacy_logprobs(const std::vector<TokenLogprob>& lps, std::size_t offset0) {
    ojson tokens = ojson::array(), lp = ojson::array(), top = ojson::array(), off = ojson::array(),
          ids = ojson::array(), top_ids = ojson::array(), top_lps = ojson::array();
    std::size_t offset = offset0;
    for (const auto& e : lps) {
        tokens.push_back(e.text);
        ids.push_back(e.id);
        off.push_back(offset);
        offset += e.text.size();
        if (!e.logprob) {
            lp.push_back(nullptr), top.push_back(nullptr), top_ids.push_back(nullptr), top_lps.push_back(nullptr);
            continue;
        }
        lp.push_back(*e.logprob);
        ojson t = ojson::object(), ti = ojson::array(), tl = ojson::array();
        for (std::size_t i = 0; i < e.top.size(); ++i) {
            if (!t.contains(e.top_text[i])) t[e.top_text[i]] = e.top[i].second;  // the first (likeliest) of a text
            ti.push_back(e.top[i].first);
            tl.push_back(e.top[i].second);
        }
        top.push_back(t), top_ids.push_back(ti), top_lps.push_back(tl);
    }
    return ojson{{"tokens", tokens}, {"token_logprobs", lp},     {"top_logprobs", top},          {"text_offset", off},
                 {"token_ids", ids}, {"top_token_ids", top_ids}, {"top_token_logprobs", top_lps}};
}

// The chat shape: content[i] {token, logprob, bytes, id, top_logprobs [{token, logprob, bytes, id}]}.
ojson chat_logprobs(const std::vector<TokenLogprob>& lps) {
    ojson content = ojson::array();
    for (const auto& e : lps) {
        ojson top = ojson::array();
        for (std::size_t i = 0; i < e.top.size(); ++i)
            top.push_back({{"token", e.top_text[i]},
                           {"logprob", e.top[i].second},
                           {"bytes", bytes_of(e.top_text[i])},
                           {"id", e.top[i].first}});
        content.push_back({{"token", e.text},
                           {"logprob", e.logprob.value_or(0.0)},
                           {"bytes", bytes_of(e.text)},
                           {"id", e.id},
                           {"top_logprobs", top}});
    }
    return ojson{{"content", content}};
}

void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    res.set_content(dump(serve::error_body(e)), "application/json");
}

std::string request_id(const char* prefix) {
    static std::atomic<uint64_t> counter{0};
    return std::string(prefix) + std::to_string(uint64_t(std::chrono::system_clock::now().time_since_epoch().count())) +
           "-" + std::to_string(counter++);
}

int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// POST /v1/completions and /v1/chat/completions.
void handle_generation(Server& srv, const httplib::Request& req, httplib::Response& res, bool chat) {
    auto parsed = chat ? serve::parse_chat_request(req.body, srv.limits())
                       : serve::parse_completion_request(req.body, srv.limits());
    if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
    auto r = std::make_shared<GenerationRequest>(std::move(std::get<GenerationRequest>(parsed)));
    auto prompts = std::make_shared<std::vector<std::vector<int>>>();
    if (auto e = srv.prepare(*r, *prompts)) return send_error(res, *e);
    const uint64_t seed =
        r->seed.value_or(uint64_t(std::chrono::system_clock::now().time_since_epoch().count()) & INT64_MAX);
    const std::string id = request_id(chat ? "chatcmpl-" : "cmpl-");
    const int64_t created = now_s();
    const char* object = chat ? "chat.completion" : "text_completion";

    // At most kMaxQueue requests run or wait for the model; more are told to come back. The ticket
    // is given back when the response is gone (also when a stream's client left before it began).
    if (srv.waiting()++ >= kMaxQueue) {
        srv.waiting()--;
        return send_error(res, ApiError{429, "too many requests are waiting for the model; try again", "",
                                        "rate_limit_error", "server_busy"});
    }
    std::shared_ptr<void> ticket(nullptr, [&srv](void*) { srv.waiting()--; });
    auto usage = [](std::size_t p, std::size_t c) {
        return ojson{{"prompt_tokens", p}, {"completion_tokens", c}, {"total_tokens", p + c}};
    };
    auto choice_json = [&, r](const Choice& c, std::size_t index) {
        ojson ch;
        ch["index"] = index;
        if (chat) {
            ch["message"] = {{"role", "assistant"}, {"content", c.text}};
            ch["logprobs"] = r->logprobs >= 0 ? chat_logprobs(c.lp) : ojson(nullptr);
        } else {
            std::vector<TokenLogprob> all = c.echo_lp;
            all.insert(all.end(), c.lp.begin(), c.lp.end());
            ch["text"] = (r->echo ? c.echo_text : "") + c.text;
            ch["logprobs"] = r->logprobs >= 0 ? legacy_logprobs(all, 0) : ojson(nullptr);
        }
        ch["finish_reason"] = c.finish_reason;
        ch["prompt_token_ids"] = c.prompt;
        ch["token_ids"] = c.tokens;
        return ch;
    };

    if (!r->stream) {
        std::vector<Choice> choices;
        {
            std::lock_guard<std::mutex> lock(srv.model_lock());
            for (const auto& p : *prompts) choices.push_back(srv.run(p, *r, seed, nullptr));
        }
        ojson out{{"id", id}, {"object", object}, {"created", created}, {"model", srv.model_id()}, {"seed", seed}};
        ojson list = ojson::array();
        std::size_t np = 0, nc = 0;
        for (std::size_t i = 0; i < choices.size(); ++i) {
            list.push_back(choice_json(choices[i], i));
            np += choices[i].prompt.size(), nc += choices[i].tokens.size();
        }
        out["choices"] = list;
        out["usage"] = usage(np, nc);
        res.set_content(dump(out), "application/json");
        return;
    }
    // Server-sent events: `data: {chunk}` per released piece of text, then `data: [DONE]`.
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [&srv, r, prompts, seed, id, created, chat, usage, ticket](
                                                              std::size_t, httplib::DataSink& sink) {
        std::lock_guard<std::mutex> lock(srv.model_lock());
        auto send = [&](const ojson& chunk) {
            const std::string s = "data: " + dump(chunk) + "\n\n";
            return sink.write(s.data(), s.size());
        };
        auto chunk = [&](ojson choice) {
            return ojson{{"id", id},           {"object", chat ? "chat.completion.chunk" : "text_completion"},
                         {"created", created}, {"model", srv.model_id()},
                         {"seed", seed},       {"choices", ojson::array({std::move(choice)})}};
        };
        std::size_t np = 0, nc = 0;
        bool alive = true;
        for (std::size_t i = 0; i < prompts->size() && alive; ++i) {
            if (chat)
                alive = send(chunk({{"index", i},
                                    {"delta", {{"role", "assistant"}, {"content", ""}}},
                                    {"logprobs", nullptr},
                                    {"finish_reason", nullptr}}));
            std::size_t offset = 0;
            auto on_delta = [&](const Delta& d) {
                ojson ch{{"index", i}};
                if (chat) {
                    ch["delta"] = {{"content", d.text}};
                    ch["logprobs"] = r->logprobs >= 0 ? chat_logprobs(d.lp) : ojson(nullptr);
                } else {
                    ch["text"] = d.text;
                    ch["logprobs"] = r->logprobs >= 0 ? legacy_logprobs(d.lp, offset) : ojson(nullptr);
                    for (const auto& e : d.lp) offset += e.text.size();
                }
                ch["finish_reason"] = nullptr;
                ch["token_ids"] = d.tokens;
                return alive = alive && send(chunk(ch));
            };
            const Choice c = srv.run((*prompts)[i], *r, seed, on_delta);
            np += c.prompt.size(), nc += c.tokens.size();
            if (!alive) break;
            ojson last{{"index", i}};
            if (chat)
                last["delta"] = ojson::object();
            else
                last["text"] = "";
            last["logprobs"] = nullptr;
            last["finish_reason"] = c.finish_reason;
            last["prompt_token_ids"] = c.prompt;
            alive = send(chunk(last));
        }
        if (alive && r->include_usage) {
            ojson u = chunk(nullptr);
            u["choices"] = ojson::array();
            u["usage"] = usage(np, nc);
            alive = send(u);
        }
        if (alive) {
            const std::string done = "data: [DONE]\n\n";
            sink.write(done.data(), done.size());
        }
        sink.done();
        return true;
    });
}

}  // namespace

int cmd_serve(int argc, char** argv) {
    ArgParser args("serve", "-m MODEL [-z TOKENIZER] [--host H] [--port P] [--api-key KEY]",
                   "An OpenAI-compatible HTTP server over the reference (docs/serve.md): POST /v1/completions (prompt\n"
                   "as text or token ids; echo; logprobs N: log-softmax of the exact logits `llamaref logits` writes;\n"
                   "stream), POST /v1/chat/completions (the model's chat template), GET /v1/models, GET /health,\n"
                   "POST /tokenize, POST /detokenize. One request runs the model at a time; seeded sampling gives\n"
                   "the text `llamaref generate` gives with that seed and settings. --port 0 picks a free port.");
    args.option("-m,--model", "MODEL", model_help())
        .option("-z,--tokenizer", "FILE", "tokenizer (default: the model's own)")
        .option("--host", "H", "address to listen on", "127.0.0.1")
        .option("--port", "P", "port to listen on (0: any free one, printed)", "8080")
        .option("--api-key", "KEY", "require 'Authorization: Bearer KEY' (all but /health)")
        .option("--alias", "NAME", "the model's name in /v1/models and responses (default: the file's name)")
        .option("--template", "NAME", "chat template (as llamaref chat's; default: from the model)")
        .option("-c,--ctx-size", "N", "context length (default: the model's)")
        .option("--max-body", "BYTES", "largest request body", "1048576")
        .option("--max-prompts", "N", "most prompts in one /v1/completions request", "128");
    add_cpu_options(args);
    args.parse(argc, argv);
    const CpuOptions cpu = cpu_options_from(args, "serve");
    EngineOptions eo;  // the CPU path (--backend, -ctk / -ctv, --llamacpp-rounding)
    eo.cpu = cpu;
    const int port = int(args.integer("--port", 0, 65535));
    const auto max_body = std::size_t(args.integer("--max-body", 1, 1L << 30));
    const int max_prompts = int(args.integer("--max-prompts", 1, 1 << 20));

    const std::string path = model_path(args);
    const CliModel model = load_cli_model(path);
    const int ctx = args.given("-c") ? int(args.integer("-c", 1, 1 << 30)) : model.config().max_seq_len;
    Tokenizer tok = load_tokenizer(args, path, model.config().vocab_size, /*decodes=*/true);
    const std::string tmpl = args.given("--template") ? args.str("--template") : default_template(model.config(), tok);
    std::vector<int> stop = stop_tokens(tok);  // as generate and chat stop
    if (model.format().rfind("llama2c", 0) == 0) stop.push_back(tok.bos_id());
    if (tmpl == "gemma") stop = gemma_stop_tokens(*tok.sentencepiece());
    eo.context = ctx;
    const std::string alias =
        args.given("--alias") ? args.str("--alias") : std::filesystem::path(path).filename().string();
    Server srv(model, make_engine(Device::cpu, model, eo), std::move(tok), ctx, alias, tmpl, stop);
    srv.limits().max_prompts = max_prompts;
    const std::string api_key = args.given("--api-key") ? args.str("--api-key") : "";

    httplib::Server http;
    // cpp-httplib gives each connection a thread while it is open (keep-alive included): 4 x kMaxQueue
    // threads, so that /health and the checks answer while the model's queue is full.
    http.new_task_queue = [] { return new httplib::ThreadPool(4 * kMaxQueue); };
    http.set_payload_max_length(max_body);
    http.set_read_timeout(5, 0);  // a client that sends nothing for 5 s is cut off
    http.set_write_timeout(30, 0);
    http.set_keep_alive_timeout(5);
    http.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
        if (api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
        if (req.get_header_value("Authorization") == "Bearer " + api_key)
            return httplib::Server::HandlerResponse::Unhandled;
        send_error(res, ApiError{401, "a valid API key is needed: Authorization: Bearer KEY", "",
                                 "invalid_request_error", "invalid_api_key"});
        return httplib::Server::HandlerResponse::Handled;
    });
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        const std::string what = res.status == 404   ? "no such endpoint: " + req.method + " " + req.path
                                 : res.status == 413 ? "the request body is larger than the server accepts"
                                 : res.status == 400
                                     ? "the HTTP request could not be read (malformed, or sent too slowly)"
                                     : "the request could not be handled";
        send_error(res,
                   ApiError{res.status, what, "", res.status == 404 ? "not_found_error" : "invalid_request_error"});
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) { what = e.what(); } catch (...) {
        }
        send_error(res, ApiError{500, what, "", "server_error"});
    });

    http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(R"({"status":"ok"})", "application/json");
    });
    http.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
        const ojson m{{"id", srv.model_id()},
                      {"object", "model"},
                      {"created", 0},
                      {"owned_by", "llamaref"},
                      {"meta", {{"vocab_size", model.config().vocab_size}, {"context", ctx}, {"template", tmpl}}}};
        res.set_content(dump(ojson{{"object", "list"}, {"data", ojson::array({m})}}), "application/json");
    });
    http.Post("/tokenize", [&](const httplib::Request& req, httplib::Response& res) {
        auto p = serve::parse_tokenize_request(req.body, srv.limits());
        if (auto* e = std::get_if<ApiError>(&p)) return send_error(res, *e);
        const auto& r = std::get<serve::TokenizeRequest>(p);
        const std::vector<int> ids = srv.tok().encode(r.content, r.add_special, false);
        ojson tokens = ojson::array();
        int prev = -1;
        for (int id : ids) {
            if (r.with_pieces)
                tokens.push_back(
                    {{"id", id},
                     {"piece", prev < 0 ? srv.tok().decode(std::vector<int>{id}) : srv.tok().decode(prev, id)}});
            else
                tokens.push_back(id);
            prev = id;
        }
        res.set_content(dump(ojson{{"tokens", tokens}}), "application/json");
    });
    http.Post("/detokenize", [&](const httplib::Request& req, httplib::Response& res) {
        auto p = serve::parse_detokenize_request(req.body, srv.limits());
        if (auto* e = std::get_if<ApiError>(&p)) return send_error(res, *e);
        res.set_content(dump(ojson{{"content", srv.tok().decode(std::get<serve::DetokenizeRequest>(p).tokens)}}),
                        "application/json");
    });
    http.Post("/v1/completions",
              [&](const httplib::Request& req, httplib::Response& res) { handle_generation(srv, req, res, false); });
    http.Post("/v1/chat/completions",
              [&](const httplib::Request& req, httplib::Response& res) { handle_generation(srv, req, res, true); });

    const std::string host = args.str("--host");
    const int bound = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
    if (bound < 0) fail("cannot listen on ", host, ":", port, " (in use, or not an address of this machine?)");
    std::fprintf(stderr, "llamaref serve: listening on http://%s:%d (model %s, context %d tokens, template %s)\n",
                 host.c_str(), bound, alias.c_str(), ctx, tmpl.c_str());
    if (!http.listen_after_bind()) fail("the server stopped unexpectedly");
    return 0;
}

}  // namespace llamaref::cli
#endif  // LLAMAREF_WITH_HTTPLIB
