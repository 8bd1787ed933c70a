// python/numpy.hpp — numpy arrays in and out of llamaref, without copies where the layout allows.
//
//   in:  Array (float32, C order): a contiguous float32 array is read where it lies; anything
//        else (float64, a transposed view) is converted once by pybind11.
//   out: owned(vector, shape) hands a std::vector's buffer to numpy; a capsule frees it when
//        the array dies. view(ptr, shape, owner) shows memory someone else keeps alive (a
//        memory-mapped weight, a trace): read-only, and `owner` lives as long as the array.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <llamaref/core/error.hpp>
#include <llamaref/core/tensor.hpp>

namespace llamaref::py_bind {

namespace py = pybind11;
using Array = py::array_t<float, py::array::c_style | py::array::forcecast>;
using Array64 = py::array_t<double, py::array::c_style | py::array::forcecast>;
using Dims = std::vector<py::ssize_t>;

template <class T>
py::array_t<T> owned(std::vector<T>&& v, Dims shape) {
    auto* keep = new std::vector<T>(std::move(v));
    py::capsule free_it(keep, [](void* p) { delete static_cast<std::vector<T>*>(p); });
    return py::array_t<T>(std::move(shape), keep->data(), free_it);
}

inline Array owned(Tensor2&& t) {
    auto* keep = new Tensor2(std::move(t));
    py::capsule free_it(keep, [](void* p) { delete static_cast<Tensor2*>(p); });
    return Array(Dims{py::ssize_t(keep->shape(0)), py::ssize_t(keep->shape(1))}, keep->data(), free_it);
}

inline Array view(const float* data, const Shape& shape, py::handle owner) {
    Array a(Dims(shape.begin(), shape.end()), data, owner);
    a.attr("flags").attr("writeable") = false;
    return a;
}

inline Dims dims(const Shape& s) { return Dims(s.begin(), s.end()); }
inline Shape shape_of(const py::array& a) { return Shape(a.shape(), a.shape() + a.ndim()); }

// The size of axis `axis` (negative: from the end), with a message naming `what` if it is missing.
inline std::size_t axis(const py::array& a, int axis, const char* what) {
    const int n = int(a.ndim()), k = axis < 0 ? n + axis : axis;
    if (k < 0 || k >= n) fail(what, ": expected at least ", (axis < 0 ? -axis : axis + 1), " dimensions, got ", n);
    return std::size_t(a.shape(k));
}

inline void expect_ndim(const py::array& a, int ndim, const char* what) {
    if (a.ndim() != ndim) fail(what, ": expected ", ndim, " dimensions, got shape ", shape_str(shape_of(a)));
}

// A float32 numpy matrix as a weight view (valid while the array lives).   [rows, cols]
inline TensorView weight_view(const Array& a, const char* what) {
    expect_ndim(a, 2, what);
    return TensorView{DType::F32, shape_of(a), reinterpret_cast<const std::byte*>(a.data())};
}

}  // namespace llamaref::py_bind
