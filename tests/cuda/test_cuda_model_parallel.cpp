// Meta's model-parallel layout on GPUs (cuda::RankRunner: a rank's slices on its own GPU, NCCL's
// collectives) against independent references: Meta's reference logits and greedy ids
// (../shared/oracle, atol 1e-3 as test_cuda_model's), and the family's fixtures (Mistral's
// windows, Gemma's GeGLU, tied output and Gemma 2's post-norms and soft-caps; their authors'
// code, 1e-4). Run it as `mpirun -np N test_cuda_model_parallel` with a GPU per rank; alone it is
// one rank. Skips without a GPU. In the CPU emulation (tools/cuda_emu/run.sh model_parallel) NCCL
// is the shim's, over MPI.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>

#include <llamaref/cuda/rank_runner.hpp>
#include <llamaref/cuda/runner.hpp>
#include <llamaref/model_parallel/mpi.hpp>
#include <llamaref/model_parallel/rank_model.hpp>
#include <llamaref/sampling/sampler.hpp>

#include "../test_data.hpp"
#include "../test_formats_oracle.hpp"
#include "require_gpu.hpp"

using namespace llamaref;

namespace {

using test::max_abs_diff;

// The job's ranks (MPI_COMM_WORLD), alive until the program ends.
MpiCommunicator& world() {
    static MpiCommunicator comm;
    return comm;
}

// Whether every rank holds the same values (the logits after the all-gather must be bit-equal).
bool same_on_every_rank(const std::vector<float>& v) {
    const std::size_t n = std::min<std::size_t>(v.size(), 64);
    std::vector<float> mine(v.begin(), v.begin() + std::ptrdiff_t(n)), all(n * std::size_t(world().size()));
    world().all_gather(mine.data(), n, all.data(), "the test's comparison");
    for (int r = 0; r < world().size(); ++r)
        if (!std::equal(mine.begin(), mine.end(), all.begin() + std::ptrdiff_t(r * n))) return false;
    return true;
}

// The fixture run by this rank's RankRunner: prompt + continuation in one prefill, then the
// prompt and one decode step per generated token (free-running greedy), against the reference.
void check_fixture(const std::string& name, std::shared_ptr<const RankModel> model, double atol) {
    const test::Oracle o = test::read_oracle(test::data("oracle/" + name));
    const std::vector<int>&prompt = o.prompt, &generated = o.generated;
    const auto &decode = o.decode, &full = o.full;
    const std::size_t V = model->config.vocab_size, P = prompt.size(), G = generated.size();
    INFO(name << ", rank " << model->rank << " of " << model->ranks << ", embedding split by "
              << embedding_split_name(model->embedding));
    cuda::RankRunner gpu(model, world());
    REQUIRE(gpu.partition().ranks() == world().size());

    std::vector<int> all = prompt;
    all.insert(all.end(), generated.begin(), generated.end());
    const auto logits = gpu.forward(all, 0);
    REQUIRE(logits.size() == full.size());
    const double full_err = max_abs_diff(logits.data(), full.data(), logits.size());
    CHECK(full_err < atol);
    CHECK(same_on_every_rank(logits));

    // Greedy: the prompt, then each chosen token through the rank's device KV cache.
    auto step = gpu.forward(prompt, 0, /*last_only=*/true);
    REQUIRE(step.size() == V);
    double decode_err = 0;
    std::vector<int> ids;
    for (std::size_t k = 0; k < G; ++k) {
        decode_err = std::max(decode_err, max_abs_diff(step.data(), decode.data() + k * V, V));
        ids.push_back(int(argmax(step.data(), V)));
        if (k + 1 < G) step = gpu.forward(std::vector<int>{ids.back()}, int(P + k), true);
    }
    CHECK(decode_err < atol);
    CHECK(ids == generated);
    CHECK(same_on_every_rank(step));
    if (world().size() > 1) CHECK(gpu.bytes_communicated() > 0);
    WARN(name << " on " << world().size() << " ranks (" << embedding_split_name(model->embedding)
              << "): max |logit - reference| full " << full_err << ", decode " << decode_err << "; rank " << model->rank
              << " sent " << gpu.bytes_communicated() << " bytes into collectives");
}

bool splits(const ModelConfig& c, int ranks) {
    return c.n_kv_heads % ranks == 0 && c.hidden_dim % ranks == 0 && c.vocab_size % ranks == 0 && c.dim % ranks == 0;
}

}  // namespace

