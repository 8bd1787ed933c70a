// llamaref/cpu/matmul_int8.hpp — Y = round(X)·Wᵀ on AVX-512 VNNI's integer dot products for Q8_0,
// Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q4_K, Q5_K and Q6_K weights: the decode of such a model under
// llama.cpp's activation rounding.
//
// Q8_0 first (equation (1)), whose kernel, with the other 32-weight blocks' (equation (4)), is in
// cpu/matmul_int8_legacy.hpp; the K-quants, whose activations are Q8_K blocks of 256, here ((2), (3)).
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
// avx2::hsum of each half, low + high (the K-quants: one accumulator, blocks in column order).
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
#include "matmul_int8_legacy.hpp"  // Q8_0 and the other 32-weight blocks, equation (4)
#include "quant_activations.hpp"  // cpu::quantize_block_q8_K: core's, vectorized
#include "simd.hpp"

namespace llamaref::cpu {

// Rows of activations as Q8_K blocks of 256 (Q4_K, Q5_K and Q6_K weights), laid out for the kernel of
// the weights' type: each block's q in the order its weights come in registers, and the sums of q
// over the sub-blocks in column order (for Q4_K / Q5_K's minimums, 8 of 32; for Q6_K's offset, 16 of 16).
struct Q8KActivations {
    std::size_t blocks = 0;      // per row
    std::vector<int8_t> q;       // [T, blocks·256]  q_x (for Q4_K / Q5_K reordered: see q45_K_block)
    std::vector<int16_t> sums;   // [T, blocks·16]   Σ q_x per sub-block (|Σ| ≤ 32·127)
    std::vector<float> d;        // [T, blocks]      d_x

    // X: [T, in] float32, in a multiple of 256; w: Q4_K, Q5_K or Q6_K.
    void prepare(const float* X, std::size_t T, std::size_t in, DType w) {
        blocks = in / 256;
        q.resize(T * blocks * 256), sums.resize(T * blocks * 16), d.resize(T * blocks);
        const int sub = w == DType::Q6_K ? 16 : 32;  // values per sub-block
        int8_t block[256];
        for (std::size_t tb = 0; tb < T * blocks; ++tb) {  // (rows are whole blocks: block tb starts at tb·256)
            d[tb] = cpu::quantize_block_q8_K(X + tb * 256, block);
            for (int j = 0; j < 256 / sub; ++j) {
                int sum = 0;
                for (int i = 0; i < sub; ++i) sum += block[sub * j + i];
                sums[tb * 16 + j] = int16_t(sum);
            }
            if (w == DType::Q6_K) {
                std::copy(block, block + 256, &q[tb * 256]);
                continue;
            }
            // Q4_K / Q5_K: register g of the block's four holds sub-blocks (a, a + 2), a = 4·(g / 2) + g % 2:
            // the low nibbles of 64 bytes of qs are the block's sub-blocks 4h and 4h + 2, the high
            // nibbles 4h + 1 and 4h + 3 (h = 0, 1: the first and second 64 bytes).
            for (int g = 0; g < 4; ++g) {
                const int a = 4 * (g / 2) + g % 2;
                std::copy(block + 32 * a, block + 32 * a + 32, &q[tb * 256 + 64 * g]);
                std::copy(block + 32 * (a + 2), block + 32 * (a + 2) + 32, &q[tb * 256 + 64 * g + 32]);
            }
        }
    }
};

#if LLAMAREF_HAVE_AVX2_KERNELS
namespace avx512vnni {

// --- Q4_K and Q5_K × Q8_K --------------------------------------------------------------------
// A Q4_K weight is w = d·sc_j·q − dmin·m_j in sub-block j (32 weights, q in 0..15, sc_j and m_j 6
// bits, core/quant_k.hpp), so a block's share of a dot product with x' = d_x·q_x is
//
//     d_x·d · Σ_j sc_j·Σ_{i in j} q_i·q_x,i   −   d_x·dmin · Σ_j m_j·Σ_{i in j} q_x,i            (2)
//
// both sums exact in integers. The weights' q are unsigned, so VPMADDUBSW multiplies them by q_x
// directly (pairs summed to 16 bits: |2·15·127| fits) and VPDPWSSD adds those pairs times sc_j
// into 32-bit lanes. (The exact kernel computes each w in float32, rounded; (2) is the real w, so
// the two differ by that rounding too, within the tests' bound.) Q5_K is the same with q in
// 0..31: a fifth bit per weight from qh, bit j of qh[l] for value l of sub-block j's 32.

// The eight 6-bit scales (low word) and minimums (high word) of a block, one byte each: k_scale_min
// for j = 0..7 at once. Bytes 0–3 hold sc_0..3 (low 6 bits) and the top bits of sc_4..7; bytes 4–7
// m_0..3 and the top bits of m_4..7; bytes 8–11 the low 4 bits of sc_4..7 (low nibble) and m_4..7.
inline void q4_K_scales(const uint8_t (&packed)[12], uint64_t& scales, uint64_t& mins) {
    uint32_t b[3];
    std::memcpy(b, packed, 12);
    const uint32_t sc_lo = b[0] & 0x3F3F3F3Fu, m_lo = b[1] & 0x3F3F3F3Fu;
    const uint32_t sc_hi = (b[2] & 0x0F0F0F0Fu) | (((b[0] >> 6) & 0x03030303u) << 4);
    const uint32_t m_hi = ((b[2] >> 4) & 0x0F0F0F0Fu) | (((b[1] >> 6) & 0x03030303u) << 4);
    scales = sc_lo | uint64_t(sc_hi) << 32;
    mins = m_lo | uint64_t(m_hi) << 32;
}

// acc += d_x·d·(the block's scaled integer sums, 16 lanes); acc_min += d_x·dmin·(Σ m_j·Σ q_x, 4 lanes).
// Block: BlockQ4_K or BlockQ5_K.
template <class Block>
LLAMAREF_AVX512VNNI inline void q45_K_block(const Block& b, const int8_t* q, const int16_t* sums, float d_x, __m512& acc,
                                            __m128& acc_min) {
    constexpr bool five = std::is_same_v<Block, BlockQ5_K>;
    uint64_t sc, mn;
    q4_K_scales(b.scales, sc, mn);
    const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(sc))));  // words 0..7
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};  // low, high nibbles: two chains
    __m512i qh = _mm512_setzero_si512();  // Q5_K: qh[0..32) in both halves (column l of each 32 uses qh[l])
    if constexpr (five) {
        const __m256i qh32 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh));
        qh = _mm512_inserti64x4(_mm512_castsi256_si512(qh32), qh32, 1);
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
        const __m512i bytes = _mm512_loadu_si512(b.qs + 64 * h);
