// llamaref/core/parallel.hpp — the one place where llamaref starts threads.
//
// parallel_for(n, f) calls f(begin, end) on disjoint ranges covering [0, n). Every output element
// is computed by exactly one thread in the same order as the serial loop, so results do not
// depend on the thread count (tests check this). The fast CPU path will replace the body with a
// persistent pool; callers do not change.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace llamaref {

namespace detail {
inline std::atomic<int>& thread_count() {
    static std::atomic<int> n{1};
    return n;
}
}  // namespace detail

inline void set_num_threads(int n) { detail::thread_count() = std::max(1, n); }
inline int num_threads() { return detail::thread_count(); }

// Split [0, n) into one contiguous chunk per thread. Small jobs (fewer than min_per_thread items
// per thread) run on the calling thread: starting a thread costs more than they do.
template <class F>
void parallel_for(std::size_t n, F&& f, std::size_t min_per_thread = 16) {
    const std::size_t want = std::min<std::size_t>(num_threads(), n / std::max<std::size_t>(1, min_per_thread));
    if (want <= 1) {
        f(std::size_t{0}, n);
        return;
    }
    std::vector<std::thread> workers;
    const std::size_t chunk = (n + want - 1) / want;
    for (std::size_t b = chunk; b < n; b += chunk) workers.emplace_back([&f, b, n, chunk] { f(b, std::min(n, b + chunk)); });
    f(std::size_t{0}, std::min(n, chunk));
    for (auto& w : workers) w.join();
}

}  // namespace llamaref
