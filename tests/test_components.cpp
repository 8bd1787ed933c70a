// Unit tests of the components with values that can be checked by hand.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <random>

#include <xtensor/xadapt.hpp>

#include <llamaref/core/dtype.hpp>
#include <llamaref/core/ops.hpp>
#include <llamaref/model/attention.hpp>
#include <llamaref/model/config.hpp>
#include <llamaref/model/rmsnorm.hpp>
#include <llamaref/model/rope.hpp>

using namespace llamaref;

TEST_CASE("rmsnorm: x / sqrt(mean(x^2) + eps) * w", "[rmsnorm]") {
    const float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 1, 1};
    float y[4];
    rmsnorm(x, w, y, 4, 1e-5);  // mean(x^2) = 30/4 = 7.5
    for (int i = 0; i < 4; ++i) CHECK(y[i] == Approx(x[i] / std::sqrt(7.5 + 1e-5)).epsilon(1e-6));

    const float a[2] = {3, 4}, wa[2] = {2, 0.5f};  // mean 12.5, rms 3.5355339
    float b[2];
    rmsnorm(a, wa, b, 2, 0.0);
    CHECK(b[0] == Approx(2 * 3 / std::sqrt(12.5)).epsilon(1e-6));
    CHECK(b[1] == Approx(0.5 * 4 / std::sqrt(12.5)).epsilon(1e-6));

    // eps matters for small inputs: x = [1e-3] with eps 1e-6 -> 1e-3 / sqrt(1e-6 + 1e-6)
    const float s[1] = {1e-3f}, ws[1] = {1};
    float t[1];
    rmsnorm(s, ws, t, 1, 1e-6);
    CHECK(t[0] == Approx(1e-3 / std::sqrt(2e-6)).epsilon(1e-5));
}

TEST_CASE("ffn hidden size follows Meta's multiple_of / ffn_dim_multiplier rule", "[config]") {
    CHECK(ffn_hidden_dim(4096, 256) == 11008);         // Llama 2 7B
    CHECK(ffn_hidden_dim(5120, 256) == 13824);         // Llama 2 13B
    CHECK(ffn_hidden_dim(8192, 4096, 1.3) == 28672);   // Llama 2 70B
    CHECK(ffn_hidden_dim(4096, 1024, 1.3) == 14336);   // Llama 3 8B
    CHECK(ffn_hidden_dim(16384, 4096, 1.2) == 53248);  // Llama 3.1 405B
    CHECK(ffn_hidden_dim(2048, 256, 1.5) == 8192);     // Llama 3.2 1B
    CHECK(ffn_hidden_dim(3072, 256, 1.0) == 8192);     // Llama 3.2 3B
    CHECK(ffn_hidden_dim(128, 64, 1.3) == 448);        // the llama31-scaled fixture
}

TEST_CASE("config validation names the bad field", "[config]") {
    ModelConfig c;
    c.dim = 64;
    c.n_layers = 1;
    c.n_heads = 4;
    c.n_kv_heads = 3;
    c.head_dim = 16;
    c.hidden_dim = 128;
    c.vocab_size = 10;
    CHECK_THROWS_WITH(c.validate(), Catch::Contains("multiple of n_kv_heads"));
    c.n_kv_heads = 2;
    CHECK_NOTHROW(c.validate());
    c.head_dim = 15;
    CHECK_THROWS_WITH(c.validate(), Catch::Contains("even head_dim"));
}

TEST_CASE("rope rotates adjacent pairs by pos * theta_i", "[rope]") {
    // head_dim 4, base 10000: theta_0 = 1, theta_1 = 10000^(-1/2) = 0.01
    const auto theta = rope_frequencies(4, 10000.0);
    REQUIRE(theta.size() == 2);
    CHECK(theta[0] == 1.0);
    CHECK(theta[1] == Approx(0.01).epsilon(1e-12));
    const RopeTable table(theta, 3, 1);  // position 3
    float x[4] = {1, 0, 0, 2};
    rope_pairs(x, 1, 4, table, 0);
    CHECK(x[0] == Approx(std::cos(3.0)).margin(1e-7));
    CHECK(x[1] == Approx(std::sin(3.0)).margin(1e-7));
    CHECK(x[2] == Approx(-2 * std::sin(0.03)).margin(1e-7));
    CHECK(x[3] == Approx(2 * std::cos(0.03)).margin(1e-7));
    // Position 0 is the identity.
    const RopeTable zero(theta, 0, 1);
    float y[4] = {0.5f, -1, 2, 3};
    rope_pairs(y, 1, 4, zero, 0);
    CHECK(y[0] == 0.5f);
    CHECK(y[3] == 3.0f);
}

