// llamaref/cuda/model_parallel.cuh — one rank of Meta's model-parallel layout on a GPU: what the
// device Transformer (transformer.cuh) needs beyond the single-device model.
//
// Shoeybi et al. 2019 (Megatron-LM) §3, as Meta's reference runs it with fairscale's layers. CPU
// specification: model_parallel/transformer.hpp (read it first: the split per layer, the
// collectives and the shapes per rank are drawn there). A rank's Transformer is built with its
// slices (model_parallel/rank_model.hpp) and a RankLayout, and runs the same kernels with the
// rank's sizes — H/N query heads, KV/N key/value heads, F/N hidden units, V/N output rows — and
// these steps where Meta's layers communicate:
//
//   embedding   ParallelEmbedding: [T, D/N] → all_gather → [N, T, D/N] → interleave → [T, D]
//               VocabParallelEmbedding: this rank's rows, 0 for other ranks' tokens → all_reduce
//   wo, w2      the rank's partial product [T, D] → all_reduce → x += it
//   output      [rows, V/N] → all_gather → [N, rows, V/N] → interleave → [rows, V]
//
// The collectives run on device memory, ordered on the Transformer's stream: DeviceCollectives
// below, implemented with NCCL in nccl.cuh. A host waiting for the stream waits through
// DeviceCollectives::synchronize, which may bound the wait (a rank that died never contributes).
#pragma once

#include <cstddef>

#include <llamaref/model_parallel/partition.hpp>

#include "common.cuh"

namespace llamaref::cuda {

// Collectives over device buffers, queued on `stream` (Communicator's, model_parallel/communicator.hpp,
// for GPUs). Every rank calls the same ones in the same order with the same sizes; `what` names the
// step ("layers.3.attention.wo").
class DeviceCollectives {
  public:
    virtual ~DeviceCollectives() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // x[n] ← the element-wise sum of every rank's x[n].
    virtual void all_reduce_sum(float* x, std::size_t n, cudaStream_t stream, const char* what) = 0;
    // out[size·n] ← rank 0's in[n], rank 1's in[n], ...
    virtual void all_gather(const float* in, std::size_t n, float* out, cudaStream_t stream, const char* what) = 0;
    // Waits until the work queued on `stream` is done (the host's only wait on a rank's device).
    virtual void synchronize(cudaStream_t stream, const char* what) {
        (void)what;
        check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    }
    // Bytes this rank has put into collectives so far (a payload count, as Communicator's).
    std::size_t bytes_communicated() const { return bytes_; }

  protected:
    std::size_t bytes_ = 0;
};

// Which rank of which split a device Transformer computes; the defaults are the whole model.
struct RankLayout {
    const Partition* partition = nullptr;      // null: one device, the whole model
    DeviceCollectives* collectives = nullptr;  // set with partition
    bool split() const { return partition != nullptr; }
};

// x[i] += y[i] for i < n: the residual add after a sub-layer's all-reduce (the CPU loop
// `x_[i] += sub_[i]` of model_parallel/transformer.hpp).
static __global__ void add_into_kernel(const float* y, float* x, std::size_t n) {
    const std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) x[i] += y[i];
}
inline void add_into(const float* y, float* x, std::size_t n, cudaStream_t stream) {
    if (n == 0) return;
    add_into_kernel<<<unsigned((n + 255) / 256), 256, 0, stream>>>(y, x, n);
    check_launch("add_into");
}

// out[t, r·n + j] = gathered[r, t, j]: an all-gather's rank-major blocks [N, rows, n] as the
// columns of one tensor [rows, N·n] (the embedding's D/N columns, the logits' V/N).
static __global__ void interleave_kernel(const float* gathered, int N, int rows, int n, float* out) {
    const std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
    const std::size_t total = std::size_t(N) * rows * n;
    if (i >= total) return;
    const std::size_t j = i % n, t = (i / n) % rows, r = i / (std::size_t(n) * rows);
    out[t * std::size_t(N) * n + r * n + j] = gathered[i];
}
inline void interleave(const float* gathered, int N, int rows, int n, float* out, cudaStream_t stream) {
    const std::size_t total = std::size_t(N) * rows * n;
    if (total == 0) return;
    interleave_kernel<<<unsigned((total + 255) / 256), 256, 0, stream>>>(gathered, N, rows, n, out);
    check_launch("interleave");
}

// The configuration a rank's kernels run with: the whole model's, with H/N query heads, KV/N
// key/value heads and F/N hidden units (dim, head_dim and vocab_size stay whole: the residual
// stream and the gathered logits are whole on every rank).
inline ModelConfig rank_config(const Partition& p) {
    ModelConfig c = p.config();
    const Heads h = p.local_heads();
    c.n_heads = h.n_heads;
    c.n_kv_heads = h.n_kv_heads;
    c.hidden_dim = int(p.ffn_units().size());
    return c;
}

}  // namespace llamaref::cuda
