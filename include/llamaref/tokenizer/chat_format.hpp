// llamaref/tokenizer/chat_format.hpp — dialogs -> token ids, and the tokens that end a reply.
//
// Each function follows one named reference; BOS is added exactly once, by the format, so a
// caller must not add another (the classic double-BOS bug).
//   llama2_chat        Meta's llama/generation.py chat_completion (Llama 2 chat):
//                      per past (user, answer): BOS "[INST] {user} [/INST] {answer} " EOS;
//                      the last user turn: BOS "[INST] {user} [/INST]"; a system message goes
//                      into the first user turn as "<<SYS>>\n{system}\n<</SYS>>\n\n"; contents
//                      stripped (Python str.strip); each segment encoded with the dummy prefix.
//   llama3_chat        Meta's ChatFormat (meta-llama/llama3 llama/tokenizer.py): BOS, then per
//                      message <|start_header_id|>{role}<|end_header_id|> "\n\n" {content
//                      stripped} <|eot_id|>, then an open assistant header.
//   llama31_chat       Meta's ChatFormat for 3.1 (meta-llama/llama-models chat_format.py): as
//                      llama3_chat, with role "tool" written "ipython", an assistant message
//                      carrying a tool call opening with <|python_tag|>, and <|eom_id|> ending an
//                      assistant message that expects a tool result. Content is not stripped.
//   llama31_hf_chat    The Hugging Face Llama 3.1 chat template (../shared/templates) with
//                      optional built-in tools (no custom JSON tools): a system header always, its
//                      text from llama31_system_text; rendered to text, then encoded with
//                      special-token text parsed (as transformers does; no second BOS).
//   llama31_system_text  That template's system block: with builtin_tools "Environment: ipython\n"
//                      and "Tools: {tools but code_interpreter, joined ", "}\n\n", then "Cutting
//                      Knowledge Date: December 2023\nToday Date: {date}\n\n" and the system
//                      message stripped. As the content of a system message for llama31_chat it
//                      gives the template's ids (Meta's prompt format for built-in tools).
//   alpaca_prompt      Stanford Alpaca's PROMPT_DICT (single turn, optional input).
//   vicuna_chat        FastChat's "vicuna_v1.1" template: "{system} USER: {u} ASSISTANT: {a}</s>
//                      USER: ... ASSISTANT:", with </s> as the EOS id.
//   mistral_chat       Mistral 7B Instruct v0.1 as mistral-common's tokenizer V1 encodes it (its
//                      ground truth; the model card's "[INST] ... [/INST]"): BOS, then per turn
//                      encode("[INST] {user} [/INST]"), encode("{answer}") EOS, each segment with
//                      SentencePiece's dummy prefix (as text: "<s> [INST] u [/INST] a</s> [INST]
//                      ..."); a system message is prepended to the first user message with "\n\n";
//                      contents are not stripped. BOS once; EOS only after answers.
//   gemma_chat         Gemma 1 / 2 instruction-tuned (the HF chat template of google/gemma-*-it):
//                      <bos> then per message "<start_of_turn>{user|model}\n{content stripped}
//                      <end_of_turn>\n", then an open "<start_of_turn>model\n". "assistant" is
//                      written "model"; a system role is an Error (Gemma has none; its template
//                      raises too). <start_of_turn> / <end_of_turn> are user-defined pieces of
//                      Gemma's SentencePiece model (ids 106 / 107), so the text is encoded once and
//                      they come out as single ids; Gemma's model has no dummy prefix.
// Stop tokens: Llama 2 EOS; Llama 3 end_of_text and eot_id; 3.1 also eom_id; Gemma also
// <end_of_turn> (gemma_stop_tokens).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../core/utf8.hpp"
#include "sentencepiece.hpp"
#include "tiktoken.hpp"

