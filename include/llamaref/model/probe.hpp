// llamaref/model/probe.hpp — what an observer of the forward pass sees (a trace is built on it).
//
// The forward pass (model/transformer.hpp, and the GPU's cuda/llamaref/cuda/transformer.cuh) hands
// each intermediate tensor to an observer by Meta's module name, once computed: "tok_embeddings",
// "layers.3.attention_norm", "layers.3.attention.wq", "layers.3.h" (after the attention's
// residual add), "layers.3" (block output), "norm", "output" (logits). verify/trace.hpp records
// them; `llamaref compare` holds two records side by side.
#pragma once

#include <functional>
#include <string>

#include "../core/tensor_view.hpp"

namespace llamaref {

// One intermediate tensor, valid during the observer's call.
struct Probe {
    std::string name;
    int layer;  // -1 outside the blocks
    const float* data;
    Shape shape;
};
using Observer = std::function<void(const Probe&)>;

}  // namespace llamaref
