// bench_kernels — the fast CPU matmul (cpu/matmul.hpp) alone, for every weight type.
//
// Y = X·Wᵀ for a random W [out, in] stored as each DType (quantized blocks hold random bytes with
// sane scales) and T tokens: T = 1 is decode (bound by reading W), T ≥ 4 prefill (bound by
// arithmetic). Prints, per type, the median wall time of R runs and the process CPU time of the
// fastest run (the CPU time is the steadier figure on a machine shared with other work), then
// ns per weight, GB/s of W read and GFLOP/s.
//
//   bench_kernels [OUT IN T REPS THREADS]      default 2048 2048 1 7 1
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include <llamaref/core/parallel.hpp>
#include <llamaref/cpu/matmul.hpp>

using namespace llamaref;

namespace {

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Random weights of type t: float formats from normal values, block formats from random bytes
// whose float16 scale fields are replaced by 0.01 (random bytes there would be inf or NaN).
std::vector<std::byte> random_weights(DType t, std::size_t out, std::size_t in, std::mt19937& g) {
    std::vector<std::byte> w(dtype_bytes(t, out * in));
    if (!is_quantized(t) || t == DType::Q8_0) {
        std::normal_distribution<float> nd(0.0f, 0.02f);
        std::vector<float> v(out * in);
        for (auto& x : v) x = nd(g);
        from_f32(t, v.data(), w.data(), out * in);
        return w;
    }
    std::uniform_int_distribution<int> byte(0, 255);
    for (auto& b : w) b = std::byte(byte(g));
    std::vector<std::size_t> scales{0};
    if (t == DType::Q4_1 || t == DType::Q5_1 || t == DType::Q4_K || t == DType::Q5_K) scales = {0, 2};
    if (t == DType::Q2_K) scales = {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)};
    if (t == DType::Q3_K) scales = {offsetof(BlockQ3_K, d)};
    if (t == DType::Q6_K) scales = {offsetof(BlockQ6_K, d)};
    const DTypeBlock blk = dtype_block(t);
    const uint16_t h = f32_to_f16(0.01f);
    for (std::size_t b = 0; b < out * in / blk.values; ++b)
        for (std::size_t off : scales) std::memcpy(w.data() + b * blk.bytes + off, &h, 2);
    return w;
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t out = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 2048;
    const std::size_t in = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2048;
    const std::size_t T = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 1;
    const int reps = argc > 4 ? std::atoi(argv[4]) : 7;
    const int threads = argc > 5 ? std::atoi(argv[5]) : 1;
    if (out == 0 || in == 0 || in % 256 != 0 || T == 0 || reps <= 0 || threads <= 0) {
        std::fprintf(stderr, "usage: bench_kernels [OUT IN T REPS THREADS]  (IN a multiple of 256)\n");
        return 1;
    }
    set_num_threads(threads);
    std::mt19937 g(1);
    std::normal_distribution<float> nd;
    std::vector<float> X(T * in), Y(T * out);
    for (auto& x : X) x = nd(g);
    std::printf("cpu::matmul, W [%zu, %zu], T = %zu, %d thread(s), ISA %s, %d runs\n\n", out, in, T, threads,
                std::string(cpu::isa_name(cpu::isa())).c_str(), reps);
    std::printf(
        "| type | bits/weight | wall ms (median) | CPU ms (best) | CPU ns/weight | GB/s of W (CPU) | GFLOP/s (CPU) "
        "|\n");
    std::printf("|---|---|---|---|---|---|---|\n");
    for (DType t : kAllDTypes) {
        const std::vector<std::byte> w = random_weights(t, out, in, g);
        const TensorView W{t, {out, in}, w.data()};
        cpu::matmul(W, X.data(), Y.data(), T);  // warm up: pages, thread pool, caches
        std::vector<double> wall;
        double cpu_best = 1e30;
        for (int r = 0; r < reps; ++r) {
            const double c0 = cpu_seconds();
            const auto t0 = std::chrono::steady_clock::now();
            cpu::matmul(W, X.data(), Y.data(), T);
            wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            cpu_best = std::min(cpu_best, cpu_seconds() - c0);
        }
        std::sort(wall.begin(), wall.end());
        const double n = double(out * in);
        std::printf("| %s | %.4g | %.3f | %.3f | %.3f | %.2f | %.1f |\n", std::string(dtype_name(t)).c_str(),
                    bits_per_weight(t), 1e3 * wall[wall.size() / 2], 1e3 * cpu_best, 1e9 * cpu_best / n,
                    double(W.nbytes()) / cpu_best / 1e9, 2.0 * double(T) * n / cpu_best / 1e9);
    }
    return 0;
}
