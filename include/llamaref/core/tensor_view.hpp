// llamaref/core/tensor_view.hpp — a view of a stored tensor: a pointer, a dtype and a shape.
//
// Weights are read-only views over memory that someone else owns — usually a memory-mapped
// checkpoint — in any storage DType; a TensorView never owns or copies. Plain C++ without xtensor,
// so that the CUDA side (compiled by nvcc) reads the same Model the CPU path runs. Shapes in the
// notation of core/tensor.hpp.
#pragma once

#include <cstddef>
#include <functional>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "dtype.hpp"

namespace llamaref {

using Shape = std::vector<std::size_t>;

inline std::string shape_str(const Shape& s) {
    std::ostringstream o;
    o << '[';
    for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
    o << ']';
    return o.str();
}

inline std::size_t shape_numel(const Shape& s) {
    return std::accumulate(s.begin(), s.end(), std::size_t{1}, std::multiplies<>());
}

// A read-only view of a stored tensor: row-major, rows = shape[0], cols = product of the rest.
struct TensorView {
    DType dtype = DType::F32;
    Shape shape;
    const std::byte* data = nullptr;

    bool empty() const { return data == nullptr; }
    std::size_t numel() const { return shape_numel(shape); }
    std::size_t rows() const { return shape.empty() ? 0 : shape[0]; }
    std::size_t cols() const { return shape.empty() ? 0 : numel() / shape[0]; }
    std::size_t nbytes() const { return dtype_bytes(dtype, numel()); }
    std::size_t row_bytes() const { return dtype_bytes(dtype, cols()); }
    const std::byte* row(std::size_t r) const { return data + r * row_bytes(); }

    // Copy row r to float32 (dequantizing if needed). dst holds cols() floats.
    void row_to_f32(std::size_t r, float* dst) const { to_f32(dtype, row(r), dst, cols()); }

    // The whole tensor as an owned float32 array (for tests and small tensors such as norms).
    std::vector<float> to_f32_vector() const {
        std::vector<float> out(numel());
        for (std::size_t r = 0; r < rows(); ++r) row_to_f32(r, out.data() + r * cols());
        return out;
    }
};

}  // namespace llamaref
