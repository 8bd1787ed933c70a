// llamaref/model_parallel/mpi.hpp — the collectives over MPI: ranks are processes, on one host or many.
//
// Needs <mpi.h> and its library (Debian libopenmpi-dev; CMake: the llamaref::mpi target). Launch
// with `mpirun -np N program ...`; rank r of MPI_COMM_WORLD is model-parallel rank r.
//
// No collective waits forever: each is started non-blocking (MPI_Iallreduce, MPI_Iallgather,
// MPI_Ibcast) and polled until a deadline (LLAMAREF_MP_TIMEOUT seconds, default 300). A rank that
// died, hangs or took another path is reported by name and step, and the job is aborted
// (MPI_Abort ends every rank). A rank that fails with an Error calls abort_all() the same way.
#pragma once

#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1  // the C API only (MPI's C++ bindings were removed in MPI-3)
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "../core/error.hpp"
#include "communicator.hpp"

namespace llamaref {

class MpiCommunicator final : public Communicator {
  public:
    // Initializes MPI (once per process) on MPI_COMM_WORLD. timeout_s ≤ 0: LLAMAREF_MP_TIMEOUT or 300 s.
    explicit MpiCommunicator(double timeout_s = 0) : timeout_s_(timeout_s > 0 ? timeout_s : default_timeout()) {
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (!initialized) {
            int provided = 0;
            MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
            owns_mpi_ = true;
        }
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
    }
    ~MpiCommunicator() override {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (owns_mpi_ && !finalized) MPI_Finalize();
    }
    MpiCommunicator(const MpiCommunicator&) = delete;
    MpiCommunicator& operator=(const MpiCommunicator&) = delete;

    int rank() const override { return rank_; }
    int size() const override { return size_; }

    void all_reduce_sum(float* x, std::size_t n, const char* what) override {
        MPI_Request req;
        MPI_Iallreduce(MPI_IN_PLACE, x, count(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
        wait(req, "all-reduce", what);
        bytes_ += n * sizeof(float);
    }
    void all_gather(const float* in, std::size_t n, float* out, const char* what) override {
        MPI_Request req;
        MPI_Iallgather(in, count(n), MPI_FLOAT, out, count(n), MPI_FLOAT, MPI_COMM_WORLD, &req);
        wait(req, "all-gather", what);
        bytes_ += n * sizeof(float);
    }
    void broadcast(int32_t* x, std::size_t n, const char* what) override {
        MPI_Request req;
        MPI_Ibcast(x, count(n), MPI_INT32_T, 0, MPI_COMM_WORLD, &req);
        wait(req, "broadcast", what);
        bytes_ += rank_ == 0 ? n * sizeof(int32_t) : 0;
    }

    // Ends every rank of the job (after an Error on this one: the others would wait for it).
    static void abort_all(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

  private:
    static double default_timeout() {
        const char* env = std::getenv("LLAMAREF_MP_TIMEOUT");
        const double t = env ? std::atof(env) : 0;
        return t > 0 ? t : 300.0;
    }
    static int count(std::size_t n) {
        if (n > std::size_t(INT32_MAX)) fail("model parallel: a collective of ", n, " elements is too large for MPI");
        return int(n);
    }
    // Polls until the collective completes; past the deadline, reports and aborts the job.
    void wait(MPI_Request& req, const char* kind, const char* what) {
        const auto start = std::chrono::steady_clock::now();
        for (long polls = 0;; ++polls) {
            int done = 0;
            MPI_Test(&req, &done, MPI_STATUS_IGNORE);
            if (done) return;
            if (polls > 1000) std::this_thread::yield();  // ranks may outnumber the cores
            if ((polls & 1023) == 0 &&
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout_s_) {
                std::fprintf(stderr,
                             "llamaref: rank %d of %d: the %s after %s waited %.0f s for the other ranks (one died, "
                             "hangs, or runs another model or command); aborting every rank (LLAMAREF_MP_TIMEOUT sets "
                             "the limit)\n",
                             rank_, size_, kind, what, timeout_s_);
                std::fflush(stderr);
                abort_all(3);
            }
        }
    }

    double timeout_s_;
    int rank_ = 0, size_ = 1;
    bool owns_mpi_ = false;
};

}  // namespace llamaref
