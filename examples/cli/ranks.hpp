// examples/cli/ranks.hpp — `--ranks N` and `mpirun -np N llamaref ...`: one model over N processes.
//
// generate, logits and trace run Meta's model-parallel layout (include/llamaref/model_parallel/)
// when the process is one rank of an MPI job: `mpirun -np N llamaref logits -m MODEL ...`, or
// `llamaref logits -m MODEL --ranks N`, which starts that mpirun itself. Each rank loads only its
// own slice (a Meta folder: its consolidated.NN.pth); rank 0 writes the output, the other ranks
// stay silent but for their errors. The one place of the CLI that knows about MPI (the build
// defines LLAMAREF_WITH_MPI where Debian's libopenmpi-dev was found).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <llamaref/formats/load.hpp>
#include <llamaref/model_parallel/communicator.hpp>
#include <llamaref/model_parallel/rank_model.hpp>
#ifdef LLAMAREF_WITH_MPI
#include <llamaref/model_parallel/mpi.hpp>
#endif

#include "args.hpp"

namespace llamaref::cli {

// The size of the MPI job this process was started in (Open MPI's or MPICH's variables), 0 if none.
inline int mpi_job_size() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
        if (const char* v = std::getenv(name); v && std::atoi(v) > 0) return std::atoi(v);
    return 0;
}

// The value of --ranks in a command line (0 when absent; -1 when it is not a positive integer).
inline int ranks_flag(int argc, char** argv) {
    for (int i = 0; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--ranks") == 0) {
            char* end = nullptr;
            const long n = std::strtol(argv[i + 1], &end, 10);
            return *end == '\0' && n >= 1 && n <= 4096 ? int(n) : -1;
        }
    return 0;
}

namespace detail {
struct RankState {
    std::unique_ptr<Communicator> world;
    int error_fd = 2;  // where this rank's errors go (stderr; a copy of it on silenced ranks)
};
inline RankState& rank_state() {
    static RankState s;
    return s;
}
}  // namespace detail

// The process's communicator when it is one rank of an MPI job (made by start_rank), else nullptr.
inline Communicator* world() { return detail::rank_state().world.get(); }

// Called by main first: inside an MPI job, initializes MPI; ranks other than 0 then write nothing
// to stdout and keep stderr for their errors only (error_fd).
// LLAMAREF_TEST_STALL=R:FILE (a test hook: tests/model_parallel/mpi_test.sh) makes rank R write its
// process id to FILE and wait forever, as a rank that hangs; the others must not wait for it
// without bound, and killing it must end the job.
inline void start_rank() {
    if (mpi_job_size() == 0) return;
#ifdef LLAMAREF_WITH_MPI
    auto& s = detail::rank_state();
    s.world = std::make_unique<MpiCommunicator>();
    if (const char* stall = std::getenv("LLAMAREF_TEST_STALL"); stall && std::strchr(stall, ':')) {
        if (std::atoi(stall) == s.world->rank()) {
            if (std::FILE* f = std::fopen(std::strchr(stall, ':') + 1, "w")) {
                std::fprintf(f, "%d\n", int(::getpid()));
                std::fclose(f);
            }
            for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
        }
    }
    if (s.world->rank() != 0) {
        std::fflush(stdout);
        std::fflush(stderr);
        s.error_fd = ::dup(2);
        if (!std::freopen("/dev/null", "w", stdout) || !std::freopen("/dev/null", "w", stderr)) s.error_fd = 2;
    }
#endif
}

