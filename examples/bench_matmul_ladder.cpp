// bench_matmul_ladder — the matrix product's ladder (cpu/matmul_1_blocked.hpp .. matmul_4_threaded.hpp)
// timed step by step, beside the specification (step 0) and the fast path (step 5, cpu::matmul).
//
// Y = X·Wᵀ for a random float32 W [out, in] and T tokens (T = 1: decode, bound by reading W;
// T ≥ 4: prefill, bound by arithmetic). Every step runs REPS times; the table gives the median
// wall time, GFLOP/s (2·T·in·out per run), GB/s of W read, and the speed-up over step 0. Steps 0–3
// run on one thread (step 0, the specification, would otherwise split its rows too); steps 4 and
// 5 on THREADS.
//
//   bench_matmul_ladder [OUT IN T REPS THREADS]      default 2048 2048 64 5 1
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <llamaref/core/ops.hpp>
#include <llamaref/core/parallel.hpp>
#include <llamaref/cpu/matmul_4_threaded.hpp>

using namespace llamaref;

int main(int argc, char** argv) {
    auto arg = [&](int i, long def) { return argc > i ? std::atol(argv[i]) : def; };
    const std::size_t out = std::size_t(arg(1, 2048)), in = std::size_t(arg(2, 2048)), T = std::size_t(arg(3, 64));
    const int reps = int(arg(4, 5)), threads = int(arg(5, 1));
    if (out == 0 || in == 0 || T == 0 || reps < 1 || threads < 1) {
        std::fprintf(stderr, "usage: bench_matmul_ladder [OUT IN T REPS THREADS] (all positive)\n");
        return 2;
    }
    std::mt19937 g(42);
    std::normal_distribution<float> nd(0.0f, 0.02f);
    std::vector<float> w(out * in), x(T * in), y(T * out);
    for (float& v : w) v = nd(g);
    for (float& v : x) v = nd(g);
    const TensorView W{DType::F32, {out, in}, reinterpret_cast<const std::byte*>(w.data())};

    struct Step {
        const char* name;
        void (*fn)(const TensorView&, const float*, float*, std::size_t);
        int threads;
    };
    std::vector<Step> steps{{"0 specification (core/ops.hpp)", llamaref::matmul, 1},
                            {"1 blocked order", cpu::matmul_blocked, 1}};
#if LLAMAREF_HAVE_AVX2_KERNELS
    if (cpu::detect_isa() >= cpu::Isa::avx2) {
        steps.push_back({"2 vectorized (AVX2)", cpu::matmul_vectorized, 1});
        steps.push_back({"3 register tiles 4x3", cpu::matmul_tiled, 1});
        steps.push_back({"4 threaded", cpu::matmul_threaded, threads});
    }
#endif
    steps.push_back({"5 fast path (cpu::matmul)", cpu::matmul, threads});

    std::printf("Y = X·Wᵀ, W [%zu, %zu] F32 (%.1f MiB), T = %zu, median of %d runs, ISA %s\n\n", out, in,
                double(out * in * 4) / (1 << 20), T, reps, std::string(cpu::isa_name(cpu::isa())).c_str());
    std::printf("| step | threads | ms | GFLOP/s | GB/s of W | × step 0 |\n|---|---:|---:|---:|---:|---:|\n");
    double base = 0;
    for (const Step& s : steps) {
        set_num_threads(s.threads);
        s.fn(W, x.data(), y.data(), T);  // warm-up: caches, thread pool
        std::vector<double> ms;
        for (int r = 0; r < reps; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            s.fn(W, x.data(), y.data(), T);
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        const double med = ms[ms.size() / 2];
        if (base == 0) base = med;
        std::printf("| %s | %d | %.2f | %.2f | %.2f | %.1f |\n", s.name, s.threads, med,
                    2.0 * double(T * in * out) / (med * 1e6), double(out * in * 4) / (med * 1e6), base / med);
    }
}
