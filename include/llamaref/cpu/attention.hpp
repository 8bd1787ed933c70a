// llamaref/cpu/attention.hpp — fast causal grouped-query attention: blocks of keys, online softmax.
//
// Specification: llamaref::attention in model/attention.hpp (softmax(q·kᵀ/√Dh)·v per head, causal,
// query head h reading KV head h / n_rep). Same arguments except the probabilities (a trace asks
// the reference for them).
//
// The reference holds one row of S scores per query; a 32K-token prompt at once would need a
// [T, S] matrix per head. Here no score matrix exists (Milakov & Gimelshein 2018, "Online
// normalizer calculation for softmax"; Dao et al. 2022, FlashAttention, Algorithm 1): keys are
// visited in blocks of kKeyBlock, and each query row keeps only
//
//   m  the largest score so far          l  Σ exp(score − m) so far          o  Σ exp(score − m)·v
//
// A new block with scores s_j:  m' = max(m, max_j s_j),  α = exp(m − m'),
//                               l ← α·l + Σ_j exp(s_j − m'),   o ← α·o + Σ_j exp(s_j − m')·v_j
// and at the end out = o / l — exactly softmax(s)·V, only rescaled as the maximum grows.
//
// Work: one task = one KV head × a block of kQueryBlock tokens, i.e. n_rep·kQueryBlock query rows
// that share each key/value block while it is in L1 (GQA's saving in reads). The cache keeps a
// head's positions contiguous ([KV, slots, Dh], model/kv_cache.hpp), so a block is one stream
// from memory, read in place from a float32 cache and widened into an L1 buffer from a 16-bit
// one (half the bytes: decode at long context is bound by reading the cache). Memory per
// thread: a key/value block, its scores and the rows' o, m, l — O(block), whatever the context.
//
// Arithmetic: the same in the portable and AVX2 kernels (tests compare them bit for bit), and
// for a query row it does not depend on how the tokens were split into calls: key blocks start
// at multiples of kKeyBlock, so prefill and token-by-token decode give identical outputs.
// exp is exp_poly (cpu/exp.hpp; within 3e-7 relative on the arguments ≤ 0 that softmax gives it).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/parallel.hpp"
#include "../model/attention.hpp"
#include "../model/kv_cache.hpp"
#include "exp.hpp"
#include "matmul.hpp"
#include "simd.hpp"

namespace llamaref::cpu {

constexpr int kKeyBlock = 64;    // keys per block: 64 scores, 64·Dh floats of K and of V
constexpr int kQueryBlock = 16;  // tokens per task (× n_rep query heads)

namespace portable {
// s[j] = (q · k_j) · scale for n keys, k_j at k + j·stride.
inline void scores(const float* q, const float* k, std::size_t stride, int n, int Dh, float scale, float* s) {
    for (int j = 0; j < n; ++j) s[j] = dot_blocked(k + j * stride, q, Dh) * scale;
}
// p[j] = exp(p[j] − m); returns Σ p[j] (in order).
inline float exp_shifted(float* p, int n, float m) {
    float sum = 0.0f;
    for (int j = 0; j < n; ++j) sum += (p[j] = exp_poly(p[j] - m));
    return sum;
}
// o = α·o + Σ_j p[j]·v_j.   o: [Dh]
inline void accumulate(float* o, float alpha, const float* p, const float* v, std::size_t stride, int n, int Dh) {
    for (int d = 0; d < Dh; ++d) o[d] *= alpha;
    for (int j = 0; j < n; ++j)
        for (int d = 0; d < Dh; ++d) o[d] = std::fma(p[j], v[j * stride + d], o[d]);
}
}  // namespace portable

#if LLAMAREF_HAVE_AVX2_KERNELS
namespace avx2 {
LLAMAREF_AVX2 inline float dot(const float* w, const float* x, int n) {  // = dot_blocked
    const int n8 = n / 8 * 8;
    float y = 0.0f;
    for (int k0 = 0; k0 < n8; k0 += int(kKBlock)) {
        __m256 acc = _mm256_setzero_ps();
        for (int k = k0; k < std::min(n8, k0 + int(kKBlock)); k += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), acc);
        y += hsum(acc);
    }
    for (int k = n8; k < n; ++k) y = std::fma(w[k], x[k], y);
    return y;
}

// Four keys at a time (four independent FMA chains), each exactly dot_blocked.
LLAMAREF_AVX2 inline void scores(const float* q, const float* k, std::size_t stride, int n, int Dh, float scale,
                                 float* s) {
    const int d8 = Dh / 8 * 8;
    int j = 0;
    for (; j + 4 <= n; j += 4) {
        float y[4] = {0, 0, 0, 0};
        for (int k0 = 0; k0 < d8; k0 += int(kKBlock)) {
            __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            for (int d = k0; d < std::min(d8, k0 + int(kKBlock)); d += 8) {
                const __m256 qv = _mm256_loadu_ps(q + d);
                for (int i = 0; i < 4; ++i)
                    acc[i] = _mm256_fmadd_ps(_mm256_loadu_ps(k + (j + i) * stride + d), qv, acc[i]);
            }
            for (int i = 0; i < 4; ++i) y[i] += hsum(acc[i]);
        }
        for (int i = 0; i < 4; ++i) {
            for (int d = d8; d < Dh; ++d) y[i] = std::fma(k[(j + i) * stride + d], q[d], y[i]);
            s[j + i] = y[i] * scale;
        }
    }
    for (; j < n; ++j) s[j] = dot(k + j * stride, q, Dh) * scale;
}

LLAMAREF_AVX2 inline float exp_shifted(float* p, int n, float m) {
    int j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(p + j, exp_poly8(_mm256_sub_ps(_mm256_loadu_ps(p + j), _mm256_set1_ps(m))));
    for (; j < n; ++j) p[j] = exp_poly(p[j] - m);
    float sum = 0.0f;
    for (j = 0; j < n; ++j) sum += p[j];
    return sum;
}

// o = α·o + Σ_j p[j]·v_j, 8 vectors of o at a time (eight independent FMA chains over j).
template <int NV>
LLAMAREF_AVX2 inline void accumulate_part(float* o, float alpha, const float* p, const float* v, std::size_t stride,
                                          int n) {
    __m256 acc[NV];
    for (int i = 0; i < NV; ++i) acc[i] = _mm256_mul_ps(_mm256_loadu_ps(o + 8 * i), _mm256_set1_ps(alpha));
    for (int j = 0; j < n; ++j) {
        const __m256 pj = _mm256_set1_ps(p[j]);
        for (int i = 0; i < NV; ++i) acc[i] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + j * stride + 8 * i), acc[i]);
    }
    for (int i = 0; i < NV; ++i) _mm256_storeu_ps(o + 8 * i, acc[i]);
}

