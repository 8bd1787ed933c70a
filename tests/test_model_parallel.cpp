// Meta's model-parallel layout without MPI: which slices a rank holds, the shards of a Meta folder
// read one per rank, the refusals, and the one-rank forward against Meta's logits. The 2- and
// 4-rank runs over MPI are tests/model_parallel/mpi_test.sh.
#include <catch2/catch.hpp>

#include <cstring>

#include <llamaref/cpu/backend.hpp>
#include <llamaref/model_parallel/communicator.hpp>
#include <llamaref/model_parallel/rank_model.hpp>
#include <llamaref/model_parallel/transformer.hpp>
#include <llamaref/verify/compare.hpp>

#include "test_formats_oracle.hpp"
#include "test_meta_shards.hpp"

using namespace llamaref;
using namespace llamaref::test;

namespace {

ModelConfig llama_config(int H, int KV, int F, int V, int D = 64) {
    ModelConfig c;
    c.dim = D;
    c.n_layers = 1;
    c.n_heads = H;
    c.n_kv_heads = KV;
    c.head_dim = D / H;
    c.hidden_dim = F;
    c.vocab_size = V;
    return c;
}

bool same_bytes(const TensorView& a, const TensorView& b) {
    return a.dtype == b.dtype && a.shape == b.shape && std::memcmp(a.data, b.data, a.nbytes()) == 0;
}

}  // namespace

TEST_CASE("model parallel: each rank's heads, units and vocabulary", "[model_parallel]") {
    const ModelConfig c = llama_config(8, 4, 96, 512);
    const Partition p(c, 1, 2, EmbeddingSplit::model_dim);
    CHECK(p.q_heads().begin == 4);
    CHECK(p.q_heads().end == 8);
    CHECK(p.kv_heads().begin == 2);
    CHECK(p.ffn_units().begin == 48);
    CHECK(p.vocab().begin == 256);
    CHECK(p.local_heads().n_heads == 4);
    CHECK(p.local_heads().n_kv_heads == 2);
    CHECK(p.local_heads().n_rep() == 2);  // the same query heads per KV head as the whole model
    // wq rows of heads 4..7 (head_dim 8), wo columns of the same heads, w2 columns of units 48..95.
    CHECK(p.layer_split("attention.wq").axis == 0);
    CHECK(p.layer_split("attention.wq").range.begin == 32);
    CHECK(p.layer_split("attention.wo").axis == 1);
    CHECK(p.layer_split("attention.wo").range.end == 64);
    CHECK(p.layer_split("feed_forward.w2").axis == 1);
    CHECK(p.layer_split("feed_forward.w2").range.begin == 48);
    CHECK(p.layer_split("ffn_norm").axis == -1);
    CHECK(p.embedding_split().axis == 1);
    CHECK(Partition(c, 0, 2, EmbeddingSplit::vocab).embedding_split().axis == 0);
}

TEST_CASE("model parallel: splits Meta's layers cannot make are refused", "[model_parallel]") {
    CHECK_THROWS_WITH(Partition(llama_config(8, 2, 96, 512), 0, 4, EmbeddingSplit::model_dim),
                      Catch::Contains("only 2 key/value heads") && Catch::Contains("use at most 2 ranks"));
    CHECK_THROWS_WITH(Partition(llama_config(8, 8, 100, 512), 0, 8, EmbeddingSplit::model_dim),
                      Catch::Contains("the FFN hidden size = 100"));
    CHECK_THROWS_WITH(Partition(llama_config(4, 4, 96, 510), 0, 4, EmbeddingSplit::model_dim),
                      Catch::Contains("vocab_size = 510"));
    CHECK_THROWS_WITH(Partition(llama_config(4, 4, 96, 512), 2, 2, EmbeddingSplit::model_dim),
                      Catch::Contains("rank 2 is outside"));
}

