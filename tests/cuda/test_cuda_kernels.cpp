// Every CUDA kernel (cuda/llamaref/cuda/) against the CPU function that specifies it, on sizes
// chosen to break tiling assumptions: head_dim 48 and 20, one KV head, lengths that are not
// multiples of the tiles (37 tokens, 300 cached positions, rows of 37 values), all four weight
// dtypes; and the switches of Mistral and Gemma (sliding window, score scale, soft-cap, GeGLU,
// post-norm add, embeddings × √D). Tolerance: |gpu − cpu| ≤ atol + rtol·|cpu| elementwise.
// Without a GPU every case prints "SKIPPED:" (CTest reports it as skipped).
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <llamaref/core/ops.hpp>
#include <llamaref/model/attention.hpp>
#include <llamaref/model/feed_forward.hpp>
#include <llamaref/model/rmsnorm.hpp>
#include <llamaref/model/rope.hpp>
#include <llamaref/model/softcap.hpp>
#include <llamaref/sampling/sampler.hpp>

#include "../test_data.hpp"
#include "kernels_api.hpp"
#include "require_gpu.hpp"

using namespace llamaref;
namespace gpu = llamaref::cuda::test;

namespace {

std::vector<float> random_floats(std::size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 g(seed);
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = u(g);
    return v;
}

std::vector<std::byte> stored(DType t, const std::vector<float>& x) {
    std::vector<std::byte> b(dtype_bytes(t, x.size()));
    from_f32(t, x.data(), b.data(), x.size());
    return b;
}

// Elementwise |got − want| ≤ atol + rtol·|want|; reports the worst element.
void check_close(const std::vector<float>& got, const std::vector<float>& want, double atol, double rtol) {
    REQUIRE(got.size() == want.size());
    std::size_t bad = 0, worst = 0;
    double worst_excess = -1;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double err = std::fabs(double(got[i]) - double(want[i])),
                     bound = atol + rtol * std::fabs(double(want[i]));
        if (!(err <= bound)) ++bad;
        if (!(err - bound <= worst_excess)) worst_excess = err - bound, worst = i;
    }
    INFO("elements outside tolerance: " << bad << " of " << got.size() << "; worst at " << worst << ": gpu "
                                        << got[worst] << " cpu " << want[worst]);
    CHECK(bad == 0);
}

}  // namespace

TEST_CASE("cuda embedding equals the row lookup, every dtype", "[cuda]") {
    LLAMAREF_REQUIRE_GPU(gpu::available);
    const int V = 37, D = 96;
    const std::vector<int> tokens{0, 36, 5, 5, 17};
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0}) {
        INFO("dtype " << dtype_name(t));
        const auto table = stored(t, random_floats(V * D, 1));
        TensorView view{t, {std::size_t(V), std::size_t(D)}, table.data()};
        std::vector<float> want(tokens.size() * D);
        for (std::size_t i = 0; i < tokens.size(); ++i) view.row_to_f32(tokens[i], want.data() + i * D);
        check_close(gpu::embedding(t, table, V, D, tokens), want, 0, 0);  // a conversion: exact
    }
}

TEST_CASE("cuda embedding times sqrt(D) equals Gemma's scaled row", "[cuda][family]") {
    LLAMAREF_REQUIRE_GPU(gpu::available);
    const int V = 19, D = 128;
    const float normalizer = float(std::sqrt(double(D)));  // model/transformer.hpp
    const std::vector<int> tokens{3, 0, 18};
    for (DType t : {DType::F32, DType::BF16}) {
        INFO("dtype " << dtype_name(t));
        const auto table = stored(t, random_floats(V * D, 30));
        TensorView view{t, {std::size_t(V), std::size_t(D)}, table.data()};
        std::vector<float> want(tokens.size() * D);
        for (std::size_t i = 0; i < tokens.size(); ++i) view.row_to_f32(tokens[i], want.data() + i * D);
        for (float& x : want) x *= normalizer;
        check_close(gpu::embedding(t, table, V, D, tokens, normalizer), want, 0, 0);  // one product: exact
    }
}

