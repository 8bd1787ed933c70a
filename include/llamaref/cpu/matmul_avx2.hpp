// llamaref/cpu/matmul_avx2.hpp — the AVX2 kernels of the fast Y = X·Wᵀ (decode and prefill).
//
// Part of cpu/matmul.hpp, which includes it after the constants (kKBlock, kPanelRows) and the
// portable kernel whose order of additions these kernels keep; read that file's opening first.
// Compiled whatever the build flags (LLAMAREF_AVX2, cpu/simd.hpp), run when the CPU has AVX2.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../core/ops.hpp"
#include "dequantize.hpp"
#include "simd.hpp"

namespace llamaref::cpu {

#if LLAMAREF_HAVE_AVX2_KERNELS
namespace avx2 {

// ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)), as in dot_blocked.
LLAMAREF_AVX2 inline float hsum(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // l0+l4 ..
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));                                  // s0+s2, s1+s3
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

// Loaders: 8 stored weights from column k of a row, as float32 (exactly core/dtype.hpp's values).
struct LoadF32 {
    static constexpr std::size_t kWidth = 4;  // bytes per weight
    LLAMAREF_AVX2 static __m256 load(const std::byte* row, std::size_t k) {
        return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k);
    }
};
struct LoadBF16 {  // the top 16 bits of a float32: shift left
    static constexpr std::size_t kWidth = 2;
    LLAMAREF_AVX2 static __m256 load(const std::byte* row, std::size_t k) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * k));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
};
struct LoadF16 {  // F16C converts exactly, subnormals included
    static constexpr std::size_t kWidth = 2;
    LLAMAREF_AVX2 static __m256 load(const std::byte* row, std::size_t k) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * k)));
    }
};

// The block formats (Q8_0, Q4_0 … IQ4_XS) are read by the readers of cpu/dequantize.hpp: a block's
// scales converted once, then eight weights at a time. (kKBlock = 256 is a whole number of blocks
// of every format, so a column block never splits a quantization block.)
template <class L>
concept BlockFormat = requires {
    L::kValues;
};

