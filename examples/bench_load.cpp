// bench_load — memory and time to load a large bf16 Hugging Face checkpoint and run one token.
//
// Writes (once) a model folder with random bf16 weights in the shape of a real model, then, in
// a fresh process per preset, loads it, runs a forward pass over a few tokens, and reports the
// peak resident memory against the file size. Weights are memory-mapped and used in place; the
// only copies are HF's q/k rows un-permuted for RoPE (see formats/hf.hpp).
//
//   bench_load DIR [preset ...]       presets: tinyllama-1.1b (default), llama3-8b
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include <llamaref/formats/load.hpp>
#include <llamaref/formats/write_safetensors.hpp>

using namespace llamaref;
namespace fs = std::filesystem;

namespace {

ModelConfig preset(const std::string& name) {
    ModelConfig c;
    if (name == "tinyllama-1.1b") {
        c.dim = 2048, c.n_layers = 22, c.n_heads = 32, c.n_kv_heads = 4, c.hidden_dim = 5632, c.vocab_size = 32000;
    } else if (name == "llama3-8b") {
        c.dim = 4096, c.n_layers = 32, c.n_heads = 32, c.n_kv_heads = 8, c.hidden_dim = 14336, c.vocab_size = 128256;
        c.rope_theta = 500000;
    } else {
        fail("unknown preset ", name, " (tinyllama-1.1b, llama3-8b)");
    }
    c.head_dim = c.dim / c.n_heads;
    c.max_seq_len = 2048;
    return c;
}

// Random bf16 weights (norms 1.0), written tensor by tensor so the writer never holds the model.
void write_random_model(const ModelConfig& c, const fs::path& dir) {
    fs::create_directories(dir);
    std::vector<SafetensorsOut> t;
    auto add = [&](const std::string& name, Shape shape, bool norm) {
        t.push_back({name, DType::BF16, shape, [shape, norm, seed = uint64_t(t.size() + 1)] {
                         std::vector<std::byte> b(shape_numel(shape) * 2);
                         auto* p = reinterpret_cast<uint16_t*>(b.data());
                         uint64_t s = seed * 0x9E3779B97F4A7C15ull;
                         for (std::size_t i = 0; i < shape_numel(shape); ++i) {
                             s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                             p[i] = norm ? f32_to_bf16(1.0f) : f32_to_bf16((float(s >> 40) / float(1 << 24) - 0.5f) * 0.04f);
                         }
                         return b;
                     }});
    };
    const std::size_t D = c.dim, F = c.hidden_dim, V = c.vocab_size, Q = c.q_dim(), K = c.kv_dim();
    add("model.embed_tokens.weight", {V, D}, false);
    for (int l = 0; l < c.n_layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        add(p + "input_layernorm.weight", {D}, true);
        add(p + "self_attn.q_proj.weight", {Q, D}, false);
        add(p + "self_attn.k_proj.weight", {K, D}, false);
        add(p + "self_attn.v_proj.weight", {K, D}, false);
        add(p + "self_attn.o_proj.weight", {D, Q}, false);
        add(p + "post_attention_layernorm.weight", {D}, true);
        add(p + "mlp.gate_proj.weight", {F, D}, false);
        add(p + "mlp.up_proj.weight", {F, D}, false);
        add(p + "mlp.down_proj.weight", {D, F}, false);
    }
    add("model.norm.weight", {D}, true);
    add("lm_head.weight", {V, D}, false);
    write_safetensors((dir / "model.safetensors").string(), t);
    std::ofstream(dir / "config.json") << hf_config_json(c, DType::BF16).dump(1);
}

double peak_rss_gib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / (1024.0 * 1024.0);  // ru_maxrss is in KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_load DIR [tinyllama-1.1b|llama3-8b ...]\n");
        return 1;
    }
    std::vector<std::string> presets(argv + 2, argv + argc);
    if (presets.empty()) presets = {"tinyllama-1.1b"};
    std::printf("| model (bf16 safetensors) | file GiB | load s | forward of 4 tokens s | peak RSS GiB | RSS / file |\n");
    std::printf("|---|---|---|---|---|---|\n");
    std::fflush(stdout);
    for (const auto& name : presets) {
        const fs::path dir = fs::path(argv[1]) / name;
        try {
            if (!fs::exists(dir / "model.safetensors")) write_random_model(preset(name), dir);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "error: %s\n", e.what());
            return 1;
        }
        const pid_t pid = fork();  // a fresh process, so peak RSS is this model's alone
        if (pid == 0) {
            using clock = std::chrono::steady_clock;
            const auto t0 = clock::now();
            Transformer tf(load_model(dir.string()));
            const auto t1 = clock::now();
            const std::vector<int> tokens{1, 2, 3, 4};
            tf.forward(tokens, 0);
            const auto t2 = clock::now();
            const double gib = double(fs::file_size(dir / "model.safetensors")) / (1 << 30);
            std::printf("| %s | %.2f | %.1f | %.1f | %.2f | %.2f |\n", name.c_str(), gib,
                        std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count(),
                        peak_rss_gib(), peak_rss_gib() / gib);
            std::fflush(stdout);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    }
    return 0;
}