TEST_CASE("model parallel: rank r reads consolidated.r.pth, equal to its slice of the whole model",
          "[model_parallel][oracle]") {
    for (const char* c : kOracleCases) {
        LLAMAREF_REQUIRE_DATA(std::string("oracle/") + c + "/meta/consolidated.00.pth");
        SECTION(c) {
            auto whole = load_model(data(std::string("oracle/") + c + "/meta"));
            for (bool vocab : {false, true}) {
                const int n = 2;  // every fixture has at least 2 KV heads
                const std::string dir = write_meta_folder(c, vocab ? "vocab2" : "dim2", n, DType::F32, vocab);
                // The merged folder is the whole model again, whichever way the embedding was split.
                auto merged = load_model(dir);
                CHECK(same_bytes(merged->weights.tok_embeddings, whole->weights.tok_embeddings));
                for (int r = 0; r < n; ++r) {
                    INFO("rank " << r << (vocab ? ", vocabulary-split embedding" : ", dimension-split embedding"));
                    const RankModel m = load_rank_model(dir, r, n);
                    CHECK(m.embedding == (vocab ? EmbeddingSplit::vocab : EmbeddingSplit::model_dim));
                    CHECK(m.format == "meta shard " + std::to_string(r) + " of 2");
                    const RankModel s = slice_model(whole, r, n, m.embedding);
                    CHECK(same_bytes(m.weights.tok_embeddings, s.weights.tok_embeddings));
                    CHECK(same_bytes(m.weights.output, s.weights.output));
                    for (std::size_t l = 0; l < s.weights.layers.size(); ++l)
                        for (const LayerTensorName& name : layer_tensor_names(false)) {
                            INFO("layers." << l << "." << name.meta);
                            CHECK(same_bytes(m.weights.layers[l].*name.field, s.weights.layers[l].*name.field));
                        }
                }
            }
        }
    }
}

TEST_CASE("model parallel: a Meta folder's shard count must equal the ranks", "[model_parallel][oracle]") {
    LLAMAREF_REQUIRE_DATA("oracle/llama1-mha/meta/consolidated.00.pth");
    const std::string two = write_meta_folder("llama1-mha", "count2", 2);
    CHECK_THROWS_WITH(load_rank_model(two, 0, 4),
                      Catch::Contains("2 shards (consolidated.00 .. 1) but 4 ranks") && Catch::Contains("run 2 ranks"));
    CHECK_THROWS_WITH(load_rank_model(data("oracle/llama1-mha/meta"), 1, 2), Catch::Contains("1 shard"));
    CHECK_THROWS_WITH(load_rank_model(data("oracle/llama2-gqa/meta"), 0, 4),
                      Catch::Contains("but 4 ranks"));  // a Meta folder: the count is checked first
    CHECK_THROWS_WITH(load_rank_model(data("oracle/llama2-gqa/hf"), 0, 4), Catch::Contains("only 2 key/value heads"));
}

TEST_CASE("model parallel: one rank's forward gives Meta's logits", "[model_parallel][oracle]") {
    for (const char* c : kOracleCases) {
        LLAMAREF_REQUIRE_DATA(std::string("oracle/") + c + "/meta/consolidated.00.pth");
        SECTION(c) {
            const Oracle o = read_oracle(data(std::string("oracle/") + c));
            SingleRank one;
            auto m =
                std::make_shared<const RankModel>(load_rank_model(data(std::string("oracle/") + c + "/meta"), 0, 1));
            for (Backend b : {reference_backend, cpu::fast_backend}) {
                ModelParallelTransformer tf(m, one);
                tf.set_backend(b);
                const Tensor2 prefill = tf.forward(o.prompt, 0);  // [P, V]
                CHECK(max_abs_diff(prefill.data(), o.prefill.data(), prefill.size()) < 1e-4);
                // Decode the generated tokens one at a time: Meta's greedy ids and decode logits.
                const std::size_t P = o.prompt.size(), V = prefill.shape(1);
                CHECK(int(argmax(&prefill(P - 1, 0), V)) == o.generated[0]);
                double decode = 0;
                for (std::size_t k = 1; k < o.generated.size(); ++k) {
                    const Tensor2 step = tf.forward(std::vector<int>{o.generated[k - 1]}, int(P + k - 1));  // [1, V]
                    decode = std::max(decode, max_abs_diff(step.data(), o.decode.data() + k * V, V));
                    CHECK(int(argmax(step.data(), V)) == o.generated[k]);
                }
                CHECK(decode < 1e-4);
            }
            // The rank model equals the single-process model exactly with one rank (the same sums).
            ModelParallelTransformer tf(m, one);
            Transformer ref(load_model(data(std::string("oracle/") + c + "/meta")));
            const Tensor2 a = tf.forward(o.prompt, 0), b = ref.forward(o.prompt, 0);
            CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
        }
    }
}

