// llamaref/cuda/attention.cuh — causal grouped-query attention over the KV cache, on the device.
//
// Vaswani et al. 2017 eq. 1 with a causal mask, per query head h reading KV head h / n_rep
// (GQA, Ainslie et al. 2023). CPU specification: model/attention.hpp, attention(): for the
// token at position p = start_pos + t,
//     out[t, h] = Σ_{f ≤ s ≤ p} softmax_s( cap( q[t, h] · K[s, h/n_rep] · scale ) ) · V[s, h/n_rep]
// with the switches of the family's peers in AttentionOptions, as on the CPU:
//   window W   f = first_visible(p, W) = max(0, p − W + 1) (Mistral; Gemma 2's local layers), else 0
//   scale      1/√Dh, or Gemma 2's 1/√query_pre_attn_scalar
//   softcap c  cap(x) = c·tanh(x / c) (Gemma 2, softcap.cuh), after the scale, before the mask
//
// Two kernels, one per phase, neither of which ever holds a whole row of scores:
//   * decode (T = 1): "flash decoding" (Dao et al. 2023). The S cached positions are cut into
//     splits of kDecodeSplit; one block per (head, split) computes its scores, their maximum m_j,
//     Σ e^(score − m_j) = l_j and the unnormalised Σ e^(score − m_j)·V; a second kernel merges
//     the splits:  M = max_j m_j,  out = Σ_j e^(m_j − M)·o_j / Σ_j e^(m_j − M)·l_j.
//     Long contexts thus spread over many blocks instead of one block per head.
//   * prefill (any T): FlashAttention's tiling with the online softmax (Dao et al. 2022, alg. 1;
//     Milakov & Gimelshein 2018). A block takes kQueryTile queries of one head, walks the keys
//     in tiles of kKeyTile staged in shared memory, and keeps per query a running maximum m,
//     a running sum l and an output accumulator, rescaled by e^(m_old − m_new) when m grows.
//
// KV cache layout (one layer): k_cache, v_cache [capacity, KV, Dh] float32, positions
// 0 .. start_pos+T−1 already written (the caller stores this call's keys and values first).
// The device keeps every position even for a windowed layer (no rolling buffer of W slots as
// model/kv_cache.hpp has): the window is a mask here, so its memory saving is the CPU path's only.
#pragma once

#include <cmath>

#include <llamaref/model/config.hpp>

#include "common.cuh"
#include "softcap.cuh"

