// llamaref/cpu/matmul_int8.hpp — Y = q8_0(X)·Wᵀ for Q8_0 weights on AVX-512 VNNI's int8 dot
// product: the decode of a Q8_0 model under llama.cpp's activation rounding.
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
// avx2::hsum of each half, low + high. Rows are independent: threads take chunks of rows.
// The kernel runs only when asked for (llama.cpp's rounding on, a CPU with AVX512_VNNI, decode:
// the Transformer calls it for T < 4; prefill keeps the exact blocked kernel, bound by arithmetic
// it does in float32 at llama.cpp's speed) and is tested against the specification within a
// reassociation's error, not bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/parallel.hpp"
#include "../core/quant_activations.hpp"
#include "matmul.hpp"
#include "simd.hpp"

namespace llamaref::cpu {

// Rows of activations as Q8_0 blocks, laid out for the kernel; a row's blocks are padded to an
// even number with a zero block (q = 0, d = 0), so every block has a partner.
struct Q8Activations {
    std::size_t blocks = 0;     // per row, padded (even)
    std::vector<int8_t> q;      // [T, blocks·32]   q_x
    std::vector<int32_t> start;  // [T, blocks·8]    each lane's start, −128·Σ of its four q_x
    std::vector<float> d;       // [T, blocks·8]    d_x, once for each of its block's eight lanes

    // X: [T, in] float32, in a multiple of 32 (a Q8_0 weight's row length).
    void prepare(const float* X, std::size_t T, std::size_t in) {
        const std::size_t n = in / 32;
        blocks = (n + 1) / 2 * 2;
        q.assign(T * blocks * 32, 0);  // (assign keeps the capacity: no allocation per token)
        start.assign(T * blocks * 8, 0);
        d.assign(T * blocks * 8, 0.0f);
        for (std::size_t t = 0; t < T; ++t)
            for (std::size_t b = 0; b < n; ++b) {
                int8_t* qb = &q[(t * blocks + b) * 32];
                const float db = quantize_block_q8_0(X + t * in + 32 * b, qb);
                for (std::size_t j = 0; j < 8; ++j) {
                    start[(t * blocks + b) * 8 + j] = -128 * (qb[4 * j] + qb[4 * j + 1] + qb[4 * j + 2] + qb[4 * j + 3]);
                    d[(t * blocks + b) * 8 + j] = db;
                }
            }
    }
};

#if LLAMAREF_HAVE_AVX2_KERNELS
namespace avx512vnni {

// acc + the products of blocks b and b + 1 of a row (or block b alone: Two = false) with token
// row t of the activations, lanes as (1): 0–7 block b, 8–15 block b + 1.
template <bool Two>
LLAMAREF_AVX512VNNI inline __m512 pair(const std::byte* row, std::size_t b, const int8_t* q, const int32_t* start,
                                       const float* d, __m512 acc) {
    const std::byte* lo = row + b * sizeof(BlockQ8_0);
    const std::byte* hi = lo + sizeof(BlockQ8_0);
    static_assert(offsetof(BlockQ8_0, q) == 2 && sizeof(BlockQ8_0) == 34);
    uint16_t d_lo, d_hi = 0;  // the weights' scales, float16 bits
    std::memcpy(&d_lo, lo, 2);
    __m512i w;  // [64] q_w
    if constexpr (Two) {
        std::memcpy(&d_hi, hi, 2);
        w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo + 2))),
                               _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi + 2)), 1);
    } else {
        w = _mm512_maskz_loadu_epi8(0xFFFFFFFFull, lo + 2);  // block b + 1 absent: zeros
    }
    const __m512i a = _mm512_xor_si512(w, _mm512_set1_epi8(char(0x80)));  // q_w + 128, unsigned
    const __m512i sum = _mm512_dpbusd_epi32(_mm512_loadu_si512(start + 8 * b), a, _mm512_loadu_si512(q + 32 * b));
    const __m256i dh = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(short(d_lo))), _mm_set1_epi16(short(d_hi)), 1);
    const __m512 scale = _mm512_mul_ps(_mm512_cvtph_ps(dh), _mm512_loadu_ps(d + 8 * b));  // d_w·d_x, exact
    return _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(sum), acc);
}