TEST_CASE("model parallel: bytes per rank of the largest Llamas", "[model_parallel]") {
    // Llama 3.1 405B (examples/params): 405.85e9 parameters in bf16; 8 ranks hold 1/8 of every split
    // tensor and a whole copy of every norm.
    const ModelConfig c = parse_meta_params(
        read_json_file(std::string(LLAMAREF_SOURCE_DIR) + "/examples/params/llama3.1-405b.params.json"), "405b");
    const Partition one(c, 0, 1, EmbeddingSplit::vocab), eight(c, 0, 8, EmbeddingSplit::vocab);
    const RankFootprint whole = rank_footprint(one, DType::BF16, DType::BF16);
    const RankFootprint rank = rank_footprint(eight, DType::BF16, DType::BF16);
    const std::size_t norms = (2 * std::size_t(c.n_layers) + 1) * std::size_t(c.dim) * 2;  // bytes, bf16
    CHECK(whole.weight_bytes == 2 * std::size_t(405'853'388'800));
    CHECK(8 * rank.weight_bytes == whole.weight_bytes + 7 * norms);
    CHECK(rank.kv_bytes_per_position == 2 * 126 * 1 * 128 * 2);  // K and V, 126 layers, 1 KV head of 128, bf16
    CHECK(rank.allreduce_floats == 2 * 126 * 16384);
    CHECK(rank.logits_floats == 128256 / 8);
    if (std::filesystem::exists(data("params/llama3-70b.params.json"))) {  // Meta's own file
        const ModelConfig c70 = parse_meta_params(read_json_file(data("params/llama3-70b.params.json")), "70b");
        const RankFootprint r70 = rank_footprint(Partition(c70, 3, 8, EmbeddingSplit::vocab), DType::BF16, DType::F32);
        CHECK(r70.kv_bytes_per_position == 2 * 80 * 128 * 4);
        CHECK(r70.weight_bytes == (2 * std::size_t(70'553'706'496) - 160 * 8192 * 2 - 8192 * 2) / 8 + 161 * 8192 * 2);
    }
}

TEST_CASE("model parallel: compare cuts a rank's slice from the whole tensor", "[model_parallel][verify]") {
    TraceTensor whole, part;
    whole.name = part.name = "layers.0.feed_forward.hidden";
    whole.shape = {2, 6};  // [T, F]
    whole.data = {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15};
    part.shape = {2, 2};  // rank 1 of 3: units 2..3
    part.data = {2, 3, 12, 13};
    part.shard = {1, 2, 4, 6, 1, 3};
    const TensorComparison c = compare_tensor(part, whole, {});
    CHECK(c.within);
    CHECK(c.max_abs == 0);
    CHECK_THAT(c.note, Catch::Contains("rank 1 of 3"));
    CHECK(compare_tensor(whole, part, {}).within);  // either side may be the slice
    part.data[3] = 14;                              // a slice from the wrong units is found
    CHECK_FALSE(compare_tensor(part, whole, {}).within);
    part.shard.whole = 7;  // a slice of another tensor is a shape mismatch, not a silent pass
    CHECK_FALSE(compare_tensor(part, whole, {}).within);
    // A trace folder whose shard does not fit its tensor is an error naming the entry.
    const auto dir = scratch("bad-shard");
    Trace t;
    t.tensors.push_back(part);
    t.tensors.back().shard = {1, 2, 4, 6, 1, 3};
    t.save(dir.string());
    std::string index = slurp((dir / "index.json").string());
    index.replace(index.find("\"end\": 4"), 8, "\"end\": 9");
    write_file(dir / "index.json", index);
    CHECK_THROWS_WITH(Trace::load(dir.string()), Catch::Contains("is not inside 0 .. 6"));
}
