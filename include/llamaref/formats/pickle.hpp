// llamaref/formats/pickle.hpp — a Python pickle reader that executes nothing.
//
// Specification: Python's Lib/pickletools.py (the opcode table, protocols 0-5) and PEP 307
// (protocol 2). torch.save writes its state-dict skeleton with protocol 2: strings, ints, tuples,
// dicts, and three kinds of "callable" — GLOBAL names such as `torch._utils._rebuild_tensor_v2`
// applied to arguments by REDUCE. A real unpickler *imports and calls* whatever GLOBAL names,
// which is how a malicious checkpoint runs `os.system`. This one never calls anything: it knows
// the handful of globals a state dict needs and builds plain values for them; any other global
// is refused with an error naming it.
//
//   allowed global                        what REDUCE / persistent load makes of it
//   torch._utils._rebuild_tensor_v2       Tensor {storage, offset, size, stride}
//   torch._utils._rebuild_parameter       the tensor it wraps
//   collections.OrderedDict               an empty dict
//   torch.{Float,Half,BFloat16}Storage    the dtype of a storage, inside a persistent id
//
// Persistent ids (BINPERSID) are torch's storage references:
//   ('storage', <storage type>, key, location, numel)  -> Storage {dtype, key, numel}
// The storage bytes themselves live in the zip entry `<archive>/data/<key>` (formats/pytorch.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../core/dtype.hpp"
#include "mmap.hpp"

namespace llamaref {

struct PyObject;
using PyRef = std::shared_ptr<const PyObject>;

struct PyObject {
    enum Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Storage, Tensor, Mark } kind = None;
    int64_t i = 0;       // Bool, Int; Tensor: storage offset (elements)
    double f = 0;        // Float
    std::string s;       // String, Bytes; Global: "module.name"; Storage/Tensor: storage key
    std::vector<PyRef> items;                       // Tuple, List
    std::vector<std::pair<PyRef, PyRef>> dict;      // Dict (in insertion order)
    DType dtype = DType::F32;                       // Storage, Tensor
    std::vector<int64_t> size, stride;              // Tensor; Storage: size = {numel}
    int depth = 0;                                  // nesting depth (bounded)
};

inline const char* py_kind_name(PyObject::Kind k) {
    static const char* names[] = {"None",   "bool", "int",  "float",  "str",     "bytes", "tuple",
                                  "list",   "dict", "global", "storage", "tensor", "mark"};
    return names[k];
}

class PickleReader {
  public:
    // `where` names the pickle in error messages (e.g. "model.pth: archive/data.pkl").
    PickleReader(const std::byte* data, std::size_t size, std::string where)
        : in_(data, size, where), where_(std::move(where)) {}

    PyRef load() {
        while (true) {
            const uint8_t op = in_.read<uint8_t>("pickle opcode");
            if (op == '.') break;  // STOP
            step(op);
        }
        if (stack_.size() != 1) bad("pickle ends with ", stack_.size(), " values on its stack instead of 1");
        return stack_.back();
    }

  private:
    static constexpr int kMaxDepth = 64;
    static constexpr std::size_t kMaxStack = 1 << 20;

    template <class... Parts>
    [[noreturn]] void bad(const Parts&... parts) const {
        fail(where_, ": pickle at offset ", in_.offset(), ": ", parts...);
    }

    static PyRef make(PyObject o) { return std::make_shared<const PyObject>(std::move(o)); }
    PyRef container(PyObject::Kind k, std::vector<PyRef> items) {
        PyObject o;
        o.kind = k;
        for (const auto& x : items) o.depth = std::max(o.depth, x->depth + 1);
        if (o.depth > kMaxDepth) bad("values nested more than ", kMaxDepth, " deep");
        o.items = std::move(items);
        return make(std::move(o));
    }
    PyRef integer(int64_t v) { PyObject o; o.kind = PyObject::Int; o.i = v; return make(std::move(o)); }
    PyRef string(PyObject::Kind k, std::string s) { PyObject o; o.kind = k; o.s = std::move(s); return make(std::move(o)); }

