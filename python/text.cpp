// python/text.cpp — tokenizers (with the BPE merge steps) and the sampler chain (with the
// distribution after each step).
#include <span>
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include <llamaref/sampling/sampler.hpp>
#include <llamaref/tokenizer/tokenizer.hpp>

#include "numpy.hpp"

namespace llamaref::py_bind {

namespace {

py::list steps_list(const std::vector<BpeStep>& steps) {
    py::list out;
    for (const auto& s : steps) {
        py::dict d;
        d["word"] = py::bytes(s.word);
        d["left"] = py::bytes(s.left);
        d["right"] = py::bytes(s.right);
        d["priority"] = s.priority;
        py::list parts;
        for (const auto& p : s.parts) parts.append(py::bytes(p));
        d["parts"] = parts;
        out.append(d);
    }
    return out;
}

SamplingParams params(double temperature, int top_k, double top_p, double min_p, double repeat_penalty,
                      double frequency_penalty, double presence_penalty) {
    SamplingParams s;
    s.temperature = temperature;
    s.top_k = top_k;
    s.top_p = top_p;
    s.min_p = min_p;
    s.repeat_penalty = repeat_penalty;
    s.frequency_penalty = frequency_penalty;
    s.presence_penalty = presence_penalty;
    s.validate();
    return s;
}

py::tuple as_arrays(const std::vector<Candidate>& c) {
    std::vector<int> ids;
    std::vector<double> p;
    for (const auto& x : c) ids.push_back(x.id), p.push_back(x.p);
    const py::ssize_t n = py::ssize_t(c.size());
    return py::make_tuple(owned(std::move(ids), {n}), owned(std::move(p), {n}));
}

std::vector<float> logits_of(const Array& a) {
    if (a.ndim() != 1) fail("sampling: logits must be one row [V], got ", a.ndim(), " dimensions");
    return std::vector<float>(a.data(), a.data() + a.size());
}

// The chain of sampling_distribution (sampling/sampler.hpp), stopping after each step to show
// the candidates as the chain holds them: (step, ids, probs), most likely first. Steps 4–6 cut
// the list without renormalising (top-p sums the probabilities of the softmax); "final" is the
// renormalised distribution the draw uses — sampling_distribution's result.
py::list sampling_steps(const Array& logits_in, const std::vector<int>& recent, const SamplingParams& s) {
    std::vector<float> logits = logits_of(logits_in);
    check_logits(logits.data(), logits.size());
    py::list out;
    auto show = [&](const char* step, const std::vector<Candidate>& c) {
        out.append(py::make_tuple(step, as_arrays(c)));
    };
    show("softmax", softmax_candidates(logits.data(), logits.size(), 1.0));
    apply_penalties(logits.data(), logits.size(), recent, s);
    show("penalties", softmax_candidates(logits.data(), logits.size(), 1.0));
    if (s.temperature == 0) fail("sampling_steps: temperature 0 is greedy (argmax), there is no distribution");
    auto c = softmax_candidates(logits.data(), logits.size(), s.temperature);
    show("temperature", c);
    top_k(c, s.top_k);
    show("top_k", c);
    top_p(c, s.top_p);
    show("top_p", c);
    min_p(c, s.min_p);
    show("min_p", c);
    renormalize(c);
    show("final", c);
    return out;
}

}  // namespace

void bind_text(py::module_& m) {
    py::class_<Tokenizer>(m, "Tokenizer", "SentencePiece BPE (Llama 1/2) or tiktoken BPE (Llama 3), from the files")
        .def_property_readonly("kind", &Tokenizer::kind)
        .def_property_readonly("bos_id", &Tokenizer::bos_id)
        .def_property_readonly("eos_id", &Tokenizer::eos_id)
        .def_property_readonly("vocab_size", &Tokenizer::vocab_size)
        .def(
            "encode",
            [](const Tokenizer& t, const std::string& text, bool bos, bool eos, bool parse_special) {
                return t.encode(text, bos, eos, parse_special ? SpecialText::parse : SpecialText::plain);
            },
            py::arg("text"), py::arg("bos") = false, py::arg("eos") = false, py::arg("parse_special") = false)
        .def(
            "decode", [](const Tokenizer& t, const std::vector<int>& ids) { return py::bytes(t.decode(ids)); },
            py::arg("ids"), "the text as UTF-8 bytes (.decode() them)")
        .def(
            "piece", [](const Tokenizer& t, int id) { return py::bytes(t.piece(id)); }, py::arg("id"),
            "the vocabulary entry as stored: SentencePiece text with '▁', or tiktoken's raw bytes")
        .def(
            "merge_steps",
            [](const Tokenizer& t, const std::string& text) {
                return steps_list(t.visit([&](const auto& tok) { return tok.merge_steps(text); }));
            },
            py::arg("text"),
            "every join of the BPE loop: dicts word, left, right (bytes), priority (score or rank), parts after the "
            "join");
    m.def(
        "load_tokenizer", [](const std::string& path) { return load_tokenizer(path); }, py::arg("path"),
        "a tokenizer file, or the tokenizer beside a model (tokenizer/tokenizer.hpp)");

    auto sampling_args = [] {
        return std::make_tuple(py::arg("temperature") = 1.0, py::arg("top_k") = 0, py::arg("top_p") = 1.0,
                               py::arg("min_p") = 0.0, py::arg("repeat_penalty") = 1.0,
                               py::arg("frequency_penalty") = 0.0, py::arg("presence_penalty") = 0.0);
    };
    auto [temperature, k, p, mp, rep_arg, freq_arg, pres_arg] = sampling_args();
    m.def(
        "sampling_steps",
        [](const Array& logits, const std::vector<int>& recent, double T, int top_k, double top_p, double min_p,
           double rep, double freq,
           double pres) { return sampling_steps(logits, recent, params(T, top_k, top_p, min_p, rep, freq, pres)); },
        py::arg("logits"), py::arg("recent") = std::vector<int>{}, temperature, k, p, mp, rep_arg, freq_arg, pres_arg,
        "[(step, (ids, probs)), ...] after softmax, penalties, temperature, top_k, top_p, min_p, and the final "
        "distribution");
    m.def(
        "sampling_distribution",
        [](const Array& logits, const std::vector<int>& recent, double T, int top_k, double top_p, double min_p,
           double rep, double freq, double pres) {
            return as_arrays(
                sampling_distribution(logits_of(logits), recent, params(T, top_k, top_p, min_p, rep, freq, pres)));
        },
        py::arg("logits"), py::arg("recent") = std::vector<int>{}, temperature, k, p, mp, rep_arg, freq_arg, pres_arg,
        "(ids, probs): the distribution llamaref draws from (sampling/sampler.hpp)");
    m.def(
        "sample",
        [](const std::vector<int>& ids, const std::vector<double>& probs, double coin) {
            if (ids.empty() || ids.size() != probs.size())
                fail("sample: ids and probs must be non-empty and of equal length");
            std::vector<Candidate> c;
            for (std::size_t i = 0; i < ids.size(); ++i) c.push_back({ids[i], probs[i]});
            return sample(c, coin);
        },
        py::arg("ids"), py::arg("probs"), py::arg("coin"), "the first id whose cumulative probability exceeds coin");

    py::class_<Mt19937Rng>(m, "Mt19937Rng", "the default generator: coins from std::mt19937_64")
        .def(py::init<uint64_t>(), py::arg("seed"))
        .def("coin", &Mt19937Rng::coin);
    py::class_<Llama2cRng>(m, "Llama2cRng", "llama2.c's xorshift64* generator")
        .def(py::init<uint64_t>(), py::arg("seed"))
        .def("coin", &Llama2cRng::coin);
}

}  // namespace llamaref::py_bind
