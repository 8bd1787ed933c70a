// llamaref/model_parallel/communicator.hpp — the collectives of Meta's model parallelism.
//
// fairscale's model-parallel layers (fairscale/nn/model_parallel/mappings.py) move data between
// ranks in two ways only, and llamaref's model-parallel forward (model_parallel/transformer.hpp)
// calls exactly these, where Meta's layers call them:
//
//   all_reduce_sum  x ← Σ_ranks x        reduce_from_model_parallel_region: after a
//                                        RowParallelLinear (wo, w2), VocabParallelEmbedding
//   all_gather      out ← [x_0 … x_N−1]  gather_from_model_parallel_region: after
//                                        ParallelEmbedding, ColumnParallelLinear(gather_output)
//
// plus broadcast (rank 0's sampled token, so that every rank continues with the same one). Every
// rank calls the same collectives in the same order with the same sizes. `what` names the step
// ("layers.3.attention.wo") for messages and for the time-outs of an implementation.
//
// Implementations: SingleRank below (one process, nothing to exchange), MpiCommunicator
// (model_parallel/mpi.hpp: CPU processes on one or many hosts) and NCCL for GPUs (cuda/).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace llamaref {

class Communicator {
  public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // x[n] ← the element-wise sum of every rank's x[n].
    virtual void all_reduce_sum(float* x, std::size_t n, const char* what) = 0;
    // out[size·n] ← rank 0's in[n], rank 1's in[n], ... (every rank receives all).
    virtual void all_gather(const float* in, std::size_t n, float* out, const char* what) = 0;
    // x[n] ← rank 0's x[n].
    virtual void broadcast(int32_t* x, std::size_t n, const char* what) = 0;
    // The bytes this rank has sent into collectives so far (a payload count, for the docs' tables).
    std::size_t bytes_communicated() const { return bytes_; }

  protected:
    std::size_t bytes_ = 0;
};

// One rank: every collective is the identity (the model-parallel forward with N = 1 is the
// single-process model; tests and the 1-rank column of docs/parallel.md run it).
class SingleRank final : public Communicator {
  public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    void all_reduce_sum(float*, std::size_t, const char*) override {}
    void all_gather(const float* in, std::size_t n, float* out, const char*) override {
        if (out != in) std::copy_n(in, n, out);
    }
    void broadcast(int32_t*, std::size_t, const char*) override {}
};

}  // namespace llamaref
