// The sampler chain against distributions computed by hand from the definitions.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <random>

#include <llamaref/generate.hpp>
#include <llamaref/sampling/sampler.hpp>

using namespace llamaref;

namespace {

const std::vector<double> kP{0.4, 0.2, 0.15, 0.1, 0.08, 0.04, 0.02, 0.01};  // sums to 1

std::vector<float> logits_of(const std::vector<double>& p) {
    std::vector<float> l;
    for (double x : p) l.push_back(float(std::log(x)));
    return l;
}

// Keep the listed ids of a distribution and renormalise.
std::vector<double> keep(const std::vector<double>& p, std::vector<int> ids) {
    std::vector<double> q(p.size(), 0.0);
    double s = 0;
    for (int i : ids) s += p[i];
    for (int i : ids) q[i] = p[i] / s;
    return q;
}

// Empirical frequencies of n draws through the full Sampler.
std::vector<double> draw(const SamplingParams& sp, int n, uint64_t seed) {
    Mt19937Rng rng(seed);
    Sampler s(sp, rng);
    const auto l = logits_of(kP);
    std::vector<double> f(kP.size(), 0.0);
    for (int i = 0; i < n; ++i) f[s.next(l.data(), l.size(), {})] += 1.0 / n;
    return f;
}

double total_variation(const std::vector<double>& a, const std::vector<double>& b) {
    double tv = 0;
    for (std::size_t i = 0; i < a.size(); ++i) tv += std::fabs(a[i] - b[i]);
    return tv / 2;
}

}  // namespace

// With 200k draws over 8 outcomes the expected total variation of a correct sampler is ~0.002;
// every wrong variant below differs from the right distribution by more than 0.04.
TEST_CASE("sampling statistics match the distribution after temperature/top-k/top-p/min-p", "[sampling]") {
    const int n = 200000;
    struct Case {
        const char* what;
        SamplingParams sp;
        std::vector<double> want, wrong;
    };
    SamplingParams plain, t05, topk3, topp07, minp22, t2k5;
    t05.temperature = 0.5;
    topk3.top_k = 3;
    topp07.top_p = 0.7;   // before-cumulative 0, .4, .6, .75: the crossing token (0.15) is kept
    minp22.min_p = 0.22;  // cut 0.088: keeps 0.4, 0.2, 0.15, 0.1
    t2k5.temperature = 2.0;
    t2k5.top_k = 5;
    std::vector<double> sq, sqrt5;
    for (double p : kP) sq.push_back(p * p);
    for (double p : kP) sqrt5.push_back(std::sqrt(p));
    auto normalise = [](std::vector<double> v) {
        double s = 0;
        for (double x : v) s += x;
        for (double& x : v) x /= s;
        return v;
    };
    const std::vector<Case> cases{
        {"temperature 1", plain, kP, keep(kP, {0, 1, 2, 3, 4})},
        {"temperature 0.5 (p^2)", t05, normalise(sq), kP},
        {"top-k 3", topk3, keep(kP, {0, 1, 2}), keep(kP, {0, 1, 2, 3})},
        {"top-p 0.7 (Meta: crossing token kept)", topp07, keep(kP, {0, 1, 2}), keep(kP, {0, 1})},
        {"min-p 0.22", minp22, keep(kP, {0, 1, 2, 3}), keep(kP, {0, 1, 2})},
        {"temperature 2 then top-k 5 (sqrt p)", t2k5, keep(normalise(sqrt5), {0, 1, 2, 3, 4}),
         keep(kP, {0, 1, 2, 3, 4})},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        const auto got = draw(c.sp, n, 1234);
        CHECK(total_variation(got, c.want) < 0.01);
        CHECK(total_variation(c.want, c.wrong) > 0.04);  // the test can tell the wrong variant apart
        CHECK(total_variation(got, c.wrong) > 0.03);
        // and the exact distribution the sampler draws from
        const auto dist = sampling_distribution(logits_of(kP), {}, c.sp);
        std::vector<double> exact(kP.size(), 0.0);
        for (const auto& x : dist) exact[x.id] = x.p;
        CHECK(total_variation(exact, c.want) < 1e-6);
    }
}

