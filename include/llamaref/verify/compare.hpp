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
// before comparing.
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
}  // namespace detail

inline TensorComparison compare_tensor(const TraceTensor& a, const TraceTensor& b, const Tolerance& tol) {
    TensorComparison c{a.name, a.shape, 0, 0, 1, std::nullopt, true, ""};
    if (shape_numel(a.shape) != shape_numel(b.shape) || a.shape.back() != b.shape.back()) {
        c.within = false;
        c.note = "shape " + shape_str(a.shape) + " vs " + shape_str(b.shape);
        return c;
    }
    if (a.shape != b.shape) c.note = "shapes " + shape_str(a.shape) + " / " + shape_str(b.shape) + " (same data)";
    std::vector<float> av = a.data, bv = b.data;
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
    if (a.name == "output" && a.shape.size() == 2) {
        const std::size_t rows = a.shape[0], V = a.shape[1];
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
