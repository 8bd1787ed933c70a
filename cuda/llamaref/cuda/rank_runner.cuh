// llamaref/cuda/rank_runner.cuh — the implementation of rank_runner.hpp. Include it in exactly one
// .cu file (cuda/runner.cu does where NCCL is found, for the CMake target llamaref::cuda_model_parallel).
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "nccl.cuh"
#include "rank_runner.hpp"
#include "runner.hpp"
#include "transformer.cuh"

namespace llamaref::cuda {

int local_rank(int rank) {
    for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
        if (const char* v = std::getenv(name); v && *v) return std::atoi(v);
    return rank;
}

namespace {
// The rank's GPU, made current before anything is allocated on it.
int select_rank_device(int rank, int requested) {
    std::string why;
    if (!device_available(&why)) fail("rank ", rank, ": no usable CUDA device: ", why);
    int count = 0;
    check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    const int device = requested >= 0 ? requested : local_rank(rank);
    if (device >= count)
        fail("rank ", rank, " would run on GPU ", device, " of its host, which has ", count,
             count == 1 ? " GPU" : " GPUs", ": NCCL needs a GPU of its own for every rank (at most ", count,
             " ranks per host)");
    check(cudaSetDevice(device), "cudaSetDevice");
    return device;
}

RunnerOptions rank_options(RunnerOptions o, int device) {
    o.device = device;
    o.fused_decode = o.cuda_graph = false;  // a rank runs kernel by kernel (transformer.cuh)
    return o;
}
}  // namespace

struct RankRunner::Impl {
    std::shared_ptr<const RankModel> model;
    Partition partition;
    int device;
    NcclCollectives nccl;
    Transformer tf;
    Impl(std::shared_ptr<const RankModel> m, Communicator& host, const RunnerOptions& o, int requested_device)
        : model(std::move(m)),
          partition(model->partition()),
          device(select_rank_device(host.rank(), requested_device)),
          nccl(host),
          tf(model->config, model->weights, rank_options(o, device), RankLayout{&partition, &nccl}) {}
};

RankRunner::RankRunner(std::shared_ptr<const RankModel> model, Communicator& host, RunnerOptions options, int device) {
    if (host.size() != model->ranks || host.rank() != model->rank)
        fail("model parallel: the weights are rank ", model->rank, " of ", model->ranks, " but this process is rank ",
             host.rank(), " of ", host.size());
    validate_rank_weights(model->partition(), model->weights);
    require_supported(Model{model->config, model->weights, model->format, {}, {}});  // config and dtypes
    impl_ = std::make_unique<Impl>(std::move(model), host, options, device);
}
RankRunner::~RankRunner() = default;

const ModelConfig& RankRunner::config() const { return impl_->model->config; }
const Partition& RankRunner::partition() const { return impl_->partition; }
int RankRunner::device() const { return impl_->device; }

std::vector<float> RankRunner::forward(std::span<const int> tokens, int start_pos, bool last_only) {
    check(cudaSetDevice(impl_->device), "cudaSetDevice");  // the current device is per thread
    impl_->tf.forward(tokens, start_pos, last_only);
    return impl_->tf.download_logits(0, impl_->tf.logits_rows());
}

std::size_t RankRunner::weight_bytes() const { return impl_->tf.weight_bytes(); }
std::size_t RankRunner::kv_bytes_per_position() const { return impl_->tf.kv_bytes_per_position(); }
std::size_t RankRunner::bytes_communicated() const { return impl_->nccl.bytes_communicated(); }
std::string RankRunner::device_name() const { return cuda::device_name(impl_->device); }

}  // namespace llamaref::cuda
