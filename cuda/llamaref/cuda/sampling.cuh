// llamaref/cuda/sampling.cuh — temperature, top-k, top-p and min-p sampling on the device.
//
// CPU specification: sampling/sampler.hpp, steps 2–7 of its chain (penalties stay on the host):
//   p_i = softmax(logits / temperature) in double;  candidates sorted by p, ties by lower id;
//   top-k keeps the k first;  top-p (Meta's rule) keeps c_i while Σ_{j<i} p_j ≤ top_p;
//   min-p keeps p_i ≥ min_p · p_0;  renormalise; the first candidate whose cumulative
//   probability exceeds coin ∈ [0, 1).
// On the device that is: one kernel for the probabilities, CUB's radix sort (stable, so equal
// probabilities keep ascending ids) and prefix sum, and one thread that binary-searches the
// cumulative sums for each cut and for the coin. The coin comes from the host's generator, so
// the CPU and the GPU draw the same token from the same logits.
#pragma once

#include <cub/cub.cuh>

#include "softmax.cuh"

namespace llamaref::cuda {

// p_i = exp(x_i / T − max) / Σ, in double; ids_i = i. One block of 1024 threads.
static __global__ void sampling_probs_kernel(const float* logits, int n, double temperature, double* p, int* ids,
                                             int* bad) {
    __shared__ double scratch[32];
    __shared__ float fscratch[32];
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        if (!isfinite(logits[i])) *bad = 1;
        mx = fmaxf(mx, logits[i]);
    }
    const double m = double(block_max(mx, fscratch)) / temperature;  // T > 0: the max of x/T
    double sum = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        p[i] = exp(double(logits[i]) / temperature - m);
        ids[i] = i;
        sum += p[i];
    }
    sum = block_sum(sum, scratch);
    for (int i = threadIdx.x; i < n; i += blockDim.x) p[i] /= sum;
}

// First index i in [0, n) with a[i] > v (a non-decreasing), n if none.
__device__ inline int first_greater(const double* a, int n, double v) {
    int lo = 0, hi = n;
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (a[mid] > v)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

// One thread: the cuts and the draw over sorted probabilities p (descending) and their
// inclusive prefix sums cum.
static __global__ void sampling_draw_kernel(const double* p, const double* cum, const int* ids, int n, int top_k,
                                            double top_p, double min_p, double coin, const int* bad, int* result) {
    if (*bad) {
        *result = -1;
        return;
    }
    int keep = top_k > 0 && top_k < n ? top_k : n;
    // top-p: c_i stays while the sum before it, cum[i−1], is ≤ top_p; the first i with
    // cum[i−1] > top_p is 1 + first_greater(cum, top_p).
    keep = min(keep, 1 + first_greater(cum, keep, top_p));
    // min-p: p is descending, so the kept ones are a prefix: count p_i ≥ min_p · p_0.
    if (min_p > 0) {
        const double cut = min_p * p[0];
        int lo = 1, hi = keep;  // p[0] ≥ cut always
        while (lo < hi) {
            const int mid = (lo + hi) / 2;
            if (p[mid] >= cut)
                lo = mid + 1;
            else
                hi = mid;
        }
        keep = lo;
    }
    // Draw: the first kept candidate whose cumulative probability, renormalised, exceeds coin.
    const int i = first_greater(cum, keep, coin * cum[keep - 1]);
    *result = ids[i < keep ? i : keep - 1];
}

// Buffers for one vocabulary size; reused for every token.
class DeviceSampler {
  public:
    explicit DeviceSampler(int n) : n_(n), p_(n), p_sorted_(n), cum_(n), ids_(n), ids_sorted_(n), flags_(1) {
        std::size_t sort_bytes = 0, scan_bytes = 0;
        check(cub::DeviceRadixSort::SortPairsDescending(nullptr, sort_bytes, p_.get(), p_sorted_.get(), ids_.get(),
                                                        ids_sorted_.get(), n),
              "CUB sort (size query)");
        check(cub::DeviceScan::InclusiveSum(nullptr, scan_bytes, p_sorted_.get(), cum_.get(), n),
              "CUB scan (size query)");
        temp_.resize(std::max(sort_bytes, scan_bytes));
    }

    // logits: [n] (device). Writes the chosen id (or −1 for non-finite logits) to *result.
    void sample(const float* logits, double temperature, int top_k, double top_p, double min_p, double coin,
                int* result, cudaStream_t stream = 0) {
        if (!(temperature >= 0) || top_k < 0 || !(top_p > 0 && top_p <= 1) || !(min_p >= 0 && min_p <= 1))
            fail("device sampling: temperature ", temperature, ", top-k ", top_k, ", top-p ", top_p, " or min-p ",
                 min_p, " out of range");
        if (temperature == 0) {
            argmax(logits, n_, result, stream);
            return;
        }
        if (!(coin >= 0 && coin < 1)) fail("device sampling: the coin must be in [0, 1), got ", coin);
        check(cudaMemsetAsync(flags_.get(), 0, sizeof(int), stream), "cudaMemsetAsync");
        sampling_probs_kernel<<<1, 1024, 0, stream>>>(logits, n_, temperature, p_.get(), ids_.get(), flags_.get());
        check_launch("sampling probabilities");
        std::size_t bytes = temp_.size();
        check(cub::DeviceRadixSort::SortPairsDescending(temp_.get(), bytes, p_.get(), p_sorted_.get(), ids_.get(),
                                                        ids_sorted_.get(), n_, 0, int(sizeof(double) * 8), stream),
              "CUB sort");
        bytes = temp_.size();
        check(cub::DeviceScan::InclusiveSum(temp_.get(), bytes, p_sorted_.get(), cum_.get(), n_, stream), "CUB scan");
        sampling_draw_kernel<<<1, 1, 0, stream>>>(p_sorted_.get(), cum_.get(), ids_sorted_.get(), n_, top_k, top_p,
                                                  min_p, coin, flags_.get(), result);
        check_launch("sampling draw");
    }

  private:
    int n_;
    Buffer<double> p_, p_sorted_, cum_;
    Buffer<int> ids_, ids_sorted_, flags_;
    Buffer<unsigned char> temp_;
};

}  // namespace llamaref::cuda
