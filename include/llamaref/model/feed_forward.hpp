// llamaref/model/feed_forward.hpp — the SwiGLU feed-forward network.
//
// Shazeer 2020, "GLU Variants Improve Transformer", eq. 5 (FFN_SwiGLU); LLaMA paper §2.2:
//     FFN(x) = W2 · ( SiLU(W1·x) ⊙ (W3·x) )
// Names: Meta w1 / w3 / w2 = Hugging Face gate_proj / up_proj / down_proj = GGUF ffn_gate /
// ffn_up / ffn_down. The hidden size F comes from the checkpoint (see ffn_hidden_dim in
// config.hpp for Meta's rule).
#pragma once

#include <cstddef>

#include "../core/ops.hpp"

namespace llamaref {

// x: [T, D] -> out: [T, D]. The caller provides three [T, F] buffers and may read them after
// the call (tracing): gate = W1·x, up = W3·x, hidden = SiLU(gate) ⊙ up.
inline void swiglu(const TensorView& w1, const TensorView& w2, const TensorView& w3, const float* x, float* out,
                   std::size_t T, float* gate, float* up, float* hidden) {
    const std::size_t F = w1.rows();
    matmul(w1, x, gate, T);  // [T, F]
    matmul(w3, x, up, T);    // [T, F]
    for (std::size_t i = 0; i < T * F; ++i) hidden[i] = silu(gate[i]) * up[i];
    matmul(w2, hidden, out, T);  // [T, D]
}

}  // namespace llamaref
