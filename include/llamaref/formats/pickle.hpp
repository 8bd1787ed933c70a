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
//
// Cost: linear in the pickle's length, in time and memory, whatever the file says. As in Python,
// values are shared, not copied: MEMOIZE / BINPUT store a reference, and APPEND(S) / SETITEM(S)
// add to the one list or dict that the stack and the memo both point to. A list or dict becomes
// read-only once it is put inside another value (a tuple, list, dict, or call arguments), which is
// how every pickler writes a tree; so no value can contain itself, nesting is at most kMaxDepth,
// and each value's depth is known when it is built. Stack, memo and the number of values are
// bounded by the length of the input and by the limits below (far above a real state dict: about
// 15 values per tensor), and MARKs are kept as positions, so no opcode scans or copies the stack.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../core/dtype.hpp"
#include "../core/mmap.hpp"

namespace llamaref {

struct PyObject;
using PyRef = std::shared_ptr<const PyObject>;

struct PyObject {
    enum Kind : uint8_t {
        None,
        Bool,
        Int,
        Float,
        String,
        Bytes,
        Tuple,
        List,
        Dict,
        Global,
        Storage,
        Tensor
    } kind = None;
    bool frozen = false;                        // a List / Dict inside another value: no longer changed (see above)
    DType dtype = DType::F32;                   // Storage, Tensor
    int depth = 0;                              // nesting depth (bounded)
    int64_t i = 0;                              // Bool, Int; Tensor: storage offset (elements)
    double f = 0;                               // Float
    std::string s;                              // String, Bytes; Global: "module.name"; Storage/Tensor: storage key
    std::vector<PyRef> items;                   // Tuple, List; Tensor: {its Storage}
    std::vector<std::pair<PyRef, PyRef>> dict;  // Dict (in insertion order)
    std::vector<int64_t> size, stride;          // Tensor; Storage: size = {numel}
};

inline const char* py_kind_name(PyObject::Kind k) {
    static const char* names[] = {"None",  "bool", "int",  "float",  "str",     "bytes",
                                  "tuple", "list", "dict", "global", "storage", "tensor"};
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
        if (!marks_.empty()) bad("pickle ends with ", marks_.size(), " MARK(s) still open");
        if (stack_.size() != 1) bad("pickle ends with ", stack_.size(), " values on its stack instead of 1");
        return stack_.back();
    }

  private:
    using PyMut = std::shared_ptr<PyObject>;  // values on the stack and in the memo may still change

    static constexpr int kMaxDepth = 64;
    static constexpr std::size_t kMaxStack = 1 << 20;   // stack entries, and memo entries
    static constexpr std::size_t kMaxValues = 1 << 20;  // values built in all (~170 bytes each)

    template <class... Parts>
    [[noreturn]] void bad(const Parts&... parts) const {
        fail(where_, ": pickle at offset ", in_.offset(), ": ", parts...);
    }

    PyMut make(PyObject::Kind k) {
        if (++values_ > kMaxValues) bad("more than ", kMaxValues, " values: not a state dict");
        auto o = std::make_shared<PyObject>();
        o->kind = k;
        return o;
    }
    // Put `child` inside `parent`: the child is read-only from now on; the parent's depth grows.
    void adopt(PyObject& parent, const PyMut& child) {
        if (child.get() == &parent) bad("a ", py_kind_name(parent.kind), " would contain itself");
        child->frozen = true;
        parent.depth = std::max(parent.depth, child->depth + 1);
        if (parent.depth > kMaxDepth) bad("values nested more than ", kMaxDepth, " deep");
    }
    PyMut container(PyObject::Kind k, std::vector<PyMut> items) {
        PyMut o = make(k);
        o->items.reserve(items.size());
        for (auto& x : items) adopt(*o, x), o->items.push_back(std::move(x));
        return o;
    }
    PyMut integer(int64_t v) {
        PyMut o = make(PyObject::Int);
        o->i = v;
        return o;
    }
    PyMut string(PyObject::Kind k, std::string s) {
        PyMut o = make(k);
        o->s = std::move(s);
        return o;
    }

