// llamaref/verify/trace.hpp — record every intermediate tensor of one forward pass, save it as
// .npy files with an index, and read such a folder back (ours or another engine's).
//
// Folder layout (what `llamaref trace` writes and `tools/dump_torch.py` writes too):
//   DIR/index.json       {"tensors": [{"name", "file", "shape", "dtype": "float32", "layer",
//                          "what", "meta", "hf", "layout"?, "n_heads"?, "head_dim"?}, ...]}
//                        in forward order
//   DIR/<name>.npy       float32, C order
// "layout" is set on q/k tensors: "pairs" (Meta/GGUF/llamaref rows) or "halves" (Hugging Face
// rows, permuted for rotate-half RoPE); compare.hpp un-permutes "halves" before comparing.
// "shard" ({"axis", "begin", "end", "whole", "rank", "ranks"}) marks one rank's slice of the whole
// model's tensor in a model-parallel trace (one folder per rank: model_parallel/transformer.hpp);
// compare.hpp compares it with the same slice of a whole trace.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xnpy.hpp>

#include "../core/json.hpp"
#include "../core/limits.hpp"
#include "../model/transformer.hpp"
#include "names.hpp"

namespace llamaref {

// A traced tensor that is one rank's slice of the whole model's tensor (model parallel).
struct TraceShard {
    int axis = -1;                              // the axis it is cut along (-1: the whole tensor)
    std::size_t begin = 0, end = 0, whole = 0;  // this slice along `axis`, of `whole`
    int rank = 0, ranks = 1;
};

struct TraceTensor {
    std::string name;
    int layer = -1;
    Shape shape;
    std::vector<float> data;
    std::string layout;  // "", "pairs" or "halves"
    int n_heads = 0, head_dim = 0;
    TraceShard shard;
};

class Trace {
  public:
    std::vector<TraceTensor> tensors;  // forward order
    bool post_norms = false;           // Gemma 2's block (its HF norm names differ: model/weights.hpp)

    const TraceTensor* find(const std::string& name) const {
        for (const auto& t : tensors)
            if (t.name == name) return &t;
        return nullptr;
    }

    // Record the forward pass of `model` on `tokens` (fresh positions from 0). layers: which
    // blocks to keep (negative counts from the end); empty = all. M: Transformer, or one rank's
    // ModelParallelTransformer, whose slices are marked (TraceShard) by its probe_slice().
    template <class M>
    static Trace record(M& model, std::span<const int> tokens, const std::vector<int>& layers = {}) {
        const auto& c = model.config();
        std::set<int> keep;
        for (int l : layers) {
            const int k = l < 0 ? c.n_layers + l : l;
            if (k < 0 || k >= c.n_layers) fail("trace: layer ", l, " does not exist (the model has ", c.n_layers, ")");
            keep.insert(k);
        }
        Trace t;
        t.post_norms = c.post_norms;
        model.set_observer(
            [&](const Probe& p) {
                if (p.layer >= 0 && !keep.empty() && !keep.count(p.layer)) return;
                TraceTensor x;
                x.name = p.name;
                x.layer = p.layer;
                x.shape = p.shape;
                x.data.assign(p.data, p.data + shape_numel(p.shape));
                const bool q = p.name.ends_with(".attention.wq") || p.name.ends_with(".attention.q_rope");
                const bool k = p.name.ends_with(".attention.wk") || p.name.ends_with(".attention.k_rope");
                if (q || k) {
                    x.layout = "pairs";
                    x.n_heads = int(p.shape.back()) / c.head_dim;  // H or KV (on a rank: its own)
                    x.head_dim = c.head_dim;
                }
                if constexpr (requires { model.probe_slice(p.name); }) {
                    const auto s = model.probe_slice(p.name);
                    if (s.axis >= 0)
                        x.shard = {s.axis,
                                   s.range.begin,
                                   s.range.end,
                                   s.whole,
                                   model.partition().rank(),
                                   model.partition().ranks()};
                }
                t.tensors.push_back(std::move(x));
            },
            /*with_attention_probs=*/true);
        try {
            model.forward(tokens, 0);
        } catch (...) {
            model.set_observer(nullptr);
            throw;
        }
        model.set_observer(nullptr);
        return t;
    }

