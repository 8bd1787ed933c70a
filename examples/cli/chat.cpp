// llamaref chat — an interactive multi-turn dialog, history kept in the KV cache.
//
// Each turn the dialog is rendered by its template (tokenizer/chat_format.hpp) and compared with
// the tokens already in the KV cache: only the new suffix (the end of the last answer, the new
// user message, the assistant header) goes through the model. /reset starts over, /exit or the
// end of input ends the chat.
//
// The rendering is the reference's: Meta's chat_completion encodes each earlier answer from its
// text, stripped (llama2: "[/INST] {answer.strip()} </s>"). Where that text tokenizes otherwise than
// the ids the model sampled (an answer that began without a space, say), the cache holds the
// sampled ids, the prompt has the re-encoded ones, and the answer runs again from the first id
// that differs: the next turn sees exactly the prompt Meta's code would build, not llama.cpp's
// (which keeps the sampled ids). Templates whose answers round-trip (llama3's) reuse them whole.
//
// Llama 3.1 tool use (Meta's prompt format for built-in tools): --tools puts "Environment:
// ipython" and the Tools line into the system message (llama31_system_text, as the HF template
// writes it); an answer that opens with <|python_tag|> is kept as a tool call, one that ends with
// <|eom_id|> as an unfinished message, and /tool RESULT adds the result (role ipython) and lets
// the assistant go on.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <utility>

#include <llamaref/generate.hpp>
#include <llamaref/sampling/sampler.hpp>

#include "chat_template.hpp"
#include "commands.hpp"
#include "common.hpp"

