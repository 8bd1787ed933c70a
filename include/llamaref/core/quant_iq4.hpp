// llamaref/core/quant_iq4.hpp — llama.cpp's non-linear 4-bit formats IQ4_NL and IQ4_XS.
//
// The other 4-bit formats place their 16 levels evenly (q − 8, or q·d + m). Trained weights are
// roughly normally distributed, so evenly spaced levels waste resolution in the tails. IQ4_NL
// maps each 4-bit index through a fixed table of 16 levels, denser near zero:
//
//   kIq4Levels = { −127 −104 −83 −65 −49 −35 −22 −10  1 13 25 38 53 69 89 113 }
//
// (ggml's kvalues_iq4nl, written from ggml-common.h). Same arithmetic rule as the other block
// formats: one rounding per operation, bit for bit llama.cpp's values.
//
// IQ4_NL   18 bytes per 32 weights = 4.5 bits/weight        weight[i] = d · level[q[i]]
//   │ d f16 │ qs[16]: byte j = q[j] | q[j+16]<<4 │
// IQ4_XS   136 bytes per 256 weights = 4.25 bits/weight      weight[i] = (d · (ls_s − 32)) · level[q[i]]
//   │ d f16 │ scales_h u16: bits 5..4 of ls_s, 2 per sub-block │ scales_l[4]: bits 3..0, a nibble each │ qs[128] │
//   8 sub-blocks of 32 weights, each a 6-bit scale ls_s; the nibbles within a sub-block as in IQ4_NL.
#pragma once

#include <cstddef>
#include <cstdint>

#include "half.hpp"

namespace llamaref {

inline constexpr int8_t kIq4Levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

struct BlockIQ4_NL {
    uint16_t d;
    uint8_t qs[16];
};
struct BlockIQ4_XS {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[4];
    uint8_t qs[128];
};
static_assert(sizeof(BlockIQ4_NL) == 18 && sizeof(BlockIQ4_XS) == 136, "IQ4 layouts must be packed as in GGUF");

// y: [32] (IQ4_NL) or [256] (IQ4_XS) float32.
inline void dequantize(const BlockIQ4_NL& b, float* y) {
    const float d = f16_to_f32(b.d);
    for (int j = 0; j < 16; ++j) {
        y[j] = d * float(kIq4Levels[b.qs[j] & 0xF]);
        y[j + 16] = d * float(kIq4Levels[b.qs[j] >> 4]);
    }
}

inline void dequantize(const BlockIQ4_XS& b, float* y) {
    const float d = f16_to_f32(b.d);
    for (int s = 0; s < 8; ++s, y += 32) {
        const int ls = ((b.scales_l[s / 2] >> (4 * (s % 2))) & 0xF) | (((b.scales_h >> (2 * s)) & 3) << 4);
        const float dl = d * float(ls - 32);
        const uint8_t* qs = b.qs + 16 * s;
        for (int j = 0; j < 16; ++j) {
            y[j] = dl * float(kIq4Levels[qs[j] & 0xF]);
            y[j + 16] = dl * float(kIq4Levels[qs[j] >> 4]);
        }
    }
}

}  // namespace llamaref
