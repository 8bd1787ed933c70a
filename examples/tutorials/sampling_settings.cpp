// Tutorial: how temperature, top-k, top-p and min-p reshape the next-token distribution.
//
// Takes the model's logits after "Once upon a time, there was a" and prints the distribution
// the sampler would draw from under several settings (include/llamaref/sampling/sampler.hpp).
// Low temperature sharpens, high flattens; top-k, top-p and min-p cut the tail and renormalise.
#include <cstdio>

#include <llamaref/formats/load.hpp>
#include <llamaref/model/transformer.hpp>
#include <llamaref/sampling/sampler.hpp>
#include <llamaref/tokenizer/sentencepiece.hpp>

#include "tutorial.hpp"

int main(int argc, char** argv) {
    using namespace llamaref;
    const std::string dir = stories_dir(argc, argv);
    Transformer model(load_model(dir + "/stories260K.bin"));
    const auto tok = SentencePieceTokenizer::from_llama2c(dir + "/tok512.bin", 512);
    const auto ids = tok.encode("Once upon a time, there was a", true, false);
    const Tensor2 logits = model.forward(ids, 0);
    const std::vector<float> last(&logits(ids.size() - 1, 0), &logits(ids.size() - 1, 0) + logits.shape(1));

    struct Setting {
        const char* name;
        SamplingParams p;
    };
    std::vector<Setting> settings(6);
    settings[0] = {"temperature 1 (the model)", {}};
    settings[1] = {"temperature 0.5", {}};
    settings[1].p.temperature = 0.5;
    settings[2] = {"temperature 2", {}};
    settings[2].p.temperature = 2.0;
    settings[3] = {"top-k 3", {}};
    settings[3].p.top_k = 3;
    settings[4] = {"top-p 0.5", {}};
    settings[4].p.top_p = 0.5;
    settings[5] = {"min-p 0.1", {}};
    settings[5].p.min_p = 0.1;
    for (const auto& s : settings) {
        const auto dist = sampling_distribution(last, {}, s.p);
        std::printf("%-26s %3zu tokens left:", s.name, dist.size());
        for (std::size_t i = 0; i < std::min<std::size_t>(5, dist.size()); ++i)
            std::printf("  '%s' %.3f", show(tok.piece(dist[i].id)).c_str(), dist[i].p);
        std::printf("\n");
    }
}
