// llamaref/verify/compare.hpp — compare two traces tensor by tensor and find the first divergence.
//
// For each tensor of A (in A's forward order) that B also has, after an optional name map:
//   max_abs  = max |a − b|
//   max_rel  = max_abs / max |b|             (error relative to the tensor's scale)
//   cosine   = a·b / (|a| |b|)
//   argmax   = fraction of rows whose argmax agrees (logits only)
//   within   = |a − b| ≤ atol + rtol·|b| for every element (B is the reference)
// The first tensor that is not within tolerance is where two engines part ways: an error there
// and not before points at one operation (e.g. q after RoPE → the RoPE layout).
// Tensors in Hugging Face's q/k row order ("layout": "halves") are un-permuted to adjacent pairs
// before comparing. A rank's slice of a model-parallel trace ("shard") is compared with the same
// slice of the other side's whole tensor.
#pragma once

#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "trace.hpp"

namespace llamaref {

struct Tolerance {
    double atol = 1e-4;
    double rtol = 1e-4;
};

struct TensorComparison {
    std::string name;
    Shape shape;
    double max_abs = 0, max_rel = 0, cosine = 1;
    std::optional<double> argmax_agreement;  // logits only
    bool within = true;
    std::string note;  // e.g. "shape differs", "un-permuted HF q/k"
};

struct CompareReport {
    std::vector<TensorComparison> rows;
    std::optional<std::string> first_divergence;
    std::vector<std::string> missing_in_b;
};

namespace detail {
// HF (halves) row order -> adjacent pairs, along the last axis of [T, n_heads·Dh].
inline std::vector<float> unpermute_halves(const TraceTensor& t) {
    std::vector<float> out(t.data.size());
    const std::size_t width = std::size_t(t.n_heads) * t.head_dim, rows = t.data.size() / width;
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t i = 0; i < width; ++i)
            out[r * width + i] = t.data[r * width + hf_row_of_meta_row(i, t.head_dim)];
    return out;
}

// v [.., whole, ..] (shape, cut along s.axis) -> [.., s.end − s.begin, ..]; shape becomes the slice's.
inline std::vector<float> slice_axis(const std::vector<float>& v, Shape& shape, const TraceShard& s) {
    const std::size_t a = std::size_t(s.axis), n = s.end - s.begin;
    std::size_t outer = 1, inner = 1;
    for (std::size_t i = 0; i < a; ++i) outer *= shape[i];
    for (std::size_t i = a + 1; i < shape.size(); ++i) inner *= shape[i];
    std::vector<float> out(outer * n * inner);
    for (std::size_t o = 0; o < outer; ++o)
        std::copy_n(&v[(o * shape[a] + s.begin) * inner], n * inner, &out[o * n * inner]);
    shape[a] = n;
    return out;
}
}  // namespace detail

inline TensorComparison compare_tensor(const TraceTensor& a, const TraceTensor& b, const Tolerance& tol) {
    TensorComparison c{a.name, a.shape, 0, 0, 1, std::nullopt, true, ""};
    std::vector<float> av = a.data, bv = b.data;
    Shape as = a.shape, bs = b.shape;
    // One side is a rank's slice, the other the whole tensor: cut the whole one the same way.
    auto cut = [&](const TraceTensor& part, const TraceTensor& whole, std::vector<float>& v, Shape& s,
                   const char* side) {
        const TraceShard& sh = part.shard;
        if (sh.axis < 0 || whole.shard.axis >= 0 || std::size_t(sh.axis) >= s.size() ||
            s[std::size_t(sh.axis)] != sh.whole)
            return false;
        v = detail::slice_axis(v, s, sh);
        c.note += (c.note.empty() ? "" : "; ") + std::string("rank ") + std::to_string(sh.rank) + " of " +
                  std::to_string(sh.ranks) + ": " + side + "'s " + std::to_string(sh.begin) + ".." +
                  std::to_string(sh.end) + " of " + std::to_string(sh.whole) + " on axis " + std::to_string(sh.axis);
        return true;
    };
    auto fix = [&](const TraceTensor& t, std::vector<float>& v, const char* side) {
        if (t.layout != "halves") return;
        if (t.n_heads <= 0 || t.head_dim <= 0 || t.shape.back() != std::size_t(t.n_heads) * t.head_dim) {
            c.note = std::string("cannot un-permute ") + side + ": n_heads/head_dim missing or inconsistent";
            return;
        }
        v = detail::unpermute_halves(t);
        c.note = std::string("un-permuted HF q/k rows of ") + side;
    };
    fix(a, av, "A");
    fix(b, bv, "B");
    if (!cut(a, b, bv, bs, "B")) cut(b, a, av, as, "A");
    c.shape = as;
    if (shape_numel(as) != shape_numel(bs) || as.back() != bs.back()) {
        c.within = false;
        c.note = "shape " + shape_str(as) + " vs " + shape_str(bs);
        return c;
    }
    if (as != bs)
        c.note += (c.note.empty() ? "" : "; ") + std::string("shapes ") + shape_str(as) + " / " + shape_str(bs) +
                  " (same data)";
    double dot = 0, na = 0, nb = 0, scale = 0;
    for (std::size_t i = 0; i < av.size(); ++i) {
        const double x = av[i], y = bv[i], d = std::fabs(x - y);
        if (!(d <= tol.atol + tol.rtol * std::fabs(y))) c.within = false;  // NaN is never within
        c.max_abs = std::max(c.max_abs, std::isnan(d) ? INFINITY : d);
        scale = std::max(scale, std::fabs(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    c.max_rel = scale > 0 ? c.max_abs / scale : c.max_abs;
    c.cosine = (na > 0 && nb > 0) ? dot / std::sqrt(na * nb) : (na == nb ? 1.0 : 0.0);
    if (a.name == "output" && as.size() == 2) {
        const std::size_t rows = as[0], V = as[1];
        std::size_t agree = 0;
        for (std::size_t r = 0; r < rows; ++r) agree += argmax(&av[r * V], V) == argmax(&bv[r * V], V);
        c.argmax_agreement = double(agree) / double(rows);
    }
    return c;
}

// name_map: names in B -> names in A (for engines that name tensors otherwise).
inline CompareReport compare_traces(const Trace& a, const Trace& b, const Tolerance& tol,
                                    const std::map<std::string, std::string>& name_map = {}) {
    std::map<std::string, const TraceTensor*> by_name;
    for (const auto& t : b.tensors) {
        auto it = name_map.find(t.name);
        by_name[it == name_map.end() ? t.name : it->second] = &t;
    }
    CompareReport report;
    for (const auto& t : a.tensors) {
        auto it = by_name.find(t.name);
        if (it == by_name.end()) {
            report.missing_in_b.push_back(t.name);
            continue;
        }
        report.rows.push_back(compare_tensor(t, *it->second, tol));
        if (!report.rows.back().within && !report.first_divergence) report.first_divergence = t.name;
    }
    return report;
}

}  // namespace llamaref