TEST_CASE("rope: pairs(x, W) == halves(x, permute(W))", "[rope]") {
    const int n_heads = 3, head_dim = 8, D = 12;
    std::mt19937 rng(7);
    std::normal_distribution<float> N(0, 1);
    std::vector<float> W(n_heads * head_dim * D), Wk(n_heads * head_dim * D), x(D), x2(D);
    for (auto* v : {&W, &Wk, &x, &x2})
        for (auto& e : *v) e = N(rng);
    std::vector<float> Whf(W.size()), Wkhf(W.size());
    const std::size_t row_bytes = D * sizeof(float);
    hf_permute_rows(reinterpret_cast<const std::byte*>(W.data()), reinterpret_cast<std::byte*>(Whf.data()), n_heads,
                    head_dim, row_bytes);
    hf_permute_rows(reinterpret_cast<const std::byte*>(Wk.data()), reinterpret_cast<std::byte*>(Wkhf.data()), n_heads,
                    head_dim, row_bytes);
    // un-permute is the inverse
    std::vector<float> back(W.size());
    hf_unpermute_rows(reinterpret_cast<const std::byte*>(Whf.data()), reinterpret_cast<std::byte*>(back.data()),
                      n_heads, head_dim, row_bytes);
    CHECK(back == W);

    auto project = [&](const std::vector<float>& M, const std::vector<float>& v) {
        std::vector<float> y(n_heads * head_dim);
        for (int r = 0; r < n_heads * head_dim; ++r) y[r] = dot(&M[r * D], v.data(), D);
        return y;
    };
    const auto theta = rope_frequencies(head_dim, 10000.0);
    const RopeTable tq(theta, 17, 1), tk(theta, 5, 1);
    auto q_pairs = project(W, x), k_pairs = project(Wk, x2);
    auto q_halves = project(Whf, x), k_halves = project(Wkhf, x2);
    rope_pairs(q_pairs.data(), n_heads, head_dim, tq, 0);
    rope_pairs(k_pairs.data(), n_heads, head_dim, tk, 0);
    rope_halves(q_halves.data(), n_heads, head_dim, tq, 0);
    rope_halves(k_halves.data(), n_heads, head_dim, tk, 0);
    for (int r = 0; r < n_heads * head_dim; ++r) {
        CHECK(q_halves[hf_row_of_meta_row(r, head_dim)] == Approx(q_pairs[r]).margin(1e-5));
    }
    // The attention scores, which is all that RoPE feeds, are the same per head.
    for (int h = 0; h < n_heads; ++h)
        CHECK(dot(&q_halves[h * head_dim], &k_halves[h * head_dim], head_dim) ==
              Approx(dot(&q_pairs[h * head_dim], &k_pairs[h * head_dim], head_dim)).margin(1e-4));
    // And the permutation matters: halves on un-permuted weights gives something else.
    auto wrong = project(W, x);
    rope_halves(wrong.data(), n_heads, head_dim, tq, 0);
    double diff = 0;
    for (int r = 0; r < n_heads * head_dim; ++r) diff = std::max(diff, double(std::fabs(wrong[r] - q_pairs[r])));
    CHECK(diff > 0.1);
}

TEST_CASE("rope: Llama 3.1 scaling keeps 29, blends 6, divides 29 pairs (Dh 128, base 5e5)", "[rope]") {
    const RopeScaling s{true, 8.0, 1.0, 4.0, 8192};
    const auto plain = rope_frequencies(128, 500000.0);
    const auto scaled = rope_frequencies(128, 500000.0, s);
    int kept = 0, divided = 0, blended = 0;
    for (std::size_t i = 0; i < plain.size(); ++i) {
        if (scaled[i] == plain[i])
            ++kept;
        else if (scaled[i] == plain[i] / 8.0)
            ++divided;
        else {
            ++blended;
            CHECK(scaled[i] < plain[i]);
            CHECK(scaled[i] > plain[i] / 8.0);
        }
    }
    CHECK(kept == 29);
    CHECK(blended == 6);
    CHECK(divided == 29);
    // Llama 3.2 1B/3B use factor 32: the long wavelengths are divided by 32, not 8.
    const auto s32 = rope_frequencies(64, 500000.0, {true, 32.0, 1.0, 4.0, 8192});
    const auto p64 = rope_frequencies(64, 500000.0);
    CHECK(s32.back() == Approx(p64.back() / 32.0).epsilon(1e-12));
}

