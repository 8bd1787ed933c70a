// Tutorial: where one attention head looks.
//
// Runs stories260K on a sentence with an observer that receives the attention probabilities
// softmax(q·kᵀ/√Dh) [T, H, S] of every layer, and prints one head of the last layer as a grid:
// row = the token that attends, column = the token it attends to. The mask is causal, so the
// upper triangle is empty.
#include <cstdio>

#include <llamaref/formats/load.hpp>
#include <llamaref/model/transformer.hpp>
#include <llamaref/tokenizer/sentencepiece.hpp>

#include "tutorial.hpp"

int main(int argc, char** argv) {
    using namespace llamaref;
    const std::string dir = stories_dir(argc, argv);
    Transformer model(load_model(dir + "/stories260K.bin"));
    const auto tok = SentencePieceTokenizer::from_llama2c(dir + "/tok512.bin", 512);
    const auto ids = tok.encode("Lily saw a cat. The cat", true, false);
    const int layer = model.config().n_layers - 1;
    const std::size_t head = 2;
    const std::size_t T = ids.size(), H = std::size_t(model.config().n_heads);
    xt::xtensor<float, 3> probs;  // [T, H, T]: probs(t, h, s) = how much token t attends to token s
    model.set_observer(
        [&](const Probe& p) {
            if (p.name == "layers." + std::to_string(layer) + ".attention.probs") probs = probe_tensor<3>(p, {T, H, T});
        },
        /*with_attention_probs=*/true);
    model.forward(ids, 0);
    std::printf("layer %d, head %zu: attention weights in %% (rows attend to columns)\n\n%10s", layer, head, "");
    for (std::size_t s = 0; s < T; ++s) std::printf(" %s", show(tok.piece(ids[s]), 5).c_str());
    std::printf("\n");
    for (std::size_t t = 0; t < T; ++t) {
        std::printf("%s", show(tok.piece(ids[t]), 10).c_str());
        for (std::size_t s = 0; s < T; ++s) {
            if (s > t)
                std::printf("%6s", ".");
            else
                std::printf("%6.0f", 100 * probs(t, head, s));
        }
        std::printf("\n");
    }
}
