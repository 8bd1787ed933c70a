// llamaref/cuda/nccl.cuh — the model-parallel collectives on GPUs, with NVIDIA's NCCL.
//
// The GPU counterpart of model_parallel/mpi.hpp: the same two collectives of fairscale's
// model-parallel layers (all-reduce after RowParallelLinear and VocabParallelEmbedding,
// all-gather after ParallelEmbedding and the output's ColumnParallelLinear), here on device
// buffers and queued on the rank's stream, as Meta's reference runs them (torch.distributed's
// "nccl" backend). One process per GPU; the processes find each other through a host
// Communicator (MPI): rank 0 makes the NCCL communicator's id and broadcasts it, every rank joins.
//
// No wait is unbounded: a collective whose peer died never completes on the device, so the host's
// waits on the stream (synchronize) poll it against a deadline (LLAMAREF_MP_TIMEOUT seconds,
// default 300), also checking NCCL's asynchronous errors; past it the communicator is aborted and
// the rank fails with an Error naming the wait (the CLI then ends every rank through MPI).
#pragma once

#include <nccl.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <llamaref/model_parallel/communicator.hpp>

#include "model_parallel.cuh"

namespace llamaref::cuda {

class NcclCollectives final : public DeviceCollectives {
  public:
    // Every rank of `host` constructs one at the same time, with its own device current
    // (cudaSetDevice): NCCL needs a GPU of its own for each rank. timeout_s ≤ 0: LLAMAREF_MP_TIMEOUT or 300 s.
    explicit NcclCollectives(Communicator& host, double timeout_s = 0)
        : rank_(host.rank()), size_(host.size()), timeout_s_(timeout_s > 0 ? timeout_s : default_timeout()) {
        ncclUniqueId id{};
        static_assert(sizeof(id) % sizeof(int32_t) == 0);
        int32_t words[sizeof(id) / sizeof(int32_t)] = {};
        if (rank_ == 0) {
            check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId", "the communicator's id");
            std::memcpy(words, &id, sizeof(id));
        }
        host.broadcast(words, sizeof(words) / sizeof(int32_t), "the NCCL communicator's id");
        std::memcpy(&id, words, sizeof(id));
        check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank", "joining the other ranks");
    }
    ~NcclCollectives() override {
        if (comm_) ncclCommDestroy(comm_);
    }
    NcclCollectives(const NcclCollectives&) = delete;
    NcclCollectives& operator=(const NcclCollectives&) = delete;

    int rank() const override { return rank_; }
    int size() const override { return size_; }

    void all_reduce_sum(float* x, std::size_t n, cudaStream_t stream, const char* what) override {
        check_nccl(ncclAllReduce(x, x, n, ncclFloat32, ncclSum, comm_, stream), "ncclAllReduce", what);  // in place
        bytes_ += n * sizeof(float);
    }
    void all_gather(const float* in, std::size_t n, float* out, cudaStream_t stream, const char* what) override {
        check_nccl(ncclAllGather(in, out, n, ncclFloat32, comm_, stream), "ncclAllGather", what);
        bytes_ += n * sizeof(float);
    }

    // Polls the stream until its work is done, NCCL reports an error, or the deadline passes.
    void synchronize(cudaStream_t stream, const char* what) override {
        const auto start = std::chrono::steady_clock::now();
        for (long polls = 0;; ++polls) {
            const cudaError_t e = cudaStreamQuery(stream);
            if (e == cudaSuccess) return;
            if (e != cudaErrorNotReady) check(e, "cudaStreamQuery (waiting for a model-parallel step)");
            ncclResult_t async = ncclSuccess;
            check_nccl(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError", what);
            if (async != ncclSuccess && async != ncclInProgress) {
                abort();
                fail("NCCL: rank ", rank_, " of ", size_, ": an error while waiting for ", what, ": ",
                     ncclGetErrorString(async));
            }
            if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout_s_) {
                abort();
                fail("NCCL: rank ", rank_, " of ", size_, " waited ", timeout_s_, " s for ", what,
                     " (another rank died, hangs, or runs another model or command; LLAMAREF_MP_TIMEOUT sets the "
                     "limit)");
            }
            if (polls > 100) std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
    }

  private:
    static double default_timeout() {
        const char* env = std::getenv("LLAMAREF_MP_TIMEOUT");
        const double t = env ? std::atof(env) : 0;
        return t > 0 ? t : 300.0;
    }
    void check_nccl(ncclResult_t r, const char* call, const char* what) const {
        if (r != ncclSuccess && r != ncclInProgress)
            fail("NCCL: rank ", rank_, " of ", size_, ": ", call, " (", what, "): ", ncclGetErrorString(r));
    }
    // Frees the communicator without waiting for its peers (its queued collectives end).
    void abort() {
        if (comm_) ncclCommAbort(comm_);
        comm_ = nullptr;
    }

    int rank_, size_;
    double timeout_s_;
    ncclComm_t comm_ = nullptr;
};

}  // namespace llamaref::cuda
