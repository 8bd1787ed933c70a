// llamaref/formats/writer.hpp — what the checkpoint writers share: converting a stored tensor to
// another dtype, and writing a file in one piece with clear errors.
//
// The writers (write_gguf.hpp, write_safetensors.hpp, write_llama2c.hpp) let tests build every
// format from one set of weights and let users convert (`llamaref convert`). A tensor already in
// the requested dtype is copied byte for byte (a Q8_0 tensor is never re-quantized); otherwise
// each row goes to float32 and from there to the target (core/dtype.hpp from_f32).
#pragma once

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "../core/tensor.hpp"

namespace llamaref {

// The bytes of tensor v stored as dtype t (row-major, same shape).
inline std::vector<std::byte> tensor_bytes(const TensorView& v, DType t) {
    if (v.dtype == t) return std::vector<std::byte>(v.data, v.data + v.nbytes());
    const std::size_t rows = v.shape.size() == 1 ? 1 : v.rows(), cols = v.shape.size() == 1 ? v.numel() : v.cols();
    const TensorView flat{v.dtype, v.shape.size() == 1 ? Shape{1, cols} : Shape{rows, cols}, v.data};
    std::vector<std::byte> out(dtype_bytes(t, rows * cols));
    const std::size_t row_out = dtype_bytes(t, cols);
    std::vector<float> row(cols);
    for (std::size_t r = 0; r < rows; ++r) {
        flat.row_to_f32(r, row.data());
        from_f32(t, row.data(), out.data() + r * row_out, cols);
    }
    return out;
}

// Streams little-endian values and byte blocks to `path` + ".part", renamed to `path` by
// finish(): a failed conversion never leaves a half-written file under the requested name.
class FileWriter {
  public:
    explicit FileWriter(std::string path) : path_(std::move(path)), tmp_(path_ + ".part") {
        f_.open(tmp_, std::ios::binary | std::ios::trunc);
        if (!f_) fail(path_, ": cannot create the output file");
    }
    ~FileWriter() {
        if (!done_) {
            f_.close();
            std::remove(tmp_.c_str());
        }
    }
    template <class T>
    void put(const T& v) {
        put_bytes(&v, sizeof(T));
    }
    void put_bytes(const void* p, std::size_t n) {
        f_.write(static_cast<const char*>(p), std::streamsize(n));
        if (!f_) fail(path_, ": write failed (disk full?)");
        pos_ += n;
    }
    void put_bytes(const std::vector<std::byte>& b) { put_bytes(b.data(), b.size()); }
    void put_string(const std::string& s) { put_bytes(s.data(), s.size()); }
    void pad_to(std::size_t alignment) {
        static const char zeros[64] = {};
        while (pos_ % alignment) put_bytes(zeros, std::min<std::size_t>(alignment - pos_ % alignment, sizeof zeros));
    }
    std::size_t offset() const { return pos_; }
    void finish() {
        f_.close();
        if (!f_) fail(path_, ": write failed");
        if (std::rename(tmp_.c_str(), path_.c_str()) != 0) fail(path_, ": cannot rename ", tmp_, " to it");
        done_ = true;
    }

  private:
    std::string path_, tmp_;
    std::ofstream f_;
    std::size_t pos_ = 0;
    bool done_ = false;
};

}  // namespace llamaref