#pragma GCC unroll 2
        for (int e = 0; e < 2; ++e) {  // register g = 2h + e: sub-blocks a = 4h + e and a + 2
            __m512i w = e == 0 ? _mm512_and_si512(bytes, nibble) : _mm512_and_si512(_mm512_srli_epi16(bytes, 4), nibble);
            if constexpr (five) {  // + 16 where bit a (low half) or a + 2 (high half) of qh[l] is set
                const short a = short(4 * h + e);  // (16-bit shifts: what crosses bytes is masked off)
                const __m512i shift = _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(a), _mm512_set1_epi16(short(a + 2)));
                w = _mm512_or_si512(w, _mm512_and_si512(_mm512_slli_epi16(_mm512_srlv_epi16(qh, shift), 4), _mm512_set1_epi8(0x10)));
            }
            const __m512i pairs = _mm512_maddubs_epi16(w, _mm512_loadu_si512(q + 64 * (2 * h + e)));  // [32] 16-bit
            const short a = short(4 * h + e);  // words 0–15 take sc_a, 16–31 sc_(a+2)
            const __m512i pick = _mm512_set_epi16(a + 2, a + 2, a + 2, a + 2, a + 2, a + 2, a + 2, a + 2, a + 2, a + 2, a + 2, a + 2,
                                                  a + 2, a + 2, a + 2, a + 2, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a);
            sum[e] = _mm512_dpwssd_epi32(sum[e], pairs, _mm512_permutexvar_epi16(pick, sc16));
        }
    }
    const float d = _cvtsh_ss(b.d), dmin = _cvtsh_ss(b.dmin);
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d_x * d), _mm512_cvtepi32_ps(_mm512_add_epi32(sum[0], sum[1])), acc);
    const __m128i m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(mn)));
    const __m128i msum = _mm_madd_epi16(m16, _mm_loadu_si128(reinterpret_cast<const __m128i*>(sums)));  // [4] Σ m_j·Σ q_x
    acc_min = _mm_fmadd_ps(_mm_set1_ps(d_x * dmin), _mm_cvtepi32_ps(msum), acc_min);
}