TEST_CASE("top-p and min-p boundaries", "[sampling]") {
    auto cands = [] { return std::vector<Candidate>{{0, 0.5}, {1, 0.25}, {2, 0.125}, {3, 0.125}}; };
    auto ids = [](const std::vector<Candidate>& c) {
        std::vector<int> v;
        for (const auto& x : c) v.push_back(x.id);
        return v;
    };
    auto c = cands();
    top_p(c, 0.5);  // before: 0, 0.5 (<= 0.5 kept), 0.75
    CHECK(ids(c) == std::vector<int>{0, 1});
    c = cands();
    top_p(c, 0.75);  // the third token's preceding mass is exactly 0.75: kept
    CHECK(ids(c) == std::vector<int>{0, 1, 2});
    c = cands();
    top_p(c, 1.0);
    CHECK(c.size() == 4);
    c = cands();
    top_p(c, 1e-9);  // always at least the most likely token
    CHECK(ids(c) == std::vector<int>{0});
    c = cands();
    min_p(c, 0.25);  // cut 0.125: equal is kept
    CHECK(c.size() == 4);
    c = cands();
    min_p(c, 0.5);  // cut 0.25
    CHECK(ids(c) == std::vector<int>{0, 1});
    c = cands();
    min_p(c, 1.0);  // only the maximum
    CHECK(ids(c) == std::vector<int>{0});
    // sample(): the CDF walk at its edges
    const auto d = cands();
    CHECK(sample(d, 0.0) == 0);
    CHECK(sample(d, 0.4999) == 0);
    CHECK(sample(d, 0.5) == 1);
    CHECK(sample(d, 0.8) == 2);
    CHECK(sample(d, 0.999999) == 3);
}

TEST_CASE("penalties change exactly the logits of recent tokens", "[sampling]") {
    std::vector<float> l{2.0f, -2.0f, 1.0f, 0.5f};
    SamplingParams sp;
    sp.repeat_penalty = 2.0;
    sp.frequency_penalty = 0.5;
    sp.presence_penalty = 0.25;
    const std::vector<int> recent{0, 1, 1};
    apply_penalties(l.data(), l.size(), recent, sp);
    CHECK(l[0] == 2.0f / 2 - (1 * 0.5f + 0.25f));   // positive: divided
    CHECK(l[1] == -2.0f * 2 - (2 * 0.5f + 0.25f));  // negative: multiplied; counted twice
    CHECK(l[2] == 1.0f);                            // not recent: untouched
    CHECK(l[3] == 0.5f);
    // Sampler applies only the last penalty_last_n tokens of the history.
    SamplingParams g;
    g.temperature = 0;
    g.repeat_penalty = 100;
    g.penalty_last_n = 1;
    Mt19937Rng rng(1);
    Sampler s(g, rng);
    const std::vector<float> two{1.0f, 0.9f};
    CHECK(s.next(two.data(), 2, std::vector<int>{1, 0}) == 1);  // token 0 is recent: 1/100 < 0.9
    CHECK(s.next(two.data(), 2, std::vector<int>{0, 1}) == 0);  // token 0 left the window
}

TEST_CASE("invalid sampling values are errors, temperature 0 is greedy", "[sampling]") {
    Mt19937Rng rng(1);
    auto with = [](auto edit) {
        SamplingParams s;
        edit(s);
        return s;
    };
    CHECK_THROWS_WITH(Sampler(with([](auto& s) { s.temperature = -1; }), rng), Catch::Contains("temperature"));
    CHECK_THROWS_WITH(Sampler(with([](auto& s) { s.top_p = 0; }), rng), Catch::Contains("top-p"));
    CHECK_THROWS_WITH(Sampler(with([](auto& s) { s.top_p = 1.5; }), rng), Catch::Contains("top-p"));
    CHECK_THROWS_WITH(Sampler(with([](auto& s) { s.top_k = -1; }), rng), Catch::Contains("top-k"));
    CHECK_THROWS_WITH(Sampler(with([](auto& s) { s.min_p = 2; }), rng), Catch::Contains("min-p"));
    CHECK_THROWS_WITH(Sampler(with([](auto& s) { s.temperature = NAN; }), rng), Catch::Contains("temperature"));
    Sampler ok(SamplingParams{}, rng);
    const std::vector<float> nan{1.0f, NAN}, inf{INFINITY, 1.0f};
    CHECK_THROWS_WITH(ok.next(nan.data(), 2, {}), Catch::Contains("NaN"));
    CHECK_THROWS_WITH(ok.next(inf.data(), 2, {}), Catch::Contains("infinite"));
    Sampler greedy(with([](auto& s) { s.temperature = 0; }), rng);
    const std::vector<float> l{0.1f, 3.0f, 2.9f};
    for (int i = 0; i < 100; ++i) CHECK(greedy.next(l.data(), 3, {}) == 1);
}