TEST_CASE("cuda rmsnorm equals rmsnorm_rows", "[cuda]") {
    LLAMAREF_REQUIRE_GPU(gpu::available);
    for (auto [T, n] : {std::pair{1, 48}, {7, 2048}, {3, 37}, {2, 5000}}) {
        INFO("T " << T << " n " << n);
        const auto x = random_floats(std::size_t(T) * n, 2, 3.0f), w = random_floats(n, 3);
        std::vector<float> want(x.size());
        rmsnorm_rows(x.data(), w.data(), want.data(), T, n, 1e-5);
        check_close(gpu::rmsnorm_rows(x, w, T, n, 1e-5), want, 1e-6, 1e-6);
    }
}

TEST_CASE("cuda post-norm add equals rmsnorm_rows then +=, and soft-cap equals softcap()", "[cuda][family]") {
    LLAMAREF_REQUIRE_GPU(gpu::available);
    for (auto [T, n] : {std::pair{1, 192}, {5, 37}, {3, 2048}}) {
        INFO("T " << T << " n " << n);
        // Gemma 2: sub = rmsnorm(sub)·w in place, then x += sub (model/transformer.hpp); w as 1 + w.
        const auto sub = random_floats(std::size_t(T) * n, 31, 3.0f), x = random_floats(std::size_t(T) * n, 32, 5.0f);
        const auto w = unit_offset_weights(random_floats(n, 33, 0.5f));
        std::vector<float> normed(sub.size()), want = x;
        rmsnorm_rows(sub.data(), w.data(), normed.data(), T, n, 1e-6);
        for (std::size_t i = 0; i < want.size(); ++i) want[i] += normed[i];
        check_close(gpu::rmsnorm_rows_add(sub, w, x, T, n, 1e-6), want, 1e-6, 1e-6);
    }
    for (double c : {30.0, 5.0, 0.0}) {  // Gemma 2's final cap, a small one, off
        INFO("cap " << c);
        const auto x = random_floats(1000, 34, 40.0f);
        std::vector<float> want = x;
        llamaref::softcap(want.data(), want.size(), c);
        check_close(gpu::softcap(x, c), want, 1e-6, 1e-6);
    }
}

TEST_CASE("cuda rope equals rope_pairs, with theta, Llama 3.1 scaling and far positions", "[cuda]") {
    LLAMAREF_REQUIRE_GPU(gpu::available);
    RopeScaling scaled{true, 32.0, 1.0, 4.0, 8192};
    struct Case {
        int T, H, Dh, start;
        double base;
        RopeScaling s;
    };
    for (const Case& c : {Case{5, 3, 48, 0, 10000.0, {}}, Case{1, 8, 64, 1234, 500000.0, scaled},
                          Case{37, 2, 20, 7, 10000.0, {}}, Case{3, 4, 128, 100000, 500000.0, scaled}}) {
        INFO("T " << c.T << " H " << c.H << " Dh " << c.Dh << " start " << c.start);
        const auto theta = rope_frequencies(c.Dh, c.base, c.s);
        const auto x = random_floats(std::size_t(c.T) * c.H * c.Dh, 4);
        std::vector<float> want = x;
        const RopeTable table(theta, c.start, c.T);
        for (int t = 0; t < c.T; ++t)
            llamaref::rope_pairs(want.data() + std::size_t(t) * c.H * c.Dh, c.H, c.Dh, table, t);
        check_close(gpu::rope_pairs(x, c.T, c.H, c.Dh, c.start, theta), want, 1e-6, 1e-6);
    }
}

