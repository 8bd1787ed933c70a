#pragma once
#include <numeric>
#include "../cuda_runtime.h"
namespace cub {
struct DeviceRadixSort {
    template <class K, class V>
    static cudaError_t SortPairsDescending(void* temp, std::size_t& bytes, const K* kin, K* kout, const V* vin, V* vout,
                                           int n, int = 0, int = sizeof(K) * 8, cudaStream_t = nullptr) {
        if (!temp) {
            bytes = 1;
            return cudaSuccess;
        }
        std::vector<std::pair<K, V>> v(n);
        for (int i = 0; i < n; ++i) v[i] = {kin[i], vin[i]};
        std::stable_sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.first > b.first; });
        for (int i = 0; i < n; ++i) kout[i] = v[i].first, vout[i] = v[i].second;
        return cudaSuccess;
    }
};
struct DeviceScan {
    template <class T>
    static cudaError_t InclusiveSum(void* temp, std::size_t& bytes, const T* in, T* out, int n,
                                    cudaStream_t = nullptr) {
        if (!temp) {
            bytes = 1;
            return cudaSuccess;
        }
        std::partial_sum(in, in + n, out);
        return cudaSuccess;
    }
};
}  // namespace cub