TEST_CASE("generators: fixed sequences for a seed", "[sampling]") {
    Mt19937Rng a(42), b(42), c(43);
    for (int i = 0; i < 10; ++i) {
        const double x = a.coin();
        CHECK(x == b.coin());
        CHECK(x >= 0.0);
        CHECK(x < 1.0);
    }
    CHECK(a.coin() != c.coin());
    // std::mt19937_64's 10000th output is fixed by the C++ standard ([rand.predef]).
    std::mt19937_64 mt;
    mt.discard(9999);
    CHECK(mt() == 9981545732273789042ull);
    // xorshift64* by hand for seed 1: s ^= s>>12 (1); s ^= s<<25 (1 + 2^25); s ^= s>>27 (unchanged)
    Llama2cRng x(1);
    CHECK(x.next_u32() == uint32_t(((1ull + (1ull << 25)) * 0x2545F4914F6CDD1Dull) >> 32));
}

TEST_CASE("Utf8Stream never splits a character", "[generate]") {
    Utf8Stream s;
    CHECK(s.push("h\xC3") == "h");  // first byte of é held back
    CHECK(s.push("\xA9!") == "\xC3\xA9!");
    CHECK(s.push("\xF0\x9F") == "");  // half an emoji
    CHECK(s.push("\x98") == "");
    CHECK(s.push("\x80") == "\xF0\x9F\x98\x80");
    CHECK(s.push("\x80x") == "\xEF\xBF\xBDx");  // a stray continuation byte
    CHECK(s.push("\xC3") == "");
    CHECK(s.push("y") == "\xEF\xBF\xBDy");  // a broken sequence
    CHECK(s.push("\xE2\x82") == "");
    CHECK(s.flush() == "\xEF\xBF\xBD");  // incomplete at the end
    // Python: b"\xe0\x80\x80".decode("utf-8", "replace") == "\ufffd" * 3 (an overlong form), and
    // b"\xed\xa0\x80" (a surrogate) the same: never passed through as a character.
    CHECK(s.push("\xE0\x80\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(s.push("\xED") == "");
    CHECK(s.push("\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(s.push("\xC0") == "\xEF\xBF\xBD");  // C0 never begins a character: not held back
}

TEST_CASE("Utf8Stream emits what replace_invalid makes of the whole text, however it is cut", "[generate]") {
    std::mt19937 g(7);
    const unsigned char alphabet[] = {'a',  0x80, 0x9F, 0xA0, 0xBF, 0xC2, 0xC3, 0xDF, 0xE0,
                                      0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xC0, 0xFF};
    for (int trial = 0; trial < 2000; ++trial) {
        std::string text;
        const int n = int(g() % 24);
        for (int i = 0; i < n; ++i) text += char(alphabet[g() % sizeof(alphabet)]);
        Utf8Stream s;
        std::string out;
        for (std::size_t at = 0; at < text.size();) {
            const std::size_t piece = 1 + g() % 4;
            out += s.push(std::string_view(text).substr(at, piece));
            at += piece;
        }
        out += s.flush();
        INFO("trial " << trial);
        REQUIRE(out == utf8::replace_invalid(text));
    }
}

TEST_CASE("generate_steps says which stop token ended the answer", "[generate]") {
    const std::vector<int> script = {5, 6, 9, 7};  // the ids the step returns, in turn
    std::size_t at = 0;
    const GenerationStep step = [&](std::span<const int>, int, std::span<const int>) { return script[at++]; };
    const std::vector<int> prompt = {1}, stops = {7, 9};  // 9: as Llama 3.1's <|eom_id|> among its stop ids
    GenerationStats st;
    CHECK(generate_steps(step, 16, prompt, 8, stops, nullptr, &st) == std::vector<int>{5, 6});
    CHECK(st.stopped_by_token);
    CHECK(st.stop_token == 9);
    at = 0;
    CHECK(generate_steps(step, 16, prompt, 1, stops, nullptr, &st) == std::vector<int>{5});  // -n reached first
    CHECK_FALSE(st.stopped_by_token);
    CHECK(st.stop_token == -1);
}