namespace llamaref {

struct ChatMessage {
    std::string role;  // "system", "user", "assistant" (3.1: also "ipython" / "tool")
    std::string content;
    bool tool_call = false;       // 3.1 assistant: content is a tool call (opens with <|python_tag|>)
    bool end_of_message = false;  // 3.1 assistant: ends with <|eom_id|> (a tool result follows), not <|eot_id|>
};
using Dialog = std::vector<ChatMessage>;

namespace detail {

inline std::string stripped(std::string_view s) { return std::string(utf8::python_strip(s)); }

inline void append(std::vector<int>& out, const std::vector<int>& more) {
    out.insert(out.end(), more.begin(), more.end());
}

inline int require_special(const TiktokenTokenizer& tok, const char* name) {
    const int id = tok.special_id(name);
    if (id < 0) fail("chat format: the tokenizer has no special token ", name);
    return id;
}

}  // namespace detail

// ---- Llama 2 ------------------------------------------------------------------------------

inline std::vector<int> llama2_chat(const SentencePieceTokenizer& tok, Dialog dialog) {
    if (!dialog.empty() && dialog[0].role == "system") {
        if (dialog.size() < 2) fail("Llama 2 chat: a system message must be followed by a user message");
        dialog[1].content = "<<SYS>>\n" + dialog[0].content + "\n<</SYS>>\n\n" + dialog[1].content;
        dialog.erase(dialog.begin());
    }
    if (dialog.empty() || dialog.size() % 2 == 0) fail("Llama 2 chat: the dialog must end with a user message");
    for (std::size_t i = 0; i < dialog.size(); ++i)
        if (dialog[i].role != (i % 2 == 0 ? "user" : "assistant"))
            fail("Llama 2 chat: message ", i, " has role '", dialog[i].role,
                 "'; roles must alternate user, assistant, ...");
    std::vector<int> ids;
    for (std::size_t i = 0; i + 1 < dialog.size(); i += 2)
        detail::append(ids, tok.encode("[INST] " + detail::stripped(dialog[i].content) + " [/INST] " +
                                           detail::stripped(dialog[i + 1].content) + " ",
                                       /*bos=*/true, /*eos=*/true));
    detail::append(ids, tok.encode("[INST] " + detail::stripped(dialog.back().content) + " [/INST]", true, false));
    return ids;
}

// ---- Llama 3 and 3.1 (Meta's encoders) ----------------------------------------------------

inline std::vector<int> llama3_header(const TiktokenTokenizer& tok, const std::string& role) {
    std::vector<int> ids{detail::require_special(tok, "<|start_header_id|>")};
    detail::append(ids, tok.encode(role, false, false));
    ids.push_back(detail::require_special(tok, "<|end_header_id|>"));
    detail::append(ids, tok.encode("\n\n", false, false));
    return ids;
}

// One message (Meta's encode_message): header, stripped content, <|eot_id|>.
inline std::vector<int> llama3_message(const TiktokenTokenizer& tok, const ChatMessage& m) {
    std::vector<int> ids = llama3_header(tok, m.role);
    detail::append(ids, tok.encode(detail::stripped(m.content), false, false));
    ids.push_back(detail::require_special(tok, "<|eot_id|>"));
    return ids;
}

inline std::vector<int> llama3_chat(const TiktokenTokenizer& tok, const Dialog& dialog) {
    std::vector<int> ids{tok.bos_id};
    for (const auto& m : dialog) detail::append(ids, llama3_message(tok, m));
    detail::append(ids, llama3_header(tok, "assistant"));
    return ids;
}

inline std::vector<int> llama31_message(const TiktokenTokenizer& tok, const ChatMessage& m) {
    std::vector<int> ids = llama3_header(tok, m.role == "tool" ? "ipython" : m.role);
    if (m.role == "assistant" && m.tool_call) ids.push_back(detail::require_special(tok, "<|python_tag|>"));
    detail::append(ids, tok.encode(m.content, false, false));
    const bool eom = m.role == "assistant" && m.end_of_message;
    ids.push_back(detail::require_special(tok, eom ? "<|eom_id|>" : "<|eot_id|>"));
    return ids;
}

inline std::vector<int> llama31_chat(const TiktokenTokenizer& tok, const Dialog& dialog) {
    std::vector<int> ids{tok.bos_id};
    for (const auto& m : dialog) detail::append(ids, llama31_message(tok, m));
    detail::append(ids, llama3_header(tok, "assistant"));
    return ids;
}

// ---- Llama 3.1 as the Hugging Face template renders it --------------------------------------

inline std::string llama31_system_text(const std::string& system, const std::vector<std::string>& builtin_tools = {},
                                       const std::string& date = "26 Jul 2024") {
    std::string out;
    if (!builtin_tools.empty()) {
        out += "Environment: ipython\nTools: ";
        std::string sep;
        for (const auto& t : builtin_tools)
            if (t != "code_interpreter") out += sep + t, sep = ", ";
        out += "\n\n";  // with only code_interpreter the template writes an empty "Tools: " line
    }
    return out + "Cutting Knowledge Date: December 2023\nToday Date: " + date + "\n\n" + detail::stripped(system);
}

// A tool call (tool_call) renders as the template renders a built-in tool's call: <|python_tag|>
// {content} <|eom_id|>; without builtin_tools it is an Error (a custom JSON call is not rendered).
inline std::string llama31_hf_text(const Dialog& dialog, const std::string& date = "26 Jul 2024",
                                   bool add_generation_prompt = true,
                                   const std::vector<std::string>& builtin_tools = {}) {
    std::string system;
    std::size_t first = 0;
    if (!dialog.empty() && dialog[0].role == "system") system = dialog[0].content, first = 1;
    std::string out = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
                      llama31_system_text(system, builtin_tools, date) + "<|eot_id|>";
    for (std::size_t i = first; i < dialog.size(); ++i) {
        const ChatMessage& m = dialog[i];
        if (m.tool_call && builtin_tools.empty())
            fail("llama31_hf_text: a tool call is rendered only with builtin_tools (custom JSON calls are not)");
        if (m.tool_call)
            out += "<|start_header_id|>assistant<|end_header_id|>\n\n<|python_tag|>" + m.content + "<|eom_id|>";
        else if (m.role == "ipython" || m.role == "tool")
            out += "<|start_header_id|>ipython<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
        else
            out +=
                "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + detail::stripped(m.content) + "<|eot_id|>";
    }
    if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return out;
}

inline std::vector<int> llama31_hf_chat(const TiktokenTokenizer& tok, const Dialog& dialog,
                                        const std::string& date = "26 Jul 2024",
                                        const std::vector<std::string>& builtin_tools = {}) {
    return tok.encode(llama31_hf_text(dialog, date, true, builtin_tools), /*bos=*/false, false,
                      SpecialText::parse);  // BOS is in the text
}

// ---- Alpaca and Vicuna (LLaMA 1 fine-tunes) -----------------------------------------------

inline std::string alpaca_prompt(const std::string& instruction, const std::string& input = "") {
    if (input.empty())
        return "Below is an instruction that describes a task. Write a response that appropriately completes the "
               "request.\n\n### Instruction:\n" +
               instruction + "\n\n### Response:\n";
    return "Below is an instruction that describes a task, paired with an input that provides further context. Write a "
           "response that appropriately completes the request.\n\n### Instruction:\n" +
           instruction + "\n\n### Input:\n" + input + "\n\n### Response:\n";
}

inline std::vector<int> alpaca_chat(const SentencePieceTokenizer& tok, const std::string& instruction,
                                    const std::string& input = "") {
    return tok.encode(alpaca_prompt(instruction, input), /*bos=*/true, /*eos=*/false);
}

inline const std::string kVicunaSystem =
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, "
    "and polite answers to the user's questions.";

// Vicuna v1.1: text segments between the </s> separators are encoded separately (each with the
// SentencePiece dummy prefix, as the HF Llama tokenizer does around special tokens).
inline std::vector<int> vicuna_chat(const SentencePieceTokenizer& tok, const Dialog& dialog) {
    std::string system = kVicunaSystem;
    std::size_t first = 0;
    if (!dialog.empty() && dialog[0].role == "system") system = dialog[0].content, first = 1;
    std::vector<int> ids{tok.bos_id};
    std::string segment = system + " ";
    for (std::size_t i = first; i < dialog.size(); ++i) {
        const bool user = (i - first) % 2 == 0;
        if (dialog[i].role != (user ? "user" : "assistant"))
            fail("Vicuna chat: message ", i, " has role '", dialog[i].role,
                 "'; roles must alternate user, assistant, ...");
        if (user) {
            segment += "USER: " + dialog[i].content + " ";
        } else {
            segment += "ASSISTANT: " + dialog[i].content;
            detail::append(ids, tok.encode(segment, false, false));
            ids.push_back(tok.eos_id);
            segment.clear();
        }
    }
    segment += "ASSISTANT:";
    detail::append(ids, tok.encode(segment, false, false));
    return ids;
}

// ---- Mistral 7B Instruct v0.1 and Gemma ---------------------------------------------------

inline std::vector<int> mistral_chat(const SentencePieceTokenizer& tok, Dialog dialog) {
    if (!dialog.empty() && dialog[0].role == "system") {
        if (dialog.size() < 2) fail("Mistral chat: a system message must be followed by a user message");
        dialog[1].content = dialog[0].content + "\n\n" + dialog[1].content;
        dialog.erase(dialog.begin());
    }
    if (dialog.empty() || dialog.size() % 2 == 0) fail("Mistral chat: the dialog must end with a user message");
    std::vector<int> ids{tok.bos_id};
    for (std::size_t i = 0; i < dialog.size(); ++i) {
        const bool user = i % 2 == 0;
        if (dialog[i].role != (user ? "user" : "assistant"))
            fail("Mistral chat: message ", i, " has role '", dialog[i].role,
                 "'; roles must alternate user, assistant, ...");
        if (user) {
            detail::append(ids, tok.encode("[INST] " + dialog[i].content + " [/INST]", false, false));
        } else {
            detail::append(ids, tok.encode(dialog[i].content, false, false));
            ids.push_back(tok.eos_id);
        }
    }
    return ids;
}

inline std::string gemma_chat_text(const Dialog& dialog, bool add_generation_prompt = true) {
    std::string out;
    for (std::size_t i = 0; i < dialog.size(); ++i) {
        const ChatMessage& m = dialog[i];
        if (m.role == "system") fail("Gemma chat: Gemma has no system role (put it into the first user message)");
        const bool user = i % 2 == 0;
        if (m.role != (user ? "user" : "assistant") && !(m.role == "model" && !user))
            fail("Gemma chat: message ", i, " has role '", m.role, "'; roles must alternate user, assistant, ...");
        out += "<start_of_turn>" + std::string(user ? "user" : "model") + "\n" + detail::stripped(m.content) +
               "<end_of_turn>\n";
    }
    if (add_generation_prompt) out += "<start_of_turn>model\n";
    return out;
}

inline std::vector<int> gemma_chat(const SentencePieceTokenizer& tok, const Dialog& dialog) {
    for (const char* p : {"<start_of_turn>", "<end_of_turn>"})
        if (const int id = tok.piece_id(p); id < 0 || tok.type(id) != PieceType::user_defined)
            fail("Gemma chat: the tokenizer has no user-defined piece ", p, " (not a Gemma tokenizer?)");
    return tok.encode(gemma_chat_text(dialog), /*bos=*/true, /*eos=*/false);
}

// Gemma's instruction-tuned models end a reply with <end_of_turn>; EOS too.
inline std::vector<int> gemma_stop_tokens(const SentencePieceTokenizer& tok) {
    std::vector<int> ids{tok.eos_id};
    if (const int id = tok.piece_id("<end_of_turn>"); id >= 0) ids.push_back(id);
    return ids;
}

// ---- stop tokens ------------------------------------------------------------------------------

inline std::vector<int> stop_tokens(const TiktokenTokenizer& tok) {
    std::vector<int> ids;
    for (const char* name : {"<|end_of_text|>", "<|eot_id|>", "<|eom_id|>"})
        if (const int id = tok.special_id(name); id >= 0) ids.push_back(id);
    return ids;
}
inline std::vector<int> stop_tokens(const SentencePieceTokenizer& tok) { return {tok.eos_id}; }

}  // namespace llamaref
