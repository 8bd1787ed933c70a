// The bfloat16 dot-product kernel (cpu/matmul_bf16.hpp) against its specification: core/ops.hpp's
// matmul of the activations rounded to bfloat16 (llama.cpp's rounding, core/quant_activations.hpp).
// It sums in another order than the reference, so it is checked within a reassociation's error,
// and bit for bit against itself over thread counts. Skipped on a CPU without AVX512_BF16.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <random>
#include <vector>

#include <llamaref/core/ops.hpp>
#include <llamaref/core/parallel.hpp>
#include <llamaref/core/quant_activations.hpp>
#include <llamaref/cpu/backend.hpp>
#include <llamaref/cpu/matmul_bf16.hpp>
#include <llamaref/formats/load.hpp>
#include <llamaref/formats/write_gguf.hpp>
#include <llamaref/model/transformer.hpp>

#include "rounded_kernel_check.hpp"
#include "test_data.hpp"

using namespace llamaref;

namespace {

bool bf16_dot_or_skip() {
    if (cpu::has_bf16_dot()) return true;
    WARN("SKIPPED: this CPU has no AVX512_BF16 (or LLAMAREF_ISA holds the kernels below AVX-512)");
    return false;
}

}  // namespace

TEST_CASE("BF16 dot-product prefill equals the reference product of bf16-rounded activations", "[cpu][bf16]") {
    if (!bf16_dot_or_skip()) return;
    std::mt19937 g(7);
    std::normal_distribution<float> nd;
    // in: tails of 1..31 columns, one or several 1024-column blocks; T: token tails, > 128 (two
    // token blocks); out: row tails of the 4-row tile.
    for (std::size_t in : {1u, 31u, 32u, 33u, 100u, 1024u, 1056u, 2100u})
        for (std::size_t out : {1u, 3u, 4u, 7u, 13u})
            for (std::size_t T : {4u, 5u, 7u, 9u, 131u}) {
                INFO("W [" << out << ", " << in << "], T " << T);
                std::vector<float> w(out * in), x(T * in);
                for (auto& v : w) v = nd(g);
                for (auto& v : x) v = nd(g);
                std::vector<std::byte> stored(dtype_bytes(DType::BF16, out * in));
                from_f32(DType::BF16, w.data(), stored.data(), out * in);
                // Every product is exact; only the additions round (rounded_kernel_check.hpp).
                test::check_rounded_kernel(TensorView{DType::BF16, {out, in}, stored.data()}, x, T,
                                           cpu::matmul_bf16_rounded);
            }
}

// On a model the rounding itself amplifies any change in the order of the sums: an activation
// within a float32 rounding of a bfloat16 rounding boundary lands on the other side (a change of
// 2⁻⁸ of it), and the logits move. The fast backend's exact kernels (dot_blocked's order) differ
// from the reference that way too. So the bf16 dot products are held to the distance of the exact
// fast kernels from the reference (measured on llama2-gqa in BF16, 24 tokens: bf16 dot products
// 6.7e-4, exact kernels 9.5e-3), and to the same greedy ids.
TEST_CASE("llama.cpp's rounding on a BF16 model: bf16 dot products as near the reference as the exact kernels",
          "[cpu][bf16][oracle]") {
    if (!bf16_dot_or_skip()) return;
    LLAMAREF_REQUIRE_DATA("oracle/llama2-gqa/hf/model.safetensors");
    const auto dir = std::filesystem::temp_directory_path() / "llamaref_test_bf16_dot";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "model-bf16.gguf").string();
    write_gguf(*load_model(test::data("oracle/llama2-gqa/hf")), path, DType::BF16);
    auto model = load_model(path);
    std::vector<int> ids;
    for (int i = 0; i < 24; ++i) ids.push_back((i * 37 + 5) % model->config.vocab_size);
    auto run = [&](Backend backend, cpu::Isa isa) {
        cpu::set_isa(isa);
        Transformer tf(model);
        tf.set_backend(backend);
        tf.set_llamacpp_rounding(true);
        Tensor2 logits = tf.forward(ids, 0);
        cpu::set_isa(cpu::Isa::avx512);
        return logits;
    };
    const Tensor2 reference = run(reference_backend, cpu::Isa::avx512);
    const Tensor2 dot = run(cpu::fast_backend, cpu::Isa::avx512);  // bf16 dot products
    const Tensor2 exact = run(cpu::fast_backend, cpu::Isa::avx2);  // the exact kernels
    auto largest_difference = [&](const Tensor2& a) {
        double worst = 0;
        for (std::size_t i = 0; i < a.size(); ++i)
            worst = std::max(worst, std::fabs(double(a.data()[i]) - reference.data()[i]));
        return worst;
    };
    const double d_dot = largest_difference(dot), d_exact = largest_difference(exact);
    WARN("largest |fast − reference|: bf16 dot products " << d_dot << ", exact kernels " << d_exact);
    CHECK(d_dot < 4 * std::max(d_exact, 1e-5));
    const std::size_t V = reference.shape(1);
    for (std::size_t t = 0; t < ids.size(); ++t) {
        CHECK(argmax(dot.data() + t * V, V) == argmax(reference.data() + t * V, V));
        CHECK(argmax(exact.data() + t * V, V) == argmax(reference.data() + t * V, V));
    }
    std::filesystem::remove_all(dir);
}