TEST_CASE("rope: angles at positions >= 100000 match a float64 computation", "[rope]") {
    const auto theta = rope_frequencies(128, 500000.0, {true, 8.0, 1.0, 4.0, 8192});
    const std::size_t start = 100000;
    const RopeTable table(theta, start, 31000);                      // positions 100000 .. 130999
    const std::array<std::size_t, 2> shape = {31000, theta.size()};  // [T, Dh/2]
    const auto cos_ti = xt::adapt(table.cos, shape), sin_ti = xt::adapt(table.sin, shape);  // (t, i)
    double worst = 0;
    for (std::size_t t = 0; t < 31000; t += 997)
        for (std::size_t i = 0; i < theta.size(); ++i) {
            const long double angle = (long double)(start + t) * (long double)theta[i];
            worst = std::max(worst, double(std::fabs(std::cos(angle) - cos_ti(t, i))));
            worst = std::max(worst, double(std::fabs(std::sin(angle) - sin_ti(t, i))));
        }
    CHECK(worst < 1e-7);  // only the final rounding to float32 remains (a float32 angle errs by ~4e-3)
}

TEST_CASE("grouped-query attention: query head h reads KV head h / n_rep", "[attention]") {
    // H = 4 query heads, KV = 2: heads 0,1 read KV head 0 (values 1), heads 2,3 read KV head 1 (values 2).
    const int H = 4, KV = 2, Dh = 2;
    KVCache cache(1, 8, KV, Dh);
    cache.reserve(1);
    const float k[KV * Dh] = {0.5f, 0.5f, 0.5f, 0.5f};
    const float v[KV * Dh] = {1.0f, 1.0f,   // KV head 0
                              2.0f, 2.0f};  // KV head 1
    cache.store(0, 0, k, v);
    std::vector<float> q(H * Dh, 1.0f), out(H * Dh);
    attention(q.data(), cache, 0, 0, 1, Heads{H, KV, Dh}, out.data());
    CHECK(out[0] == 1.0f);  // head 0 -> KV 0
    CHECK(out[2] == 1.0f);  // head 1 -> KV 0   (h % KV would read KV 1)
    CHECK(out[4] == 2.0f);  // head 2 -> KV 1
    CHECK(out[6] == 2.0f);  // head 3 -> KV 1
}

TEST_CASE("attention is causal and softmax-weighted", "[attention]") {
    const int Dh = 1;
    KVCache cache(1, 4, 1, 1);
    cache.reserve(2);
    const float k0 = 0.0f, v0 = 10.0f, k1 = 1.0f, v1 = 20.0f;
    cache.store(0, 0, &k0, &v0);
    cache.store(0, 1, &k1, &v1);
    const float q[2] = {2.0f, 2.0f};  // two tokens, one head
    float out[2], probs[4];
    attention(q, cache, 0, 0, 2, Heads{1, 1, Dh}, out, probs);
    CHECK(out[0] == 10.0f);  // token 0 sees only position 0
    CHECK(probs[1] == 0.0f);
    // token 1: scores 0 and 2 (scale 1/sqrt(1)) -> weights 1/(1+e^2), e^2/(1+e^2)
    const double p1 = std::exp(2.0) / (1 + std::exp(2.0));
    CHECK(probs[3] == Approx(p1).epsilon(1e-6));
    CHECK(out[1] == Approx(10 * (1 - p1) + 20 * p1).epsilon(1e-6));
}

