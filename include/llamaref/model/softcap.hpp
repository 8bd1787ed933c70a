// llamaref/model/softcap.hpp — logit soft-capping (Gemma 2).
//
// Gemma 2 (Gemma Team 2024, arXiv 2408.00118 §2, "Logit soft-capping"; from Bello et al. 2016)
// bounds the attention scores and the final logits smoothly to (−c, c):
//
//     softcap(x) = c · tanh(x / c)          c = 50 for attention scores, 30 for the final logits
//
// For |x| ≪ c it is almost the identity; large values saturate instead of dominating a softmax.
// The attention scores are capped after the 1/√q scaling and before the causal mask (as
// gemma_pytorch and transformers do); the final logits after the output head. Llama, Mistral and
// Gemma 1 have no cap (c = 0 here means "off").
#pragma once

#include <cmath>
#include <cstddef>

namespace llamaref {

// x ← c·tanh(x / c) for n values, in float32 (gemma_pytorch: x / c, tanh, · c). c ≤ 0: unchanged.
inline void softcap(float* x, std::size_t n, double c) {
    if (!(c > 0)) return;
    const float cf = float(c);
    for (std::size_t i = 0; i < n; ++i) x[i] = std::tanh(x[i] / cf) * cf;
}

}  // namespace llamaref