TEST_CASE("cuda attention, flash and plain, equals attention(): decode splits and prefill tiles", "[cuda]") {
    LLAMAREF_REQUIRE_GPU(gpu::available);
    struct Case {
        int H, KV, Dh, start, T;
    };
    // decode (T = 1) with 1, 2 and 3 splits of 256; prefill with partial query and key tiles,
    // over an already filled cache, with head_dim up to 256 (more than 48 KiB of shared memory).
    for (const Case& c : {Case{6, 2, 48, 5, 1}, Case{8, 2, 64, 300, 1}, Case{4, 1, 48, 600, 1}, Case{3, 3, 20, 0, 1},
                          Case{4, 1, 48, 0, 37}, Case{4, 2, 128, 17, 40}, Case{2, 1, 256, 0, 33},
                          Case{4, 2, 48, 250, 20}, Case{6, 3, 48, 0, 1}}) {
        INFO("H " << c.H << " KV " << c.KV << " Dh " << c.Dh << " start " << c.start << " T " << c.T);
        const int S = c.start + c.T, kv_dim = c.KV * c.Dh;
        const auto q = random_floats(std::size_t(c.T) * c.H * c.Dh, 5, 2.0f);
        const auto k = random_floats(std::size_t(S) * kv_dim, 6, 2.0f), v = random_floats(std::size_t(S) * kv_dim, 7);
        KVCache cache(1, S, c.KV, c.Dh);
        cache.reserve(S);
        for (int s = 0; s < S; ++s)
            cache.store(0, s, k.data() + std::size_t(s) * kv_dim, v.data() + std::size_t(s) * kv_dim);
        std::vector<float> want(q.size());
        llamaref::attention(q.data(), cache, 0, c.start, c.T, Heads{c.H, c.KV, c.Dh}, want.data());
        check_close(gpu::attention(q, k, v, c.start, c.T, c.H, c.KV, c.Dh), want, 1e-5, 1e-4);
        check_close(gpu::attention_plain(q, k, v, c.start, c.T, c.H, c.KV, c.Dh), want, 1e-5, 1e-4);
        if (c.T == 1) {  // as a CUDA graph runs it: the position on the device, splits for a larger cache
            for (int capacity : {S, S + 255, 3 * 256 + 1}) {
                INFO("capacity " << capacity);
                std::vector<float> kc(std::size_t(std::max(capacity, S)) * kv_dim, 7.0f), vc = kc;  // 7: never read
                std::copy(k.begin(), k.end(), kc.begin());
                std::copy(v.begin(), v.end(), vc.begin());
                check_close(gpu::attention_decode_at(q, kc, vc, c.start, std::max(capacity, S), c.H, c.KV, c.Dh), want,
                            1e-5, 1e-4);
            }
        }
    }
}

TEST_CASE("cuda attention, flash and plain, with a window, a score scale and a soft-cap equals attention()",
          "[cuda][family]") {
    LLAMAREF_REQUIRE_GPU(gpu::available);
    struct Case {
        int H, KV, Dh, start, T, window;
        float scale;
        double cap;
    };
    // decode: a window inside the second split, one across the split boundary, one longer than the
    // context; prefill: windows shorter than a key tile (whole tiles skipped), across the cache and
    // this call's tokens, and one wider than every query's history; soft-caps 5 (bites) and 50.
    for (const Case& c : {Case{4, 2, 48, 300, 1, 20, 0, 0}, Case{4, 1, 48, 300, 1, 260, 1 / std::sqrt(32.0f), 5},
                          Case{3, 3, 20, 3, 1, 8, 0, 50}, Case{4, 1, 48, 0, 37, 8, 0, 5},
                          Case{4, 2, 32, 17, 40, 12, 1 / std::sqrt(48.0f), 5}, Case{2, 1, 64, 250, 20, 33, 0, 0},
                          Case{2, 2, 32, 5, 20, 100, 0.1f, 50}, Case{6, 3, 48, 0, 1, 4, 0, 5}}) {
        INFO("H " << c.H << " KV " << c.KV << " Dh " << c.Dh << " start " << c.start << " T " << c.T << " window "
                  << c.window << " scale " << c.scale << " cap " << c.cap);
        const int S = c.start + c.T, kv_dim = c.KV * c.Dh;
        const auto q = random_floats(std::size_t(c.T) * c.H * c.Dh, 40, 2.0f);
        const auto k = random_floats(std::size_t(S) * kv_dim, 41, 2.0f), v = random_floats(std::size_t(S) * kv_dim, 42);
        // The CPU as its forward pass runs it: a rolling cache of W slots holding the positions
        // before start_pos, this call's keys and values fresh (model/kv_cache.hpp); the device
        // reads a full-length cache through its mask.
        KVCache cache(1, S, c.KV, c.Dh, {c.window});
        cache.reserve(S);
        for (int s = 0; s < c.start; ++s)
            cache.store(0, s, k.data() + std::size_t(s) * kv_dim, v.data() + std::size_t(s) * kv_dim);
        const std::size_t fresh = std::size_t(c.start) * kv_dim;
        const KVSpan kv{cache, 0, c.start, k.data() + fresh, v.data() + fresh};
        const AttentionOptions opt{c.window, c.scale, c.cap};
        std::vector<float> want(q.size());
        llamaref::attention(q.data(), kv, c.start, c.T, Heads{c.H, c.KV, c.Dh}, opt, want.data());
        const gpu::AttentionSwitches sw{c.window, c.scale, c.cap};
        check_close(gpu::attention(q, k, v, c.start, c.T, c.H, c.KV, c.Dh, sw), want, 1e-5, 1e-4);
        check_close(gpu::attention_plain(q, k, v, c.start, c.T, c.H, c.KV, c.Dh, sw), want, 1e-5, 1e-4);
        if (c.T == 1) {  // the graph's form: position on the device, splits for a larger cache
            const int capacity = 3 * 256 + 1;
            std::vector<float> kc(std::size_t(capacity) * kv_dim, 7.0f), vc = kc;  // 7: never read
            std::copy(k.begin(), k.end(), kc.begin());
            std::copy(v.begin(), v.end(), vc.begin());
            check_close(gpu::attention_decode_at(q, kc, vc, c.start, capacity, c.H, c.KV, c.Dh, sw), want, 1e-5, 1e-4);
        }
    }
}

