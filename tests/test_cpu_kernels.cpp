// The fast CPU kernels (include/llamaref/cpu/) against their specifications (core/ops.hpp,
// model/attention.hpp) on awkward sizes — tails of 1..7 columns, odd head dims, 1..9 tokens,
// every weight dtype — and the portable kernels against the AVX2 ones bit for bit.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>
#include <vector>

#include <llamaref/core/parallel.hpp>
#include <llamaref/cpu/attention.hpp>
#include <llamaref/cpu/feed_forward.hpp>
#include <llamaref/cpu/matmul.hpp>
#include <llamaref/model/attention.hpp>

#include "random_blocks.hpp"

using namespace llamaref;
using test::StoredMatrix;

namespace {

// A random [out, in] matrix stored as `dt`.
StoredMatrix random_matrix(DType dt, std::size_t out, std::size_t in, std::mt19937& g) {
    std::normal_distribution<float> nd;
    StoredMatrix m;
    m.bytes.resize(dtype_bytes(dt, out * in));
    std::vector<float> row(in);
    for (std::size_t r = 0; r < out; ++r) {
        for (auto& v : row) v = nd(g);
        from_f32(dt, row.data(), m.bytes.data() + r * dtype_bytes(dt, in), in);
    }
    m.view = TensorView{dt, {out, in}, m.bytes.data()};
    return m;
}

std::vector<float> random_vector(std::size_t n, std::mt19937& g, float scale = 1.0f) {
    std::normal_distribution<float> nd;
    std::vector<float> v(n);
    for (auto& x : v) x = scale * nd(g);
    return v;
}

// The result of f() with the portable kernels ([0]), then with each vector instruction set this
// CPU has (AVX2, AVX-512); the ones it lacks are named once in the test output, not tried.
template <class F>
std::vector<std::vector<float>> per_isa(F&& f) {
    const cpu::Isa before = cpu::isa();
    std::vector<std::vector<float>> results;
    for (cpu::Isa i : {cpu::Isa::portable, cpu::Isa::avx2, cpu::Isa::avx512}) {
        if (i > cpu::detect_isa()) {
            static bool said = false;
            if (!said) WARN("this CPU has no " << cpu::isa_name(i) << ": its kernels are not tested here");
            said = true;
            continue;
        }
        cpu::set_isa(i);
        results.push_back(f());
    }
    cpu::set_isa(before);
    return results;
}

}  // namespace

TEST_CASE("cpu::matmul equals matmul for every dtype, tail and token count", "[cpu][matmul]") {
    std::mt19937 g(7);
    for (DType dt : {DType::F32, DType::F16, DType::BF16, DType::Q8_0}) {
        for (std::size_t in : {1, 7, 8, 9, 31, 32, 64, 75, 256, 257, 520, 800, 1100, 1600, 2048, 3616}) {
            if (dt == DType::Q8_0 && in % kQ8BlockSize) continue;
            for (std::size_t out : {1, 3, 5, 37, 100}) {
                const StoredMatrix W = random_matrix(dt, out, in, g);
                for (std::size_t T : {0, 1, 2, 3, 4, 5, 9}) {  // 0: nothing to compute, nothing written
                    const std::vector<float> X = random_vector(T * in, g);
                    std::vector<float> ref(T * out);
                    matmul(W.view, X.data(), ref.data(), T);
                    const auto results = per_isa([&] {
                        std::vector<float> Y(T * out);
                        cpu::matmul(W.view, X.data(), Y.data(), T);
                        return Y;
                    });
                    INFO(dtype_name(dt) << " out " << out << " in " << in << " T " << T);
                    // Reassociated float32 sums: |error| ≲ in · 2⁻²⁴ · Σ|w·x|; bounded here by
                    // 1e-5 · sqrt(in) · (1 + |y|) for unit-normal entries.
                    for (std::size_t v = 0; v < results.size(); ++v)
                        for (std::size_t i = 0; i < T * out; ++i) {
                            INFO("kernels " << cpu::isa_name(cpu::Isa(v)));
                            REQUIRE(std::fabs(results[v][i] - ref[i]) <=
                                    1e-5 * std::sqrt(double(in)) * (1 + std::fabs(ref[i])));
                            REQUIRE(results[v][i] == results[0][i]);  // bit for bit
                        }
                }
            }
        }
    }
}

