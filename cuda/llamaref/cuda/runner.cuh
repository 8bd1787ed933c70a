// llamaref/cuda/runner.cuh — the implementation of runner.hpp: a Runner owns a device
// Transformer (transformer.cuh). Include it in exactly one .cu file (cuda/runner.cu does, for
// the CMake target llamaref::cuda_runner): the functions of runner.hpp are defined here, not inline.
#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "runner.hpp"
#include "transformer.cuh"

namespace llamaref::cuda {

bool device_available(std::string* why) {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        if (why) *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device found";
        cudaGetLastError();  // clear the sticky error of a failed query
        return false;
    }
    return true;
}

std::string device_name(int device) {
    cudaDeviceProp p{};
    check(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s, %d SMs, %.1f GiB, sm_%d%d", p.name, p.multiProcessorCount,
                  double(p.totalGlobalMem) / (1 << 30), p.major, p.minor);
    return buf;
}

double device_copy_bandwidth(std::size_t bytes, int repeats, int device) {
    if (bytes == 0 || repeats < 1) fail("device_copy_bandwidth: needs bytes > 0 and repeats >= 1");
    check(cudaSetDevice(device), "cudaSetDevice");
    Buffer<unsigned char> a(bytes), b(bytes);
    check(cudaMemset(a.get(), 1, bytes), "cudaMemset");
    cudaEvent_t start, stop;
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    std::vector<double> rates;
    for (int r = 0; r < repeats + 1; ++r) {  // the first copy warms up and is not counted
        check(cudaEventRecord(start), "cudaEventRecord");
        check(cudaMemcpy(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy D2D");
        check(cudaEventRecord(stop), "cudaEventRecord");
        check(cudaEventSynchronize(stop), "cudaEventSynchronize");
        float ms = 0;
        check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
        if (r > 0) rates.push_back(2.0 * double(bytes) / (double(ms) * 1e-3));  // read + write
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    std::sort(rates.begin(), rates.end());
    return rates[rates.size() / 2];
}

struct Runner::Impl {
    int device;  // selected before the model is uploaded
    Transformer model;
    Impl(const Model& m, const RunnerOptions& o) : device(select(o.device)), model(m, o) {}
    static int select(int device) {
        int current = -1;
        if (cudaGetDevice(&current) == cudaSuccess && current == device) return device;
        std::string why;
        if (!device_available(&why)) fail("no usable CUDA device: ", why);
        check(cudaSetDevice(device), "cudaSetDevice");
        return device;
    }
};

Runner::Runner(const Model& model, RunnerOptions options) {
    validate_weights(model.config, model.weights);
    require_supported(model);
    impl_ = std::make_unique<Impl>(model, options);
}
Runner::~Runner() = default;

const ModelConfig& Runner::config() const { return impl_->model.config(); }

std::vector<float> Runner::forward(std::span<const int> tokens, int start_pos) {
    Impl::select(impl_->device);
    impl_->model.forward(tokens, start_pos, /*last_only=*/false);
    return impl_->model.download_logits(0, int(tokens.size()));
}

int Runner::next_token(std::span<const int> tokens, int start_pos, const DeviceSampling& sampling, double coin) {
    Impl::select(impl_->device);  // the current device is per thread and may have changed
    impl_->model.forward(tokens, start_pos, /*last_only=*/true);
    return impl_->model.sample(sampling, coin);
}

std::vector<float> Runner::last_logits() const {
    if (impl_->model.logits_rows() == 0) fail("last_logits: nothing has run yet");
    return impl_->model.download_logits(impl_->model.logits_rows() - 1, 1);
}

std::string Runner::decode_path() const { return impl_->model.decode_path(); }

std::size_t Runner::weight_bytes() const { return impl_->model.weight_bytes(); }
std::size_t Runner::kv_bytes_per_position() const { return impl_->model.kv_bytes_per_position(); }
std::size_t Runner::decode_bytes(int pos) const {
    return impl_->model.decode_weight_bytes() + std::size_t(pos + 1) * kv_bytes_per_position();
}

void Runner::synchronize() const { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

void Runner::set_observer(Observer fn, bool) { impl_->model.set_observer(std::move(fn)); }

}  // namespace llamaref::cuda