namespace llamaref::cuda {

// model/attention.hpp's AttentionOptions, for the kernels (the soft-cap as the float32 the CPU
// computes with).
struct AttentionOptions {
    int window = 0;        // W: the W most recent positions, itself included (0: all earlier ones)
    float scale = 0.0f;    // factor of q·k (0: 1/√Dh)
    float softcap = 0.0f;  // c > 0: scores ← c·tanh(scores / c)
};

// The first position the query at position `pos` sees (model/attention.hpp, first_visible).
__host__ __device__ __forceinline__ int first_visible(int pos, int window) {
    return window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
}

constexpr int kDecodeSplit = 256;  // cached positions per decode block
constexpr int kQueryTile = 16;     // prefill: queries per block (4 per warp)
constexpr int kKeyTile = 32;       // prefill: keys per shared-memory tile (one per lane)
constexpr int kMaxHeadDim = 256;

// --- decode: one block per (head, split) ------------------------------------------------------

// q: [H, Dh]   partial_out: [H, n_splits, Dh]   partial_max, partial_sum: [H, n_splits]
// With a single split (S ≤ kDecodeSplit) there is nothing to merge: out [H, Dh] is written
// directly as o / l (what the merge would compute: e^0·o / (e^0·l)).
// S is the number of cached positions, or *pos + 1 when pos (device memory) is given: then the
// grid is sized for the cache's capacity (a CUDA graph replays it at every position), and a
// split past S leaves a neutral part (max −∞, sum 0, output 0) for the merge. So does a split
// wholly before the window (opt.window): the query sees positions first_visible(S − 1) .. S − 1.
// opt.scale is set (the entry points resolve 0 to 1/√Dh).
static __global__ void attention_decode_split_kernel(const float* q, const float* k_cache, const float* v_cache, int S,
                                                     const int* pos, int n_heads, int n_kv_heads, int head_dim,
                                                     AttentionOptions opt, float* partial_out, float* partial_max,
                                                     float* partial_sum, float* out) {
    extern __shared__ float smem[];
    float* qs = smem;                // [Dh]
    float* score = smem + head_dim;  // [kDecodeSplit]
    __shared__ float scratch[32];
    if (pos) S = *pos + 1;
    const int h = blockIdx.x, split = blockIdx.y, n_splits = gridDim.y;
    const int kvh = h / (n_heads / n_kv_heads);
    const int kv_dim = n_kv_heads * head_dim;
    // This split's visible positions s0 .. s1−1: within the split, the causal limit and the window.
    const int s0 = max(split * kDecodeSplit, first_visible(S - 1, opt.window));
    const int s1 = min(S, split * kDecodeSplit + kDecodeSplit);
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
    const std::size_t slot = std::size_t(h) * n_splits + split;
    if (s0 >= s1) {  // not yet cached (device position) or before the window: nothing visible here
        for (int d = threadIdx.x; d < head_dim; d += blockDim.x) partial_out[slot * head_dim + d] = 0.0f;
        if (threadIdx.x == 0) partial_max[slot] = -INFINITY, partial_sum[slot] = 0.0f;
        return;
    }

    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) qs[d] = q[std::size_t(h) * head_dim + d];
    __syncthreads();
    // Scores, one warp per cached position: cap(q · k_s · scale).
    for (int s = s0 + warp; s < s1; s += n_warps) {
        const float* k = k_cache + std::size_t(s) * kv_dim + kvh * head_dim;
        float dot = 0.0f;
        for (int d = lane; d < head_dim; d += 32) dot += qs[d] * k[d];
        dot = warp_sum(dot);
        if (lane == 0) score[s - s0] = opt.softcap > 0 ? softcapped(dot * opt.scale, opt.softcap) : dot * opt.scale;
    }
    __syncthreads();
    // This split's softmax statistics.
    float m = -INFINITY;
    for (int i = threadIdx.x; i < s1 - s0; i += blockDim.x) m = fmaxf(m, score[i]);
    m = block_max(m, scratch);
    float l = 0.0f;
    for (int i = threadIdx.x; i < s1 - s0; i += blockDim.x) {
        score[i] = expf(score[i] - m);
        l += score[i];
    }
    l = block_sum(l, scratch);  // also orders the writes to score before the reads below
    // Unnormalised output: Σ_s e^(score_s − m) · v_s, one thread per dimension.
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float o = 0.0f;
        for (int s = s0; s < s1; ++s) o += score[s - s0] * v_cache[std::size_t(s) * kv_dim + kvh * head_dim + d];
        if (n_splits == 1)
            out[std::size_t(h) * head_dim + d] = o / l;
        else
            partial_out[slot * head_dim + d] = o;
    }
    if (threadIdx.x == 0) {
        partial_max[slot] = m;
        partial_sum[slot] = l;
    }
}

// One block per head: merge the splits.   out: [H, Dh]
static __global__ void attention_decode_merge_kernel(const float* partial_out, const float* partial_max,
                                                     const float* partial_sum, int n_splits, int head_dim, float* out) {
    const int h = blockIdx.x;
    const float* pm = partial_max + std::size_t(h) * n_splits;
    const float* pl = partial_sum + std::size_t(h) * n_splits;
    float M = -INFINITY;
    for (int j = 0; j < n_splits; ++j) M = fmaxf(M, pm[j]);
    float L = 0.0f;  // a neutral part (max −∞) weighs e^−∞ = 0
    for (int j = 0; j < n_splits; ++j) L += expf(pm[j] - M) * pl[j];
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float o = 0.0f;
        for (int j = 0; j < n_splits; ++j)
            o += expf(pm[j] - M) * partial_out[(std::size_t(h) * n_splits + j) * head_dim + d];
        out[std::size_t(h) * head_dim + d] = o / L;
    }
}

// Scratch the decode kernel needs for S positions: floats for partial_out, max and sum.
inline std::size_t attention_decode_scratch(int n_heads, int head_dim, int S) {
    const std::size_t n_splits = (S + kDecodeSplit - 1) / kDecodeSplit;
    return std::size_t(n_heads) * n_splits * (head_dim + 2);
}