TEST_CASE("cpu::matmul equals matmul for llama.cpp's block formats (read in place, eight weights at a time)",
          "[cpu][matmul]") {
    std::mt19937 g(13);
    for (DType dt : kAllDTypes) {
        if (!is_quantized(dt) || dt == DType::Q8_0) continue;  // Q8_0 has its own kernel, tested above
        for (std::size_t in : {32, 96, 256, 768, 1280, 1536, 2304}) {
            if (in % dtype_block(dt).values) continue;
            for (std::size_t out : {1, 5, 37}) {
                const StoredMatrix W = test::random_blocks(dt, out, in, g);
                for (std::size_t T : {1, 2, 3, 4, 9}) {
                    const std::vector<float> X = random_vector(T * in, g);
                    std::vector<float> ref(T * out);
                    matmul(W.view, X.data(), ref.data(), T);
                    const auto results = per_isa([&] {
                        std::vector<float> Y(T * out);
                        cpu::matmul(W.view, X.data(), Y.data(), T);
                        return Y;
                    });
                    INFO(dtype_name(dt) << " out " << out << " in " << in << " T " << T);
                    double scale = 0;  // Σ|w·x| bounds the reassociation error
                    std::vector<float> w(in);
                    for (std::size_t r = 0; r < out; ++r) {
                        W.view.row_to_f32(r, w.data());
                        for (std::size_t t = 0; t < T; ++t) {
                            double sum = 0;
                            for (std::size_t k = 0; k < in; ++k) sum += std::fabs(double(w[k]) * X[t * in + k]);
                            scale = std::max(scale, sum);
                        }
                    }
                    for (std::size_t v = 0; v < results.size(); ++v)
                        for (std::size_t i = 0; i < T * out; ++i) {
                            INFO("kernels " << cpu::isa_name(cpu::Isa(v)));
                            REQUIRE(std::fabs(results[v][i] - ref[i]) <= 1e-6 * scale);
                            REQUIRE(results[v][i] == results[0][i]);  // bit for bit
                        }
                }
            }
        }
    }
}

TEST_CASE("cpu::matmul: the same bits for 1 and 2 threads, decode and prefill", "[cpu][matmul]") {
    // 301 rows: several of the chunks the threads take on demand (64 rows for decode, 96 for
    // prefill) and a short last one; 520 / 768 columns: several column blocks (the prefill
    // prefetches the next panel across them) and, for 520, a tail.
    std::mt19937 g(11);
    for (const auto& [type, in] :
         {std::pair{DType::BF16, std::size_t(520)}, std::pair{DType::F32, std::size_t(520)},
          std::pair{DType::Q8_0, std::size_t(768)}, std::pair{DType::Q4_K, std::size_t(768)}}) {
        INFO(dtype_name(type));
        const std::size_t out = 301, T = 11;
        const StoredMatrix W =
            type == DType::Q4_K ? test::random_blocks(type, out, in, g) : random_matrix(type, out, in, g);
        const std::vector<float> X = random_vector(T * in, g);
        std::vector<float> one(T * out), two(T * out), rows(3 * out), rows2(3 * out);
        set_num_threads(1);
        cpu::matmul(W.view, X.data(), one.data(), T);
        set_num_threads(2);
        cpu::matmul(W.view, X.data(), two.data(), T);
        CHECK(one == two);
        for (std::size_t t = 0; t < T; ++t) {  // one token at a time (the decode kernel), 1 and 2 threads
            set_num_threads(1);
            cpu::matmul(W.view, X.data() + t * in, rows.data(), 1);
            set_num_threads(2);
            cpu::matmul(W.view, X.data() + t * in, rows2.data(), 1);
            CHECK(std::equal(rows.begin(), rows.begin() + out, one.begin() + t * out));
            CHECK(std::equal(rows2.begin(), rows2.begin() + out, one.begin() + t * out));
        }
        cpu::matmul(W.view, X.data(), rows2.data(), 3);  // three tokens at once, 2 threads
        CHECK(std::equal(rows2.begin(), rows2.end(), one.begin()));
        set_num_threads(1);
    }
}