namespace llamaref::cli {

int cmd_chat(int argc, char** argv) {
    ArgParser args(
        "chat", "[-m MODEL] [-z TOKENIZER] [--system TEXT] [--template NAME] [--tools NAMES] [sampling flags]",
        "Chat with a model: type a message and press Enter; /reset forgets the dialog, /exit (or the end\n"
        "of input) ends it. The template follows the model family unless --template says otherwise:\n"
        "llama2 (SentencePiece), llama3 (tiktoken), llama3.1 (tiktoken, RoPE scaling), mistral (Mistral 7B\n"
        "Instruct v0.1), gemma (Gemma 1 and 2), alpaca, vicuna, wizardlm (= vicuna v1.1).\n"
        "Llama 3.1 tool use: --tools brave_search,wolfram_alpha,code_interpreter declares built-in tools in\n"
        "the system message. An answer that opens with <|python_tag|> is a tool call: run it yourself and\n"
        "give its output with /tool RESULT (role ipython); the assistant then goes on.");
    args.option("-m,--model", "MODEL", model_help())
        .option("-z,--tokenizer", "FILE", "tokenizer (default: the model's own)")
        .option("--system", "TEXT", "system prompt")
        .option("--template", "NAME",
                "llama2, llama3, llama3.1, mistral, gemma, alpaca, vicuna or wizardlm (default: from the model)")
        .option("--tools", "NAMES",
                "llama3.1: built-in tools, comma-separated (brave_search, wolfram_alpha, code_interpreter)")
        .option("-n,--n-predict", "N", "most tokens per answer", "256");
    add_sampling_options(args);
    args.option("-c,--ctx-size", "N", "context length (default: the model's; the KV cache grows with the dialog)");
    add_cpu_options(args);
    args.parse(argc, argv);
    const SamplingParams sp = sampling_from(args, llama_cpp_sampling_defaults());
    sp.validate();
    const int n = int(args.integer("-n", 1, 1 << 30));
    const CpuOptions cpu = cpu_options_from(args, "chat");
    const uint64_t seed = seed_from(args);

    const std::string path = model_path(args);
    auto model = std::shared_ptr<const Model>(load_model(path));
    const int ctx = args.given("-c") ? int(args.integer("-c", 2, 1 << 30)) : model->config.max_seq_len;
    const Tokenizer tok = load_tokenizer(args, path, model->config.vocab_size, /*decodes=*/true);
    const std::string tmpl = args.given("--template") ? args.str("--template") : default_template(model->config, tok);
    render(tmpl, tok, Dialog{{"user", "hi"}});  // an unknown template or the wrong tokenizer fails here, not later
    std::vector<std::string> tools;
    if (args.given("--tools")) {
        if (tmpl != "llama3.1")
            throw UsageError(
                "llamaref chat: --tools needs the llama3.1 template (built-in tools are Llama 3.1's), not " + tmpl);
        const std::string list = args.str("--tools");
        for (std::size_t at = 0; at <= list.size();) {
            const std::size_t end = std::min(list.find(',', at), list.size());
            tools.push_back(list.substr(at, end - at));
            if (tools.back().empty())
                throw UsageError("llamaref chat: --tools must be a comma-separated list of names, got '" + list + "'");
            at = end + 1;
        }
    }
    // Llama 3.1's tool tokens (-1: not this template)
    const int python_tag = tmpl == "llama3.1" ? tok.tiktoken()->special_id("<|python_tag|>") : -1;
    const int eom = tmpl == "llama3.1" ? tok.tiktoken()->special_id("<|eom_id|>") : -1;
    Transformer tf(model, ctx);
    cpu.apply(tf);
    print_seed(args, seed);  // only now: bad input above is one error line
    Mt19937Rng rng(seed);
    Sampler sampler(sp, rng);
    std::vector<int> stop = stop_tokens(tok);
    if (model->format.rfind("llama2c", 0) == 0) stop.push_back(tok.bos_id());  // stories models end with BOS
    if (tmpl == "gemma") stop = gemma_stop_tokens(*tok.sentencepiece());       // and <end_of_turn>
    const bool interactive = isatty(STDIN_FILENO);
    std::fprintf(stderr, "chat: template %s, context %d tokens; /reset to start over, /exit to quit\n", tmpl.c_str(),
                 ctx);

    Dialog dialog;
    const std::string system = args.given("--system") ? args.str("--system") : "";
    if (!tools.empty())
        dialog.push_back({"system", llama31_system_text(system, tools)});
    else if (args.given("--system"))
        dialog.push_back({"system", system});
    const std::size_t first_message = dialog.size();
    std::vector<int> cached;  // the tokens whose keys and values are in the KV cache
    std::string line;
    while (true) {
        if (interactive) std::fprintf(stderr, "> ");
        if (!std::getline(std::cin, line) || line == "/exit") break;
        if (line == "/reset") {
            dialog.resize(first_message);
            cached.clear();
            std::fprintf(stderr, "[dialog reset]\n");
            continue;
        }
        if (line.empty()) continue;
        if (line == "/tool" || line.rfind("/tool ", 0) == 0) {  // a tool's result, for the assistant to go on
            const bool call = !dialog.empty() && dialog.back().role == "assistant" &&
                              (dialog.back().tool_call || dialog.back().end_of_message);
            const bool ok = tmpl == "llama3.1" && call && line.size() > 6;
            if (tmpl != "llama3.1")
                std::fprintf(stderr, "[/tool gives a tool's result (Llama 3.1's ipython role); template %s has none]\n",
                             tmpl.c_str());
            else if (!call)
                std::fprintf(stderr, "[/tool answers a tool call, and the last answer was not one]\n");
            else if (line.size() <= 6)
                std::fprintf(stderr, "[usage: /tool RESULT]\n");
            if (!ok) continue;
            dialog.push_back({"ipython", line.substr(6)});
        } else {
            dialog.push_back({"user", line});
        }
        const std::vector<int> full = render(tmpl, tok, dialog);
        if (int(full.size()) >= ctx) {
            dialog.pop_back();
            std::fprintf(stderr,
                         "[the dialog (%zu tokens) no longer fits the context of %d tokens: /reset to start over]\n",
                         full.size(), ctx);
            continue;
        }
        std::size_t reuse = 0;  // the longest prefix already in the cache
        while (reuse < cached.size() && reuse < full.size() - 1 && cached[reuse] == full[reuse]) ++reuse;
        // A rolling KV cache (sliding window) cannot go back: its slots before `reuse` may hold
        // later positions. Run the whole dialog again instead.
        if (model->config.sliding_window > 0 && reuse < cached.size()) reuse = 0;
        const std::span<const int> fresh(full.data() + reuse, full.size() - reuse);
        Utf8Stream stream;
        int prev = full.back();
        bool first = true, first_token = true;
        std::vector<int> answer;
        auto pick = [&](const float* logits, std::size_t V, std::span<const int> history) {
            return sampler.next(logits, V, history);
        };
        auto emit = [&](int id) {
            if (std::exchange(first_token, false) && id == python_tag) return;  // a tool call: not printed as text
            std::string piece = tok.decode(prev, id);
            prev = id;
            if (first && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);  // the space before an answer
            first = piece.empty() && first;
            std::fputs(stream.push(piece).c_str(), stdout);
            std::fflush(stdout);
        };
        GenerationStats st;
        answer = generate(tf, fresh, std::min(n, ctx - int(full.size())), stop, pick, emit, &st, int(reuse));
        std::fputs((stream.flush() + "\n").c_str(), stdout);
        std::fflush(stdout);
        if (st.context_full || (!st.stopped_by_token && int(full.size() + answer.size()) >= ctx))
            std::fprintf(stderr, "[the answer stopped at the end of the context (%d tokens): /reset to start over]\n",
                         ctx);
        std::fprintf(stderr, "[%zu new prompt tokens, %zu reused from the cache; %zu answer tokens, %.1f tok/s]\n",
                     fresh.size(), reuse, answer.size(), double(answer.size()) / std::max(st.decode_seconds, 1e-9));
        // Meta's decoder: an answer opening with <|python_tag|> is a tool call (content after the
        // tag); one that stopped on <|eom_id|> ends with it, not <|eot_id|>.
        ChatMessage reply{"assistant", tok.decode(answer)};
        if (!answer.empty() && answer[0] == python_tag)
            reply.tool_call = true, reply.content = tok.decode(std::vector<int>(answer.begin() + 1, answer.end()));
        reply.end_of_message = st.stopped_by_token && st.stop_token == eom && eom >= 0;
        if (reply.tool_call || reply.end_of_message) std::fprintf(stderr, "[tool call: answer with /tool RESULT]\n");
        dialog.push_back(reply);
        // What the KV cache holds now: the prompt and every answer token that went back through
        // the model. The last one did only if a stop token followed it (generate_steps); after -n
        // tokens or at the end of the context it was printed but never run.
        cached = full;
        cached.insert(cached.end(), answer.begin(), answer.end());
        if (!st.stopped_by_token && !answer.empty()) cached.pop_back();
    }
    return 0;
}

}  // namespace llamaref::cli