TEST_CASE("KV cache: head-major slots keep their values as it grows, rolls and stores 16 bits", "[kv_cache]") {
    // 2 layers (layer 1 a rolling buffer of W = 5), 3 KV heads of Dh = 4; keys F16, values BF16.
    const int KV = 3, Dh = 4, K = KV * Dh, W = 5, N = 23;
    auto key_of = [&](int pos, int i) { return 0.1f * float(pos) + 0.01f * float(i) + 1.0f / 3; };  // not 16-bit
    auto val_of = [&](int pos, int i) { return -0.2f * float(pos) + 0.03f * float(i) + 1.0f / 7; };
    for (const auto& [tk, tv] : {std::pair{DType::F16, DType::BF16}, std::pair{DType::F32, DType::F32}}) {
        KVCache cache(2, 64, KV, Dh, {0, W}, tk, tv);
        std::vector<float> k(K), v(K), got_k(K), got_v(K);
        for (int pos = 0; pos < N; ++pos) {
            cache.reserve(pos + 1);  // one position at a time, as decode does: the cache doubles
            for (int i = 0; i < K; ++i) k[i] = key_of(pos, i), v[i] = val_of(pos, i);
            cache.store(0, pos, k.data(), v.data());
            cache.store(1, pos, k.data(), v.data());
        }
        CHECK(cache.capacity() >= N);
        CHECK(cache.slots(1) == W);
        for (int pos = 0; pos < N; ++pos)
            for (int l : {0, 1}) {
                if (l == 1 && pos < N - W) continue;  // overwritten in the rolling buffer
                cache.load(l, pos, got_k.data(), got_v.data());
                for (int i = 0; i < K; ++i) {
                    float want[2] = {key_of(pos, i), val_of(pos, i)};
                    round_kv(tk, &want[0], 1);
                    round_kv(tv, &want[1], 1);
                    REQUIRE(got_k[i] == want[0]);
                    REQUIRE(got_v[i] == want[1]);
                }
            }
        // Head h's positions are contiguous: position p + 1 follows p directly.
        CHECK(cache.key_data(0, 7, 2) + dtype_bytes(tk, Dh) == cache.key_data(0, 8, 2));
        const std::size_t per_position = dtype_bytes(tk, K) + dtype_bytes(tv, K);
        CHECK(cache.bytes() == per_position * (std::size_t(cache.capacity()) + W));
    }
    CHECK_THROWS_WITH(KVCache(1, 8, 1, 4, {}, DType::Q8_0), Catch::Contains("F32, F16 or BF16"));
}

TEST_CASE("dtype conversions", "[dtype]") {
    CHECK(f16_to_f32(0x3C00) == 1.0f);
    CHECK(f16_to_f32(0xC000) == -2.0f);
    CHECK(f16_to_f32(0x7BFF) == 65504.0f);
    CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));
    CHECK(std::isinf(f16_to_f32(0x7C00)));
    CHECK(f32_to_f16(1.0f) == 0x3C00);
    CHECK(f32_to_f16(65504.0f) == 0x7BFF);
    CHECK(f32_to_f16(1e6f) == 0x7C00);
    CHECK(f32_to_f16(std::ldexp(1.0f, -24)) == 0x0001);
    CHECK(bf16_to_f32(0x3F80) == 1.0f);
    CHECK(f32_to_bf16(1.0f) == 0x3F80);
    CHECK(f32_to_bf16(1.00390625f) == 0x3F80);  // tie -> even
    CHECK(f32_to_bf16(1.01171875f) == 0x3F82);  // tie -> even (up)
    for (float f : {0.1f, -3.5f, 1234.5f, 6.1e-5f}) CHECK(f16_to_f32(f32_to_f16(f)) == Approx(f).epsilon(1e-3));
    BlockQ8_0 blk{f32_to_f16(0.5f), {}};
    for (int i = 0; i < 32; ++i) blk.q[i] = int8_t(i - 16);
    float out[32];
    to_f32(DType::Q8_0, &blk, out, 32);
    CHECK(out[0] == -8.0f);
    CHECK(out[31] == 7.5f);
}

TEST_CASE("matmul: Y = X W^T for every weight dtype", "[ops]") {
    const float W[6] = {1, 2, 3, 4, 5, 6};   // [2, 3]
    const float X[6] = {1, 0, -1, 2, 1, 0};  // [2, 3]
    float Y[4];
    TensorView w{DType::F32, {2, 3}, reinterpret_cast<const std::byte*>(W)};
    matmul(w, X, Y, 2);
    CHECK(Y[0] == -2.0f);  // [1,0,-1]·[1,2,3]
    CHECK(Y[1] == -2.0f);  // [1,0,-1]·[4,5,6]
    CHECK(Y[2] == 4.0f);   // [2,1,0]·[1,2,3]
    CHECK(Y[3] == 13.0f);  // [2,1,0]·[4,5,6]
    uint16_t Wb[6];
    for (int i = 0; i < 6; ++i) Wb[i] = f32_to_bf16(W[i]);
    TensorView wb{DType::BF16, {2, 3}, reinterpret_cast<const std::byte*>(Wb)};
    float Yb[4];
    matmul(wb, X, Yb, 2);
    for (int i = 0; i < 4; ++i) CHECK(Yb[i] == Y[i]);
}
