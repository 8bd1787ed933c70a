// llamaref/core/dtype.hpp — how numbers are stored in checkpoint files.
//
// Weights arrive as float32, float16, bfloat16 or one of llama.cpp's block-quantized formats.
// Activations in llamaref are always float32; a weight of any storage type is converted to
// float32 exactly when it is used (see core/ops.hpp) — so a quantized model computes the exact
// output of its dequantized weights. This header knows bits and bytes, nothing about models.
//
//   F32   IEEE binary32
//   F16   IEEE binary16 (1 sign, 5 exponent, 10 mantissa bits)            core/half.hpp
//   BF16  the top 16 bits of a binary32 (1 sign, 8 exponent, 7 mantissa bits)
//   Q4_0 Q4_1 Q5_0 Q5_1 Q8_0   blocks of 32 weights                      core/quant_legacy.hpp
//   Q2_K Q3_K Q4_K Q5_K Q6_K   super-blocks of 256 weights                core/quant_k.hpp
//   IQ4_NL IQ4_XS              4 bits through a non-linear table          core/quant_iq4.hpp
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "error.hpp"
#include "half.hpp"
#include "quant_iq4.hpp"
#include "quant_k.hpp"
#include "quant_legacy.hpp"

namespace llamaref {

// Storage types. The first four were llamaref's from the start; the order is not a file format.
enum class DType : uint8_t {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    IQ4_NL,
    IQ4_XS
};

inline constexpr DType kAllDTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,   DType::Q4_0,
                                       DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q2_K,   DType::Q3_K,
                                       DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS};

constexpr std::string_view dtype_name(DType t) {
    switch (t) {
        case DType::F32: return "F32";
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
        case DType::Q8_0: return "Q8_0";
        case DType::Q4_0: return "Q4_0";
        case DType::Q4_1: return "Q4_1";
        case DType::Q5_0: return "Q5_0";
        case DType::Q5_1: return "Q5_1";
        case DType::Q2_K: return "Q2_K";
        case DType::Q3_K: return "Q3_K";
        case DType::Q4_K: return "Q4_K";
        case DType::Q5_K: return "Q5_K";
        case DType::Q6_K: return "Q6_K";
        case DType::IQ4_NL: return "IQ4_NL";
        case DType::IQ4_XS: return "IQ4_XS";
    }
    return "?";
}

// A block: `values` consecutive weights stored in `bytes` bytes (1 value for F32/F16/BF16).
struct DTypeBlock {
    std::size_t values, bytes;
};
constexpr DTypeBlock dtype_block(DType t) {
    switch (t) {
        case DType::F32: return {1, 4};
        case DType::F16:
        case DType::BF16: return {1, 2};
        case DType::Q8_0: return {32, sizeof(BlockQ8_0)};
        case DType::Q4_0: return {32, sizeof(BlockQ4_0)};
        case DType::Q4_1: return {32, sizeof(BlockQ4_1)};
        case DType::Q5_0: return {32, sizeof(BlockQ5_0)};
        case DType::Q5_1: return {32, sizeof(BlockQ5_1)};
        case DType::Q2_K: return {256, sizeof(BlockQ2_K)};
        case DType::Q3_K: return {256, sizeof(BlockQ3_K)};
        case DType::Q4_K: return {256, sizeof(BlockQ4_K)};
        case DType::Q5_K: return {256, sizeof(BlockQ5_K)};
        case DType::Q6_K: return {256, sizeof(BlockQ6_K)};
        case DType::IQ4_NL: return {32, sizeof(BlockIQ4_NL)};
        case DType::IQ4_XS: return {256, sizeof(BlockIQ4_XS)};
    }
    return {1, 0};
}

constexpr bool is_quantized(DType t) { return dtype_block(t).values > 1; }
constexpr double bits_per_weight(DType t) { return 8.0 * double(dtype_block(t).bytes) / double(dtype_block(t).values); }

// Bytes needed to store n consecutive values (n must be a multiple of the block size).
inline std::size_t dtype_bytes(DType t, std::size_t n) {
    const DTypeBlock b = dtype_block(t);
    if (n % b.values != 0) fail(dtype_name(t), " rows must hold a multiple of ", b.values, " values, got ", n);
    return n / b.values * b.bytes;
}