    void push(PyRef v) {
        if (stack_.size() >= kMaxStack) bad("stack grows beyond ", kMaxStack, " values");
        stack_.push_back(std::move(v));
    }
    PyRef pop() {
        if (stack_.empty() || stack_.back()->kind == PyObject::Mark) bad("pop from an empty stack");
        PyRef v = std::move(stack_.back());
        stack_.pop_back();
        return v;
    }
    // The values above the topmost MARK, which is removed.
    std::vector<PyRef> pop_mark() {
        std::size_t m = stack_.size();
        while (m > 0 && stack_[m - 1]->kind != PyObject::Mark) --m;
        if (m == 0) bad("no MARK on the stack");
        std::vector<PyRef> items(stack_.begin() + std::ptrdiff_t(m), stack_.end());
        stack_.resize(m - 1);
        return items;
    }
    std::size_t length(uint64_t n) {
        if (n > in_.remaining()) bad("a string of ", n, " bytes is longer than the rest of the pickle");
        return std::size_t(n);
    }
    std::string text_line(const char* what) {  // for GLOBAL: "module\nname\n"
        std::string s;
        while (true) {
            const char c = char(in_.read<uint8_t>(what));
            if (c == '\n') return s;
            s += c;
            if (s.size() > 256) bad(what, " longer than 256 characters");
        }
    }

    PyRef global(const std::string& module, const std::string& name) {
        static const char* allowed[] = {"torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
                                        "collections.OrderedDict", "torch.FloatStorage", "torch.HalfStorage",
                                        "torch.BFloat16Storage"};
        const std::string full = module + "." + name;
        for (const char* a : allowed)
            if (full == a) return string(PyObject::Global, full);
        bad("the pickle names the global '", full,
            "', which a PyTorch state dict does not need; llamaref never imports or runs anything from a checkpoint "
            "(it accepts only torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, "
            "collections.OrderedDict and torch.{Float,Half,BFloat16}Storage)");
    }

    // BINPERSID: ('storage', storage type, key, location, numel) -> Storage.
    PyRef persistent(const PyRef& pid) {
        const auto& t = pid->items;
        if (pid->kind != PyObject::Tuple || t.size() != 5 || t[0]->kind != PyObject::String || t[0]->s != "storage" ||
            t[1]->kind != PyObject::Global || t[2]->kind != PyObject::String || t[4]->kind != PyObject::Int)
            bad("persistent id is not a torch storage reference ('storage', type, key, location, numel)");
        PyObject o;
        o.kind = PyObject::Storage;
        if (t[1]->s == "torch.FloatStorage") o.dtype = DType::F32;
        else if (t[1]->s == "torch.HalfStorage") o.dtype = DType::F16;
        else if (t[1]->s == "torch.BFloat16Storage") o.dtype = DType::BF16;
        else bad("persistent id names ", t[1]->s, ", which is not a storage type");
        o.s = t[2]->s;
        if (t[4]->i < 0) bad("storage ", o.s, " has a negative size");
        o.size = {t[4]->i};
        return make(std::move(o));
    }

    std::vector<int64_t> int_tuple(const PyRef& v, const char* what) {
        if (v->kind != PyObject::Tuple) bad("tensor ", what, " is a ", py_kind_name(v->kind), ", not a tuple");
        std::vector<int64_t> out;
        for (const auto& x : v->items) {
            if (x->kind != PyObject::Int || x->i < 0) bad("tensor ", what, " holds something other than a non-negative int");
            out.push_back(x->i);
        }
        return out;
    }

