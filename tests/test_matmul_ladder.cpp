// The matrix product's ladder (include/llamaref/cpu/matmul_1_blocked.hpp .. matmul_4_threaded.hpp):
// each step against the step before — step 1 within float32 rounding of the specification
// (core/ops.hpp), every later step bit for bit — and the fast path, cpu::matmul (step 5), bit for
// bit against step 4 on F32 weights with each instruction set this CPU has. Awkward sizes: tails
// of 1..7 columns, fewer columns than a block, several blocks, token and row counts that are not
// multiples of the 4 × 3 tiles.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>
#include <vector>

#include <llamaref/core/ops.hpp>
#include <llamaref/core/parallel.hpp>
#include <llamaref/cpu/matmul_4_threaded.hpp>

using namespace llamaref;

namespace {

struct Case {
    std::size_t out, in, T;
};
// [out, in] weights, T tokens: a tail only, a short block, several blocks with tails, edge tiles.
constexpr Case kCases[] = {{1, 1, 1},    {5, 7, 3},     {13, 264, 5},  {50, 520, 9},
                           {7, 1000, 4}, {64, 2048, 1}, {48, 300, 17}, {3, 256, 4}};

struct Problem {
    std::vector<float> w, x;  // [out, in], [T, in]
    TensorView W;
};

Problem random_problem(const Case& c, unsigned seed) {
    std::mt19937 g(seed);
    std::normal_distribution<float> nd;
    Problem p;
    p.w.resize(c.out * c.in), p.x.resize(c.T * c.in);
    for (float& v : p.w) v = nd(g);
    for (float& v : p.x) v = nd(g);
    p.W = TensorView{DType::F32, {c.out, c.in}, reinterpret_cast<const std::byte*>(p.w.data())};
    return p;
}

using Step = void (*)(const TensorView&, const float*, float*, std::size_t);
std::vector<float> run(Step step, const Problem& p, const Case& c) {
    std::vector<float> y(c.T * c.out, std::nanf(""));
    step(p.W, p.x.data(), y.data(), c.T);
    return y;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("matmul ladder, step 1: the blocked order is the specification within float32 rounding", "[ladder]") {
    for (const Case& c : kCases) {
        const Problem p = random_problem(c, 1);
        const auto spec = run(llamaref::matmul, p, c), blocked = run(cpu::matmul_blocked, p, c);
        // Both add the same n products: each result is within γ_n·Σ|w·x| of the exact sum.
        const double gamma = double(c.in) * std::ldexp(1.0, -24);
        for (std::size_t t = 0; t < c.T; ++t)
            for (std::size_t r = 0; r < c.out; ++r) {
                double abs_sum = 0;
                for (std::size_t k = 0; k < c.in; ++k)
                    abs_sum += std::abs(double(p.w[r * c.in + k]) * p.x[t * c.in + k]);
                INFO("out " << c.out << " in " << c.in << " T " << c.T << " output (" << t << ", " << r << ")");
                CHECK(std::abs(double(spec[t * c.out + r]) - blocked[t * c.out + r]) <= 2 * gamma * abs_sum);
            }
    }
    // Not every output rounds the same way: the order really changed (else step 1 would say nothing).
    const Case big{64, 2048, 4};
    const Problem p = random_problem(big, 2);
    CHECK_FALSE(bitwise_equal(run(llamaref::matmul, p, big), run(cpu::matmul_blocked, p, big)));
}

TEST_CASE("matmul ladder: the ladder takes F32 weights only", "[ladder]") {
    std::vector<std::byte> bytes(2 * 8);
    const TensorView bf16{DType::BF16, {2, 4}, bytes.data()};
    float x[4] = {}, y[2];
    CHECK_THROWS_WITH(cpu::matmul_blocked(bf16, x, y, 1), Catch::Contains("F32 weights, got BF16"));
}

#if LLAMAREF_HAVE_AVX2_KERNELS
TEST_CASE("matmul ladder, steps 2-4 and the fast path: bit for bit the step before", "[ladder]") {
    if (cpu::detect_isa() < cpu::Isa::avx2) {
        WARN("SKIPPED: this CPU has no AVX2; steps 2-5 are AVX2 code");
        return;
    }
    const int threads = num_threads();
    const cpu::Isa isa = cpu::isa();
    for (const Case& c : kCases) {
        INFO("out " << c.out << " in " << c.in << " T " << c.T);
        const Problem p = random_problem(c, 3);
        const auto step1 = run(cpu::matmul_blocked, p, c);
        const auto step2 = run(cpu::matmul_vectorized, p, c);
        CHECK(bitwise_equal(step2, step1));
        const auto step3 = run(cpu::matmul_tiled, p, c);
        CHECK(bitwise_equal(step3, step2));
        for (int n : {1, 2, 3}) {
            set_num_threads(n);
            INFO(n << " threads");
            const auto step4 = run(cpu::matmul_threaded, p, c);
            CHECK(bitwise_equal(step4, step3));
            // Step 5, the fast path, with each instruction set this CPU has.
            for (cpu::Isa i : {cpu::Isa::avx2, cpu::Isa::avx512}) {
                if (i > cpu::detect_isa()) continue;
                cpu::set_isa(i);
                INFO("cpu::matmul with " << cpu::isa_name(i));
                CHECK(bitwise_equal(run(cpu::matmul, p, c), step4));
            }
            cpu::set_isa(isa);
        }
        set_num_threads(threads);
    }
}
#endif
