// llamaref/tokenizer/bpe_step.hpp — one step of a BPE merge loop, recorded for teaching.
//
// Both Llama tokenizers end in the same loop: start from small parts (characters for
// SentencePiece, bytes for tiktoken) and join the best adjacent pair until no pair is in the
// vocabulary. `merge_steps(text)` of SentencePieceTokenizer and TiktokenTokenizer runs that loop
// exactly as `encode` does and returns one BpeStep per join, in order. Nothing is recorded when
// `encode` runs (the loops take a null pointer).
#pragma once

#include <string>
#include <vector>

namespace llamaref {

struct BpeStep {
    std::string word;                // the text the loop runs on: SentencePiece's normalized text, or one tiktoken word
    std::string left, right;         // the two parts joined (right empty: the word was a token as it stood)
    double priority = 0;             // SentencePiece: the joined piece's score (highest first); tiktoken: its rank
                                     // or merge index (lowest first)
    std::vector<std::string> parts;  // every part of `word` after this step, left to right
};

}  // namespace llamaref