TEST_CASE("cpu::attention equals attention: GQA, odd head dims, prefill after a cache", "[cpu][attention]") {
    std::mt19937 g(3);
    struct Case {
        int H, KV, Dh, start, T;
    };
    // Key and value precisions: float32, and 16-bit caches (widened in blocks by the fast kernel).
    const std::pair<DType, DType> types[] = {
        {DType::F32, DType::F32}, {DType::F16, DType::F16}, {DType::BF16, DType::F16}};
    for (const Case c : {Case{4, 2, 16, 0, 5}, Case{8, 2, 20, 3, 70}, Case{6, 3, 48, 130, 1}, Case{4, 4, 7, 0, 200},
                         Case{2, 1, 64, 63, 2}, Case{8, 8, 128, 0, 17}, Case{3, 1, 9, 200, 33}})
        for (const auto& [tk, tv] : types) {
            const int S = c.start + c.T;
            KVCache cache(1, S, c.KV, c.Dh, {}, tk, tv);
            cache.reserve(S);
            for (int s = 0; s < S; ++s) {
                const auto k = random_vector(c.KV * c.Dh, g, 2.0f), v = random_vector(c.KV * c.Dh, g);
                cache.store(0, s, k.data(), v.data());
            }
            const std::vector<float> q = random_vector(std::size_t(c.T) * c.H * c.Dh, g, 2.0f);
            std::vector<float> ref(q.size());
            attention(q.data(), cache, 0, c.start, c.T, Heads{c.H, c.KV, c.Dh}, ref.data());
            const auto results = per_isa([&] {
                std::vector<float> out(q.size());
                cpu::attention(q.data(), cache, 0, c.start, c.T, Heads{c.H, c.KV, c.Dh}, out.data());
                return out;
            });
            const std::vector<float>& portable = results[0];
            const std::vector<float>& fast = results.back();
            INFO("H " << c.H << " KV " << c.KV << " Dh " << c.Dh << " start " << c.start << " T " << c.T << " cache "
                      << dtype_name(tk) << "/" << dtype_name(tv));
            for (std::size_t i = 0; i < q.size(); ++i) {
                REQUIRE(std::fabs(fast[i] - ref[i]) < 1e-5);
                REQUIRE(fast[i] == portable[i]);
            }
            // The last token alone (a decode step) gives the same bits as its row in the prefill.
            std::vector<float> last(std::size_t(c.H) * c.Dh);
            cpu::attention(q.data() + (c.T - 1) * last.size(), cache, 0, S - 1, 1, Heads{c.H, c.KV, c.Dh}, last.data());
            CHECK(std::equal(last.begin(), last.end(), fast.end() - last.size()));
        }
}

TEST_CASE("exp_poly: within 3e-7 relative of exp on softmax's arguments, 0 below -87", "[cpu][attention]") {
    double worst = 0;
    for (float x = -87.0f; x <= 0.0f; x += 0.00137f) {
        const double e = std::exp(double(x));
        worst = std::max(worst, std::fabs(cpu::exp_poly(x) - e) / e);
    }
    CHECK(worst < 3e-7);
    CHECK(cpu::exp_poly(0.0f) == 1.0f);
    CHECK(cpu::exp_poly(-INFINITY) == 0.0f);
    CHECK(cpu::exp_poly(-100.0f) == 0.0f);
}

TEST_CASE("cpu::silu_mul: portable and AVX2 bit-identical, within 1e-6 of SiLU(g)·u", "[cpu][ffn]") {
    std::mt19937 g(5);
    const std::size_t n = 1003;
    std::vector<float> gate = random_vector(n, g, 4.0f), up = random_vector(n, g);
    gate[0] = -100.0f, gate[1] = 100.0f, gate[2] = 0.0f, gate[3] = -88.5f;
    const auto results = per_isa([&] {
        std::vector<float> out(n);
        cpu::silu_mul(gate.data(), up.data(), out.data(), n);
        return out;
    });
    const std::vector<float>& portable = results[0];
    const std::vector<float>& fast = results.back();
    for (std::size_t i = 0; i < n; ++i) {
        INFO("gate " << gate[i]);
        REQUIRE(fast[i] == portable[i]);
        const double want = double(silu(gate[i])) * up[i];
        REQUIRE(std::fabs(fast[i] - want) <= 1e-6 * (1 + std::fabs(want)));
    }
}

TEST_CASE("thread pool: every index once, nested calls, exceptions reach the caller", "[cpu][parallel]") {
    set_num_threads(2);
    for (std::size_t n : {0, 1, 15, 16, 33, 1000}) {
        std::vector<int> hits(n, 0);
        parallel_for(
            n,
            [&](std::size_t b, std::size_t e) {
                for (std::size_t i = b; i < e; ++i) ++hits[i];
            },
            1);
        CHECK(std::count(hits.begin(), hits.end(), 1) == std::ptrdiff_t(n));
    }
    std::vector<int> inner(64, 0);  // a parallel_for inside a task runs on that task's thread
    parallel_for(
        8,
        [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i)
                parallel_for(
                    8,
                    [&](std::size_t b2, std::size_t e2) {
                        for (std::size_t j = b2; j < e2; ++j) ++inner[i * 8 + j];
                    },
                    1);
        },
        1);
    CHECK(std::count(inner.begin(), inner.end(), 1) == 64);
    CHECK_THROWS_WITH(parallel_for(
                          100,
                          [](std::size_t b, std::size_t) {
                              if (b > 0) fail("task at ", b, " failed");
                          },
                          1),
                      "task at 50 failed");
    int after = 0;  // the pool still works after a task threw
    parallel_for(
        2, [&](std::size_t, std::size_t) { __atomic_add_fetch(&after, 1, __ATOMIC_RELAXED); }, 1);
    CHECK(after == 2);
    set_num_threads(1);
}