TEST_CASE("cuda swiglu_hidden equals SiLU(gate) * up", "[cuda]") {
    LLAMAREF_REQUIRE_GPU(gpu::available);
    const auto g = random_floats(1001, 8, 8.0f), u = random_floats(1001, 9, 2.0f);
    std::vector<float> want(g.size());
    for (std::size_t i = 0; i < g.size(); ++i) want[i] = silu(g[i]) * u[i];
    check_close(gpu::swiglu_hidden(g, u), want, 1e-6, 1e-6);
}

TEST_CASE("cuda geglu_hidden equals GELU_tanh(gate) * up, alone and inside the matvec", "[cuda][family]") {
    LLAMAREF_REQUIRE_GPU(gpu::available);
    const auto g = random_floats(1001, 35, 8.0f), u = random_floats(1001, 36, 2.0f);
    std::vector<float> want(g.size());
    for (std::size_t i = 0; i < g.size(); ++i) want[i] = gelu_tanh(g[i]) * u[i];  // model/feed_forward.hpp
    check_close(gpu::geglu_hidden(g, u), want, 1e-6, 1e-6);
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0}) {
        for (auto [out, in] : {std::pair{37, 96}, {300, 1024}}) {
            for (bool accumulate : {false, true}) {
                INFO(dtype_name(t) << " out " << out << " in " << in << " accumulate " << accumulate);
                const auto w = stored(t, random_floats(std::size_t(out) * in, 37, 1.0f / std::sqrt(float(in))));
                const auto y0 = accumulate ? random_floats(out, 38) : std::vector<float>{};
                const auto gate = random_floats(in, 39, 6.0f), up = random_floats(in, 43);
                std::vector<float> h(in), y(out);
                for (int i = 0; i < in; ++i) h[i] = gelu_tanh(gate[i]) * up[i];
                llamaref::matmul(TensorView{t, {std::size_t(out), std::size_t(in)}, w.data()}, h.data(), y.data(), 1);
                for (std::size_t i = 0; i < y0.size(); ++i) y[i] += y0[i];
                check_close(gpu::matvec_geglu(t, w, out, in, gate, up, y0), y, 1e-5, 1e-4);
            }
        }
    }
}

TEST_CASE("cuda matmul equals matmul(), every dtype, decode and batched, with accumulate", "[cuda]") {
    LLAMAREF_REQUIRE_GPU(gpu::available);
    struct Case {
        int out, in, T;
    };
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0}) {
        for (const Case& c : {Case{37, 96, 1}, Case{129, 192, 5}, Case{300, 2048, 1}, Case{64, 37, 3},
                              Case{1000, 256, 13}, Case{3, 4096, 9}}) {
            if (t == DType::Q8_0 && c.in % 32 != 0) continue;
            for (bool accumulate : {false, true}) {
                INFO(dtype_name(t) << " out " << c.out << " in " << c.in << " T " << c.T << " accumulate "
                                   << accumulate);
                const auto w = stored(t, random_floats(std::size_t(c.out) * c.in, 10, 1.0f / std::sqrt(float(c.in))));
                const auto x = random_floats(std::size_t(c.T) * c.in, 11);
                const auto y0 = accumulate ? random_floats(std::size_t(c.T) * c.out, 12) : std::vector<float>{};
                std::vector<float> want(std::size_t(c.T) * c.out);
                llamaref::matmul(TensorView{t, {std::size_t(c.out), std::size_t(c.in)}, w.data()}, x.data(),
                                 want.data(), c.T);
                for (std::size_t i = 0; i < y0.size(); ++i) want[i] += y0[i];
                check_close(gpu::matmul(t, w, c.out, c.in, x, c.T, y0), want, 1e-5, 1e-4);
            }
        }
    }
}

