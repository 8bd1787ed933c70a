// Tutorial: what a tokenizer does to a sentence.
//
// Llama 1/2 use SentencePiece BPE: the text gets a leading space, spaces become "▁", and pieces
// are merged by score until no merge applies. Characters the vocabulary lacks fall back to
// <0xNN> byte pieces. This prints each id with its piece, then decodes the ids back.
#include <cstdio>

#include <llamaref/tokenizer/sentencepiece.hpp>

#include "tutorial.hpp"

int main(int argc, char** argv) {
    const std::string dir = stories_dir(argc, argv);
    const auto tok = llamaref::SentencePieceTokenizer::from_llama2c(dir + "/tok512.bin", 512);
    for (const char* text : {"Once upon a time", "Lily's cat, Tom, ran 100 meters!", "Ünïcode ☕"}) {
        const auto ids = tok.encode(text, /*bos=*/true, /*eos=*/false);
        std::printf("\"%s\" -> %zu tokens\n", text, ids.size());
        for (int id : ids) std::printf("  %4d  '%s'\n", id, show(tok.piece(id)).c_str());
        std::printf("  decoded back: \"%s\"\n\n", tok.decode(ids).c_str());
    }
    std::printf("A 512-piece vocabulary needs many pieces per word; Llama 2's has 32000, Llama 3's 128256.\n");
}
