// llamaref/formats/summary.hpp — what `llamaref info` prints: format, configuration, dtype per
// tensor kind, parameter count and bytes of a loaded Model.
#pragma once

#include <map>
#include <set>
#include <sstream>
#include <string>

#include "../model/transformer.hpp"

namespace llamaref {

struct ModelSummary {
    std::map<std::string, std::set<std::string>> dtypes;  // kind -> dtypes ("embeddings", "attention", ...)
    std::size_t parameters = 0;  // distinct tensors (a tied output counts once)
    std::size_t bytes = 0;       // their stored size
};

inline ModelSummary summarize(const Model& m) {
    ModelSummary s;
    std::set<const std::byte*> seen;
    auto add = [&](const std::string& kind, const TensorView& v) {
        s.dtypes[kind].insert(std::string(dtype_name(v.dtype)));
        if (!seen.insert(v.data).second) return;
        s.parameters += v.numel();
        s.bytes += v.nbytes();
    };
    const Weights& w = m.weights;
    add("embeddings", w.tok_embeddings);
    for (const auto& L : w.layers) {
        add("norms", L.attention_norm);
        add("norms", L.ffn_norm);
        for (const auto* t : {&L.wq, &L.wk, &L.wv, &L.wo}) add("attention", *t);
        for (const auto* t : {&L.w1, &L.w2, &L.w3}) add("feed-forward", *t);
    }
    add("norms", w.norm);
    add("output", w.output);
    return s;
}

inline std::string summary_text(const Model& m) {
    const ModelSummary s = summarize(m);
    const ModelConfig& c = m.config;
    std::ostringstream o;
    o << "path:        " << m.path << "\n"
      << "format:      " << m.format << "\n"
      << "config:      " << c.describe() << "\n";
    for (const auto& [kind, set] : s.dtypes) {
        o << "  " << kind << ":" << std::string(12 - std::min<std::size_t>(11, kind.size()), ' ');
        bool first = true;
        for (const auto& d : set) o << (first ? "" : ", ") << d, first = false;
        o << "\n";
    }
    o << "parameters:  " << s.parameters << (c.tied_embeddings ? " (output tied to the embeddings)" : "") << "\n"
      << "bytes:       " << s.bytes << " (" << double(s.bytes) / (1 << 20) << " MiB of weights, "
      << (s.parameters ? 8.0 * double(s.bytes) / double(s.parameters) : 0.0) << " bits per weight)\n";
    return o.str();
}

}  // namespace llamaref