    // REDUCE: callable(*args), for the allowed callables only.
    PyRef call(const PyRef& fn, const PyRef& args) {
        if (fn->kind != PyObject::Global) bad("REDUCE applies a ", py_kind_name(fn->kind), ", which is not callable");
        if (args->kind != PyObject::Tuple) bad("REDUCE arguments are not a tuple");
        const auto& a = args->items;
        if (fn->s == "collections.OrderedDict") {
            if (!a.empty()) bad("OrderedDict called with arguments");
            PyObject o;
            o.kind = PyObject::Dict;
            return make(std::move(o));
        }
        if (fn->s == "torch._utils._rebuild_tensor_v2") {
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            if (a.size() < 6 || a.size() > 7 || a[0]->kind != PyObject::Storage || a[1]->kind != PyObject::Int)
                bad("_rebuild_tensor_v2 called with unexpected arguments");
            PyObject o;
            o.kind = PyObject::Tensor;
            o.dtype = a[0]->dtype;
            o.s = a[0]->s;
            o.i = a[1]->i;
            if (o.i < 0) bad("tensor has a negative storage offset");
            o.size = int_tuple(a[2], "size");
            o.stride = int_tuple(a[3], "stride");
            if (o.size.size() != o.stride.size()) bad("tensor size and stride differ in length");
            o.items = {a[0]};  // keep the storage (its numel is checked by the caller)
            return make(std::move(o));
        }
        if (fn->s == "torch._utils._rebuild_parameter") {
            if (a.size() != 3 || a[0]->kind != PyObject::Tensor) bad("_rebuild_parameter called with unexpected arguments");
            return a[0];
        }
        bad("'", fn->s, "' cannot be called here");
    }

    PyRef& memo_get(uint64_t k) {
        auto it = memo_.find(k);
        if (it == memo_.end()) bad("memo entry ", k, " was never stored");
        return it->second;
    }
    void memo_put(uint64_t k) {
        if (stack_.empty()) bad("memo store from an empty stack");
        if (memo_.size() >= kMaxStack) bad("too many memo entries");
        memo_[k] = stack_.back();
    }

    PyObject mutable_copy(const PyRef& v) { return *v; }

