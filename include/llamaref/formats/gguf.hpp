// llamaref/formats/gguf.hpp — the GGUF container of llama.cpp / ggml (versions 2 and 3).
//
// Specification: ggml's docs/gguf.md. A file is, all little-endian:
//
//   uint32 magic "GGUF" | uint32 version | uint64 tensor_count | uint64 metadata_kv_count
//   metadata_kv_count × { string key | uint32 value_type | value }
//   tensor_count × { string name | uint32 n_dims | uint64 ne[n_dims] | uint32 ggml_type | uint64 offset }
//   zero padding to `general.alignment` (default 32) | tensor data
//
//   string = uint64 length + that many bytes (UTF-8, no terminator)
//   value  = one of the 13 types below; an array is uint32 element type + uint64 count + elements
//
// ne[0] is the fastest-varying dimension (ggml's order), so the row-major shape is ne reversed:
// a weight stored with ne = [D, V] is our [V, D]. Offsets are relative to the start of the data
// section and multiples of the alignment. Version 1 (uint32 counts) is long obsolete and refused;
// versions 2 and 3 have the same layout (3 only allows big-endian files, which are refused).
//
// GgufFile parses and checks everything before a tensor is touched: every length against the
// file, every count against what the remaining bytes could hold, each tensor's byte range against
// the data section and its ggml type × shape, and that no two tensors overlap. Metadata stays
// available to other code (the tokenizer reads `tokenizer.ggml.*` through string_array() etc.).
// The Llama model built from a GGUF file is in formats/gguf_llama.hpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../core/limits.hpp"
#include "../core/mmap.hpp"
#include "../core/tensor.hpp"

namespace llamaref {

enum class GgufType : uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12,
};

inline const char* gguf_type_name(GgufType t) {
    static const char* names[] = {"uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
                                  "bool",  "string", "array",  "uint64", "int64",  "float64"};
    return uint32_t(t) < 13 ? names[uint32_t(t)] : "unknown";
}

// One metadata value. Scalars use one of i / u / f / b / s. An array keeps its elements as the
// file encodes them — `count` elements of `elem_type` in `raw` (little-endian numbers; strings as
// uint64 length + bytes; nested arrays as type + count + elements) — and GgufFile decodes them on
// request (string_array, int_array, float_array). So metadata costs about its size in the file:
// a 5M-element uint8 array is 5 MB, not 5M GgufValue objects of ~150 bytes.
struct GgufValue {
    GgufType type = GgufType::UINT8;
    int64_t i = 0;   // signed integers
    uint64_t u = 0;  // unsigned integers
    double f = 0;    // float32 / float64
    bool b = false;
    std::string s;
    GgufType elem_type = GgufType::UINT8;  // arrays
    uint64_t count = 0;                    // arrays: number of elements
    std::string raw;                       // arrays: the encoded elements

    bool is_signed() const {
        return type == GgufType::INT8 || type == GgufType::INT16 || type == GgufType::INT32 || type == GgufType::INT64;
    }
    bool is_unsigned() const {
        return type == GgufType::UINT8 || type == GgufType::UINT16 || type == GgufType::UINT32 ||
               type == GgufType::UINT64;
    }
    bool is_integer() const { return is_signed() || is_unsigned(); }
    bool is_float() const { return type == GgufType::FLOAT32 || type == GgufType::FLOAT64; }
};

// Bytes of one element of a fixed-size GGUF type; 0 for STRING and ARRAY (variable size).
inline std::size_t gguf_fixed_size(GgufType t) {
    switch (t) {
        case GgufType::UINT8:
        case GgufType::INT8:
        case GgufType::BOOL: return 1;
        case GgufType::UINT16:
        case GgufType::INT16: return 2;
        case GgufType::UINT32:
        case GgufType::INT32:
        case GgufType::FLOAT32: return 4;
        case GgufType::UINT64:
        case GgufType::INT64:
        case GgufType::FLOAT64: return 8;
        default: return 0;
    }
}