// Rows [r0, r1) of Y = q8_K(X)·Wᵀ, W Q4_K or Q5_K (Block), for the T rows of A.
template <class Block>
LLAMAREF_AVX512VNNI inline void rows_q45_K(const TensorView& W, const Q8KActivations& A, float* Y, std::size_t T, std::size_t r0,
                                           std::size_t r1) {
    const std::size_t n = A.blocks, out = W.rows(), row_bytes = W.row_bytes(), size = W.nbytes();
    for (std::size_t r = r0; r < r1; ++r) {
        const auto* row = reinterpret_cast<const Block*>(W.data + r * row_bytes);
        avx2::touch_pages(W.data, size, r * row_bytes + avx2::kTouchAhead, (r + 1) * row_bytes + avx2::kTouchAhead);
        for (std::size_t t = 0; t < T; ++t) {
            const char* ahead = reinterpret_cast<const char*>(row) + avx2::kDecodeAhead;
            __m512 acc = _mm512_setzero_ps();
            __m128 acc_min = _mm_setzero_ps();
            for (std::size_t b = 0; b < n; ++b, ahead += sizeof(Block)) {
                if (t == 0)
#pragma GCC unroll 3
                    for (std::size_t o = 0; o < sizeof(Block); o += 64) _mm_prefetch(ahead + o, _MM_HINT_T0);
                q45_K_block(row[b], &A.q[(t * n + b) * 256], &A.sums[(t * n + b) * 16], A.d[t * n + b], acc, acc_min);
            }
            const __m128 m = _mm_add_ps(acc_min, _mm_movehl_ps(acc_min, acc_min));  // (m0 + m2), (m1 + m3)
            const float mins = _mm_cvtss_f32(m) + _mm_cvtss_f32(_mm_shuffle_ps(m, m, 1));
            Y[t * out + r] = (avx2::hsum(_mm512_extractf32x8_ps(acc, 0)) + avx2::hsum(_mm512_extractf32x8_ps(acc, 1))) - mins;
        }
    }
}

// --- Q6_K × Q8_K -----------------------------------------------------------------------------
// A Q6_K weight is w = d·sc_j·(u − 32) in sub-block j (16 weights, u = 4 low bits from ql and 2
// high bits from qh, 0..63; sc_j a signed byte; core/quant_k.hpp), so a block's share is
//
//     d_x·d · ( Σ_j sc_j·Σ_{i in j} u_i·q_x,i  −  32·Σ_j sc_j·Σ_{i in j} q_x,i )                 (3)
//
// all in integers. u is unsigned: VPMADDUBSW (pairs ≤ 2·63·127, 16 bits) and VPDPWSSD by sc_j, as
// for Q4_K; the second sum from the activations' sums per sub-block, once per block.
// Half h of a block (128 weights, ql[64h..], qh[32h..], sc[8h..]) in two registers, values in order:
//   [128h + 0..31 | 128h + 32..63]  = low nibbles of ql[64h + 0..63]  | qh bits 0–1 | 2–3 (<< 4)
//   [128h + 64..95 | 128h + 96..127] = high nibbles of ql[64h + 0..63] | qh bits 4–5 | 6–7 (<< 4)
// the qh byte of column l (l < 32) serving the four values l, l + 32, l + 64, l + 96.

// acc += d_x·d·(3), in 16 lanes.
LLAMAREF_AVX512VNNI inline void q6_K_block(const BlockQ6_K& b, const int8_t* q, const int16_t* sums, float d_x, __m512& acc) {
    const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales))));
    const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
    __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};  // two chains
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
        const __m512i ql = _mm512_loadu_si512(b.ql + 64 * h);
        const __m256i qh32 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
        const __m512i qh = _mm512_inserti64x4(_mm512_castsi256_si512(qh32), qh32, 1);  // the same 32 bytes twice
#pragma GCC unroll 2
        for (int e = 0; e < 2; ++e) {  // e = 0: values 128h + 0..63; e = 1: 128h + 64..127
            // the high bits: qh >> (4e) in the low half, >> (4e + 2) in the high half (16-bit shifts:
            // what crosses from the next byte is masked off), moved to bits 4–5
            const __m512i shift = _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(short(4 * e)), _mm512_set1_epi16(short(4 * e + 2)));
            const __m512i high = _mm512_and_si512(_mm512_slli_epi16(_mm512_srlv_epi16(qh, shift), 4), bits45);
            const __m512i nib = e == 0 ? _mm512_and_si512(ql, low4) : _mm512_and_si512(_mm512_srli_epi16(ql, 4), low4);
            const __m512i u = _mm512_or_si512(nib, high);  // [64] 0..63
            const __m512i pairs = _mm512_maddubs_epi16(u, _mm512_loadu_si512(q + 128 * h + 64 * e));  // [32] 16-bit
            // words 8k..8k+7 (values 16k..16k+15 of the register) take sc[8h + 4e + k]
            const short s0 = short(8 * h + 4 * e);
            const __m512i pick = _mm512_set_epi16(s0 + 3, s0 + 3, s0 + 3, s0 + 3, s0 + 3, s0 + 3, s0 + 3, s0 + 3, s0 + 2, s0 + 2, s0 + 2,
                                                  s0 + 2, s0 + 2, s0 + 2, s0 + 2, s0 + 2, s0 + 1, s0 + 1, s0 + 1, s0 + 1, s0 + 1, s0 + 1,
                                                  s0 + 1, s0 + 1, s0, s0, s0, s0, s0, s0, s0, s0);
            sum[e] = _mm512_dpwssd_epi32(sum[e], pairs, _mm512_permutexvar_epi16(pick, sc16));
        }
    }
    // −32·Σ_j sc_j·Σ q_x: 16 products in 8 lanes, times 32, taken from lanes 0–7
    const __m256i offset = _mm256_madd_epi16(_mm512_castsi512_si256(sc16), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sums)));
    const __m512i total = _mm512_sub_epi32(_mm512_add_epi32(sum[0], sum[1]),
                                           _mm512_maskz_inserti64x4(0xFF, _mm512_setzero_si512(), _mm256_slli_epi32(offset, 5), 0));
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d_x * _cvtsh_ss(b.d)), _mm512_cvtepi32_ps(total), acc);
}

