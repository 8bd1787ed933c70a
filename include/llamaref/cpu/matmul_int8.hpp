// llamaref/cpu/matmul_int8.hpp — Y = round(X)·Wᵀ on AVX-512 VNNI's integer dot products for every
// block format llamaref reads (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL; Q2_K … Q6_K, IQ4_XS): the
// decode of such a model under llama.cpp's activation rounding. The method, on Q8_0 (equation (1)),
// and the entry point are here; the kernels are in cpu/matmul_int8_legacy.hpp (the 32-weight
// blocks, Q8_0 / Q8_1 activations, equation (4)) and cpu/matmul_int8_k.hpp (the super-blocks of
// 256, Q8_K activations, equations (2), (3), (5)–(7)).
//
// Specification: the reference matmul (core/ops.hpp) of X rounded to Q8_0 blocks, as
// core/quant_activations.hpp rounds it for a Q8_0 weight (what llama.cpp does before every Q8_0
// product, `--llamacpp-rounding`). A weight is then w = d_w·q_w and an activation x' = d_x·q_x,
// small integers q with one float16 scale d per block of 32 columns, so each block's share of a
// dot product is
//
//     Σ_{k in block} w_k·x'_k  =  (d_w·d_x) · Σ_{k in block} q_w,k·q_x,k                      (1)
//
// The integer sum is exact (|Σ| ≤ 32·128·127 < 2²⁰) and so is d_w·d_x in float32 (two float16
// scales: 11 + 11 significant bits), so a block costs one rounding, fma(d_w·d_x, Σ, acc). This is
// the arithmetic of llama.cpp's own Q8_0 kernels. The exact kernels (cpu/matmul.hpp) instead
// convert each weight to float32 and make 32 FMAs per block in dot_blocked's order. Here one
// instruction makes 64 products:
//
//     VPDPBUSD:  acc[j] = acc[j] + Σ_{i<4} a[4j+i]·b[4j+i]      j = 0..15, a unsigned bytes, b signed
//
// Its first factor is unsigned, so it gets a = q_w + 128 (q_w XOR 0x80) and b = q_x, and each lane
// starts from −128·Σ_{i<4} q_x[4j+i], computed once per token: the lane ends at Σ q_w·q_x exactly.
// A register holds two blocks (lanes 0–7 block b, 8–15 block b + 1). Per pair of blocks (64
// weights, 68 bytes) that is two loads and an insert of the weights, an XOR, the dot product, the
// two scales converted and multiplied by the activations', a conversion and an FMA: 12
// instructions, where the exact kernel's Q8_0 decode spends about 28 (cpu/matmul_avx512.hpp).
// Measured alone (W [16384, 4096] from memory and [1024, 2048] in L3, 1 thread, Zen 5, GB/s of W,
// best of 15, three alternating rounds): exact 23–25 / 26–27, this kernel 27–30 / 37–38.
//
// The order, fixed whatever the thread count (tests check it): per output, the pairs of blocks in
// column order dealt round-robin to four accumulators (pair p to accumulator p % 4), a last odd
// block as a pair with an empty upper half; then (acc0 + acc1) + (acc2 + acc3), summed as
// avx2::hsum of each half, low + high (the super-blocks: one accumulator, blocks in column order).
// Rows are independent: threads take chunks of rows.
// These kernels run only when asked for (llama.cpp's rounding on, a CPU with AVX512_VNNI, decode:
// the Transformer calls them for T < 4; prefill keeps the exact blocked kernel, bound by arithmetic
// it does in float32 at llama.cpp's speed) and are tested against the specification within a
// reassociation's error, not bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../core/parallel.hpp"
#include "../core/quant_activations.hpp"
#include "matmul.hpp"
#include "matmul_int8_k.hpp"       // the K-quants and IQ4_XS, equations (2), (3), (5)–(7)
#include "matmul_int8_legacy.hpp"  // Q8_0 and the other 32-weight blocks, equation (4)
#include "simd.hpp"

namespace llamaref::cpu {

// Whether the int8 kernels run here: AVX512_VNNI, and the kernels not held below AVX-512.
inline bool has_int8_dot() {
#if LLAMAREF_HAVE_AVX2_KERNELS
    static const bool cpu_has = detect_avx512_vnni();  // asked once: CPUID is slow in a virtual machine
    return isa() == Isa::avx512 && cpu_has;
#else
    return false;
#endif
}

// Whether matmul_int8_rounded has a kernel for weights of type t on this CPU.
inline bool has_int8_dot(DType t) { return (is_int8_legacy(t) || is_int8_k(t)) && has_int8_dot(); }

// Y = round(X) · Wᵀ with X rounded as llama.cpp rounds it for W's type (Q8_0, Q4_0, Q5_0, IQ4_NL →
// Q8_0 blocks, Q4_1, Q5_1 → Q8_1, Q2_K … Q6_K and IQ4_XS → Q8_K blocks; the specification:
// core/ops.hpp's matmul of round_activations_like_llamacpp(X), plus llamacpp_q8_1_correction), with
// the integer dot products; call only where has_int8_dot(W.dtype). Meant for decode:
// it reads each weight row once for all T tokens, without the prefill's blocking.
//   W: [out, in] of a type above   X: [T, in] float32   Y: [T, out]
inline void matmul_int8_rounded(const TensorView& W, const float* X, float* Y, std::size_t T) {
#if LLAMAREF_HAVE_AVX2_KERNELS
    if (!has_int8_dot(W.dtype))
        fail("matmul_int8_rounded: no int8 kernel for ", dtype_name(W.dtype), " weights, or a CPU without AVX512_VNNI");
    if (is_int8_legacy(W.dtype))
        avx512vnni::matmul_int8_legacy(W, X, Y, T);
    else
        avx512vnni::matmul_int8_k(W, X, Y, T);
#else
    (void)W, (void)X, (void)Y, (void)T;
    fail("matmul_int8_rounded: needs an x86 CPU with AVX512_VNNI");
#endif
}

}  // namespace llamaref::cpu