LLAMAREF_AVX2 inline void accumulate(float* o, float alpha, const float* p, const float* v, std::size_t stride, int n,
                                     int Dh) {
    const int d8 = Dh / 8 * 8;
    int d = 0;
    for (; d + 64 <= d8; d += 64) accumulate_part<8>(o + d, alpha, p, v + d, stride, n);
    for (; d < d8; d += 8) accumulate_part<1>(o + d, alpha, p, v + d, stride, n);
    for (; d < Dh; ++d) {
        float acc = o[d] * alpha;
        for (int j = 0; j < n; ++j) acc = std::fma(p[j], v[j * stride + d], acc);
        o[d] = acc;
    }
}
// n stored 16-bit keys or values to float32 (F16C for F16, a shift for BF16: exact, as to_f32).
LLAMAREF_AVX2 inline void widen(DType t, const std::byte* src, float* dst, int n) {
    const auto* h = reinterpret_cast<const uint16_t*>(src);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i));
        _mm256_storeu_ps(dst + i, t == DType::F16
                                      ? _mm256_cvtph_ps(x)
                                      : _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(x), 16)));
    }
    if (i < n) to_f32(t, h + i, dst + i, std::size_t(n - i));
}
}  // namespace avx2
#endif

// The keys (or values) of KV head g at positions lo .. lo+n−1 as float32 rows Dh apart: a
// pointer to where they are stored when they lie there so (a float32 cache in one run), else
// widened or copied into buf [n, Dh] run by run (KVSpan::run: a rolling buffer's wrap, the
// cache/fresh boundary).
inline const float* gather(const KVSpan& kv, bool keys, int g, int lo, int n, int Dh, bool simd, float* buf) {
    const KVSpan::Rows first = keys ? kv.keys(lo, g) : kv.values(lo, g);
    if (first.type == DType::F32 && first.stride == std::size_t(Dh) * 4 && kv.run(lo, n) == n)
        return reinterpret_cast<const float*>(first.data);
    for (int j = 0; j < n;) {
        const int r = kv.run(lo + j, n - j);
        const KVSpan::Rows rows = keys ? kv.keys(lo + j, g) : kv.values(lo + j, g);
        for (int i = 0; i < r; ++i) {
            const std::byte* src = rows.data + std::size_t(i) * rows.stride;
            float* dst = buf + std::size_t(j + i) * Dh;
#if LLAMAREF_HAVE_AVX2_KERNELS
            if (simd && rows.type != DType::F32)
                avx2::widen(rows.type, src, dst, Dh);
            else
#endif
                to_f32(rows.type, src, dst, std::size_t(Dh));
        }
        j += r;
    }
    (void)simd;
    return buf;
}