TEST_CASE("cuda model parallel: Meta fixtures sliced over the ranks give Meta's logits and greedy ids",
          "[cuda][model_parallel][oracle]") {
    LLAMAREF_REQUIRE_GPU(cuda::device_available);
    const int rank = world().rank(), N = world().size();
    for (const char* name : {"llama1-mha", "llama2-gqa", "llama31-scaled"}) {
        LLAMAREF_REQUIRE_DATA(std::string("oracle/") + name + "/hf/config.json");
        auto whole = std::shared_ptr<const Model>(load_model(test::data(std::string("oracle/") + name + "/hf")));
        if (!splits(whole->config, N)) {
            WARN(name << ": " << N << " ranks do not split it (" << whole->config.n_kv_heads << " KV heads)");
            continue;
        }
        // Meta's split for the generation (LLaMA 1/2: model dimension; Llama 3: vocabulary), and
        // for llama2-gqa the other one too.
        check_fixture(name,
                      std::make_shared<const RankModel>(
                          load_rank_model(test::data(std::string("oracle/") + name + "/hf"), rank, N)),
                      1e-3);
        if (std::string(name) == "llama2-gqa")
            check_fixture(name, std::make_shared<const RankModel>(slice_model(whole, rank, N, EmbeddingSplit::vocab)),
                          1e-3);
    }
}

TEST_CASE("cuda model parallel: Mistral and Gemma 1/2 fixtures sliced over the ranks",
          "[cuda][model_parallel][family]") {
    LLAMAREF_REQUIRE_GPU(cuda::device_available);
    for (const char* name : {"mistral-swa", "gemma-2b-like", "gemma2-like"}) {
        LLAMAREF_REQUIRE_DATA(std::string("oracle/") + name + "/hf/config.json");
        auto whole = std::shared_ptr<const Model>(load_model(test::data(std::string("oracle/") + name + "/hf")));
        if (!splits(whole->config, world().size())) {
            WARN(name << ": " << world().size() << " ranks do not split it (" << whole->config.n_kv_heads
                      << " KV heads)");
            continue;
        }
        check_fixture(name,
                      std::make_shared<const RankModel>(
                          slice_model(whole, world().rank(), world().size(), EmbeddingSplit::model_dim)),
                      1e-4);
    }
}

TEST_CASE("cuda model parallel: a rank without a GPU of its own is refused", "[cuda][model_parallel]") {
    LLAMAREF_REQUIRE_GPU(cuda::device_available);
    LLAMAREF_REQUIRE_DATA("oracle/llama1-mha/hf/config.json");
    auto model = std::make_shared<const RankModel>(
        load_rank_model(test::data("oracle/llama1-mha/hf"), world().rank(), world().size()));
    const int device = 1 << 20;  // past any host's GPUs; refused before any collective, on every rank
    CHECK_THROWS_WITH(cuda::RankRunner(model, world(), {}, device),
                      Catch::Contains("NCCL needs a GPU of its own for every rank"));
}

#ifdef LLAMAREF_CUDA_EMULATION
#include <cuda_runtime.h>  // tools/cuda_emu/shim's: shim::g_streams_never_ready

// The emulation only (tools/cuda_emu): its streams can be made to never finish, as a GPU's does
// while NCCL waits for a rank that died; the host's wait must end at LLAMAREF_MP_TIMEOUT with an
// Error naming what it waited for (nccl.cuh), on every rank, rather than hang.
TEST_CASE("cuda model parallel: a wait for the other ranks ends at LLAMAREF_MP_TIMEOUT", "[cuda][model_parallel]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama1-mha/hf/config.json");
    auto model = std::make_shared<const RankModel>(
        load_rank_model(test::data("oracle/llama1-mha/hf"), world().rank(), world().size()));
    setenv("LLAMAREF_MP_TIMEOUT", "1", 1);  // read when the collectives are made
    cuda::RankRunner gpu(model, world());
    unsetenv("LLAMAREF_MP_TIMEOUT");
    shim::g_streams_never_ready = true;
    const auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH(gpu.forward(std::vector<int>{1, 2, 3}, 0), Catch::Contains("waited 1 s for the logits"));
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    shim::g_streams_never_ready = false;
    CHECK(waited >= 1.0);
    CHECK(waited < 10.0);
}
#endif