    void save(const std::string& dir) const {
        namespace fs = std::filesystem;
        fs::create_directories(dir);
        nlohmann::json index = {{"format", "llamaref-trace-1"}, {"tensors", nlohmann::json::array()}};
        for (const auto& x : tensors) {
            const std::string file = x.name + ".npy";
            xt::dump_npy((fs::path(dir) / file).string(), xt::adapt(x.data, x.shape));
            const TensorName n = describe_tensor(x.name, post_norms);
            nlohmann::json e = {{"name", x.name},   {"file", file},   {"shape", x.shape}, {"dtype", "float32"},
                                {"layer", x.layer}, {"what", n.what}, {"meta", x.name},   {"hf", n.hf}};
            if (!x.layout.empty()) {
                e["layout"] = x.layout;
                e["n_heads"] = x.n_heads;
                e["head_dim"] = x.head_dim;
            }
            if (x.shard.axis >= 0)
                e["shard"] = {{"axis", x.shard.axis},   {"begin", x.shard.begin}, {"end", x.shard.end},
                              {"whole", x.shard.whole}, {"rank", x.shard.rank},   {"ranks", x.shard.ranks}};
            index["tensors"].push_back(e);
        }
        std::ofstream((fs::path(dir) / "index.json").string()) << index.dump(1) << "\n";
    }

    // Read a trace folder. Every problem is an Error naming the folder and entry.
    static Trace load(const std::string& dir) {
        namespace fs = std::filesystem;
        const std::string index_path = (fs::path(dir) / "index.json").string();
        if (!fs::exists(index_path)) fail(index_path, ": cannot open (not a trace folder?)");
        const nlohmann::json index = read_json_file(index_path);  // depth-limited, short messages
        if (!index.is_object() || !index.contains("tensors") || !index["tensors"].is_array())
            fail(index_path, ": expected an object with a \"tensors\" array");
        Trace t;
        for (const auto& e : index["tensors"]) {
            if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("file") ||
                !e["file"].is_string())
                fail(index_path, ": every entry needs a \"name\" and a \"file\"");
            TraceTensor x;
            x.name = e["name"].get<std::string>();
            const std::string file = e["file"].get<std::string>();
            if (file.find("..") != std::string::npos || (!file.empty() && file[0] == '/'))
                fail(index_path, ": entry ", x.name, " names a file outside the folder: ", file);
            const JsonFields fields(e, index_path + ": entry " + x.name.substr(0, 100));
            x.layer = int(fields.integer_or("layer", -1, -1, limits::max_layers));
            x.layout = fields.string_or("layout", std::string());
            x.n_heads = int(fields.integer_or("n_heads", 0, 0, limits::max_heads));
            x.head_dim = int(fields.integer_or("head_dim", 0, 0, limits::max_head_dim));
            if (e.contains("shard")) {
                const JsonFields s(e["shard"], index_path + ": entry " + x.name.substr(0, 100) + " shard");
                const int64_t big = int64_t(1) << 40;
                x.shard.axis = int(s.integer("axis", 0, 8));
                x.shard.begin = std::size_t(s.integer("begin", 0, big));
                x.shard.end = std::size_t(s.integer("end", 0, big));
                x.shard.whole = std::size_t(s.integer("whole", 1, big));
                x.shard.ranks = int(s.integer_or("ranks", 1, 1, 1 << 20));
                x.shard.rank = int(s.integer_or("rank", 0, 0, x.shard.ranks - 1));
                if (x.shard.begin >= x.shard.end || x.shard.end > x.shard.whole)
                    fail(index_path, ": entry ", x.name.substr(0, 100), ": shard range ", x.shard.begin, " .. ",
                         x.shard.end, " is not inside 0 .. ", x.shard.whole);
            }
            const std::string path = (fs::path(dir) / file).string();
            if (!fs::exists(path)) fail(path, ": missing (listed in ", index_path, ")");
            try {
                auto a = xt::load_npy<float>(path);
                x.shape.assign(a.shape().begin(), a.shape().end());
                x.data.assign(a.begin(), a.end());
            } catch (const std::exception& ex) { fail(path, ": not a float32 .npy file: ", ex.what()); }
            if (x.shard.axis >= 0 && (std::size_t(x.shard.axis) >= x.shape.size() ||
                                      x.shape[std::size_t(x.shard.axis)] != x.shard.end - x.shard.begin))
                fail(index_path, ": entry ", x.name.substr(0, 100), ": shard axis ", x.shard.axis, " does not hold ",
                     x.shard.end - x.shard.begin, " values in shape ", shape_str(x.shape));
            t.post_norms = t.post_norms || x.name.ends_with(".post_ffn_norm");
            t.tensors.push_back(std::move(x));
        }
        return t;
    }
};

}  // namespace llamaref
