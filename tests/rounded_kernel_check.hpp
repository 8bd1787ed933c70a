// A fast kernel that works on llama.cpp's rounded activations (cpu/matmul_bf16.hpp,
// cpu/matmul_int8.hpp) against its specification: core/ops.hpp's matmul of x rounded as
// core/quant_activations.hpp rounds it for W's type (plus, for Q4_1 / Q5_1, llama.cpp's Q8_1 block
// sums: llamacpp_q8_1_correction). Such kernels add the same exact products in
// another order, so the check is the reassociation bound, not bit identity: between any two
// orders at most in·2⁻²⁴ relative to Σ|w·x'|, while a product or block missing, counted twice or
// given the wrong scale moves y by far more. And 1 thread against 2, bit for bit.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <llamaref/core/ops.hpp>
#include <llamaref/core/parallel.hpp>
#include <llamaref/core/quant_activations.hpp>

namespace llamaref::test {

// kernel(W, x, y, T) rounds x itself.   W: [out, in]   x: [T, in]
// extra: more error allowed, in units of 2⁻²⁴·Σ|w·x'| (a reference whose weights are rounded).
template <class Kernel>
void check_rounded_kernel(const TensorView& W, const std::vector<float>& x, std::size_t T, Kernel kernel,
                          double extra = 0) {
    const std::size_t out = W.rows(), in = W.cols();
    std::vector<float> xr(T * in);
    for (std::size_t t = 0; t < T; ++t) round_activations_like_llamacpp(W.dtype, &x[t * in], &xr[t * in], in);
    std::vector<float> want(T * out), got(T * out), got2(T * out);
    matmul(W, xr.data(), want.data(), T);  // the specification, on the rounded x
    llamacpp_q8_1_correction(W, x.data(), want.data(), T);
    // Q4_1 / Q5_1: Σ_b |m_b·s_b| joins Σ|w·x'| in the bound (the kernel adds m·s, the specification
    // m·Σx' and m·(s − Σx') apart). s: [T, in / 32]
    const bool q8_1 = W.dtype == DType::Q4_1 || W.dtype == DType::Q5_1;
    std::vector<float> s(q8_1 ? T * in / 32 : 0);
    for (std::size_t b = 0; b < s.size(); ++b) {
        int8_t q[32];
        quantize_block_q8_0(&x[32 * b], q);  // (rows are whole blocks: block b of the flat x)
        s[b] = q8_1_block_sum(&x[32 * b], q);
    }
    set_num_threads(1);
    kernel(W, x.data(), got.data(), T);
    set_num_threads(2);
    kernel(W, x.data(), got2.data(), T);
    set_num_threads(1);
    std::vector<float> row(in);
    for (std::size_t r = 0; r < out; ++r) {
        W.row_to_f32(r, row.data());
        for (std::size_t t = 0; t < T; ++t) {
            double magnitude = 0;  // Σ|w·x'|: the sum's condition
            for (std::size_t k = 0; k < in; ++k) magnitude += std::fabs(double(row[k]) * xr[t * in + k]);
            for (std::size_t b = 0; q8_1 && b < in / 32; ++b) {
                uint16_t m;  // the block's minimum, F16 bits after its scale
                std::memcpy(&m, W.row(r) + b * dtype_bytes(W.dtype, 32) + 2, 2);
                magnitude += std::fabs(double(f16_to_f32(m)) * s[t * in / 32 + b]);
            }
            const double err = std::fabs(double(got[t * out + r]) - want[t * out + r]);
            REQUIRE(err <= (double(in) + extra) * 0x1p-24 * magnitude + 1e-30);
        }
    }
    CHECK(got == got2);  // the same whatever the thread count
}

}  // namespace llamaref::test
