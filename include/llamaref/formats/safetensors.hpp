// llamaref/formats/safetensors.hpp — Hugging Face's safetensors container.
//
// Layout (https://github.com/huggingface/safetensors, "Format"):
//   uint64 little-endian N | N bytes of JSON header | data
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}, offsets
// relative to the start of the data; an optional "__metadata__" entry holds strings. Tensors are
// row-major and used in place from the mapped file.
//
// Everything in the header is checked before any tensor is touched: the header length against
// the file, JSON syntax, each tensor's byte range against the data and against its dtype × shape,
// and that no two tensors overlap.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/json.hpp"
#include "../core/limits.hpp"
#include "../core/mmap.hpp"
#include "../core/tensor.hpp"

namespace llamaref {

class SafetensorsFile {
  public:
    struct Entry {
        std::string dtype;  // as written: "F32", "BF16", "I64", ...
        Shape shape;
        std::size_t begin = 0, end = 0;  // byte offsets into the data section
    };

    explicit SafetensorsFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
        ByteReader in(*file_);
        const uint64_t n = in.read<uint64_t>("safetensors header length");
        if (n > in.remaining())
            fail(path, ": safetensors header length ", n, " exceeds the file (", in.remaining(),
                 " bytes follow the length field)");
        const std::string text = in.read_string(n, "safetensors header");
        data_ = file_->data() + in.offset();
        data_size_ = in.remaining();

        const nlohmann::json header = parse_json(text, path + ": safetensors header");
        if (!header.is_object()) fail(path, ": safetensors header is not a JSON object");
        if (header.size() > std::size_t(limits::max_tensors))
            fail(path, ": safetensors header lists ", header.size(), " tensors, beyond llamaref's limit of ",
                 limits::max_tensors);
        for (auto& [name, v] : header.items()) {
            if (name == "__metadata__") continue;
            entries_[name] = parse_entry(path, name, v);
        }
        // No two tensors may share bytes.
        std::vector<std::pair<std::size_t, std::string>> order;
        for (auto& [name, e] : entries_) order.push_back({e.begin, name});
        std::sort(order.begin(), order.end());
        for (std::size_t i = 1; i < order.size(); ++i) {
            const Entry& prev = entries_[order[i - 1].second];
            if (order[i].first < prev.end)
                fail(path, ": tensors ", order[i - 1].second, " and ", order[i].second, " overlap in the data section");
        }
    }

    const std::string& path() const { return file_->path(); }
    bool has(const std::string& name) const { return entries_.count(name) != 0; }
    const std::map<std::string, Entry>& entries() const { return entries_; }
    std::shared_ptr<const MappedFile> file() const { return file_; }

    // A view of tensor `name`; throws if absent or of a dtype llamaref does not compute with.
    TensorView get(const std::string& name) const {
        auto it = entries_.find(name);
        if (it == entries_.end()) fail(path(), ": no tensor named ", name);
        const Entry& e = it->second;
        return TensorView{dtype_of(e.dtype, name), e.shape, data_ + e.begin};
    }

  private:
    DType dtype_of(const std::string& s, const std::string& name) const {
        if (s == "F32") return DType::F32;
        if (s == "F16") return DType::F16;
        if (s == "BF16") return DType::BF16;
        fail(path(), ": tensor ", name, " has dtype ", s, "; llamaref reads F32, F16 and BF16 weights");
    }

    Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& v) const {
        auto bad = [&](const std::string& why) { fail(path, ": tensor ", name, ": ", why); };
        if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
            bad("entry needs dtype, shape and data_offsets");
        Entry e;
        if (!v["dtype"].is_string()) bad("dtype is not a string");
        e.dtype = v["dtype"].get<std::string>().substr(0, 40);
        const auto& shape = v["shape"];
        if (!shape.is_array()) bad("shape is not an array");
        if (shape.size() > 8) bad("shape has " + std::to_string(shape.size()) + " dimensions");
        std::size_t n = 1;
        for (const auto& d : shape) {
            if (!d.is_number_unsigned()) bad("shape has a value that is not a non-negative integer");
            e.shape.push_back(d.get<std::size_t>());
            if (__builtin_mul_overflow(n, e.shape.back(), &n)) bad("shape overflows");
        }
        const auto& off = v["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
            bad("data_offsets must be two non-negative integers");
        e.begin = off[0].get<std::size_t>();
        e.end = off[1].get<std::size_t>();
        if (e.begin > e.end || e.end > data_size_)
            fail(path, ": tensor ", name, ": data_offsets [", e.begin, ", ", e.end, "] are outside the data section (",
                 data_size_, " bytes)");
        std::size_t elem = 0;
        if (e.dtype == "F64" || e.dtype == "I64" || e.dtype == "U64")
            elem = 8;
        else if (e.dtype == "F32" || e.dtype == "I32" || e.dtype == "U32")
            elem = 4;
        else if (e.dtype == "F16" || e.dtype == "BF16" || e.dtype == "I16" || e.dtype == "U16")
            elem = 2;
        else if (e.dtype == "I8" || e.dtype == "U8" || e.dtype == "BOOL" || e.dtype.rfind("F8_", 0) == 0)
            elem = 1;
        else
            bad("unknown dtype " + e.dtype);
        const std::size_t bytes = checked_mul(n, elem, path + ": tensor " + name + ": size of " + shape_str(e.shape));
        if (bytes != e.end - e.begin)
            fail(path, ": tensor ", name, ": ", e.dtype, " ", shape_str(e.shape), " needs ", bytes,
                 " bytes but data_offsets give ", e.end - e.begin);
        return e;
    }

    std::shared_ptr<MappedFile> file_;
    const std::byte* data_ = nullptr;
    std::size_t data_size_ = 0;
    std::map<std::string, Entry> entries_;
};

}  // namespace llamaref