    // The stack is split into frames by MARKs (Python's "metastack"): marks_ holds where each
    // frame starts, and pop() never reaches below the top frame.
    std::size_t frame() const { return marks_.empty() ? 0 : marks_.back(); }
    void push(PyMut v) {
        if (stack_.size() >= kMaxStack) bad("stack grows beyond ", kMaxStack, " values");
        stack_.push_back(std::move(v));
    }
    PyMut pop() {
        if (stack_.size() <= frame()) bad(marks_.empty() ? "pop from an empty stack" : "pop below a MARK");
        PyMut v = std::move(stack_.back());
        stack_.pop_back();
        return v;
    }
    const PyMut& top() const {
        if (stack_.size() <= frame()) bad("no value on the stack");
        return stack_.back();
    }
    void mark() {
        if (marks_.size() >= kMaxStack) bad("more than ", kMaxStack, " MARKs");
        marks_.push_back(stack_.size());
    }
    // The values above the topmost MARK, which is removed.
    std::vector<PyMut> pop_mark() {
        if (marks_.empty()) bad("no MARK on the stack");
        const std::size_t m = marks_.back();
        marks_.pop_back();
        std::vector<PyMut> items(std::make_move_iterator(stack_.begin() + std::ptrdiff_t(m)),
                                 std::make_move_iterator(stack_.end()));
        stack_.resize(m);
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

    PyMut global(const std::string& module, const std::string& name) {
        static const char* allowed[] = {"torch._utils._rebuild_tensor_v2",
                                        "torch._utils._rebuild_parameter",
                                        "collections.OrderedDict",
                                        "torch.FloatStorage",
                                        "torch.HalfStorage",
                                        "torch.BFloat16Storage"};
        const std::string full = module + "." + name;
        for (const char* a : allowed)
            if (full == a) return string(PyObject::Global, full);
        bad("the pickle names the global '", full.substr(0, 200),
            "', which a PyTorch state dict does not need; llamaref never imports or runs anything from a checkpoint "
            "(it accepts only torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, "
            "collections.OrderedDict and torch.{Float,Half,BFloat16}Storage)");
    }

    // BINPERSID: ('storage', storage type, key, location, numel) -> Storage.
    PyMut persistent(const PyMut& pid) {
        const auto& t = pid->items;
        if (pid->kind != PyObject::Tuple || t.size() != 5 || t[0]->kind != PyObject::String || t[0]->s != "storage" ||
            t[1]->kind != PyObject::Global || t[2]->kind != PyObject::String || t[4]->kind != PyObject::Int)
            bad("persistent id is not a torch storage reference ('storage', type, key, location, numel)");
        PyMut o = make(PyObject::Storage);
        if (t[1]->s == "torch.FloatStorage")
            o->dtype = DType::F32;
        else if (t[1]->s == "torch.HalfStorage")
            o->dtype = DType::F16;
        else if (t[1]->s == "torch.BFloat16Storage")
            o->dtype = DType::BF16;
        else
            bad("persistent id names ", t[1]->s, ", which is not a storage type");
        o->s = t[2]->s;
        if (t[4]->i < 0) bad("storage ", o->s.substr(0, 100), " has a negative size");
        o->size = {t[4]->i};
        return o;
    }

    std::vector<int64_t> int_tuple(const PyRef& v, const char* what) {
        if (v->kind != PyObject::Tuple) bad("tensor ", what, " is a ", py_kind_name(v->kind), ", not a tuple");
        std::vector<int64_t> out;
        for (const auto& x : v->items) {
            if (x->kind != PyObject::Int || x->i < 0)
                bad("tensor ", what, " holds something other than a non-negative int");
            out.push_back(x->i);
        }
        return out;
    }

    // REDUCE: callable(*args), for the allowed callables only.
    PyMut call(const PyMut& fn, const PyMut& args) {
        if (fn->kind != PyObject::Global) bad("REDUCE applies a ", py_kind_name(fn->kind), ", which is not callable");
        if (args->kind != PyObject::Tuple) bad("REDUCE arguments are not a tuple");
        const auto& a = args->items;
        if (fn->s == "collections.OrderedDict") {
            if (!a.empty()) bad("OrderedDict called with arguments");
            return make(PyObject::Dict);
        }
        if (fn->s == "torch._utils._rebuild_tensor_v2") {
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            if (a.size() < 6 || a.size() > 7 || a[0]->kind != PyObject::Storage || a[1]->kind != PyObject::Int)
                bad("_rebuild_tensor_v2 called with unexpected arguments");
            PyMut o = make(PyObject::Tensor);
            o->dtype = a[0]->dtype;
            o->s = a[0]->s;
            o->i = a[1]->i;
            if (o->i < 0) bad("tensor has a negative storage offset");
            o->size = int_tuple(a[2], "size");
            o->stride = int_tuple(a[3], "stride");
            if (o->size.size() != o->stride.size()) bad("tensor size and stride differ in length");
            o->items = {a[0]};  // keep the storage (its numel is checked by the caller)
            o->depth = 1;
            return o;
        }
        if (fn->s == "torch._utils._rebuild_parameter") {
            if (a.size() != 3 || a[0]->kind != PyObject::Tensor)
                bad("_rebuild_parameter called with unexpected arguments");
            return std::const_pointer_cast<PyObject>(a[0]);  // a tensor: never changed after it is built
        }
        bad("'", fn->s, "' cannot be called here");
    }

    const PyMut& memo_get(uint64_t k) {
        auto it = memo_.find(k);
        if (it == memo_.end()) bad("memo entry ", k, " was never stored");
        return it->second;
    }
    void memo_put(uint64_t k) {
        const PyMut& v = top();
        auto it = memo_.find(k);
        if (it != memo_.end()) {
            it->second = v;
            return;
        }
        if (memo_.size() >= kMaxStack) bad("more than ", kMaxStack, " memo entries");
        memo_.emplace(k, v);
    }

    // APPEND, APPENDS, SETITEM, SETITEMS: add to the list or dict below the values, in place.
    void add_to(std::vector<PyMut> items, bool is_dict) {
        const PyMut& target = top();
        PyObject& o = *target;
        if (is_dict && o.kind != PyObject::Dict) bad("SETITEM(S) on a ", py_kind_name(o.kind));
        if (!is_dict && o.kind != PyObject::List) bad("APPEND(S) on a ", py_kind_name(o.kind));
        if (o.frozen)
            bad("a ", py_kind_name(o.kind),
                " is changed after it was put inside another value "
                "(a self-referencing structure, which a state dict never holds)");
        if (is_dict && items.size() % 2) bad("odd number of values for a dict");
        for (std::size_t k = 0; k < items.size(); k += is_dict ? 2 : 1) {
            adopt(o, items[k]);
            if (is_dict) {
                adopt(o, items[k + 1]);
                o.dict.emplace_back(std::move(items[k]), std::move(items[k + 1]));
            } else {
                o.items.push_back(std::move(items[k]));
            }
        }
    }

    void step(uint8_t op) {
        switch (op) {
            case 0x80: {  // PROTO
                const uint8_t v = in_.read<uint8_t>("protocol");
                if (v > 5) bad("unknown pickle protocol ", int(v));
                return;
            }
            case 0x95: in_.take(8, "frame length"); return;  // FRAME (protocol 4): a length hint
            case '(': mark(); return;
            case 'N': push(make(PyObject::None)); return;
            case 0x88:
            case 0x89: {  // NEWTRUE, NEWFALSE
                PyMut o = make(PyObject::Bool);
                o->i = op == 0x88;
                push(std::move(o));
                return;
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
                PyMut o = make(PyObject::Float);
                o->f = std::bit_cast<double>(u);
                push(std::move(o));
                return;
            }
            case 'X':
                push(string(PyObject::String,
                            in_.read_string(length(in_.read<uint32_t>("BINUNICODE length")), "BINUNICODE")));
                return;
            case 0x8c:
                push(string(PyObject::String,
                            in_.read_string(length(in_.read<uint8_t>("SHORT_BINUNICODE length")), "SHORT_BINUNICODE")));
                return;
            case 0x8d:
                push(string(PyObject::String,
                            in_.read_string(length(in_.read<uint64_t>("BINUNICODE8 length")), "BINUNICODE8")));
                return;
            case 'T':
                push(string(PyObject::String,
                            in_.read_string(length(in_.read<uint32_t>("BINSTRING length")), "BINSTRING")));
                return;
            case 'U':
                push(string(PyObject::String,
                            in_.read_string(length(in_.read<uint8_t>("SHORT_BINSTRING length")), "SHORT_BINSTRING")));
                return;
            case 'B':
                push(string(PyObject::Bytes,
                            in_.read_string(length(in_.read<uint32_t>("BINBYTES length")), "BINBYTES")));
                return;
            case 'C':
                push(string(PyObject::Bytes,
                            in_.read_string(length(in_.read<uint8_t>("SHORT_BINBYTES length")), "SHORT_BINBYTES")));
                return;
            case ')': push(container(PyObject::Tuple, {})); return;
            case 't': push(container(PyObject::Tuple, pop_mark())); return;
            case 0x85:
            case 0x86:
            case 0x87: {  // TUPLE1..3
                std::vector<PyMut> items(op - 0x84);
                for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
                push(container(PyObject::Tuple, std::move(items)));
                return;
            }
            case ']': push(make(PyObject::List)); return;
            case 'l': push(container(PyObject::List, pop_mark())); return;
            case '}': push(make(PyObject::Dict)); return;
            case 'd': {  // DICT: a new dict of the pairs above the MARK
                std::vector<PyMut> items = pop_mark();
                push(make(PyObject::Dict));
                add_to(std::move(items), true);
                return;
            }
            case 'a': {
                PyMut v = pop();
                add_to({std::move(v)}, false);
                return;
            }                                             // APPEND
            case 'e': add_to(pop_mark(), false); return;  // APPENDS
            case 's': {
                PyMut v = pop(), k = pop();
                add_to({std::move(k), std::move(v)}, true);
                return;
            }                                            // SETITEM
            case 'u': add_to(pop_mark(), true); return;  // SETITEMS
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
                PyMut name = pop(), module = pop();
                if (module->kind != PyObject::String || name->kind != PyObject::String)
                    bad("STACK_GLOBAL needs two strings");
                push(global(module->s, name->s));
                return;
            }
            case 'R': {
                PyMut args = pop();
                PyMut fn = pop();
                push(call(fn, args));
                return;
            }
            case 'Q': push(persistent(pop())); return;  // BINPERSID
            case 'b': {  // BUILD: only an empty state (None or {}) is accepted; nothing is set
                PyMut state = pop();
                const PyMut& obj = top();
                if (!(state->kind == PyObject::None || (state->kind == PyObject::Dict && state->dict.empty())))
                    bad("BUILD with a state on a ", py_kind_name(obj->kind), " is not part of a state dict");
                return;
            }
            case '0': pop(); return;        // POP
            case '1': pop_mark(); return;   // POP_MARK
            case '2': push(top()); return;  // DUP
            default:
                bad("opcode 0x", "0123456789abcdef"[op >> 4], "0123456789abcdef"[op & 15],
                    " is not supported (llamaref reads the protocol-2 subset that torch.save writes)");
        }
    }

    ByteReader in_;
    std::string where_;
    std::vector<PyMut> stack_;
    std::vector<std::size_t> marks_;  // where each open MARK's frame starts in stack_
    std::unordered_map<uint64_t, PyMut> memo_;
    std::size_t values_ = 0;  // values built so far
};

}  // namespace llamaref