// q: [T, H, Dh] after RoPE;  kv: positions first_visible(start_pos) .. start_pos+T−1 (see
// llamaref::attention);  out: [T, H, Dh].
//
// The window, scale and soft-cap of AttentionOptions are the reference's: a row's keys are the
// positions first_visible(pos) .. pos, so a key block may hold fewer keys than kKeyBlock and need
// not start at its first one; a block that crosses a rolling buffer's wrap or the cache/fresh
// boundary is read in runs (KVSpan::run) with the same arithmetic per key and the same order.
// Soft-capping (Gemma 2) is c·tanh(s/c) with std::tanh on each score of the block.
inline void attention(const float* q, const KVSpan& kv, int start_pos, int T, const Heads& heads,
                      const AttentionOptions& opt, float* out) {
    const int n_heads = heads.n_heads, n_kv_heads = heads.n_kv_heads, n_rep = heads.n_rep(), Dh = heads.head_dim;
    const float scale = opt.scale > 0 ? opt.scale : 1.0f / std::sqrt(float(Dh));
    const int n_qblocks = (T + kQueryBlock - 1) / kQueryBlock;
#if LLAMAREF_HAVE_AVX2_KERNELS
    const bool simd = use_avx2();
#else
    const bool simd = false;
#endif
    parallel_for(
        std::size_t(n_kv_heads) * n_qblocks,
        [&](std::size_t b, std::size_t e) {
            thread_local std::vector<float> o, m, l, s, kbuf, vbuf;
            s.resize(kKeyBlock);
            kbuf.resize(std::size_t(kKeyBlock) * Dh);  // [kKeyBlock, Dh]
            vbuf.resize(std::size_t(kKeyBlock) * Dh);
            for (std::size_t task = b; task < e; ++task) {
                const int g = int(task / n_qblocks), t0 = int(task % n_qblocks) * kQueryBlock;
                const int t1 = std::min(T, t0 + kQueryBlock), rows = (t1 - t0) * n_rep;
                o.assign(std::size_t(rows) * Dh, 0.0f);
                m.assign(rows, -std::numeric_limits<float>::infinity());
                l.assign(rows, 0.0f);
                const int keys = start_pos + t1;  // the last token of the task sees keys .. keys−1
                const int first_key = first_visible(start_pos + t0, opt.window);
                for (int s0 = first_key / kKeyBlock * kKeyBlock; s0 < keys; s0 += kKeyBlock) {
                    // The block's keys and values that some row of the task sees: [blo, bhi), each
                    // read from memory once for all the task's rows.   K, V: [bhi − blo, Dh]
                    const int blo = std::max(s0, first_key), bhi = std::min(s0 + kKeyBlock, keys);
                    const float* K = gather(kv, true, g, blo, bhi - blo, Dh, simd, kbuf.data());
                    const float* V = gather(kv, false, g, blo, bhi - blo, Dh, simd, vbuf.data());
                    for (int row = 0; row < rows; ++row) {
                        const int t = t0 + row / n_rep, h = g * n_rep + row % n_rep;
                        const int lo = std::max(s0, first_visible(start_pos + t, opt.window));  // window
                        const int n = std::min(s0 + kKeyBlock, start_pos + t + 1) - lo;         // causal
                        if (n <= 0) continue;
                        const float* qv = q + (std::size_t(t) * n_heads + h) * Dh;
                        const float* Kr = K + std::size_t(lo - blo) * Dh;  // positions lo .. lo+n−1
                        const float* Vr = V + std::size_t(lo - blo) * Dh;
                        float* ov = o.data() + std::size_t(row) * Dh;
#if LLAMAREF_HAVE_AVX2_KERNELS
                        if (simd)
                            avx2::scores(qv, Kr, std::size_t(Dh), n, Dh, scale, s.data());
                        else
#endif
                            portable::scores(qv, Kr, std::size_t(Dh), n, Dh, scale, s.data());
                        if (opt.softcap > 0) softcap(s.data(), std::size_t(n), opt.softcap);
                        const float m_new = std::max(m[row], *std::max_element(s.data(), s.data() + n));
                        const float alpha = exp_poly(m[row] - m_new);
                        float sum;
#if LLAMAREF_HAVE_AVX2_KERNELS
                        if (simd)
                            sum = avx2::exp_shifted(s.data(), n, m_new);
                        else
#endif
                            sum = portable::exp_shifted(s.data(), n, m_new);
#if LLAMAREF_HAVE_AVX2_KERNELS  // o = α·o + Σ p_j·v_j
                        if (simd)
                            avx2::accumulate(ov, alpha, s.data(), Vr, std::size_t(Dh), n, Dh);
                        else
#endif
                            portable::accumulate(ov, alpha, s.data(), Vr, std::size_t(Dh), n, Dh);
                        l[row] = l[row] * alpha + sum;
                        m[row] = m_new;
                    }
                }
                for (int row = 0; row < rows; ++row) {
                    const int t = t0 + row / n_rep, h = g * n_rep + row % n_rep;
                    float* dst = out + (std::size_t(t) * n_heads + h) * Dh;
                    for (int d = 0; d < Dh; ++d) dst[d] = o[std::size_t(row) * Dh + d] / l[row];
                }
            }
        },
        1);
}

// Plain causal attention with every position 0 .. start_pos+T−1 already in the cache.
inline void attention(const float* q, const KVCache& cache, int layer, int start_pos, int T, const Heads& heads,
                      float* out) {
    cpu::attention(q, KVSpan{cache, layer, start_pos + T}, start_pos, T, heads, AttentionOptions{}, out);
}

}  // namespace llamaref::cpu
