// Meta's model-parallel shards of the oracle fixtures, written by the tests: the split table below is
// written out from fairscale's layers as Meta's model.py uses them, independently of the library's
// (formats/meta.hpp, model_parallel/partition.hpp), so a wrong table there fails against this one.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <llamaref/core/half.hpp>
#include <llamaref/formats/pytorch.hpp>

#include "test_data.hpp"
#include "test_formats_pth.hpp"

namespace llamaref::test {

// How Meta's layers split a tensor: 0 rows (ColumnParallelLinear, VocabParallelEmbedding), 1 columns
// (RowParallelLinear, ParallelEmbedding), -1 whole (norms, rope.freqs).
inline int fairscale_split(const std::string& name, bool vocab_parallel_embedding) {
    auto ends = [&](const char* s) { return name.ends_with(s); };
    if (ends("attention.wq.weight") || ends("attention.wk.weight") || ends("attention.wv.weight") ||
        ends("feed_forward.w1.weight") || ends("feed_forward.w3.weight") || name == "output.weight")
        return 0;
    if (ends("attention.wo.weight") || ends("feed_forward.w2.weight")) return 1;
    if (name == "tok_embeddings.weight") return vocab_parallel_embedding ? 0 : 1;  // Llama 3 : Llama 1/2
    return -1;
}

// The fixture's tensors as PthTensors, optionally re-stored as BF16 / F16 (2-D weights only; norms
// stay F32 as in llama.cpp's bf16 files), then split into n shards the way Meta's model-parallel
// layers are split.
inline std::vector<std::vector<PthTensor>> shard_fixture(const std::string& case_name, int n,
                                                         DType weight_dtype = DType::F32,
                                                         bool vocab_parallel_embedding = false) {
    TorchCheckpoint src(data("oracle/" + case_name + "/meta/consolidated.00.pth"));
    std::vector<std::vector<PthTensor>> shards(static_cast<std::size_t>(n));
    for (const auto& [name, v] : src.tensors()) {
        REQUIRE(v.dtype == DType::F32);
        const std::vector<float> x = v.to_f32_vector();
        const DType dt = v.shape.size() == 2 ? weight_dtype : DType::F32;
        const int split = fairscale_split(name, vocab_parallel_embedding);
        const bool vec = v.shape.size() == 1;
        const std::size_t rows = vec ? 1 : v.rows(), cols = vec ? v.numel() : v.cols(), N = std::size_t(n);
        for (std::size_t s = 0; s < N; ++s) {
            const char* storage = dt == DType::F32    ? "FloatStorage"
                                  : dt == DType::BF16 ? "BFloat16Storage"
                                                      : "HalfStorage";
            PthTensor t{name, storage, {}, {}};
            std::size_t r0 = 0, r1 = rows, c0 = 0, c1 = cols;
            if (split == 0) r0 = rows * s / N, r1 = rows * (s + 1) / N;
            if (split == 1) c0 = cols * s / N, c1 = cols * (s + 1) / N;
            t.shape =
                vec ? std::vector<int64_t>{int64_t(c1 - c0)} : std::vector<int64_t>{int64_t(r1 - r0), int64_t(c1 - c0)};
            for (std::size_t r = r0; r < r1; ++r)
                for (std::size_t c = c0; c < c1; ++c) {
                    const float f = x[r * cols + c];
                    if (dt == DType::F32)
                        t.bytes.append(reinterpret_cast<const char*>(&f), 4);
                    else
                        t.bytes += le16(dt == DType::BF16 ? f32_to_bf16(f) : f32_to_f16(f));
                }
            shards[s].push_back(std::move(t));
        }
    }
    return shards;
}

// A Meta folder (params.json + consolidated.NN.pth) of the fixture split in n shards.
inline std::string write_meta_folder(const std::string& case_name, const std::string& tag, int n, DType dt = DType::F32,
                                     bool vocab_parallel_embedding = false) {
    namespace fs = std::filesystem;
    const auto dir = scratch("meta-" + case_name + "-" + tag);
    fs::copy_file(data("oracle/" + case_name + "/meta/params.json"), dir / "params.json");
    const auto shards = shard_fixture(case_name, n, dt, vocab_parallel_embedding);
    for (int s = 0; s < n; ++s)
        write_pth((dir / ("consolidated.0" + std::to_string(s) + ".pth")).string(), shards[std::size_t(s)]);
    return dir.string();
}

}  // namespace llamaref::test