namespace detail {
// One 16-bit value (F16 or BF16 bits) at byte address p, and its store. Through memcpy: a tensor
// in a .pth or safetensors file may start at an odd offset, where a uint16_t load is undefined
// behaviour; the compiler makes the memcpy one (vectorisable) load or store.
inline uint16_t load_u16(const std::byte* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
inline void store_u16(std::byte* p, uint16_t v) { std::memcpy(p, &v, 2); }

// n values (a whole number of blocks) of block type B, read with memcpy (the mapped file gives no
// alignment guarantee for the struct).
template <class B>
void dequantize_blocks(const void* src, float* dst, std::size_t n, std::size_t block_values) {
    const auto* p = static_cast<const std::byte*>(src);
    for (std::size_t i = 0; i < n / block_values; ++i) {
        B b;
        std::memcpy(&b, p + i * sizeof(B), sizeof(B));
        dequantize(b, dst + i * block_values);
    }
}
}  // namespace detail

// Convert n stored values starting at element 0 of `src` to float32.
inline void to_f32(DType t, const void* src, float* dst, std::size_t n) {
    const std::size_t bv = dtype_block(t).values;
    if (n % bv != 0) fail(dtype_name(t), ": ", n, " values are not a whole number of blocks of ", bv);
    switch (t) {
        case DType::F32: std::memcpy(dst, src, n * 4); return;
        case DType::F16: {
            const auto* p = static_cast<const std::byte*>(src);
            for (std::size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(detail::load_u16(p + 2 * i));
            return;
        }
        case DType::BF16: {
            const auto* p = static_cast<const std::byte*>(src);
            for (std::size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(detail::load_u16(p + 2 * i));
            return;
        }
        case DType::Q8_0: return detail::dequantize_blocks<BlockQ8_0>(src, dst, n, bv);
        case DType::Q4_0: return detail::dequantize_blocks<BlockQ4_0>(src, dst, n, bv);
        case DType::Q4_1: return detail::dequantize_blocks<BlockQ4_1>(src, dst, n, bv);
        case DType::Q5_0: return detail::dequantize_blocks<BlockQ5_0>(src, dst, n, bv);
        case DType::Q5_1: return detail::dequantize_blocks<BlockQ5_1>(src, dst, n, bv);
        case DType::Q2_K: return detail::dequantize_blocks<BlockQ2_K>(src, dst, n, bv);
        case DType::Q3_K: return detail::dequantize_blocks<BlockQ3_K>(src, dst, n, bv);
        case DType::Q4_K: return detail::dequantize_blocks<BlockQ4_K>(src, dst, n, bv);
        case DType::Q5_K: return detail::dequantize_blocks<BlockQ5_K>(src, dst, n, bv);
        case DType::Q6_K: return detail::dequantize_blocks<BlockQ6_K>(src, dst, n, bv);
        case DType::IQ4_NL: return detail::dequantize_blocks<BlockIQ4_NL>(src, dst, n, bv);
        case DType::IQ4_XS: return detail::dequantize_blocks<BlockIQ4_XS>(src, dst, n, bv);
    }
}

}  // namespace llamaref

// --- conversions from float32 (used by the writers in formats/) ---------------------------
namespace llamaref {

// Store n float32 values as dtype t at dst (dtype_bytes(t, n) bytes).
inline void from_f32(DType t, const float* src, void* dst, std::size_t n) {
    switch (t) {
        case DType::F32: std::memcpy(dst, src, n * 4); return;
        case DType::F16: {
            auto* p = static_cast<std::byte*>(dst);
            for (std::size_t i = 0; i < n; ++i) detail::store_u16(p + 2 * i, f32_to_f16(src[i]));
            return;
        }
        case DType::BF16: {
            auto* p = static_cast<std::byte*>(dst);
            for (std::size_t i = 0; i < n; ++i) detail::store_u16(p + 2 * i, f32_to_bf16(src[i]));
            return;
        }
        case DType::Q8_0: quantize_row_q8_0(src, static_cast<BlockQ8_0*>(dst), n); return;
        default: fail("writing ", dtype_name(t), " is not implemented: llamaref writes F32, F16, BF16 and Q8_0");
    }
}

}  // namespace llamaref