TEST_CASE("cuda cuBLAS prefill GEMM equals matmul() of the rounded activations", "[cuda]") {
    LLAMAREF_REQUIRE_GPU(gpu::available);
    for (DType t : {DType::F32, DType::F16, DType::BF16}) {
        for (auto [out, in, T] : {std::tuple{129, 192, 5}, {1000, 2048, 64}, {37, 37, 3}}) {
            INFO(dtype_name(t) << " out " << out << " in " << in << " T " << T);
            const auto w = stored(t, random_floats(std::size_t(out) * in, 13, 1.0f / std::sqrt(float(in))));
            const auto x = random_floats(std::size_t(T) * in, 14);
            const auto y0 = random_floats(std::size_t(T) * out, 15);
            std::vector<float> rounded = x;  // what the tensor cores multiply
            if (t != DType::F32) {
                std::vector<std::byte> b = stored(t, x);
                to_f32(t, b.data(), rounded.data(), x.size());
            }
            std::vector<float> want(std::size_t(T) * out);
            llamaref::matmul(TensorView{t, {std::size_t(out), std::size_t(in)}, w.data()}, rounded.data(), want.data(),
                             T);
            for (std::size_t i = 0; i < want.size(); ++i) want[i] += y0[i];
            check_close(gpu::matmul_cublas(t, w, out, in, x, T, y0), want, 1e-5, 1e-4);
        }
    }
}

TEST_CASE("cuda fused decode kernels: rmsnorm or SwiGLU inside the matvec, RoPE with the K/V store", "[cuda]") {
    LLAMAREF_REQUIRE_GPU(gpu::available);
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0}) {
        for (auto [out, in] : {std::pair{37, 96}, {300, 2048}, {2048, 8192}}) {
            for (bool accumulate : {false, true}) {
                INFO(dtype_name(t) << " out " << out << " in " << in << " accumulate " << accumulate);
                const auto w = stored(t, random_floats(std::size_t(out) * in, 20, 1.0f / std::sqrt(float(in))));
                const TensorView W{t, {std::size_t(out), std::size_t(in)}, w.data()};
                const auto y0 = accumulate ? random_floats(out, 21) : std::vector<float>{};
                // rmsnorm(x)·w, then the product (model/rmsnorm.hpp, core/ops.hpp)
                const auto x = random_floats(in, 22, 3.0f), nw = random_floats(in, 23);
                std::vector<float> xn(in), want(out);
                rmsnorm(x.data(), nw.data(), xn.data(), in, 1e-5);
                llamaref::matmul(W, xn.data(), want.data(), 1);
                for (std::size_t i = 0; i < y0.size(); ++i) want[i] += y0[i];
                check_close(gpu::matvec_norm(t, w, out, in, x, nw, 1e-5, y0), want, 1e-5, 1e-4);
                // SiLU(gate) ⊙ up, then the product (model/feed_forward.hpp)
                const auto g = random_floats(in, 24, 6.0f), u = random_floats(in, 25);
                std::vector<float> h(in);
                for (int i = 0; i < in; ++i) h[i] = silu(g[i]) * u[i];
                llamaref::matmul(W, h.data(), want.data(), 1);
                for (std::size_t i = 0; i < y0.size(); ++i) want[i] += y0[i];
                check_close(gpu::matvec_swiglu(t, w, out, in, g, u, y0), want, 1e-5, 1e-4);
            }
        }
    }
    struct Case {
        int H, KV, Dh, pos;
    };
    for (const Case& c : {Case{6, 2, 48, 5}, Case{32, 8, 64, 1000}, Case{4, 1, 20, 0}, Case{4, 1, 128, 20000}}) {
        INFO("H " << c.H << " KV " << c.KV << " Dh " << c.Dh << " pos " << c.pos);
        const int Q = c.H * c.Dh, K = c.KV * c.Dh, capacity = c.pos + 3;
        const auto theta = rope_frequencies(c.Dh, 500000.0, RopeScaling{true, 32.0, 1.0, 4.0, 8192});
        const auto qkv = random_floats(std::size_t(Q + 2 * K), 26);
        std::vector<float> want = qkv;
        const RopeTable table(theta, c.pos, 1);
        llamaref::rope_pairs(want.data(), c.H, c.Dh, table, 0);
        llamaref::rope_pairs(want.data() + Q, c.KV, c.Dh, table, 0);
        std::vector<float> k_cache(std::size_t(capacity) * K, 0.0f), v_cache = k_cache;
        std::copy_n(want.data() + Q, K, k_cache.data() + std::size_t(c.pos) * K);
        std::copy_n(want.data() + Q + K, K, v_cache.data() + std::size_t(c.pos) * K);
        const auto got = gpu::rope_store(qkv, c.H, c.KV, c.Dh, c.pos, theta, capacity);
        check_close(got.qkv, want, 1e-6, 1e-6);
        check_close(got.k_cache, k_cache, 1e-6, 1e-6);
        check_close(got.v_cache, v_cache, 0, 0);
    }
}

