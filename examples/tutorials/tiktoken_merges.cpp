// Tutorial: the Llama 3 tokenizer's merge loop, printed step by step.
//
// Llama 3 (tiktoken BPE) first cuts the text into words with Meta's regular expression, then
// turns each word into tokens: a word that is already a token is taken whole; any other word
// starts as single bytes and the adjacent pair whose joined bytes have the lowest rank is joined,
// again and again, until no joined pair is a token. merge_steps() records each join exactly as
// encode() performs it (tokenizer/bpe_step.hpp). Needs Meta's tokenizer.model (../shared).
#include <cstdio>
#include <string>

#include <llamaref/tokenizer/tiktoken_files.hpp>

#include "tutorial.hpp"

int main(int argc, char** argv) {
    using namespace llamaref;
    const auto tok = read_tiktoken_model(shared_file(argc, argv, "tokenizers/llama3/tokenizer.model"));
    const std::string text = "Tokenizers merge unbelievably quickly.";
    std::printf("text: \"%s\"\n", text.c_str());
    std::string word;
    for (const BpeStep& step : tok.merge_steps(text)) {
        if (step.word != word) {  // the next word of the pre-tokenizer (words in a row may repeat; fine here)
            word = step.word;
            std::printf("\nword '%s'\n", word.c_str());
        }
        if (step.right.empty()) {
            std::printf("  already a token (rank %.0f): taken whole\n", step.priority);
            continue;
        }
        std::string parts;
        for (const auto& p : step.parts) parts += (parts.empty() ? "'" : " '") + p + "'";
        std::printf("  join '%s' + '%s' (rank %6.0f) -> %s\n", step.left.c_str(), step.right.c_str(), step.priority,
                    parts.c_str());
    }
    std::printf("\nids:");
    for (int id : tok.encode(text, false, false)) std::printf(" %d", id);
    std::printf("\n");
}