// The ggml tensor types whose sizes llamaref knows (ggml.h / ggml.c type_traits): block size in
// values and bytes per block, and the DType llamaref computes with, when it does. The others
// can be listed (`llamaref info`) but not run.
struct GgmlTypeInfo {
    uint32_t id;
    const char* name;
    uint32_t block_values;
    uint32_t block_bytes;
    std::optional<DType> dtype;
};
inline const GgmlTypeInfo* ggml_type_info(uint32_t id) {
    static const GgmlTypeInfo table[] = {
        {0, "F32", 1, 4, DType::F32},
        {1, "F16", 1, 2, DType::F16},
        {2, "Q4_0", 32, 18, DType::Q4_0},
        {3, "Q4_1", 32, 20, DType::Q4_1},
        {6, "Q5_0", 32, 22, DType::Q5_0},
        {7, "Q5_1", 32, 24, DType::Q5_1},
        {8, "Q8_0", 32, 34, DType::Q8_0},
        {9, "Q8_1", 32, 36, {}},
        {10, "Q2_K", 256, 84, DType::Q2_K},
        {11, "Q3_K", 256, 110, DType::Q3_K},
        {12, "Q4_K", 256, 144, DType::Q4_K},
        {13, "Q5_K", 256, 176, DType::Q5_K},
        {14, "Q6_K", 256, 210, DType::Q6_K},
        {15, "Q8_K", 256, 292, {}},
        {16, "IQ2_XXS", 256, 66, {}},
        {17, "IQ2_XS", 256, 74, {}},
        {18, "IQ3_XXS", 256, 98, {}},
        {19, "IQ1_S", 256, 50, {}},
        {20, "IQ4_NL", 32, 18, DType::IQ4_NL},
        {21, "IQ3_S", 256, 110, {}},
        {22, "IQ2_S", 256, 82, {}},
        {23, "IQ4_XS", 256, 136, DType::IQ4_XS},
        {24, "I8", 1, 1, {}},
        {25, "I16", 1, 2, {}},
        {26, "I32", 1, 4, {}},
        {27, "I64", 1, 8, {}},
        {28, "F64", 1, 8, {}},
        {29, "IQ1_M", 256, 56, {}},
        {30, "BF16", 1, 2, DType::BF16},
        {34, "TQ1_0", 256, 54, {}},
        {35, "TQ2_0", 256, 66, {}},
    };
    for (const auto& t : table)
        if (t.id == id) return &t;
    return nullptr;
}
constexpr uint32_t kGgmlF32 = 0, kGgmlF16 = 1, kGgmlQ8_0 = 8, kGgmlBF16 = 30;

// The ggml type id of a DType (what the GGUF writer stores).
inline uint32_t ggml_type_id(DType t) {
    for (uint32_t id = 0; id < 64; ++id)
        if (const GgmlTypeInfo* info = ggml_type_info(id); info && info->dtype == t) return id;
    fail("no ggml type for ", dtype_name(t));
}

class GgufFile {
  public:
    struct TensorInfo {
        std::string name;
        Shape shape;                         // row-major (ne reversed)
        uint32_t type = 0;                   // ggml type id
        std::size_t offset = 0, nbytes = 0;  // within the data section
    };

    explicit GgufFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
        ByteReader in(*file_);
        const uint32_t magic = in.read<uint32_t>("GGUF magic");
        if (magic != 0x46554747u)  // "GGUF" read as little-endian uint32
            fail(path, ": not a GGUF file (the first 4 bytes are not \"GGUF\")");
        version_ = in.read<uint32_t>("GGUF version");
        if (version_ == 1)
            fail(path, ": GGUF version 1 is obsolete and not supported (llamaref reads versions 2 and 3)");
        if (version_ != 2 && version_ != 3) {
            if ((version_ & 0xffff) == 0 && version_ != 0)
                fail(path, ": big-endian GGUF files are not supported (version field reads ", version_, ")");
            fail(path, ": GGUF version ", version_, " is not supported (llamaref reads versions 2 and 3)");
        }
        const uint64_t n_tensors = in.read<uint64_t>("tensor count");
        const uint64_t n_kv = in.read<uint64_t>("metadata count");
        // Every key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; every tensor
        // info at least 8 + 4 + 8 + 4 + 8. Counts that the file cannot hold are corrupt.
        if (n_kv > in.remaining() / 13)
            fail(path, ": GGUF metadata count ", n_kv, " is impossible for a file of ", in.size(), " bytes");
        if (n_kv > uint64_t(limits::max_gguf_metadata_keys))
            fail(path, ": GGUF metadata count ", n_kv, " is beyond llamaref's limit of ",
                 limits::max_gguf_metadata_keys);
        if (n_tensors > in.remaining() / 32)
            fail(path, ": GGUF tensor count ", n_tensors, " is impossible for a file of ", in.size(), " bytes");
        if (n_tensors > uint64_t(limits::max_tensors))
            fail(path, ": GGUF tensor count ", n_tensors, " is beyond llamaref's limit of ", limits::max_tensors);

