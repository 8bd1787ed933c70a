// bench_model_parallel — Meta's model-parallel forward over MPI: prefill and decode speed, and the
// time its collectives take (a benchmark, not a test; docs/parallel.md quotes its table).
//
//   mpirun -np N bench_model_parallel MODEL [PROMPT_TOKENS DECODE_TOKENS REPS]   default 128 64 5
//
// Each rank loads its slice of MODEL (model_parallel/rank_model.hpp) and runs the fast CPU backend
// on one thread. Every collective goes through a Communicator that times it, so the table gives,
// per decode token, how many all-reduces / all-gathers ran, the bytes each rank sent into them and
// the wall time spent inside them (waiting for the slowest rank included). Medians of REPS runs,
// printed by rank 0.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <llamaref/core/parallel.hpp>
#include <llamaref/cpu/backend.hpp>
#include <llamaref/model_parallel/mpi.hpp>
#include <llamaref/model_parallel/rank_model.hpp>
#include <llamaref/model_parallel/transformer.hpp>

using namespace llamaref;
using Clock = std::chrono::steady_clock;

namespace {

// Forwards to another communicator and adds up how long each kind of collective took.
class TimedCommunicator final : public Communicator {
  public:
    explicit TimedCommunicator(Communicator& inner) : inner_(inner) {}
    int rank() const override { return inner_.rank(); }
    int size() const override { return inner_.size(); }
    void all_reduce_sum(float* x, std::size_t n, const char* what) override {
        time([&] { inner_.all_reduce_sum(x, n, what); }, n);
        ++all_reduces;
    }
    void all_gather(const float* in, std::size_t n, float* out, const char* what) override {
        time([&] { inner_.all_gather(in, n, out, what); }, n);
        ++all_gathers;
    }
    void broadcast(int32_t* x, std::size_t n, const char* what) override { inner_.broadcast(x, n, what); }
    void reset() { seconds = 0, floats = 0, all_reduces = 0, all_gathers = 0; }

    double seconds = 0;
    std::size_t floats = 0, all_reduces = 0, all_gathers = 0;

  private:
    template <class F>
    void time(F&& f, std::size_t n) {
        const auto t0 = Clock::now();
        f();
        seconds += std::chrono::duration<double>(Clock::now() - t0).count();
        floats += n;
    }
    Communicator& inner_;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    MpiCommunicator mpi;
    if (argc < 2) {
        if (mpi.rank() == 0) std::fprintf(stderr, "usage: mpirun -np N bench_model_parallel MODEL [P N REPS]\n");
        return 2;
    }
    const std::string path = argv[1];
    const int P = argc > 2 ? std::atoi(argv[2]) : 128, G = argc > 3 ? std::atoi(argv[3]) : 64;
    const int reps = argc > 4 ? std::atoi(argv[4]) : 5;
    set_num_threads(1);
    try {
        TimedCommunicator comm(mpi);
        auto slice = std::make_shared<const RankModel>(load_rank_model(path, mpi.rank(), mpi.size()));
        const ModelConfig& c = slice->config;
        std::vector<int> prompt(static_cast<std::size_t>(P));
        for (int i = 0; i < P; ++i) prompt[std::size_t(i)] = 1 + (i * 7919) % (c.vocab_size - 1);
        std::vector<double> prefill_s, decode_s, comm_s;
        std::size_t reduces = 0, gathers = 0, floats = 0;
        for (int r = 0; r < reps; ++r) {
            ModelParallelTransformer tf(slice, comm, P + G);
            tf.set_backend(cpu::fast_backend);
            auto t0 = Clock::now();
            Tensor2 logits = tf.forward(prompt, 0, LogitRows::last);  // as generation runs a prompt
            prefill_s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
            comm.reset();
            int next = int(argmax(&logits(logits.shape(0) - 1, 0), logits.shape(1)));
            t0 = Clock::now();
            for (int g = 0; g < G; ++g) {
                const Tensor2 step = tf.forward(std::vector<int>{next}, P + g, LogitRows::last);
                next = int(argmax(step.data(), step.size()));
            }
            decode_s.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / G);
            comm_s.push_back(comm.seconds / G);
            reduces = comm.all_reduces / std::size_t(G), gathers = comm.all_gathers / std::size_t(G);
            floats = comm.floats / std::size_t(G);
        }
        if (mpi.rank() == 0) {
            const double dec = median(decode_s), in_comm = median(comm_s);
            std::printf(
                "| ranks | prefill tok/s | decode tok/s | collectives per token | KiB sent per token per rank |"
                " time in collectives per token | share of the step |\n");
            std::printf("|---|---|---|---|---|---|---|\n");
            std::printf("| %d | %.1f | %.2f | %zu all-reduce + %zu all-gather | %.1f | %.3f ms | %.0f %% |\n",
                        mpi.size(), P / median(prefill_s), 1.0 / dec, reduces, gathers, double(floats) * 4 / 1024,
                        in_comm * 1e3, 100 * in_comm / dec);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rank %d: error: %s\n", mpi.rank(), e.what());
        MpiCommunicator::abort_all(1);
    }
    return 0;
}