// --- prefill: tiled, causal, online softmax -----------------------------------------------------

// grid: (query tiles, H); 4 warps, each owning 4 of the tile's queries. With a window, the key
// tiles start at the one holding the tile's first query's first visible position.
static __global__ void attention_prefill_kernel(const float* q, const float* k_cache, const float* v_cache,
                                                int start_pos, int T, int n_heads, int n_kv_heads, int head_dim,
                                                AttentionOptions opt, float* out) {
    constexpr int kPerWarp = kQueryTile / 4, kSlots = kMaxHeadDim / 32;
    extern __shared__ float smem[];
    const int ks = head_dim + 1;                     // padded row: lanes read different banks
    float* q_tile = smem;                            // [kQueryTile, Dh]
    float* k_tile = q_tile + kQueryTile * head_dim;  // [kKeyTile, Dh + 1]
    float* v_tile = k_tile + kKeyTile * ks;          // [kKeyTile, Dh]
    const int h = blockIdx.y, q0 = blockIdx.x * kQueryTile;
    const int kvh = h / (n_heads / n_kv_heads), kv_dim = n_kv_heads * head_dim;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int S = start_pos + T;
    const int last_pos = start_pos + min(T, q0 + kQueryTile) - 1;  // the tile's latest query

    for (int i = threadIdx.x; i < kQueryTile * head_dim; i += blockDim.x) {
        const int t = q0 + i / head_dim;
        q_tile[i] = t < T ? q[(std::size_t(t) * n_heads + h) * head_dim + i % head_dim] : 0.0f;
    }
    float m[kPerWarp], l[kPerWarp], acc[kPerWarp][kSlots];
    for (int j = 0; j < kPerWarp; ++j) {
        m[j] = -INFINITY, l[j] = 0.0f;
        for (int i = 0; i < kSlots; ++i) acc[j][i] = 0.0f;
    }

    const int first_key = first_visible(start_pos + q0, opt.window) / kKeyTile * kKeyTile;
    for (int kt = first_key; kt <= last_pos; kt += kKeyTile) {
        __syncthreads();  // the previous tile is no longer read
        for (int i = threadIdx.x; i < kKeyTile * head_dim; i += blockDim.x) {
            const int s = kt + i / head_dim, d = i % head_dim;
            const bool ok = s < S;
            k_tile[(i / head_dim) * ks + d] = ok ? k_cache[std::size_t(s) * kv_dim + kvh * head_dim + d] : 0.0f;
            v_tile[i] = ok ? v_cache[std::size_t(s) * kv_dim + kvh * head_dim + d] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int j = 0; j < kPerWarp; ++j) {
            const int qi = warp * kPerWarp + j, t = q0 + qi;
            if (t >= T) continue;  // the same for the whole warp
            const int pos = start_pos + t, key = kt + lane;
            float score = -INFINITY;  // lane = one key of the tile
            if (key <= pos && key >= first_visible(pos, opt.window)) {
                float dot = 0.0f;
                for (int d = 0; d < head_dim; ++d) dot += q_tile[qi * head_dim + d] * k_tile[lane * ks + d];
                score = opt.softcap > 0 ? softcapped(dot * opt.scale, opt.softcap) : dot * opt.scale;
            }
            const float tile_max = warp_max(score);
            if (tile_max == -INFINITY) continue;  // every key of this tile is in the future
            const float m_new = fmaxf(m[j], tile_max);
            const float rescale = expf(m[j] - m_new);  // 0 on the first tile (m = −∞)
            const float p = score == -INFINITY ? 0.0f : expf(score - m_new);
            l[j] = l[j] * rescale + warp_sum(p);
            for (int i = 0; i < kSlots; ++i) acc[j][i] *= rescale;
            for (int k = 0; k < kKeyTile; ++k) {
                const float pk = __shfl_sync(0xffffffffu, p, k);
                if (pk == 0.0f) continue;  // the same for the whole warp
#pragma unroll
                for (int i = 0; i < kSlots; ++i) {
                    const int d = lane + 32 * i;
                    if (d < head_dim) acc[j][i] += pk * v_tile[k * head_dim + d];
                }
            }
            m[j] = m_new;
        }
    }
#pragma unroll
    for (int j = 0; j < kPerWarp; ++j) {
        const int t = q0 + warp * kPerWarp + j;
        if (t >= T) continue;
        for (int i = 0; i < kSlots; ++i) {
            const int d = lane + 32 * i;
            if (d < head_dim) out[(std::size_t(t) * n_heads + h) * head_dim + d] = acc[j][i] / l[j];
        }
    }
}

