// python/components.cpp — each box of the model alone, on numpy arrays: RMSNorm, the RoPE table
// and rotation in both layouts (and the HF weight permutation), one layer's attention with its
// probabilities, the SwiGLU feed-forward. Each calls the library function the model calls.
#include <optional>
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include <llamaref/model/attention.hpp>
#include <llamaref/model/feed_forward.hpp>
#include <llamaref/model/rmsnorm.hpp>
#include <llamaref/model/rope.hpp>

#include "numpy.hpp"

namespace llamaref::py_bind {

namespace {

// y = rmsnorm(x) · w over the last axis.   x: [..., n]   w: [n]
Array rmsnorm_py(const Array& x, const Array& w, double eps) {
    const std::size_t n = axis(x, -1, "rmsnorm: x");
    if (w.ndim() != 1 || std::size_t(w.size()) != n) fail("rmsnorm: w must have shape [", n, "]");
    std::vector<float> y(x.size());
    rmsnorm_rows(x.data(), w.data(), y.data(), x.size() / n, n, eps);
    return owned(std::move(y), dims(shape_of(x)));
}

// x: [T, heads, Dh] rotated for positions start_pos.., in the pairs or the halves layout.
Array rope_py(const Array& x, const Array64& theta, int start_pos, const std::string& layout) {
    expect_ndim(x, 3, "rope: x [T, heads, Dh]");
    const std::size_t T = x.shape(0), heads = x.shape(1), Dh = x.shape(2);
    if (std::size_t(theta.size()) * 2 != Dh)
        fail("rope: theta has ", theta.size(), " frequencies, Dh ", Dh, " needs ", Dh / 2);
    if (layout != "pairs" && layout != "halves") fail("rope: layout must be 'pairs' or 'halves', got '", layout, "'");
    if (start_pos < 0) fail("rope: negative start position ", start_pos);
    const RopeTable table(std::vector<double>(theta.data(), theta.data() + theta.size()), std::size_t(start_pos), T);
    std::vector<float> y(x.data(), x.data() + x.size());
    for (std::size_t t = 0; t < T; ++t)
        (layout == "pairs" ? rope_pairs : rope_halves)(y.data() + t * heads * Dh, int(heads), int(Dh), table, t);
    return owned(std::move(y), dims(shape_of(x)));
}

// HF's row permutation of wq / wk (pairs -> halves), or its inverse.   W: [heads·Dh, cols]
Array permute_py(const Array& W, int n_heads, int head_dim, bool to_hf) {
    expect_ndim(W, 2, "hf_permute: W");
    if (n_heads <= 0 || head_dim <= 0 || W.shape(0) != py::ssize_t(n_heads) * head_dim)
        fail("hf_permute: W has ", W.shape(0), " rows, n_heads × head_dim is ", n_heads * head_dim);
    std::vector<float> out(W.size());
    const auto* src = reinterpret_cast<const std::byte*>(W.data());
    auto* dst = reinterpret_cast<std::byte*>(out.data());
    const std::size_t row_bytes = std::size_t(W.shape(1)) * sizeof(float);
    (to_hf ? hf_permute_rows : hf_unpermute_rows)(src, dst, std::size_t(n_heads), std::size_t(head_dim), row_bytes);
    return owned(std::move(out), dims(shape_of(W)));
}

// One layer's attention: q [T, H, Dh] of positions start_pos.., keys and values [S, KV, Dh] of
// positions 0..S−1 with S = start_pos + T.   -> (out [T, H, Dh], probs [T, H, S])
py::tuple attention_py(const Array& q, const Array& k, const Array& v, std::optional<int> start) {
    expect_ndim(q, 3, "attention: q [T, H, Dh]");
    expect_ndim(k, 3, "attention: k [S, KV, Dh]");
    expect_ndim(v, 3, "attention: v [S, KV, Dh]");
    const int T = int(q.shape(0)), H = int(q.shape(1)), Dh = int(q.shape(2));
    const int S = int(k.shape(0)), KV = int(k.shape(1));
    const int start_pos = start.value_or(S - T);
    if (shape_of(k) != shape_of(v) || k.shape(2) != Dh) fail("attention: k and v must both be [S, KV, ", Dh, "]");
    if (start_pos < 0 || start_pos + T != S)
        fail("attention: start_pos + T must equal S (", start_pos, " + ", T, " vs ", S, ")");
    if (KV <= 0 || H % KV != 0) fail("attention: H (", H, ") must be a multiple of KV (", KV, ")");
    KVCache cache(1, S, KV, Dh);
    cache.reserve(S);
    for (int s = 0; s < S; ++s)
        cache.store(0, s, k.data() + std::size_t(s) * KV * Dh, v.data() + std::size_t(s) * KV * Dh);
    std::vector<float> out(std::size_t(T) * H * Dh), probs(std::size_t(T) * H * S);
    attention(q.data(), cache, 0, start_pos, T, Heads{H, KV, Dh}, out.data(), probs.data());
    return py::make_tuple(owned(std::move(out), {T, H, Dh}), owned(std::move(probs), {T, H, S}));
}

// SwiGLU: x [T, D], w1 / w3 [F, D], w2 [D, F] -> {"gate", "up", "hidden": [T, F], "out": [T, D]}
py::dict feed_forward_py(const Array& x, const Array& w1, const Array& w2, const Array& w3) {
    expect_ndim(x, 2, "feed_forward: x [T, D]");
    const TensorView W1 = weight_view(w1, "feed_forward: w1"), W2 = weight_view(w2, "feed_forward: w2"),
                     W3 = weight_view(w3, "feed_forward: w3");
    const std::size_t T = x.shape(0), D = x.shape(1), F = W1.rows();
    if (W1.shape != Shape{F, D} || W3.shape != Shape{F, D} || W2.shape != Shape{D, F})
        fail("feed_forward: expected w1, w3 [F, ", D, "] and w2 [", D, ", F]");
    std::vector<float> gate(T * F), up(T * F), hidden(T * F), out(T * D);
    swiglu(W1, W2, W3, x.data(), out.data(), T, gate.data(), up.data(), hidden.data());
    const py::ssize_t t = py::ssize_t(T), f = py::ssize_t(F), d = py::ssize_t(D);
    py::dict r;
    r["gate"] = owned(std::move(gate), {t, f});
    r["up"] = owned(std::move(up), {t, f});
    r["hidden"] = owned(std::move(hidden), {t, f});
    r["out"] = owned(std::move(out), {t, d});
    return r;
}

}  // namespace

void bind_components(py::module_& m) {
    m.def("rmsnorm", &rmsnorm_py, py::arg("x"), py::arg("w"), py::arg("eps"),
          "x / sqrt(mean(x²) + eps) · w over the last axis (model/rmsnorm.hpp)");
    m.def(
        "rope_frequencies",
        [](int head_dim, double base, const std::optional<RopeScaling>& scaling) {
            std::vector<double> theta = rope_frequencies(head_dim, base, scaling.value_or(RopeScaling{}));
            const py::ssize_t n = py::ssize_t(theta.size());
            return owned(std::move(theta), {n});
        },
        py::arg("head_dim"), py::arg("base"), py::arg("scaling") = py::none(),
        "θ_i = base^(−2i/Dh), Llama 3.1 scaling applied when given and enabled  -> float64 [Dh/2]");
    m.def(
        "rope_table",
        [](const Array64& theta, int start, int T) {
            if (start < 0 || T < 0) fail("rope_table: start and T must not be negative");
            RopeTable table(std::vector<double>(theta.data(), theta.data() + theta.size()), std::size_t(start),
                            std::size_t(T));
            const py::ssize_t n = py::ssize_t(table.n_pairs);
            return py::make_tuple(owned(std::move(table.cos), {T, n}), owned(std::move(table.sin), {T, n}));
        },
        py::arg("theta"), py::arg("start"), py::arg("T"),
        "(cos, sin) of m·θ_i for m = start..start+T−1  -> [T, Dh/2] each");
    m.def("rope", &rope_py, py::arg("x"), py::arg("theta"), py::arg("start_pos") = 0, py::arg("layout") = "pairs",
          "rotate x [T, heads, Dh]: 'pairs' (x[2i], x[2i+1]) as Meta, or 'halves' (x[i], x[i+Dh/2]) as HF");
    m.def(
        "hf_permute", [](const Array& W, int n_heads, int head_dim) { return permute_py(W, n_heads, head_dim, true); },
        py::arg("W"), py::arg("n_heads"), py::arg("head_dim"), "Meta (pairs) rows of wq/wk -> HF (halves) rows");
    m.def(
        "hf_unpermute",
        [](const Array& W, int n_heads, int head_dim) { return permute_py(W, n_heads, head_dim, false); }, py::arg("W"),
        py::arg("n_heads"), py::arg("head_dim"), "HF (halves) rows of wq/wk -> Meta (pairs) rows");
    m.def("attention", &attention_py, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("start_pos") = py::none(),
          "causal GQA: query head h reads KV head h / (H/KV)  -> (out [T, H, Dh], probs [T, H, S])");
    m.def("feed_forward", &feed_forward_py, py::arg("x"), py::arg("w1"), py::arg("w2"), py::arg("w3"),
          "SwiGLU: w2 · (silu(w1·x) ⊙ w3·x)  -> dict gate, up, hidden, out");
    m.def(
        "matmul",
        [](const Array& W, const Array& X) {
            expect_ndim(X, 2, "matmul: X [T, in]");
            const TensorView w = weight_view(W, "matmul: W [out, in]");
            if (std::size_t(X.shape(1)) != w.cols()) fail("matmul: X has ", X.shape(1), " columns, W has ", w.cols());
            std::vector<float> Y(std::size_t(X.shape(0)) * w.rows());
            matmul(w, X.data(), Y.data(), std::size_t(X.shape(0)));
            return owned(std::move(Y), {X.shape(0), py::ssize_t(w.rows())});
        },
        py::arg("W"), py::arg("X"), "Y = X · Wᵀ (core/ops.hpp)");
}

}  // namespace llamaref::py_bind
