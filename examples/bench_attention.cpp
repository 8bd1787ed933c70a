// bench_attention — the fast CPU attention (cpu/attention.hpp) alone, one decode step over a long
// KV cache.
//
// One layer's cache holds S positions of random keys and values ([S, KV·Dh] each, in the
// cache's precision); one query token at position S attends over all of them. A decode step
// must read every cached key and value once, 2·S·KV·Dh·(bytes per value), and does ~4·H·Dh·S
// FLOPs, so it is bound by reading the cache: the table prints GB/s of cache read. Median wall
// time of R runs.
//
//   bench_attention [S H KV DH REPS THREADS CACHE]   default 32768 32 8 64 7 1 f32  (Llama-3.2-1B)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <llamaref/core/parallel.hpp>
#include <llamaref/cpu/attention.hpp>

using namespace llamaref;

int main(int argc, char** argv) {
    const int S = argc > 1 ? std::atoi(argv[1]) : 32768;
    const int H = argc > 2 ? std::atoi(argv[2]) : 32;
    const int KV = argc > 3 ? std::atoi(argv[3]) : 8;
    const int Dh = argc > 4 ? std::atoi(argv[4]) : 64;
    const int reps = argc > 5 ? std::atoi(argv[5]) : 7;
    const int threads = argc > 6 ? std::atoi(argv[6]) : 1;
    const std::string name = argc > 7 ? argv[7] : "f32";
    const DType type = name == "f16" ? DType::F16 : name == "bf16" ? DType::BF16 : DType::F32;
    if (name != "f32" && name != "f16" && name != "bf16") {
        std::fprintf(stderr, "bench_attention: the cache type must be f32, f16 or bf16, got '%s'\n", name.c_str());
        return 2;
    }
    if (S < 1 || H < 1 || KV < 1 || H % KV || Dh < 1 || reps < 1 || threads < 1 || !is_kv_cache_type(type)) {
        std::fprintf(stderr, "usage: bench_attention [S H KV DH REPS THREADS f32|f16|bf16]\n");
        return 2;
    }
    set_num_threads(threads);

    KVCache cache(1, S + 1, KV, Dh, {}, type, type);  // [KV, S+1, Dh] keys and values
    cache.reserve(S + 1);
    std::mt19937 g(1);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> krow(std::size_t(KV) * Dh), vrow(krow.size());  // [KV, Dh]
    for (int p = 0; p < S; ++p) {
        for (auto* row : {&krow, &vrow})
            for (auto& x : *row) x = nd(g);
        cache.store(0, p, krow.data(), vrow.data());
    }
    std::vector<float> q(std::size_t(H) * Dh), k(krow.size()), v(krow.size()), out(q.size());  // [H, Dh], [KV, Dh]
    for (auto& x : q) x = nd(g);
    for (auto& x : k) x = nd(g);
    for (auto& x : v) x = nd(g);
    round_kv(type, k.data(), k.size());
    round_kv(type, v.data(), v.size());

    std::vector<double> ms;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        cpu::attention(q.data(), KVSpan{cache, 0, S, k.data(), v.data()}, S, 1, Heads{H, KV, Dh}, AttentionOptions{},
                       out.data());
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const double med = ms[ms.size() / 2];
    const double bytes = 2.0 * S * KV * Dh * double(dtype_bytes(type, 1));
    std::printf("| S | H | KV | Dh | cache | threads | ms / step (median of %d) | GB/s of cache read |\n", reps);
    std::printf("|---|---|---|---|---|---|---|---|\n");
    std::printf("| %d | %d | %d | %d | %s | %d | %.3f | %.2f |\n", S, H, KV, Dh, std::string(dtype_name(type)).c_str(),
                threads, med, bytes / (med * 1e-3) / 1e9);
    return 0;
}
