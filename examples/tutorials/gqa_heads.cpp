// Tutorial: grouped-query attention — which query heads share a key/value head, and what it saves.
//
// stories260K has H = 8 query heads and KV = 4 key/value heads: n_rep = 2 consecutive query heads
// read the same keys and values (head h reads KV head h / n_rep). This recomputes one head's
// attention probabilities by hand from the traced q and k, once with the right KV head and once
// with the classic wrong one (h % KV), and then prints what GQA saves in KV-cache memory on the
// real Llama sizes (bytes = 2 · L · KV · Dh · context · 2 for bf16).
#include <cmath>
#include <cstdio>

#include <llamaref/formats/load.hpp>
#include <llamaref/model/transformer.hpp>

#include "tutorial.hpp"

int main(int argc, char** argv) {
    using namespace llamaref;
    const std::string dir = stories_dir(argc, argv);
    Transformer model(load_model(dir + "/stories260K.bin"));
    const ModelConfig& c = model.config();
    std::printf("stories260K: H = %d query heads, KV = %d key/value heads, n_rep = %d\n", c.n_heads, c.n_kv_heads,
                c.n_rep());
    for (int h = 0; h < c.n_heads; ++h) std::printf("  query head %d reads KV head %d\n", h, h / c.n_rep());

    // One forward pass; keep layer 0's q, k after RoPE and its attention probabilities.
    const std::vector<int> ids = {1, 403, 407, 261, 378, 400, 263};
    const std::size_t T = ids.size(), H = std::size_t(c.n_heads), KV = std::size_t(c.n_kv_heads);
    const std::size_t Dh = std::size_t(c.head_dim), h = 3;
    xt::xtensor<float, 3> q, k, probs;  // [T, H, Dh], [T, KV, Dh], [T, H, T]
    model.set_observer(
        [&](const Probe& p) {
            if (p.name == "layers.0.attention.q_rope") q = probe_tensor<3>(p, {T, H, Dh});
            if (p.name == "layers.0.attention.k_rope") k = probe_tensor<3>(p, {T, KV, Dh});
            if (p.name == "layers.0.attention.probs") probs = probe_tensor<3>(p, {T, H, T});
        },
        /*with_attention_probs=*/true);
    model.forward(ids, 0);
    // softmax over s ≤ t of q_h(t)·k_g(s)/√Dh for KV head g; the largest difference from the trace
    auto max_diff = [&](std::size_t g) {
        double worst = 0;
        for (std::size_t i = 0; i < T; ++i) {
            std::vector<double> e(i + 1);
            double sum = 0;
            for (std::size_t s = 0; s <= i; ++s) {
                double dot = 0;
                for (std::size_t d = 0; d < Dh; ++d) dot += double(q(i, h, d)) * k(s, g, d);
                sum += e[s] = std::exp(dot / std::sqrt(double(Dh)));
            }
            for (std::size_t s = 0; s <= i; ++s) worst = std::max(worst, std::fabs(e[s] / sum - probs(i, h, s)));
        }
        return worst;
    };
    const std::size_t n_rep = H / KV;
    std::printf("\nlayer 0, query head %zu, probabilities recomputed by hand:\n", h);
    std::printf("  with KV head h / n_rep = %zu: max difference from the model %.1e\n", h / n_rep, max_diff(h / n_rep));
    std::printf("  with KV head h %% KV    = %zu: max difference from the model %.1e  (the classic bug)\n", h % KV,
                max_diff(h % KV));

    std::printf("\nKV-cache memory for one sequence (bf16), GQA vs the same model with one KV head per query head:\n");
    std::printf("  %-16s %4s %4s %4s %12s %12s %14s\n", "model", "L", "H", "KV", "8K context", "128K context",
                "128K if MHA");
    struct Size {
        const char* name;
        int L, H, KV, Dh;
    };
    for (const Size m :
         {Size{"Llama 2 7B", 32, 32, 32, 128}, Size{"Llama 2 70B", 80, 64, 8, 128}, Size{"Llama 3 8B", 32, 32, 8, 128},
          Size{"Llama 3 70B", 80, 64, 8, 128}, Size{"Llama 3.1 405B", 126, 128, 8, 128}}) {
        auto gib = [&](int heads, double ctx) { return 2.0 * m.L * heads * m.Dh * ctx * 2 / (1 << 30); };
        std::printf("  %-16s %4d %4d %4d %9.1f GiB %9.1f GiB %11.1f GiB\n", m.name, m.L, m.H, m.KV, gib(m.KV, 8192),
                    gib(m.KV, 131072), gib(m.H, 131072));
    }
}