    void step(uint8_t op) {
        switch (op) {
            case 0x80: {  // PROTO
                const uint8_t v = in_.read<uint8_t>("protocol");
                if (v > 5) bad("unknown pickle protocol ", int(v));
                return;
            }
            case 0x95: in_.take(8, "frame length"); return;  // FRAME (protocol 4): a length hint
            case '(': { PyObject m; m.kind = PyObject::Mark; push(make(std::move(m))); return; }
            case 'N': push(make(PyObject{})); return;
            case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
                PyObject o; o.kind = PyObject::Bool; o.i = op == 0x88; push(make(std::move(o))); return;
            }
            case 'J': push(integer(in_.read<int32_t>("BININT"))); return;
            case 'K': push(integer(in_.read<uint8_t>("BININT1"))); return;
            case 'M': push(integer(in_.read<uint16_t>("BININT2"))); return;
            case 0x8a: {  // LONG1: little-endian two's complement of n bytes
                const uint8_t n = in_.read<uint8_t>("LONG1 length");
                if (n > 8) bad("integer of ", int(n), " bytes is too large for a tensor size");
                uint64_t u = 0;
                for (uint8_t k = 0; k < n; ++k) u |= uint64_t(in_.read<uint8_t>("LONG1")) << (8 * k);
                if (n > 0 && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~uint64_t(0) << (8 * n);  // sign-extend
                push(integer(int64_t(u)));
                return;
            }
            case 'G': {  // BINFLOAT: big-endian float64
                uint64_t u = 0;
                for (int k = 0; k < 8; ++k) u = (u << 8) | in_.read<uint8_t>("BINFLOAT");
                PyObject o; o.kind = PyObject::Float; o.f = std::bit_cast<double>(u); push(make(std::move(o)));
                return;
            }
            case 'X': push(string(PyObject::String, in_.read_string(length(in_.read<uint32_t>("BINUNICODE length")), "BINUNICODE"))); return;
            case 0x8c: push(string(PyObject::String, in_.read_string(length(in_.read<uint8_t>("SHORT_BINUNICODE length")), "SHORT_BINUNICODE"))); return;
            case 0x8d: push(string(PyObject::String, in_.read_string(length(in_.read<uint64_t>("BINUNICODE8 length")), "BINUNICODE8"))); return;
            case 'T': push(string(PyObject::String, in_.read_string(length(in_.read<uint32_t>("BINSTRING length")), "BINSTRING"))); return;
            case 'U': push(string(PyObject::String, in_.read_string(length(in_.read<uint8_t>("SHORT_BINSTRING length")), "SHORT_BINSTRING"))); return;
            case 'B': push(string(PyObject::Bytes, in_.read_string(length(in_.read<uint32_t>("BINBYTES length")), "BINBYTES"))); return;
            case 'C': push(string(PyObject::Bytes, in_.read_string(length(in_.read<uint8_t>("SHORT_BINBYTES length")), "SHORT_BINBYTES"))); return;
            case ')': push(container(PyObject::Tuple, {})); return;
            case 't': push(container(PyObject::Tuple, pop_mark())); return;
            case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
                std::vector<PyRef> items(op - 0x84);
                for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
                push(container(PyObject::Tuple, std::move(items)));
                return;
            }
            case ']': push(container(PyObject::List, {})); return;
            case 'l': push(container(PyObject::List, pop_mark())); return;
            case '}': { PyObject o; o.kind = PyObject::Dict; push(make(std::move(o))); return; }
            case 'd': case 'u': case 's': case 'a': case 'e': {  // DICT, SETITEMS, SETITEM, APPEND, APPENDS
                std::vector<PyRef> items;
                if (op == 'd' || op == 'u' || op == 'e') items = pop_mark();
                else if (op == 's') { PyRef v = pop(); PyRef k = pop(); items = {k, v}; }
                else items = {pop()};
                PyObject o;
                if (op == 'd') o.kind = PyObject::Dict;
                else o = mutable_copy(pop());
                const bool is_dict = op == 'd' || op == 'u' || op == 's';
                if (is_dict && o.kind != PyObject::Dict) bad("SETITEM(S) on a ", py_kind_name(o.kind));
                if (!is_dict && o.kind != PyObject::List) bad("APPEND(S) on a ", py_kind_name(o.kind));
                if (is_dict && items.size() % 2) bad("odd number of values for a dict");
                for (std::size_t k = 0; k < items.size(); k += is_dict ? 2 : 1) {
                    if (is_dict) o.dict.emplace_back(items[k], items[k + 1]);
                    else o.items.push_back(items[k]);
                    o.depth = std::max({o.depth, items[k]->depth + 1, is_dict ? items[k + 1]->depth + 1 : 0});
                }
                if (o.depth > kMaxDepth) bad("values nested more than ", kMaxDepth, " deep");
                push(make(std::move(o)));
                return;
            }
            case 'q': memo_put(in_.read<uint8_t>("BINPUT")); return;
            case 'r': memo_put(in_.read<uint32_t>("LONG_BINPUT")); return;
            case 0x94: memo_put(memo_.size()); return;  // MEMOIZE
            case 'h': push(memo_get(in_.read<uint8_t>("BINGET"))); return;
            case 'j': push(memo_get(in_.read<uint32_t>("LONG_BINGET"))); return;
            case 'c': {  // GLOBAL "module\nname\n"
                const std::string module = text_line("GLOBAL module");
                const std::string name = text_line("GLOBAL name");
                push(global(module, name));
                return;
            }
            case 0x93: {  // STACK_GLOBAL
                PyRef name = pop(), module = pop();
                if (module->kind != PyObject::String || name->kind != PyObject::String) bad("STACK_GLOBAL needs two strings");
                push(global(module->s, name->s));
                return;
            }
            case 'R': { PyRef args = pop(); PyRef fn = pop(); push(call(fn, args)); return; }
            case 'Q': push(persistent(pop())); return;  // BINPERSID
            case 'b': {  // BUILD: only an empty state (None or {}) is accepted; nothing is set
                PyRef state = pop();
                if (stack_.empty()) bad("BUILD with nothing to build");
                if (!(state->kind == PyObject::None || (state->kind == PyObject::Dict && state->dict.empty())))
                    bad("BUILD with a state on a ", py_kind_name(stack_.back()->kind), " is not part of a state dict");
                return;
            }
            case '0': pop(); return;        // POP
            case '1': pop_mark(); return;   // POP_MARK
            case '2': { if (stack_.empty()) bad("DUP of an empty stack"); push(stack_.back()); return; }
            default:
                bad("opcode 0x", "0123456789abcdef"[op >> 4], "0123456789abcdef"[op & 15],
                    " is not supported (llamaref reads the protocol-2 subset that torch.save writes)");
        }
    }

    ByteReader in_;
    std::string where_;
    std::vector<PyRef> stack_;
    std::map<uint64_t, PyRef> memo_;
};

}  // namespace llamaref