// Reports an error of this rank and, in an MPI job, ends every rank (they would wait for this one).
// A rank other than 0 waits a moment first: when rank 0 has failed the same way (bad flags, a
// wrong file: every rank reads the same), its message alone is printed and its abort ends this one.
inline void rank_error(const char* what) {
    Communicator* w = world();
    if (w && w->rank() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const std::string line =
        (w && w->size() > 1 ? "rank " + std::to_string(w->rank()) + ": " : std::string()) + "error: " + what + "\n";
    [[maybe_unused]] const auto n = ::write(detail::rank_state().error_fd, line.data(), line.size());
#ifdef LLAMAREF_WITH_MPI
    if (w && w->size() > 1) MpiCommunicator::abort_all(1);
#endif
}

// `llamaref COMMAND ... --ranks N` outside an MPI job: runs `mpirun -np N` on this same program and
// command line (oversubscribed: more ranks than cores is allowed, for a laptop or a test) and
// returns the job's exit status: 0, or 1 after a rank's error (which the rank printed), or 1 with a
// message here when a rank was killed (mpirun --quiet prints none).
inline int run_under_mpirun(int ranks, int argc, char** argv) {
#ifndef LLAMAREF_WITH_MPI
    fail("--ranks needs a llamaref built with MPI (Debian libopenmpi-dev, then configure again)");
#else
    std::error_code ec;
    const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) fail("--ranks: cannot find this program's path to start it under mpirun");
    // --quiet: no help banners from mpirun (a failed rank's own message says what went wrong).
    std::vector<std::string> words = {"mpirun", "-np",    std::to_string(ranks), "--oversubscribe", "--bind-to",
                                      "none",   "--quiet"};
    if (::geteuid() == 0) words.push_back("--allow-run-as-root");  // Open MPI refuses root otherwise
    words.push_back(self);
    for (int i = 1; i < argc; ++i) words.emplace_back(argv[i]);
    std::vector<char*> exec_argv;
    for (auto& w : words) exec_argv.push_back(w.data());
    exec_argv.push_back(nullptr);
    // Open MPI's shared-memory transport copies between processes with process_vm_readv by default,
    // which containers often forbid (ptrace rules); plain shared-memory copies work everywhere.
    ::setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", /*overwrite=*/0);
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t child = ::fork();
    if (child < 0) fail("--ranks: cannot start mpirun: ", std::strerror(errno));
    if (child == 0) {
        ::execvp("mpirun", exec_argv.data());
        std::fprintf(stderr, "error: --ranks: cannot start mpirun (%s; Debian openmpi-bin)\n", std::strerror(errno));
        ::_exit(1);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code > 128)  // mpirun passes on the signal that ended a rank
        std::fprintf(stderr, "error: a rank of the %d-rank job was ended by signal %d; mpirun ended the others\n",
                     ranks, code - 128);
    return 1;
#endif
}

inline void add_ranks_option(ArgParser& args) {
    args.option("--ranks", "N",
                "run Meta's model-parallel layout on N processes (starts mpirun -np N; or run under mpirun "
                "yourself); a Meta folder needs one consolidated.NN.pth per rank");
}

// In an MPI job: the job's size must be what --ranks says (when given) and the command one that runs
// model parallel. Outside one: nothing to check (main has started mpirun for --ranks).
inline void check_ranks(const ArgParser& args, const std::string& command) {
    if (args.given("--ranks")) args.integer("--ranks", 1, 4096);  // a usage error when it is not a count
    const int job = mpi_job_size();
    if (job == 0) return;
    if (!world()) fail("this llamaref runs in an MPI job of ", job, " processes but was built without MPI");
    if (args.given("--ranks") && args.integer("--ranks", 1, 4096) != job)
        throw UsageError("llamaref " + command + ": --ranks " + args.str("--ranks") + " but mpirun started " +
                         std::to_string(job) + " processes");
}

// A model as the commands run it: the whole model in this process, or this rank's slice of it.
struct CliModel {
    std::shared_ptr<const Model> whole;      // one process
    std::shared_ptr<const RankModel> slice;  // one rank of an MPI job
    const ModelConfig& config() const { return whole ? whole->config : slice->config; }
    const std::string& format() const { return whole ? whole->format : slice->format; }
};

inline CliModel load_cli_model(const std::string& path) {
    if (Communicator* w = world())
        return {nullptr, std::make_shared<const RankModel>(load_rank_model(path, w->rank(), w->size()))};
    return {std::shared_ptr<const Model>(load_model(path)), nullptr};
}

// The command runs on every rank; only rank 0 writes files and text.
inline bool is_rank0() { return !world() || world()->rank() == 0; }

}  // namespace llamaref::cli
