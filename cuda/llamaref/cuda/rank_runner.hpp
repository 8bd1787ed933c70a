// llamaref/cuda/rank_runner.hpp — one rank of Meta's model-parallel layout on its own GPU, behind a
// plain C++ interface (no CUDA in this header, like runner.hpp).
//
// The GPU counterpart of ModelParallelTransformer (model_parallel/transformer.hpp): rank r of N
// holds only its slices (model_parallel/rank_model.hpp: consolidated.r.pth, or its slice of an
// HF / GGUF / .bin checkpoint) on one GPU, runs the CUDA kernels with its share of the heads and
// units (transformer.cuh with a RankLayout, model_parallel.cuh), and meets the other ranks in
// NCCL's collectives (nccl.cuh). One process per GPU, started by mpirun; the host Communicator
// (MPI) only introduces the ranks to each other. Every rank ends each forward with the same logits.
// Implementation: rank_runner.cuh, compiled by nvcc in cuda/runner.cu where NCCL is found (CMake
// target llamaref::cuda_model_parallel).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <llamaref/model_parallel/communicator.hpp>
#include <llamaref/model_parallel/partition.hpp>  // RankModel

#include "runner.hpp"  // RunnerOptions

namespace llamaref::cuda {

// This process's place among the ranks on its host: Open MPI's OMPI_COMM_WORLD_LOCAL_RANK (or
// MPICH's MPI_LOCALRANKID, Slurm's SLURM_LOCALID), else `rank` (one host).
int local_rank(int rank);

class RankRunner {
  public:
    // Every rank of `host` constructs its RankRunner at the same time (collective): it selects its
    // GPU (refusing a rank without a GPU of its own), uploads its slices and joins the others' NCCL
    // communicator. `host` must outlive the runner. The options are the single-GPU Runner's
    // (context_len, fast_prefill, plain_attention; a rank runs kernel by kernel, so fused_decode and
    // cuda_graph are off); `device` is the CUDA ordinal, −1 the rank's place on its host (local_rank()).
    RankRunner(std::shared_ptr<const RankModel> model, Communicator& host, RunnerOptions options = {}, int device = -1);
    ~RankRunner();
    RankRunner(const RankRunner&) = delete;
    RankRunner& operator=(const RankRunner&) = delete;

    const ModelConfig& config() const;  // the whole model's
    const Partition& partition() const;
    int device() const;

    // Logits of tokens at positions start_pos .. start_pos+T−1, the same on every rank: [T·V], or
    // the last position's only ([V]) when last_only. Every rank calls it with the same arguments.
    std::vector<float> forward(std::span<const int> tokens, int start_pos, bool last_only = false);

    // Bytes of this rank's weights on its GPU; KV-cache bytes one position adds on it.
    std::size_t weight_bytes() const;
    std::size_t kv_bytes_per_position() const;
    // Bytes this rank has put into NCCL's collectives so far.
    std::size_t bytes_communicated() const;
    // "NVIDIA H100 80GB HBM3, 132 SMs, ..." of this rank's device.
    std::string device_name() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace llamaref::cuda