// --- the entry points ------------------------------------------------------------------------------

// opt with its scale resolved: 0 means 1/√Dh, as on the CPU.
inline AttentionOptions resolved(AttentionOptions opt, int head_dim) {
    if (!(opt.scale > 0)) opt.scale = 1.0f / std::sqrt(float(head_dim));
    return opt;
}

// Decode: one query per head against S cached positions — or, when pos (device memory) is
// given, against *pos + 1 of them with splits for S positions (S = the cache's capacity).
//   q, out: [H, Dh]   scratch: attention_decode_scratch(H, Dh, S) floats
inline void attention_decode(const float* q, const float* k_cache, const float* v_cache, int S, const int* pos,
                             int n_heads, int n_kv_heads, int head_dim, const AttentionOptions& opt, float* out,
                             float* scratch, cudaStream_t stream = 0) {
    if (head_dim > kMaxHeadDim) fail("CUDA attention: head_dim ", head_dim, " exceeds ", kMaxHeadDim);
    const int n_splits = (S + kDecodeSplit - 1) / kDecodeSplit;
    float* partial_out = scratch;
    float* partial_max = partial_out + std::size_t(n_heads) * n_splits * head_dim;
    float* partial_sum = partial_max + std::size_t(n_heads) * n_splits;
    const std::size_t shared = (head_dim + kDecodeSplit) * sizeof(float);
    attention_decode_split_kernel<<<dim3(n_heads, n_splits), 128, shared, stream>>>(
        q, k_cache, v_cache, S, pos, n_heads, n_kv_heads, head_dim, resolved(opt, head_dim), partial_out, partial_max,
        partial_sum, out);
    check_launch("attention (decode splits)");
    if (n_splits == 1) return;  // written directly
    attention_decode_merge_kernel<<<n_heads, 128, 0, stream>>>(partial_out, partial_max, partial_sum, n_splits,
                                                               head_dim, out);
    check_launch("attention (decode merge)");
}

// q:   [T, H, Dh] queries at positions start_pos .. start_pos+T−1 (after RoPE)
// k_cache, v_cache: [capacity, KV, Dh] of one layer, positions 0 .. start_pos+T−1 written
// out: [T, H, Dh]
// opt: window, scale (0: 1/√Dh) and soft-cap, as model/attention.hpp's AttentionOptions
// scratch: attention_decode_scratch(H, Dh, start_pos+1) floats (used when T = 1)
inline void attention(const float* q, const float* k_cache, const float* v_cache, int start_pos, int T,
                      const Heads& heads, const AttentionOptions& opt, float* out, float* scratch,
                      cudaStream_t stream = 0) {
    const int n_heads = heads.n_heads, n_kv_heads = heads.n_kv_heads, head_dim = heads.head_dim;
    if (head_dim > kMaxHeadDim) fail("CUDA attention: head_dim ", head_dim, " exceeds ", kMaxHeadDim);
    if (T == 0) return;
    if (T == 1)
        return attention_decode(q, k_cache, v_cache, start_pos + 1, nullptr, n_heads, n_kv_heads, head_dim, opt, out,
                                scratch, stream);
    const std::size_t shared =
        (kQueryTile * head_dim + kKeyTile * (head_dim + 1) + kKeyTile * head_dim) * sizeof(float);
    if (shared > 48 * 1024)
        check(cudaFuncSetAttribute(attention_prefill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared)),
              "attention: shared memory size");
    const dim3 grid(blocks_for(T, kQueryTile), n_heads);
    attention_prefill_kernel<<<grid, 128, shared, stream>>>(q, k_cache, v_cache, start_pos, T, n_heads, n_kv_heads,
                                                            head_dim, resolved(opt, head_dim), out);
    check_launch("attention (prefill)");
}

}  // namespace llamaref::cuda
