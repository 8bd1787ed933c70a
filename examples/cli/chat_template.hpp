// examples/cli/chat_template.hpp — which chat template a model gets, and a dialog rendered by it
// (tokenizer/chat_format.hpp), for chat and serve.
#pragma once

#include <string>

#include <llamaref/tokenizer/chat_format.hpp>
#include <llamaref/tokenizer/tokenizer.hpp>

#include "args.hpp"

namespace llamaref::cli {

// The template of the model family: mistral, gemma, llama2 (SentencePiece), llama3.1 (tiktoken
// with RoPE scaling) or llama3.
inline std::string default_template(const ModelConfig& config, const Tokenizer& tok) {
    const std::string& arch = config.arch;
    return arch == "mistral"                     ? "mistral"
           : arch == "gemma" || arch == "gemma2" ? "gemma"
           : tok.is_sentencepiece()              ? "llama2"
           : config.rope_scaling.enabled         ? "llama3.1"
                                                 : "llama3";
}

// The dialog (ending with a user message) as ids, by template name.
inline std::vector<int> render(const std::string& tmpl, const Tokenizer& tok, const Dialog& dialog) {
    const auto* sp = tok.sentencepiece();
    const auto* tt = tok.tiktoken();
    auto need = [&](bool ok, const char* kind) {
        if (!ok) fail("template ", tmpl, " needs a ", kind, " tokenizer; this model has a ", tok.kind(), " one");
    };
    if (tmpl == "llama2") return need(sp, "SentencePiece"), llama2_chat(*sp, dialog);
    // WizardLM (13B V1.2, 70B V1.0; their model cards: "adopts the prompt format from Vicuna") is
    // FastChat's vicuna_v1.1 layout. (The first WizardLM 7B used an Alpaca-like prompt instead.)
    if (tmpl == "vicuna" || tmpl == "wizardlm") return need(sp, "SentencePiece"), vicuna_chat(*sp, dialog);
    if (tmpl == "mistral") return need(sp, "SentencePiece"), mistral_chat(*sp, dialog);
    if (tmpl == "gemma") return need(sp, "SentencePiece"), gemma_chat(*sp, dialog);
    if (tmpl == "llama3") return need(tt, "tiktoken"), llama3_chat(*tt, dialog);
    if (tmpl == "llama3.1") return need(tt, "tiktoken"), llama31_chat(*tt, dialog);
    if (tmpl == "alpaca") {  // Alpaca is single-turn: earlier turns are prepended as completed prompts
        need(sp, "SentencePiece");
        std::string text;
        for (std::size_t i = 0; i < dialog.size(); ++i) {
            if (dialog[i].role == "user") text += alpaca_prompt(dialog[i].content);
            if (dialog[i].role == "assistant") text += dialog[i].content + "\n\n";
        }
        return sp->encode(text, /*bos=*/true, /*eos=*/false);
    }
    throw UsageError(
        "--template must be llama2, llama3, llama3.1, alpaca, vicuna, wizardlm, mistral or gemma, got "
        "'" +
        tmpl + "'");
}

}  // namespace llamaref::cli
