// llamaref/formats/pytorch.hpp — a torch.save() state dict (.pth / .pt), read without Python.
//
// Since PyTorch 1.6, torch.save writes a zip archive (formats/zip.hpp), every entry stored:
//
//   <name>/data.pkl     the state dict's skeleton, pickled (formats/pickle.hpp)
//   <name>/data/<key>   the raw little-endian bytes of storage <key>
//   <name>/byteorder    "little" (newer versions), <name>/version, ...
//
// Each tensor in the pickle is _rebuild_tensor_v2(storage, offset, size, stride, ...): a view of
// `size` elements starting `offset` elements into the storage. llamaref accepts contiguous
// row-major views (what torch.save of a state dict holds) and returns them as TensorViews into
// the mapped archive: nothing is copied here. Storages of F32, F16 and BF16 are read.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "../core/tensor.hpp"
#include "pickle.hpp"
#include "zip.hpp"

namespace llamaref {

class TorchCheckpoint {
  public:
    explicit TorchCheckpoint(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
        if (file_->size() >= 2 && file_->data()[0] == std::byte{0x80})
            fail(path, ": a legacy (pre-1.6, not zip) torch.save file; re-save it with a current PyTorch");
        ZipArchive zip(file_);
        // The one "<name>/data.pkl" entry names the archive's folder.
        const ZipArchive::Entry* pkl = nullptr;
        for (const auto& e : zip.entries()) {
            const auto slash = e.name.find('/');
            if (slash != std::string::npos && e.name.substr(slash) == "/data.pkl") {
                if (pkl) fail(path, ": more than one data.pkl in the archive");
                pkl = &e;
                prefix_ = e.name.substr(0, slash + 1);
            }
        }
        if (!pkl) fail(path, ": no <name>/data.pkl entry: not a torch.save archive");
        if (const auto* bo = zip.find(prefix_ + "byteorder")) {
            const std::string order(reinterpret_cast<const char*>(zip.data(*bo)), bo->size);
            if (order != "little")
                fail(path, ": byteorder is \"", order, "\"; llamaref reads little-endian checkpoints");
        }
        const PyRef root = PickleReader(zip.data(*pkl, true), pkl->size, path + ": " + pkl->name).load();
        if (root->kind != PyObject::Dict)
            fail(path, ": the pickle holds a ", py_kind_name(root->kind), ", not a state dict");
        for (const auto& [k, v] : root->dict) {
            if (k->kind != PyObject::String || v->kind != PyObject::Tensor) continue;  // e.g. non-tensor entries
            tensors_[k->s] = view(zip, brief(k->s), *v);
        }
        if (tensors_.empty()) fail(path, ": the state dict holds no tensors");
    }

    const std::string& path() const { return file_->path(); }
    std::shared_ptr<const MappedFile> file() const { return file_; }
    const std::map<std::string, TensorView>& tensors() const { return tensors_; }
    bool has(const std::string& name) const { return tensors_.count(name) != 0; }
    const TensorView& get(const std::string& name) const {
        auto it = tensors_.find(name);
        if (it == tensors_.end()) fail(path(), ": missing tensor ", name);
        return it->second;
    }

  private:
    // A name or key from the pickle, as much of it as an error message needs.
    static std::string brief(const std::string& s) { return s.size() <= 100 ? s : s.substr(0, 100) + "..."; }

    // `name`: the tensor's name for messages (brief()).
    TensorView view(const ZipArchive& zip, const std::string& name, const PyObject& t) const {
        const std::string& path = zip.path();
        const PyObject& storage = *t.items.at(0);
        const auto* e = zip.find(prefix_ + "data/" + storage.s);
        if (!e) fail(path, ": tensor ", name, " refers to storage ", brief(storage.s), ", which is not in the archive");
        const std::size_t elem = dtype_bytes(t.dtype, 1);
        const uint64_t numel = uint64_t(storage.size.at(0));
        if (numel > e->size / elem || numel * elem != e->size)
            fail(path, ": storage ", brief(storage.s), " should hold ", numel, " ", dtype_name(t.dtype),
                 " values but its entry has ", e->size, " bytes");
        // Contiguous row-major: stride[k] = product of size[k+1..].
        Shape shape;
        uint64_t expect = 1;
        for (std::size_t k = t.size.size(); k-- > 0;) {
            if (t.size[k] != 1 && uint64_t(t.stride[k]) != expect)
                fail(path, ": tensor ", name, " is not contiguous (stride ", t.stride[k], " in dimension ", k,
                     "); llamaref reads contiguous tensors");
            if (__builtin_mul_overflow(expect, uint64_t(t.size[k]), &expect))
                fail(path, ": tensor ", name, ": size overflows");
        }
        for (int64_t s : t.size) shape.push_back(std::size_t(s));
        if (uint64_t(t.i) > numel || expect > numel - uint64_t(t.i))
            fail(path, ": tensor ", name, " (", expect, " values at offset ", t.i, ") lies outside its storage of ",
                 numel, " values");
        return TensorView{t.dtype, shape, zip.data(*e) + std::size_t(t.i) * elem};
    }

    std::shared_ptr<MappedFile> file_;
    std::string prefix_;
    std::map<std::string, TensorView> tensors_;
};

}  // namespace llamaref
