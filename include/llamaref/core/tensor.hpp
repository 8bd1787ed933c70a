// llamaref/core/tensor.hpp — tensors: owned activations and views over stored weights.
//
// Notation used for shapes everywhere in llamaref (one legend, here):
//
//   T   tokens in this forward call          S   positions held in the KV cache
//   D   model dimension (dim, hidden_size)   V   vocabulary size
//   H   query heads                          KV  key/value heads (H / KV = n_rep, GQA)
//   Dh  head dimension                       F   feed-forward hidden size
//   L   transformer blocks (layers)
//
// Two kinds of tensor:
//   * Activations are float32 and owned: xt::xtensor<float, N> (xtensor, row-major). Kernels read
//     them through .data() with explicit index arithmetic so every loop can be read like the
//     equation it computes.
//   * Weights are read-only views over memory that someone else owns — usually a memory-mapped
//     checkpoint — in any storage DType. A TensorView is a pointer, a dtype and a shape; it never
//     owns or copies. `xt::adapt` turns an F32 view into an xtensor expression when that is handy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>

#include "dtype.hpp"

namespace llamaref {

using Tensor1 = xt::xtensor<float, 1>;
using Tensor2 = xt::xtensor<float, 2>;
using Tensor3 = xt::xtensor<float, 3>;
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

// An F32 view as an xtensor expression with its full shape (no copy).
inline auto adapt(const TensorView& v) {
    if (v.dtype != DType::F32) fail("adapt(): only F32 views can be adapted, this one is ", dtype_name(v.dtype));
    return xt::adapt(reinterpret_cast<const float*>(v.data), v.numel(), xt::no_ownership(), v.shape);
}

}  // namespace llamaref
