// Tutorial: a full forward pass, one line per stage.
//
// The observer hook of Transformer sees every intermediate tensor. This prints the RMS size of
// the residual stream after the embedding, after each sub-layer and after the final norm, for
// the last token of a prompt, and the model's top next token: the stream grows as blocks add
// their contributions, and the final RMSNorm brings it back to the scale of its weights.
#include <cmath>
#include <cstdio>

#include <llamaref/core/ops.hpp>
#include <llamaref/formats/load.hpp>
#include <llamaref/model/transformer.hpp>
#include <llamaref/tokenizer/sentencepiece.hpp>

#include "tutorial.hpp"

int main(int argc, char** argv) {
    using namespace llamaref;
    const std::string dir = stories_dir(argc, argv);
    Transformer model(load_model(dir + "/stories260K.bin"));
    const auto tok = SentencePieceTokenizer::from_llama2c(dir + "/tok512.bin", 512);
    const auto ids = tok.encode("The little dog was happy because", true, false);
    std::printf("%s\n\n%-28s %10s\n", model.config().describe().c_str(), "stage (last token)", "RMS");
    model.set_observer([&](const Probe& p) {
        const bool stream = p.name == "tok_embeddings" || p.name == "norm" || p.name.ends_with(".h") ||
                            (p.layer >= 0 && p.name == "layers." + std::to_string(p.layer));
        if (!stream) return;
        const std::size_t D = p.shape[1];
        const float* x = p.data + (p.shape[0] - 1) * D;
        double ss = 0;
        for (std::size_t i = 0; i < D; ++i) ss += double(x[i]) * x[i];
        std::printf("%-28s %10.4f\n", p.name.c_str(), std::sqrt(ss / double(D)));
    });
    const Tensor2 logits = model.forward(ids, 0);
    const std::size_t next = argmax(&logits(ids.size() - 1, 0), logits.shape(1));
    std::printf("\nmost likely next token: '%s'\n", show(tok.piece(int(next))).c_str());
}