TEST_CASE("cuda softmax and argmax equal the CPU ones", "[cuda]") {
    LLAMAREF_REQUIRE_GPU(gpu::available);
    const auto x = random_floats(3 * 32003, 16, 10.0f);
    std::vector<float> want = x;
    for (int r = 0; r < 3; ++r) llamaref::softmax(want.data() + r * 32003, 32003);
    check_close(gpu::softmax(x, 3, 32003), want, 1e-9, 1e-5);

    for (int n : {1, 31, 1024, 128256}) {
        auto v = random_floats(n, uint32_t(17 + n));
        CHECK(gpu::argmax(v) == int(llamaref::argmax(v.data(), v.size())));
        v[n / 2] = 100.0f, v[n - 1] = 100.0f;  // a tie: the first index wins
        CHECK(gpu::argmax(v) == n / 2);
        v[0] = NAN;
        CHECK(gpu::argmax(v) == -1);
    }
}

TEST_CASE("cuda sampling draws the CPU sampler's token for the same coin", "[cuda]") {
    LLAMAREF_REQUIRE_GPU(gpu::available);
    struct Setting {
        double temperature;
        int top_k;
        double top_p, min_p;
    };
    for (int V : {512, 32000}) {
        auto logits = random_floats(V, uint32_t(18 + V), 4.0f);
        logits[3] = logits[4] = 5.0f;  // equal probabilities: the lower id comes first
        for (const Setting& s : {Setting{1.0, 0, 1.0, 0.0}, Setting{0.7, 0, 0.9, 0.0}, Setting{1.3, 40, 1.0, 0.0},
                                 Setting{1.0, 0, 0.5, 0.05}, Setting{2.0, 5, 0.95, 0.0}, Setting{0.0, 0, 1.0, 0.0}}) {
            SamplingParams p;
            p.temperature = s.temperature, p.top_k = s.top_k, p.top_p = s.top_p, p.min_p = s.min_p;
            const auto dist = s.temperature > 0 ? sampling_distribution(logits, {}, p) : std::vector<Candidate>{};
            for (int i = 0; i < 40; ++i) {
                const double coin = (i + 0.37) / 40.0;
                const int want = s.temperature > 0 ? sample(dist, coin) : int(argmax(logits.data(), logits.size()));
                INFO("V " << V << " temperature " << s.temperature << " top-k " << s.top_k << " top-p " << s.top_p
                          << " min-p " << s.min_p << " coin " << coin);
                CHECK(gpu::sample(logits, s.temperature, s.top_k, s.top_p, s.min_p, coin) == want);
            }
        }
        logits[7] = INFINITY;
        CHECK(gpu::sample(logits, 1.0, 0, 0.9, 0.0, 0.5) == -1);
    }
}
