// python/module.cpp — the `llamaref` Python module: a model, its forward pass and traces.
//
// Exposes what a lesson needs, not everything (docs: python/README.md):
//   load_model(path) -> Model        any format load_model() reads; .config, .weight(name)
//   Transformer(model, context=0, backend="reference")
//     .forward(tokens, start_pos=0, observer=None, attention_probs=False) -> logits [T, V]
//       observer(name, layer, array) sees every named tensor of the pass (the trace names)
//   Trace.record(transformer, tokens) / Trace.load(dir) / Trace(); compare(a, b, atol, rtol)
// Components, tokenizers and sampling are in components.cpp and text.cpp.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <llamaref/cpu/backend.hpp>
#include <llamaref/formats/load.hpp>
#include <llamaref/verify/compare.hpp>
#include <llamaref/verify/trace.hpp>

#include "numpy.hpp"

namespace llamaref::py_bind {

void bind_components(py::module_& m);  // components.cpp
void bind_text(py::module_& m);        // text.cpp

namespace {

// A weight by its Meta name ("tok_embeddings", "layers.0.attention.wq", "norm", ...).
const TensorView& weight_by_name(const Model& model, const std::string& name) {
    const Weights& w = model.weights;
    if (name == "tok_embeddings") return w.tok_embeddings;
    if (name == "norm") return w.norm;
    if (name == "output") return w.output;
    const std::size_t dot = name.find('.', 7);
    if (name.starts_with("layers.") && dot != std::string::npos) {
        const std::string index = name.substr(7, dot - 7), rest = name.substr(dot + 1);
        const int l = index.empty() || index.size() > 6 || index.find_first_not_of("0123456789") != std::string::npos
                          ? -1
                          : std::stoi(index);
        if (l >= 0 && l < int(w.layers.size())) {
            const LayerWeights& L = w.layers[l];
            const std::map<std::string, const TensorView*> names = {{"attention_norm", &L.attention_norm},
                                                                    {"attention.wq", &L.wq},
                                                                    {"attention.wk", &L.wk},
                                                                    {"attention.wv", &L.wv},
                                                                    {"attention.wo", &L.wo},
                                                                    {"ffn_norm", &L.ffn_norm},
                                                                    {"feed_forward.w1", &L.w1},
                                                                    {"feed_forward.w2", &L.w2},
                                                                    {"feed_forward.w3", &L.w3}};
            if (auto it = names.find(rest); it != names.end()) return *it->second;
        }
    }
    fail("model has no weight named '", name,
         "' (Meta names: tok_embeddings, layers.N.attention.wq, ..., norm, output)");
}

// A stored weight as float32: the mapped bytes themselves when they are F32, else a converted copy.
Array weight_array(const std::shared_ptr<Model>& model, const std::string& name) {
    const TensorView& t = weight_by_name(*model, name);
    if (t.dtype == DType::F32) return view(reinterpret_cast<const float*>(t.data), t.shape, py::cast(model));
    return owned(t.to_f32_vector(), dims(t.shape));
}

Backend backend_of(const std::string& name) {
    if (name == "reference" || name == "ref") return reference_backend;
    if (name == "fast") return cpu::fast_backend;
    fail("backend must be 'reference' or 'fast', got '", name, "'");
}

Tensor2 forward(Transformer& tf, const std::vector<int>& tokens, int start_pos, const py::object& observer,
                bool attention_probs) {
    if (observer.is_none()) return tf.forward(tokens, start_pos);
    tf.set_observer(
        [&](const Probe& p) {  // a copy: the tensor is only valid during the call
            std::vector<float> data(p.data, p.data + shape_numel(p.shape));
            observer(p.name, p.layer, owned(std::move(data), dims(p.shape)));
        },
        attention_probs);
    try {
        Tensor2 logits = tf.forward(tokens, start_pos);
        tf.set_observer(nullptr);
        return logits;
    } catch (...) {
        tf.set_observer(nullptr);
        throw;
    }
}

py::dict comparison_dict(const TensorComparison& c) {
    py::dict d;
    d["name"] = c.name;
    d["shape"] = c.shape;
    d["max_abs"] = c.max_abs;
    d["max_rel"] = c.max_rel;
    d["cosine"] = c.cosine;
    d["argmax"] = c.argmax_agreement ? py::cast(*c.argmax_agreement) : py::none();
    d["within"] = c.within;
    d["note"] = c.note;
    return d;
}

}  // namespace

void bind_model(py::module_& m) {
    py::class_<RopeScaling>(m, "RopeScaling", "Llama 3.1 RoPE frequency scaling (model/config.hpp)")
        .def(py::init<>())
        .def_readwrite("enabled", &RopeScaling::enabled)
        .def_readwrite("factor", &RopeScaling::factor)
        .def_readwrite("low_freq_factor", &RopeScaling::low_freq_factor)
        .def_readwrite("high_freq_factor", &RopeScaling::high_freq_factor)
        .def_readwrite("original_context", &RopeScaling::original_context);

    py::class_<ModelConfig>(m, "ModelConfig", "every switch of the family (model/config.hpp)")
        .def(py::init<>())
        .def_readwrite("dim", &ModelConfig::dim)
        .def_readwrite("n_layers", &ModelConfig::n_layers)
        .def_readwrite("n_heads", &ModelConfig::n_heads)
        .def_readwrite("n_kv_heads", &ModelConfig::n_kv_heads)
        .def_readwrite("head_dim", &ModelConfig::head_dim)
        .def_readwrite("hidden_dim", &ModelConfig::hidden_dim)
        .def_readwrite("vocab_size", &ModelConfig::vocab_size)
        .def_readwrite("norm_eps", &ModelConfig::norm_eps)
        .def_readwrite("rope_theta", &ModelConfig::rope_theta)
        .def_readwrite("rope_scaling", &ModelConfig::rope_scaling)
        .def_readwrite("tied_embeddings", &ModelConfig::tied_embeddings)
        .def_readwrite("max_seq_len", &ModelConfig::max_seq_len)
        .def_property_readonly("n_rep", &ModelConfig::n_rep)
        .def("validate", &ModelConfig::validate)
        .def("describe", &ModelConfig::describe)
        .def("__repr__", [](const ModelConfig& c) { return "ModelConfig(" + c.describe() + ")"; });
    m.def("ffn_hidden_dim", &ffn_hidden_dim, py::arg("dim"), py::arg("multiple_of"),
          py::arg("ffn_dim_multiplier") = py::none(), "Meta's FFN size rule (model/config.hpp)");

    py::class_<Model, std::shared_ptr<Model>>(m, "Model", "configuration + weight views over the mapped file")
        .def_readonly("config", &Model::config)
        .def_readonly("format", &Model::format)
        .def_readonly("path", &Model::path)
        .def("weight", &weight_array, py::arg("name"),
             "a weight by Meta name as float32 [rows, cols] or [n]: a read-only view of the file when it is F32")
        .def("weight_dtype", [](const Model& model, const std::string& name) {
            return std::string(dtype_name(weight_by_name(model, name).dtype));
        });
    m.def("load_model", &load_model, py::arg("path"),
          "HF folder, Meta folder, .gguf or llama2.c .bin (formats/load.hpp)");

    py::class_<Transformer>(m, "Transformer", "the forward pass with its KV cache (model/transformer.hpp)")
        .def(py::init([](std::shared_ptr<Model> model, int context, const std::string& backend) {
                 auto tf = std::make_unique<Transformer>(std::move(model), context);
                 tf->set_backend(backend_of(backend));
                 return tf;
             }),
             py::arg("model"), py::arg("context") = 0, py::arg("backend") = "reference")
        .def_property_readonly("config", &Transformer::config)
        .def(
            "forward",
            [](Transformer& tf, const std::vector<int>& tokens, int start_pos, const py::object& observer, bool probs) {
                return owned(forward(tf, tokens, start_pos, observer, probs));
            },
            py::arg("tokens"), py::arg("start_pos") = 0, py::arg("observer") = py::none(),
            py::arg("attention_probs") = false,
            "logits [T, V] for tokens at positions start_pos..; observer(name, layer, array) sees every tensor");

    py::class_<Trace>(m, "Trace", "named tensors of one forward pass, in forward order (verify/trace.hpp)")
        .def(py::init<>())
        .def_static(
            "record",
            [](Transformer& tf, const std::vector<int>& tokens, const std::vector<int>& layers) {
                return Trace::record(tf, tokens, layers);
            },
            py::arg("transformer"), py::arg("tokens"), py::arg("layers") = std::vector<int>{})
        .def_static("load", &Trace::load, py::arg("dir"))
        .def("save", &Trace::save, py::arg("dir"))
        .def("names",
             [](const Trace& t) {
                 std::vector<std::string> n;
                 for (const auto& x : t.tensors) n.push_back(x.name);
                 return n;
             })
        .def("__len__", [](const Trace& t) { return t.tensors.size(); })
        .def("__contains__", [](const Trace& t, const std::string& name) { return t.find(name) != nullptr; })
        .def("__getitem__",
             [](py::object self, const std::string& name) {
                 const TraceTensor* x = self.cast<const Trace&>().find(name);
                 if (!x) throw py::key_error(name);
                 return view(x->data.data(), x->shape, self);  // the trace lives as long as the view
             })
        .def("layer",
             [](const Trace& t, const std::string& name) {
                 const TraceTensor* x = t.find(name);
                 if (!x) throw py::key_error(name);
                 return x->layer;
             })
        // Replace a tensor's values (same shape: existing views see the change) or append a new one.
        .def(
            "set",
            [](Trace& t, const std::string& name, const Array& a, int layer, const std::string& layout, int n_heads,
               int head_dim) {
                const float* p = a.data();
                std::vector<float> data(p, p + a.size());
                for (auto& x : t.tensors)
                    if (x.name == name) {
                        if (x.shape != shape_of(a))
                            fail("Trace.set: ", name, " has shape ", shape_str(x.shape), ", got ",
                                 shape_str(shape_of(a)));
                        std::copy(data.begin(), data.end(), x.data.begin());
                        return;
                    }
                t.tensors.push_back({name, layer, shape_of(a), std::move(data), layout, n_heads, head_dim});
            },
            py::arg("name"), py::arg("array"), py::arg("layer") = -1, py::arg("layout") = "", py::arg("n_heads") = 0,
            py::arg("head_dim") = 0);

    m.def(
        "compare",
        [](const Trace& a, const Trace& b, double atol, double rtol,
           const std::map<std::string, std::string>& name_map) {
            const CompareReport r = compare_traces(a, b, Tolerance{atol, rtol}, name_map);
            py::dict d;
            py::list rows;
            for (const auto& c : r.rows) rows.append(comparison_dict(c));
            d["rows"] = rows;
            d["first_divergence"] = r.first_divergence ? py::cast(*r.first_divergence) : py::none();
            d["missing_in_b"] = r.missing_in_b;
            return d;
        },
        py::arg("a"), py::arg("b"), py::arg("atol") = 1e-4, py::arg("rtol") = 1e-4,
        py::arg("name_map") = std::map<std::string, std::string>{},
        "tensor by tensor in A's order, B the reference; first_divergence names the first tensor out of tolerance");

    m.def("set_num_threads", &set_num_threads, py::arg("n"));
    m.def("num_threads", &num_threads);
}

}  // namespace llamaref::py_bind

PYBIND11_MODULE(llamaref, m) {
    namespace py = pybind11;
    m.doc() = "llamaref: the Llama family's reference implementation, for notebooks (python/README.md)";
    py::register_exception<llamaref::Error>(m, "Error", PyExc_RuntimeError);
    llamaref::py_bind::bind_model(m);
    llamaref::py_bind::bind_components(m);
    llamaref::py_bind::bind_text(m);
}
