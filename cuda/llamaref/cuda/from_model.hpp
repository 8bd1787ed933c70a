// llamaref/cuda/from_model.hpp — describe a loaded llamaref::Model for the CUDA Runner.
//
// Plain C++ (compiled by the host compiler): it sees the CPU side's Model (formats/load.hpp) and
// hands the Runner host pointers to the same stored bytes, so the GPU path runs exactly the
// weights the CPU path runs. The Model must stay alive until the Runner is constructed.
#pragma once

#include <llamaref/model/transformer.hpp>

#include "runner.hpp"

namespace llamaref::cuda {

// The GPU kernels load F32, F16, BF16 and Q8_0 weights (common.cuh); other block formats are
// refused here rather than read as the wrong type.
inline HostTensor host_tensor(const TensorView& t) {
    if (is_quantized(t.dtype) && t.dtype != DType::Q8_0)
        fail("the CUDA path computes with F32, F16, BF16 and Q8_0 weights, not ", dtype_name(t.dtype),
             " (use the CPU path: --device cpu)");
    return {t.dtype, t.shape, t.data};
}

inline HostModel host_model(const Model& m) {
    HostModel h;
    require_supported(m.config);  // what the CUDA kernels cannot run is refused here
    h.config = m.config;
    validate_weights(m.config, m.weights);
    h.tok_embeddings = host_tensor(m.weights.tok_embeddings);
    for (const LayerWeights& L : m.weights.layers)
        h.layers.push_back({host_tensor(L.attention_norm), host_tensor(L.wq), host_tensor(L.wk), host_tensor(L.wv),
                            host_tensor(L.wo), host_tensor(L.ffn_norm), host_tensor(L.w1), host_tensor(L.w2),
                            host_tensor(L.w3), host_tensor(L.post_attention_norm), host_tensor(L.post_ffn_norm)});
    h.norm = host_tensor(m.weights.norm);
    h.output = host_tensor(m.weights.output);
    return h;
}

}  // namespace llamaref::cuda
