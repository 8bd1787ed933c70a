// tools/cuda_emu/shim/nccl.h — the part of NCCL llamaref uses (cuda/llamaref/cuda/nccl.cuh), for
// the CPU emulation, over MPI: the emulated ranks are the processes of an mpirun job, an NCCL rank
// is the MPI rank of MPI_COMM_WORLD, and "device" buffers are host memory (cuda_runtime.h), so a
// collective is MPI's on the same buffers. It follows NCCL's documented contract where a caller
// could break it: every rank must join with the same id (checked), a communicator's size and rank
// are MPI's, an all-reduce is in place only when sendbuff == recvbuff, an all-gather's buffers
// must not overlap unless in place (sendbuff == recvbuff + rank·count). What it cannot show:
// NCCL's own transport, its asynchrony (the collectives complete before returning), its errors
// and its speed. A pass here checks the model-parallel kernels' plumbing, not NCCL.
#pragma once

#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <unistd.h>
#include <chrono>
#include <cstddef>
#include <cstring>

#define NCCL_UNIQUE_ID_BYTES 128
typedef struct {
    char internal[NCCL_UNIQUE_ID_BYTES];
} ncclUniqueId;
typedef enum {
    ncclSuccess = 0,
    ncclUnhandledCudaError = 1,
    ncclSystemError = 2,
    ncclInternalError = 3,
    ncclInvalidArgument = 4,
    ncclInvalidUsage = 5,
    ncclRemoteError = 6,
    ncclInProgress = 7
} ncclResult_t;
typedef enum { ncclInt32 = 2, ncclFloat32 = 7 } ncclDataType_t;
typedef enum { ncclSum = 0 } ncclRedOp_t;
struct ncclComm {
    int rank, nranks;
};
typedef ncclComm* ncclComm_t;

inline const char* ncclGetErrorString(ncclResult_t r) {
    switch (r) {
        case ncclSuccess: return "no error";
        case ncclInvalidArgument: return "invalid argument (emulated NCCL)";
        case ncclInvalidUsage: return "invalid usage (emulated NCCL)";
        default: return "error (emulated NCCL)";
    }
}

inline ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
    std::memset(id->internal, 0, sizeof id->internal);
    const long stamp[2] = {long(getpid()), long(std::chrono::steady_clock::now().time_since_epoch().count())};
    std::memcpy(id->internal, stamp, sizeof stamp);
    return ncclSuccess;
}

inline ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank) {
    int initialized = 0, size = 0, me = -1;
    MPI_Initialized(&initialized);
    if (!initialized) return ncclInvalidUsage;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    if (nranks != size || rank != me) return ncclInvalidArgument;
    // Every rank must have been given the same id (nccl.cuh broadcasts rank 0's).
    unsigned long long h = 1469598103934665603ull, lo = 0, hi = 0;
    for (char c : id.internal) h = (h ^ (unsigned char)c) * 1099511628211ull;
    MPI_Allreduce(&h, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&h, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (lo != hi) return ncclInvalidUsage;
    *comm = new ncclComm{rank, nranks};
    return ncclSuccess;
}
inline ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    delete comm;
    return ncclSuccess;
}
inline ncclResult_t ncclCommAbort(ncclComm_t comm) { return ncclCommDestroy(comm); }
inline ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* e) {
    if (!comm) return ncclInvalidArgument;
    *e = ncclSuccess;
    return ncclSuccess;
}

namespace shim {
inline bool nccl_float_args(ncclComm_t comm, ncclDataType_t type) { return comm && type == ncclFloat32; }
inline bool overlaps(const void* a, std::size_t na, const void* b, std::size_t nb) {
    auto p = static_cast<const char*>(a), q = static_cast<const char*>(b);
    return p < q + nb && q < p + na;
}
}  // namespace shim

template <class Stream>
ncclResult_t ncclAllReduce(const void* send, void* recv, std::size_t count, ncclDataType_t type, ncclRedOp_t op,
                           ncclComm_t comm, Stream) {
    if (!shim::nccl_float_args(comm, type) || op != ncclSum || count > std::size_t(INT32_MAX))
        return ncclInvalidArgument;
    const std::size_t bytes = count * sizeof(float);
    if (send != recv && shim::overlaps(send, bytes, recv, bytes)) return ncclInvalidArgument;
    MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, int(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    return ncclSuccess;
}

template <class Stream>
ncclResult_t ncclAllGather(const void* send, void* recv, std::size_t count, ncclDataType_t type, ncclComm_t comm,
                           Stream) {
    if (!shim::nccl_float_args(comm, type) || count > std::size_t(INT32_MAX)) return ncclInvalidArgument;
    const std::size_t bytes = count * sizeof(float);
    const void* in_place = static_cast<const char*>(recv) + std::size_t(comm->rank) * bytes;
    if (send == in_place) {
        MPI_Allgather(MPI_IN_PLACE, 0, MPI_FLOAT, recv, int(count), MPI_FLOAT, MPI_COMM_WORLD);
        return ncclSuccess;
    }
    if (shim::overlaps(send, bytes, recv, bytes * std::size_t(comm->nranks))) return ncclInvalidArgument;
    MPI_Allgather(send, int(count), MPI_FLOAT, recv, int(count), MPI_FLOAT, MPI_COMM_WORLD);
    return ncclSuccess;
}