// Rows [r0, r1) of Y = q8_K(X)·Wᵀ, W Q6_K, for the T rows of A.
LLAMAREF_AVX512VNNI inline void rows_q6_K(const TensorView& W, const Q8KActivations& A, float* Y, std::size_t T, std::size_t r0,
                                          std::size_t r1) {
    const std::size_t n = A.blocks, out = W.rows(), row_bytes = W.row_bytes(), size = W.nbytes();
    for (std::size_t r = r0; r < r1; ++r) {
        const auto* row = reinterpret_cast<const BlockQ6_K*>(W.data + r * row_bytes);
        avx2::touch_pages(W.data, size, r * row_bytes + avx2::kTouchAhead, (r + 1) * row_bytes + avx2::kTouchAhead);
        for (std::size_t t = 0; t < T; ++t) {
            const char* ahead = reinterpret_cast<const char*>(row) + avx2::kDecodeAhead;
            __m512 acc = _mm512_setzero_ps();
            for (std::size_t b = 0; b < n; ++b, ahead += sizeof(BlockQ6_K)) {
                if (t == 0)
#pragma GCC unroll 4
                    for (std::size_t o = 0; o < sizeof(BlockQ6_K); o += 64) _mm_prefetch(ahead + o, _MM_HINT_T0);
                q6_K_block(row[b], &A.q[(t * n + b) * 256], &A.sums[(t * n + b) * 16], A.d[t * n + b], acc);
            }
            Y[t * out + r] = avx2::hsum(_mm512_extractf32x8_ps(acc, 0)) + avx2::hsum(_mm512_extractf32x8_ps(acc, 1));
        }
    }
}

}  // namespace avx512vnni
#endif

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
inline bool has_int8_dot(DType t) {
    return (is_int8_legacy(t) || t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K) && has_int8_dot();
}

// Y = round(X) · Wᵀ with X rounded as llama.cpp rounds it for W's type (Q8_0, Q4_0, Q5_0, IQ4_NL →
// Q8_0 blocks, Q4_1, Q5_1 → Q8_1, Q4_K, Q5_K and Q6_K → Q8_K blocks; the specification:
// core/ops.hpp's matmul of round_activations_like_llamacpp(X), plus llamacpp_q8_1_correction), with
// the integer dot products; call only where has_int8_dot(W.dtype). Meant for decode:
// it reads each weight row once for all T tokens, without the prefill's blocking.
//   W: [out, in] of a type above   X: [T, in] float32   Y: [T, out]
inline void matmul_int8_rounded(const TensorView& W, const float* X, float* Y, std::size_t T) {
#if LLAMAREF_HAVE_AVX2_KERNELS
    if (!has_int8_dot(W.dtype)) fail("matmul_int8_rounded: no int8 kernel for ", dtype_name(W.dtype), " weights, or a CPU without AVX512_VNNI");
    if (is_int8_legacy(W.dtype)) {
        avx512vnni::matmul_int8_legacy(W, X, Y, T);
    } else {
        thread_local Q8KActivations acts;
        acts.prepare(X, T, W.cols(), W.dtype);
        const Q8KActivations* A = &acts;
        parallel_for_chunks(W.rows(), 64, [&](std::size_t r0, std::size_t r1) {
            if (W.dtype == DType::Q4_K) avx512vnni::rows_q45_K<BlockQ4_K>(W, *A, Y, T, r0, r1);
            else if (W.dtype == DType::Q5_K) avx512vnni::rows_q45_K<BlockQ5_K>(W, *A, Y, T, r0, r1);
            else avx512vnni::rows_q6_K(W, *A, Y, T, r0, r1);
        });
    }
#else
    (void)W, (void)X, (void)Y, (void)T;
    fail("matmul_int8_rounded: needs an x86 CPU with AVX512_VNNI");
#endif
}

}  // namespace llamaref::cpu