        for (uint64_t k = 0; k < n_kv; ++k) {
            std::string key = read_string(in, "metadata key");
            const auto type = GgufType(in.read<uint32_t>("metadata value type"));
            GgufValue v = read_value(in, type, key);
            if (!kv_.emplace(key, std::move(v)).second) fail(path, ": GGUF metadata key \"", key, "\" appears twice");
            keys_.push_back(key);
        }
        alignment_ = 32;
        if (has("general.alignment")) {
            const int64_t a = get_int("general.alignment");
            if (a <= 0 || (a & (a - 1)) != 0 || a > (1 << 20))
                fail(path, ": general.alignment must be a power of two, got ", a);
            alignment_ = std::size_t(a);
        }

        for (uint64_t t = 0; t < n_tensors; ++t) {
            TensorInfo ti;
            ti.name = read_string(in, "tensor name");
            const uint32_t n_dims = in.read<uint32_t>("tensor dimension count");
            if (n_dims == 0 || n_dims > 4)
                fail(path, ": tensor ", ti.name, " has ", n_dims, " dimensions (GGUF allows 1 to 4)");
            std::vector<uint64_t> ne(n_dims);
            std::size_t n = 1;
            for (auto& d : ne) {
                d = in.read<uint64_t>("tensor dimension");
                if (d == 0 || d > (std::size_t(1) << 48) / n)  // keeps n = the element count below 2^48
                    fail(path, ": tensor ", ti.name, " has an absurd dimension ", d);
                n *= std::size_t(d);
            }
            ti.shape.assign(ne.rbegin(), ne.rend());
            ti.type = in.read<uint32_t>("tensor type");
            const GgmlTypeInfo* info = ggml_type_info(ti.type);
            if (!info) fail(path, ": tensor ", ti.name, " has unknown ggml type ", ti.type);
            if (ne[0] % info->block_values != 0)
                fail(path, ": tensor ", ti.name, " of type ", info->name, " has rows of ", ne[0],
                     " values, not a multiple of its block of ", info->block_values);
            ti.nbytes = n / info->block_values * info->block_bytes;  // n < 2^48: no overflow
            const uint64_t off = in.read<uint64_t>("tensor offset");
            if (off % alignment_ != 0)
                fail(path, ": tensor ", ti.name, " offset ", off, " is not a multiple of the alignment ", alignment_);
            ti.offset = std::size_t(off);
            if (index_.count(ti.name)) fail(path, ": tensor ", ti.name, " appears twice");
            index_[ti.name] = tensors_.size();
            tensors_.push_back(std::move(ti));
        }

