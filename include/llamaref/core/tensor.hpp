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
//     checkpoint — in any storage DType. A TensorView (tensor_view.hpp) is a pointer, a dtype and a
//     shape; it never owns or copies.
#pragma once

#include <xtensor/xtensor.hpp>

#include "tensor_view.hpp"

namespace llamaref {

using Tensor2 = xt::xtensor<float, 2>;  // [rows, cols] activations, e.g. logits [T, V]

}  // namespace llamaref