// One block of columns [k0, k1) (k1 − k0 a multiple of 8) for RM tokens × RN weight rows:
// s[i][j] += hsum(lanes of x_i · w_j). Weight column k is read at w[j] + (k − w_k0).
template <class L, int RM, int RN>
LLAMAREF_AVX2 inline void tile(const std::byte* const* w, std::size_t w_k0, const float* const* x, std::size_t k0,
                               std::size_t k1, float (&s)[RM][RN]) {
    __m256 acc[RM][RN];
#pragma GCC unroll 4
    for (int i = 0; i < RM; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < RN; ++j) acc[i][j] = _mm256_setzero_ps();
    if constexpr (BlockFormat<L>) {
        // The same products, a block at a time: each row's block scales converted once.
        for (std::size_t k = k0; k < k1; k += L::kValues) {
            L block[RN];
#pragma GCC unroll 4
            for (int j = 0; j < RN; ++j) block[j].start(w[j] + (k - w_k0) / L::kValues * L::kBytes);
#pragma GCC unroll 8
            for (int sub = 0; sub < int(L::kValues / 32); ++sub)
#pragma GCC unroll 4
                for (int g = 0; g < 4; ++g) {
                    __m256 wv[RN];
#pragma GCC unroll 4
                    for (int j = 0; j < RN; ++j) wv[j] = block[j].group(sub, g);
#pragma GCC unroll 4
                    for (int i = 0; i < RM; ++i) {
                        const __m256 xv = _mm256_loadu_ps(x[i] + k + 32 * sub + 8 * g);
#pragma GCC unroll 4
                        for (int j = 0; j < RN; ++j) acc[i][j] = _mm256_fmadd_ps(wv[j], xv, acc[i][j]);
                    }
                }
        }
    } else {
        for (std::size_t k = k0; k < k1; k += 8) {
            __m256 wv[RN];
#pragma GCC unroll 4
            for (int j = 0; j < RN; ++j) wv[j] = L::load(w[j], k - w_k0);
#pragma GCC unroll 4
            for (int i = 0; i < RM; ++i) {
                const __m256 xv = _mm256_loadu_ps(x[i] + k);
#pragma GCC unroll 4
                for (int j = 0; j < RN; ++j) acc[i][j] = _mm256_fmadd_ps(wv[j], xv, acc[i][j]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < RM; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < RN; ++j) s[i][j] += hsum(acc[i][j]);
}

// The last in % 8 columns of one output, after its blocks.
inline float tail(const TensorView& W, std::size_t r, const float* x, std::size_t n8, std::size_t n, float y) {
    if (n8 == n) return y;
    float w[8];
    to_f32(W.dtype, W.row(r) + dtype_bytes(W.dtype, n8), w, n - n8);  // F32/F16/BF16 only: blocks have n8 == n
    for (std::size_t k = n8; k < n; ++k) y = std::fma(w[k - n8], x[k], y);
    return y;
}

// Decode reads every weight once per token, so it runs at the speed one core streams the matrix
// from memory — and memory keeps up with one forward stream far better than with several
// interleaved ones. Measured on a Zen 5 core (bench_kernels 16384 4096, BF16): a plain read of
// the matrix 33 GB/s; the former kernel, four rows at a time (four streams), 20 GB/s; one row at
// a time, front to back, with the bytes asked for kDecodeAhead ahead, 30–33 GB/s. So decode
// reads one row at a time. It still needs several independent chains of FMAs (one chain, an FMA
// waiting on the previous one, is too slow): a row's column blocks are independent sums until
// they are added in order, so NB blocks of the row are computed together — as many as fit in
// 1 KiB of storage, at most 4 (F32: 1, BF16/F16: 2, block formats: 4). Wider groups read the row
// as NB streams a block apart again, which F32 (1 KiB blocks) measurably dislikes.
constexpr std::size_t kDecodeAhead = 4096;  // bytes: prefetch distance, one request per 64 bytes read

// On a virtual machine, pages the host has not seen touched for a while (a model file's pages,
// long in the page cache) can read at half speed or worse while the guest counts no fault. Our
// reading of it: the host has unmapped them, the first access to each 4 KiB page traps to the
// host, and a software prefetch that meets such a page is dropped — so the prefetches above
// fetch nothing there and the row's loads wait, page after page. One real load per page,
// kTouchAhead bytes ahead of the row being read, takes the trap early, and the prefetches work.
// Measured on a Zen 5 VM, TinyLlama BF16 file mapped 40 minutes after it was written, 1 thread,
// alternating: decode 6.55 / 3.53 / 5.32 tok/s without, 7.80 / 7.87 / 6.81 with (llama.cpp
// 8.83 / 8.59 / 6.91); read into memory (--no-mmap) 9.77 / 9.53 without, 13.77 / 13.23 with.
// The touch itself must not miss the cache: a load that waits for memory holds up every
// instruction after it (they cannot retire before it), and a kernel with many instructions per
// byte (Q8_0) then stalls once per page. So each page's first line is prefetched kTouchAhead
// earlier still, and the touch finds it in cache (where the host has the page mapped; where it
// has not, the prefetch is dropped and the touch takes the trap, as it should). Measured alone
// (W [16384, 4096], 1 thread, medians of 9, three alternating rounds), GB/s: Q8_0 9.8 / 9.9 / 8.6
// with a bare touch, 14.2 / 14.7 / 19.8 with none, 20.5 / 20.0 / 14.2 with the prefetch before
// it; BF16 29.9 / 30.3, 22.0 / 23.2, 32.4 / 33.6.
constexpr std::size_t kTouchAhead = 8192;

// Touches the first byte of every 4 KiB page (of the address space) that starts in bytes
// [from, to) of data, and prefetches the first line of the page kTouchAhead further on; nothing
// at or past size (the tensor's end) is read. Consecutive ranges touch each page once.
inline void touch_pages(const std::byte* data, std::size_t size, std::size_t from, std::size_t to) {
    const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(data), end = base + std::min(to, size);
    for (std::uintptr_t p = (base + from + 4095) & ~std::uintptr_t(4095); p < end; p += 4096) {
        if (p + kTouchAhead < base + size) _mm_prefetch(reinterpret_cast<const char*>(p + kTouchAhead), _MM_HINT_T0);
        const unsigned char b = *reinterpret_cast<const volatile unsigned char*>(p);
        asm volatile("" : : "r"(b));
    }
}

// Bytes stored for kKBlock columns, and the blocks of one row decode computes together.
template <class L>
constexpr std::size_t block_storage() {
    if constexpr (BlockFormat<L>)
        return kKBlock / L::kValues * L::kBytes;
    else
        return kKBlock * L::kWidth;
}
template <class L>
constexpr int kDecodeBlocks = int(std::clamp<std::size_t>(1024 / block_storage<L>(), 1, 4));

// NB whole column blocks of one row, columns [k0, k0 + NB·kKBlock), for RM tokens: s[i] gets the
// NB block sums added in column order. `ahead` is the storage kDecodeAhead past column k0.
template <class L, int RM, int NB>
LLAMAREF_AVX2 inline void block_group(const std::byte* row, const float* const* x, std::size_t k0, float (&s)[RM],
                                      const char* ahead) {
    __m256 acc[RM][NB];
#pragma GCC unroll 4
    for (int i = 0; i < RM; ++i)
#pragma GCC unroll 4
        for (int h = 0; h < NB; ++h) acc[i][h] = _mm256_setzero_ps();
    if constexpr (BlockFormat<L>) {
        for (std::size_t k = k0; k < k0 + kKBlock; k += L::kValues) {
            L block[NB];
#pragma GCC unroll 4
            for (int h = 0; h < NB; ++h) block[h].start(row + (k + h * kKBlock) / L::kValues * L::kBytes);
            const char* a = ahead + NB * (k - k0) / L::kValues * L::kBytes;  // as many bytes as this step reads
#pragma GCC unroll 8
            for (std::size_t b = 0; NB > 1 && b < NB * L::kBytes; b += 64) _mm_prefetch(a + b, _MM_HINT_T0);
#pragma GCC unroll 8
            for (int sub = 0; sub < int(L::kValues / 32); ++sub)
#pragma GCC unroll 4
                for (int g = 0; g < 4; ++g) {
                    __m256 wv[NB];
#pragma GCC unroll 4
                    for (int h = 0; h < NB; ++h) wv[h] = block[h].group(sub, g);
                    const std::size_t c = k + 32 * sub + 8 * g;
#pragma GCC unroll 4
                    for (int i = 0; i < RM; ++i)
#pragma GCC unroll 4
                        for (int h = 0; h < NB; ++h)
                            acc[i][h] = _mm256_fmadd_ps(wv[h], _mm256_loadu_ps(x[i] + c + h * kKBlock), acc[i][h]);
                }
        }
    } else {
        constexpr std::size_t step_bytes = 8 * NB * L::kWidth;  // 8 weights of each block
        for (std::size_t k = k0; k < k0 + kKBlock; k += 8) {
            const std::size_t done = (k - k0) / 8 * step_bytes;
            if (NB > 1 && done % 64 == 0)
#pragma GCC unroll 2
                for (std::size_t b = 0; b < step_bytes; b += 64) _mm_prefetch(ahead + done + b, _MM_HINT_T0);
            __m256 wv[NB];
#pragma GCC unroll 4
            for (int h = 0; h < NB; ++h) wv[h] = L::load(row, k + h * kKBlock);
#pragma GCC unroll 4
            for (int i = 0; i < RM; ++i)
#pragma GCC unroll 4
                for (int h = 0; h < NB; ++h)
                    acc[i][h] = _mm256_fmadd_ps(wv[h], _mm256_loadu_ps(x[i] + k + h * kKBlock), acc[i][h]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < RM; ++i)
#pragma GCC unroll 4
        for (int h = 0; h < NB; ++h) s[i] += hsum(acc[i][h]);
}

// The end of decode row r from column k0 on: the whole blocks left one at a time (the last may be
// short), then the columns past n8; Y[i][r] gets s[i] plus those sums, for RM tokens.
template <class L, int RM>
LLAMAREF_AVX2 inline void finish_row(const TensorView& W, std::size_t r, const float* const* x, std::size_t k0,
                                     const float (&s)[RM], float* Y) {
    const std::size_t in = W.cols(), n8 = in / 8 * 8;
    const std::byte* row = W.row(r);
    float s1[RM][1];
    for (int i = 0; i < RM; ++i) s1[i][0] = s[i];
    for (; k0 < n8; k0 += kKBlock) tile<L, RM, 1>(&row, 0, x, k0, std::min(n8, k0 + kKBlock), s1);
    for (int i = 0; i < RM; ++i) Y[i * W.rows() + r] = tail(W, r, x[i], n8, in, s1[i][0]);
}

// Decode: T = RM ≤ 3 tokens, rows [r0, r1), each row read front to back from storage.
template <class L, int RM>
LLAMAREF_AVX2 void decode_rows(const TensorView& W, const float* X, float* Y, std::size_t r0, std::size_t r1) {
    constexpr int NB = kDecodeBlocks<L>;
    const std::size_t in = W.cols(), n8 = in / 8 * 8;
    const float* x[RM];
    for (int i = 0; i < RM; ++i) x[i] = X + i * in;
    const std::size_t row_bytes = W.row_bytes(), size = W.nbytes();
    for (std::size_t r = r0; r < r1; ++r) {
        const std::byte* row = W.row(r);
        touch_pages(W.data, size, r * row_bytes + kTouchAhead, (r + 1) * row_bytes + kTouchAhead);
        // Prefetches past the row's end fetch the next row's start (they never fault).
        const char* ahead = reinterpret_cast<const char*>(row) + kDecodeAhead;
        float s[RM] = {};
        std::size_t k0 = 0;
        for (; k0 + NB * kKBlock <= n8; k0 += NB * kKBlock)
            block_group<L, RM, NB>(row, x, k0, s, ahead + k0 / kKBlock * block_storage<L>());
        finish_row<L, RM>(W, r, x, k0, s, Y);
    }
}

// Prefill: tokens in tiles of 4, rows in tiles of 3, over one block of columns. The weights are
// float32 in `panel` (row j at panel + j·kKBlock, column k at k − k0).
template <int RM, int RN>
LLAMAREF_AVX2 void panel_tile(const float* panel, std::size_t j, const float* X, std::size_t in, std::size_t t,
                              std::size_t k0, std::size_t k1, float* Y, std::size_t out, std::size_t r) {
    const std::byte* w[RN];
    const float* x[RM];
    for (int c = 0; c < RN; ++c) w[c] = reinterpret_cast<const std::byte*>(panel + (j + c) * kKBlock);
    for (int i = 0; i < RM; ++i) x[i] = X + (t + i) * in;
    float s[RM][RN];
    for (int i = 0; i < RM; ++i)
        for (int c = 0; c < RN; ++c) s[i][c] = Y[(t + i) * out + r + c];
    tile<LoadF32, RM, RN>(w, k0, x, k0, k1, s);
    for (int i = 0; i < RM; ++i)
        for (int c = 0; c < RN; ++c) Y[(t + i) * out + r + c] = s[i][c];
}

template <int RM>
LLAMAREF_AVX2 void panel_rows(const float* panel, std::size_t nrows, const float* X, std::size_t in, std::size_t t,
                              std::size_t k0, std::size_t k1, float* Y, std::size_t out, std::size_t r) {
    std::size_t j = 0;
    for (; j + 3 <= nrows; j += 3) panel_tile<RM, 3>(panel, j, X, in, t, k0, k1, Y, out, r + j);
    for (; j < nrows; ++j) panel_tile<RM, 1>(panel, j, X, in, t, k0, k1, Y, out, r + j);
}

// The stored bytes of a weight panel (rows [r, r + nrows), columns [k0, k1)), prefetched into
// L2 in `tiles` portions: portion i is the i-th of `tiles` equal shares of its cache lines.
struct NextPanel {
    const TensorView& W;
    std::size_t r, offset = 0, per_row = 1, lines = 0, share = 0;
    NextPanel(const TensorView& w, std::size_t row, std::size_t nrows, std::size_t k0, std::size_t k1,
              std::size_t tiles)
        : W(w), r(row) {
        if (k1 <= k0 || nrows == 0) return;
        offset = dtype_bytes(W.dtype, k0);
        per_row = (dtype_bytes(W.dtype, k1) - offset + 63) / 64;
        lines = nrows * per_row;
        share = (lines + tiles - 1) / tiles;
    }
    // Prefetches the lines of tile i's share: lines are numbered row by row, per_row to a row.
    // One division per call, none per line: a 64-bit division per line (~40 cycles) cost a
    // quarter of stories110M's F32 prefill. Into L2, not L1: the panel in use (48 KiB of float32)
    // already fills a Zen 5 L1 (48 KiB) and spills into L2, and the next panel's bytes in L1 pushed
    // out the part of it still there. W [5632, 2048], T = 128, 1 thread, AVX-512, GFLOP/s, six
    // alternating runs: F32 119.7–123.8 → 123.5–146.7, Q8_0 143.4 / 145.0 → 154.9 / 155.3, BF16
    // 151 / 154 → 156 / 156; AVX2 F32 unchanged (64–67).
    LLAMAREF_AVX2 void prefetch(std::size_t i) const {
        const std::size_t first = i * share, end = std::min(lines, first + share);
        if (first >= end) return;
        std::size_t n = first, line = first % per_row;
        for (std::size_t row = r + first / per_row; n < end; ++row, line = 0) {
            const char* at = reinterpret_cast<const char*>(W.row(row) + offset);
            for (; line < per_row && n < end; ++line, ++n) _mm_prefetch(at + 64 * line, _MM_HINT_T1);
        }
    }
};

template <class L>
LLAMAREF_AVX2 void prefill_rows(const TensorView& W, const float* X, float* Y, std::size_t T, std::size_t r0,
                                std::size_t r1) {
    const std::size_t in = W.cols(), out = W.rows(), n8 = in / 8 * 8;
    thread_local std::vector<float> panel_buffer;
    panel_buffer.resize(kPanelRows * kKBlock);
    float* panel = panel_buffer.data();
    for (std::size_t t = 0; t < T; ++t) std::fill(Y + t * out + r0, Y + t * out + r1, 0.0f);
    for (std::size_t k0 = 0; k0 < n8; k0 += kKBlock) {
        const std::size_t k1 = std::min(n8, k0 + kKBlock);
        for (std::size_t p = r0; p < r1; p += kPanelRows) {
            const std::size_t nrows = std::min(kPanelRows, r1 - p);
            for (std::size_t j = 0; j < nrows; ++j) {  // convert the panel's weights once
                if constexpr (BlockFormat<L>)
                    dequantize_row<L>(W.row(p + j) + dtype_bytes(W.dtype, k0), panel + j * kKBlock, k1 - k0);
                else
                    for (std::size_t k = k0; k < k1; k += 8)
                        _mm256_storeu_ps(panel + j * kKBlock + (k - k0), L::load(W.row(p + j), k));
            }
            // While this panel's tiles run, the next panel's stored weights (the next rows, or the
            // next column block's first rows) are prefetched a few cache lines per token tile:
            // its rows lie a whole row apart, pieces too short for the hardware prefetchers, and
            // converting them without this waits on memory (measured: a quarter of the time).
            const bool more_rows = p + kPanelRows < r1;
            const std::size_t next_r = more_rows ? p + kPanelRows : r0, next_k0 = more_rows ? k0 : k1;
            const NextPanel next(W, next_r, std::min(kPanelRows, r1 - next_r), next_k0, std::min(n8, next_k0 + kKBlock),
                                 (T + 3) / 4);
            std::size_t t = 0, tile_index = 0;
            for (; t + 4 <= T; t += 4, ++tile_index) {
                next.prefetch(tile_index);
                panel_rows<4>(panel, nrows, X, in, t, k0, k1, Y, out, p);
            }
            if (t < T) next.prefetch(tile_index);
            for (; t < T; ++t) panel_rows<1>(panel, nrows, X, in, t, k0, k1, Y, out, p);
        }
    }
    if (n8 != in)
        for (std::size_t t = 0; t < T; ++t)
            for (std::size_t r = r0; r < r1; ++r) Y[t * out + r] = tail(W, r, X + t * in, n8, in, Y[t * out + r]);
}

// Rows are handed to the threads in chunks on demand (parallel_for_chunks): 64 rows for decode,
// two panels for prefill. Every row is computed the same way whichever chunk it falls in.
template <class L>
void matmul_as(const TensorView& W, const float* X, float* Y, std::size_t T) {
    parallel_for_chunks(W.rows(), T <= 3 ? 64 : 2 * kPanelRows, [&](std::size_t r0, std::size_t r1) {
        switch (T) {
            case 1: decode_rows<L, 1>(W, X, Y, r0, r1); break;
            case 2: decode_rows<L, 2>(W, X, Y, r0, r1); break;
            case 3: decode_rows<L, 3>(W, X, Y, r0, r1); break;
            default: prefill_rows<L>(W, X, Y, T, r0, r1);
        }
    });
}

// Calls f(Loader{}) with the loader or reader of W's dtype (the AVX-512 kernels use the same ones).
template <class F>
decltype(auto) with_reader(DType dtype, F&& f) {
    switch (dtype) {
        case DType::F32: return f(LoadF32{});
        case DType::BF16: return f(LoadBF16{});
        case DType::F16: return f(LoadF16{});
        case DType::Q8_0: return f(ReadQ8_0{});
        case DType::Q4_0: return f(ReadQ4_0{});
        case DType::Q4_1: return f(ReadQ4_1{});
        case DType::Q5_0: return f(ReadQ5_0{});
        case DType::Q5_1: return f(ReadQ5_1{});
        case DType::Q2_K: return f(ReadQ2_K{});
        case DType::Q3_K: return f(ReadQ3_K{});
        case DType::Q4_K: return f(ReadQ4_K{});
        case DType::Q5_K: return f(ReadQ5_K{});
        case DType::Q6_K: return f(ReadQ6_K{});
        case DType::IQ4_NL: return f(ReadIQ4_NL{});
        case DType::IQ4_XS: return f(ReadIQ4_XS{});
    }
    return f(LoadF32{});  // not reached: every dtype is listed
}

inline void matmul(const TensorView& W, const float* X, float* Y, std::size_t T) {
    with_reader(W.dtype, [&](auto reader) { matmul_as<decltype(reader)>(W, X, Y, T); });
}

}  // namespace avx2
#endif

}  // namespace llamaref::cpu
