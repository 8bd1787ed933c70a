// bench_load — memory and time to load a large bf16 Hugging Face checkpoint and run one token.
//
// Writes (once) a model folder with random bf16 weights in the shape of a real model, then, in
// a fresh process per preset, loads it, runs a forward pass over a few tokens, and reports the
// peak resident memory against the file size. Weights are memory-mapped and used in place; the
// only copies are HF's q/k rows un-permuted for RoPE (see formats/hf.hpp).
//
//   bench_load DIR [preset ...]       presets: tinyllama-1.1b (default), llama3-8b, llama3.2-1b, tiny
//                                     (random_checkpoint.hpp)
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include <llamaref/formats/load.hpp>
#include <llamaref/model/transformer.hpp>

#include "random_checkpoint.hpp"

using namespace llamaref;
using llamaref::examples::random_preset;
using llamaref::examples::write_random_checkpoint;
namespace fs = std::filesystem;

namespace {

double peak_rss_gib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / (1024.0 * 1024.0);  // ru_maxrss is in KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_load DIR [tinyllama-1.1b|llama3-8b|llama3.2-1b|tiny ...]\n");
        return 1;
    }
    std::vector<std::string> presets(argv + 2, argv + argc);
    if (presets.empty()) presets = {"tinyllama-1.1b"};
    std::printf(
        "| model (bf16 safetensors) | file GiB | load s | forward of 4 tokens s | peak RSS GiB | RSS / file |\n");
    std::printf("|---|---|---|---|---|---|\n");
    std::fflush(stdout);
    for (const auto& name : presets) {
        const fs::path dir = fs::path(argv[1]) / name;
        try {
            if (!fs::exists(dir / "model.safetensors")) write_random_checkpoint(random_preset(name), dir);
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