// Rows [r0, r1) of Y = q8_0(X)·Wᵀ for the T rows of A; each weight row is read from memory once
// (for the first token; the others find it in L1).
LLAMAREF_AVX512VNNI inline void rows(const TensorView& W, const Q8Activations& A, float* Y, std::size_t T, std::size_t r0,
                                     std::size_t r1) {
    const std::size_t n = W.cols() / 32, out = W.rows(), row_bytes = W.row_bytes(), size = W.nbytes();
    constexpr std::size_t step_bytes = 8 * sizeof(BlockQ8_0);  // four pairs: 272 bytes
    for (std::size_t r = r0; r < r1; ++r) {
        const std::byte* row = W.data + r * row_bytes;
        avx2::touch_pages(W.data, size, r * row_bytes + avx2::kTouchAhead, (r + 1) * row_bytes + avx2::kTouchAhead);
        for (std::size_t t = 0; t < T; ++t) {
            const int8_t* q = &A.q[t * A.blocks * 32];
            const int32_t* start = &A.start[t * A.blocks * 8];
            const float* d = &A.d[t * A.blocks * 8];
            const char* ahead = reinterpret_cast<const char*>(row) + avx2::kDecodeAhead;  // (a prefetch never faults)
            __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            std::size_t b = 0;
            for (; b + 8 <= n; b += 8, ahead += step_bytes) {
                if (t == 0)
#pragma GCC unroll 5
                    for (std::size_t o = 0; o < step_bytes; o += 64) _mm_prefetch(ahead + o, _MM_HINT_T0);
#pragma GCC unroll 4
                for (int u = 0; u < 4; ++u) acc[u] = pair<true>(row, b + 2 * u, q, start, d, acc[u]);
            }
            int u = 0;  // the last pairs continue the round
            for (; b + 2 <= n; b += 2, ++u) acc[u] = pair<true>(row, b, q, start, d, acc[u]);
            if (b < n) acc[u] = pair<false>(row, b, q, start, d, acc[u]);
            const __m512 s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
            Y[t * out + r] = avx2::hsum(_mm512_extractf32x8_ps(s, 0)) + avx2::hsum(_mm512_extractf32x8_ps(s, 1));
        }
    }
}

}  // namespace avx512vnni
#endif

// Whether matmul_q8_0_rounded runs here: AVX512_VNNI, and the kernels not held below AVX-512.
inline bool has_int8_dot() {
#if LLAMAREF_HAVE_AVX2_KERNELS
    static const bool cpu_has = detect_avx512_vnni();  // asked once: CPUID is slow in a virtual machine
    return isa() == Isa::avx512 && cpu_has;
#else
    return false;
#endif
}

// Y = q8_0(X) · Wᵀ (the specification: core/ops.hpp's matmul of X rounded to Q8_0 blocks), W
// Q8_0, with the integer dot product above; call only where has_int8_dot(). Meant for decode
// (it reads each weight row once for all T tokens, without the prefill's blocking).
//   W: [out, in] Q8_0   X: [T, in] float32   Y: [T, out]
inline void matmul_q8_0_rounded(const TensorView& W, const float* X, float* Y, std::size_t T) {
#if LLAMAREF_HAVE_AVX2_KERNELS
    if (W.dtype != DType::Q8_0 || !has_int8_dot()) fail("matmul_q8_0_rounded: needs Q8_0 weights and a CPU with AVX512_VNNI");
    thread_local Q8Activations acts;  // grows once
    acts.prepare(X, T, W.cols());
    const Q8Activations* A = &acts;  // (in the workers `acts` would name their own, empty one)
    parallel_for_chunks(W.rows(), 64, [&](std::size_t r0, std::size_t r1) { avx512vnni::rows(W, *A, Y, T, r0, r1); });
#else
    (void)W, (void)X, (void)Y, (void)T;
    fail("matmul_q8_0_rounded: needs an x86 CPU with AVX512_VNNI");
#endif
}

}  // namespace llamaref::cpu
