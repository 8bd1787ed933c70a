// Weight matrices of llama.cpp's block formats for kernel tests: random bytes, with every float16
// scale field set to a finite value (random bytes there would make inf and NaN). Every bit pattern
// of the quants, sub-block scales, minimums and high bits is a valid block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <llamaref/core/dtype.hpp>
#include <llamaref/core/tensor.hpp>

namespace llamaref::test {

struct StoredMatrix {
    std::vector<std::byte> bytes;
    TensorView view;  // [out, in] over bytes
};

// [out, in] of type dt (in a multiple of its block); each F16 field (scale d, and minimum or dmin
// where the format has one) uniform in [lo, hi].
inline StoredMatrix random_blocks(DType dt, std::size_t out, std::size_t in, std::mt19937& g, float lo = 0.001f,
                                  float hi = 0.05f) {
    std::vector<std::size_t> scales;  // byte offsets of the F16 fields in one block
    switch (dt) {
        case DType::Q4_1:
        case DType::Q5_1:
        case DType::Q4_K:
        case DType::Q5_K: scales = {0, 2}; break;
        case DType::Q2_K: scales = {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)}; break;
        case DType::Q3_K: scales = {offsetof(BlockQ3_K, d)}; break;
        case DType::Q6_K: scales = {offsetof(BlockQ6_K, d)}; break;
        default: scales = {0};  // Q4_0, Q5_0, Q8_0, IQ4_NL, IQ4_XS: d first
    }
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> scale(lo, hi);
    StoredMatrix m;
    m.bytes.resize(dtype_bytes(dt, out * in));
    for (auto& b : m.bytes) b = std::byte(byte(g));
    const DTypeBlock blk = dtype_block(dt);
    for (std::size_t b = 0; b < out * in / blk.values; ++b)
        for (std::size_t off : scales) {
            const uint16_t h = f32_to_f16(scale(g));
            std::memcpy(m.bytes.data() + b * blk.bytes + off, &h, 2);
        }
    m.view = TensorView{dt, {out, in}, m.bytes.data()};
    return m;
}

}  // namespace llamaref::test