        // The data section starts at the next multiple of the alignment.
        const std::size_t pad = (alignment_ - in.offset() % alignment_) % alignment_;
        data_offset_ = in.offset() + std::min(pad, in.remaining());
        data_size_ = file_->size() - data_offset_;
        if (n_tensors > 0 && pad > in.remaining())
            fail(path, ": truncated: the data section should start at offset ", in.offset() + pad,
                 " but the file has only ", file_->size(), " bytes");
        for (const auto& ti : tensors_)
            if (ti.offset > data_size_ || ti.nbytes > data_size_ - ti.offset)
                fail(path, ": tensor ", ti.name, " (", ti.nbytes, " bytes at data offset ", ti.offset,
                     ") lies past the end of the file (data section holds ", data_size_, " bytes)");
        std::vector<const TensorInfo*> order;
        for (const auto& ti : tensors_) order.push_back(&ti);
        std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
        for (std::size_t i = 1; i < order.size(); ++i)
            if (order[i]->offset < order[i - 1]->offset + order[i - 1]->nbytes)
                fail(path, ": tensors ", order[i - 1]->name, " and ", order[i]->name, " overlap in the data section");
    }

    const std::string& path() const { return file_->path(); }
    uint32_t version() const { return version_; }
    std::size_t alignment() const { return alignment_; }
    std::shared_ptr<const MappedFile> file() const { return file_; }

    // --- metadata -------------------------------------------------------------------------
    const std::vector<std::string>& keys() const { return keys_; }  // in file order
    bool has(const std::string& key) const { return kv_.count(key) != 0; }
    const GgufValue& value(const std::string& key) const {
        auto it = kv_.find(key);
        if (it == kv_.end()) fail(path(), ": missing GGUF metadata key \"", key, "\"");
        return it->second;
    }
    std::string get_string(const std::string& key) const {
        const GgufValue& v = expect(key, GgufType::STRING);
        return v.s;
    }
    int64_t get_int(const std::string& key) const { return as_int(value(key), key); }
    double get_float(const std::string& key) const {
        const GgufValue& v = value(key);
        if (!v.is_float()) fail(path(), ": metadata \"", key, "\" is ", gguf_type_name(v.type), ", expected a float");
        return v.f;
    }
    bool get_bool(const std::string& key) const { return expect(key, GgufType::BOOL).b; }
    // The elements of an array, decoded (GgufValue keeps them encoded).
    std::vector<std::string> string_array(const std::string& key) const {
        const GgufValue& v = array(key, "strings");
        if (v.elem_type != GgufType::STRING) fail(path(), ": metadata \"", key, "\" is not an array of strings");
        ByteReader in = elements(v, key);
        std::vector<std::string> out;
        out.reserve(std::size_t(v.count));  // each element took >= 8 bytes of the file
        for (uint64_t k = 0; k < v.count; ++k) out.push_back(in.read_string(std::size_t(in.read<uint64_t>(key)), key));
        return out;
    }
    std::vector<float> float_array(const std::string& key) const {
        const GgufValue& v = array(key, "floats");
        if (v.elem_type != GgufType::FLOAT32 && v.elem_type != GgufType::FLOAT64)
            fail(path(), ": metadata \"", key, "\" is not an array of floats");
        ByteReader in = elements(v, key);
        std::vector<float> out;
        out.reserve(std::size_t(v.count));
        for (uint64_t k = 0; k < v.count; ++k) out.push_back(float(read_scalar(in, v.elem_type, key).f));
        return out;
    }
    std::vector<int64_t> int_array(const std::string& key) const {
        const GgufValue& v = array(key, "integers");
        if (gguf_fixed_size(v.elem_type) == 0 || v.elem_type == GgufType::BOOL)
            fail(path(), ": metadata \"", key, "\" is ", gguf_type_name(v.elem_type), "[], expected integers");
        ByteReader in = elements(v, key);
        std::vector<int64_t> out;
        out.reserve(std::size_t(v.count));
        for (uint64_t k = 0; k < v.count; ++k) out.push_back(as_int(read_scalar(in, v.elem_type, key), key));
        return out;
    }
    // Number of elements of an array (without decoding them).
    uint64_t array_size(const std::string& key) const { return array(key, "values").count; }

    // --- tensors ---------------------------------------------------------------------------
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    bool has_tensor(const std::string& name) const { return index_.count(name) != 0; }
    const TensorInfo& tensor_info(const std::string& name) const {
        auto it = index_.find(name);
        if (it == index_.end()) fail(path(), ": missing tensor ", name);
        return tensors_[it->second];
    }
    const std::byte* tensor_data(const TensorInfo& ti) const { return file_->data() + data_offset_ + ti.offset; }

    // A view of tensor `name` in place; throws for ggml types llamaref does not compute with.
    TensorView get(const std::string& name) const {
        const TensorInfo& ti = tensor_info(name);
        const GgmlTypeInfo* info = ggml_type_info(ti.type);  // known: checked when the file was opened
        if (!info->dtype)
            fail(path(), ": tensor ", name, " has ggml type ", info->name, ", which llamaref does not compute with ",
                 "(it reads F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL and IQ4_XS)");
        const DType dt = *info->dtype;
        return TensorView{dt, ti.shape, tensor_data(ti)};
    }

  private:
    std::string read_string(ByteReader& in, const char* what) const {
        const uint64_t n = in.read<uint64_t>(what);
        if (n > in.remaining())
            fail(path(), ": ", what, " at offset ", in.offset() - 8, " claims ", n, " bytes but only ", in.remaining(),
                 " remain in the file");
        return in.read_string(std::size_t(n), what);
    }

    // A scalar of fixed-size type `type` (the BOOL check included).
    GgufValue read_scalar(ByteReader& in, GgufType type, const std::string& key) const {
        GgufValue v;
        v.type = type;
        switch (type) {
            case GgufType::UINT8: v.u = in.read<uint8_t>(key); break;
            case GgufType::INT8: v.i = in.read<int8_t>(key); break;
            case GgufType::UINT16: v.u = in.read<uint16_t>(key); break;
            case GgufType::INT16: v.i = in.read<int16_t>(key); break;
            case GgufType::UINT32: v.u = in.read<uint32_t>(key); break;
            case GgufType::INT32: v.i = in.read<int32_t>(key); break;
            case GgufType::UINT64: v.u = in.read<uint64_t>(key); break;
            case GgufType::INT64: v.i = in.read<int64_t>(key); break;
            case GgufType::FLOAT32: v.f = in.read<float>(key); break;
            case GgufType::FLOAT64: v.f = in.read<double>(key); break;
            case GgufType::BOOL: {
                const uint8_t b = in.read<uint8_t>(key);
                if (b > 1) fail(path(), ": metadata \"", key, "\": bool value ", int(b), " is neither 0 nor 1");
                v.b = b != 0;
                break;
            }
            default: fail(path(), ": metadata \"", key, "\" has unknown value type ", uint32_t(type));
        }
        return v;
    }

    GgufValue read_value(ByteReader& in, GgufType type, const std::string& key) const {
        if (type == GgufType::STRING) {
            GgufValue v;
            v.type = type;
            v.s = read_string(in, "metadata string");
            return v;
        }
        if (type != GgufType::ARRAY) return read_scalar(in, type, key);
        GgufValue v;
        v.type = type;
        v.elem_type = GgufType(in.read<uint32_t>("array element type"));
        v.count = in.read<uint64_t>("array length");
        const std::size_t begin = in.offset();
        skip_elements(in, v.elem_type, v.count, key, 1);
        v.raw.assign(reinterpret_cast<const char*>(file_->data()) + begin, in.offset() - begin);
        return v;
    }

    // Check and step over `n` elements of `type` (arrays nest at most 3 levels).
    void skip_elements(ByteReader& in, GgufType type, uint64_t n, const std::string& key, int depth) const {
        // Each element takes at least one byte (strings and arrays: 8, 12), so the file bounds the count.
        const std::size_t fixed = gguf_fixed_size(type);
        const std::size_t min_size = fixed ? fixed : type == GgufType::STRING ? 8 : type == GgufType::ARRAY ? 12 : 1;
        if (n > in.remaining() / min_size)
            fail(path(), ": metadata \"", key, "\": array of ", n, " elements cannot fit in the ", in.remaining(),
                 " bytes left in the file");
        if (type == GgufType::BOOL) {
            for (uint64_t k = 0; k < n; ++k) read_scalar(in, type, key);
        } else if (fixed) {
            in.take(std::size_t(n) * fixed, key);  // n * fixed <= remaining: checked above
        } else if (type == GgufType::STRING) {
            for (uint64_t k = 0; k < n; ++k) {
                const uint64_t len = in.read<uint64_t>("metadata string length");
                if (len > in.remaining())
                    fail(path(), ": metadata \"", key, "\": string at offset ", in.offset() - 8, " claims ", len,
                         " bytes but only ", in.remaining(), " remain in the file");
                in.take(std::size_t(len), key);
            }
        } else if (type == GgufType::ARRAY) {
            if (depth > 2) fail(path(), ": metadata \"", key, "\": arrays nested too deeply");
            for (uint64_t k = 0; k < n; ++k) {
                const auto inner = GgufType(in.read<uint32_t>("array element type"));
                skip_elements(in, inner, in.read<uint64_t>("array length"), key, depth + 1);
            }
        } else {
            fail(path(), ": metadata \"", key, "\" has unknown value type ", uint32_t(type));
        }
    }

    // A reader over an array's encoded elements.
    ByteReader elements(const GgufValue& v, const std::string& key) const {
        return ByteReader(reinterpret_cast<const std::byte*>(v.raw.data()), v.raw.size(), path() + ": metadata " + key);
    }

    const GgufValue& expect(const std::string& key, GgufType t) const {
        const GgufValue& v = value(key);
        if (v.type != t)
            fail(path(), ": metadata \"", key, "\" is ", gguf_type_name(v.type), ", expected ", gguf_type_name(t));
        return v;
    }
    const GgufValue& array(const std::string& key, const char* what) const {
        const GgufValue& v = value(key);
        if (v.type != GgufType::ARRAY) fail(path(), ": metadata \"", key, "\" is not an array of ", what);
        return v;
    }
    int64_t as_int(const GgufValue& v, const std::string& key) const {
        if (v.is_signed()) return v.i;
        if (v.is_unsigned()) {
            if (v.u > uint64_t(INT64_MAX)) fail(path(), ": metadata \"", key, "\" value ", v.u, " is too large");
            return int64_t(v.u);
        }
        fail(path(), ": metadata \"", key, "\" is ", gguf_type_name(v.type), ", expected an integer");
    }

    std::shared_ptr<MappedFile> file_;
    uint32_t version_ = 0;
    std::size_t alignment_ = 32;
    std::size_t data_offset_ = 0, data_size_ = 0;
    std::map<std::string, GgufValue> kv_;
    std::vector<std::string> keys_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, std::size_t> index_;
};

}  // namespace llamaref
