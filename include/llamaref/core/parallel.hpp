// llamaref/core/parallel.hpp — the one place where llamaref starts threads.
//
// parallel_for(n, f) calls f(begin, end) on disjoint ranges covering [0, n). Every output element
// is computed by exactly one thread in the same order as the serial loop, so results do not
// depend on the thread count (tests check this).
//
// The threads are one persistent pool, started the first time they are needed and kept until the
// program ends: a decode step calls parallel_for a few hundred times, and starting threads each
// time would cost more than the work. Between jobs a worker spins briefly (the next job usually
// follows within microseconds), then sleeps on an atomic wait (a futex), so an idle program uses
// no CPU. The caller runs the first range itself and waits for the others.
//
// parallel_for_chunks(n, chunk, f) is the same with ranges of `chunk` items handed out on demand
// (the matrix products use it: a thread slowed by the rest of the machine takes fewer rows).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace llamaref {

namespace detail {
inline std::atomic<int>& thread_count() {
    static std::atomic<int> n{1};
    return n;
}

// Tells the CPU that this is a spin-wait loop (x86 PAUSE); a no-op elsewhere.
inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

class ThreadPool {
  public:
    static ThreadPool& instance() {
        static ThreadPool pool;
        return pool;
    }

    // A job: task(context, i) for i in [0, n_tasks). A plain function pointer and a pointer to
    // the caller's data, not a std::function: starting a job allocates nothing.
    using Task = void (*)(void* context, int i);

    // Runs the job: task 0 on the calling thread, the others on workers. A call from inside a job
    // (nested parallelism) or while another thread is using the pool runs every task on the
    // calling thread: same results, no deadlock.
    void run(int n_tasks, Task task, void* context) {
        auto serial = [&] {
            for (int i = 0; i < n_tasks; ++i) task(context, i);
        };
        if (n_tasks <= 1 || in_job()) return serial();  // checked before the lock: no self-deadlock
        std::unique_lock<std::mutex> lock(use_, std::try_to_lock);
        if (!lock.owns_lock()) return serial();
        while (int(workers_.size()) < n_tasks - 1) {
            const int index = int(workers_.size()) + 1;
            const uint64_t now = generation_.load(std::memory_order_relaxed);
            workers_.emplace_back([this, index, now] { worker_loop(index, now); });
        }
        task_ = task;
        context_ = context;
        n_tasks_ = n_tasks;
        // Every worker acknowledges every job (those without a task too), so no worker can still
        // be reading this job's fields when the next one is set up.
        pending_.store(int(workers_.size()), std::memory_order_relaxed);
        generation_.fetch_add(1, std::memory_order_release);
        generation_.notify_all();
        in_job() = true;
        guarded(0);
        in_job() = false;
        wait_while_not(pending_, 0);
        task_ = nullptr;
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));  // the first one thrown
    }

    ~ThreadPool() {
        stop_ = true;
        generation_.fetch_add(1, std::memory_order_release);
        generation_.notify_all();
        for (auto& w : workers_) w.join();
    }

  private:
    ThreadPool() = default;

    static bool& in_job() {
        thread_local bool inside = false;
        return inside;
    }

    // Wait until `a` equals `want` (pending_ counting down) — spin first, then sleep.
    static void wait_while_not(std::atomic<int>& a, int want) {
        for (int i = 0; i < 20000; ++i) {
            if (a.load(std::memory_order_acquire) == want) return;
            spin_pause();
        }
        for (int v; (v = a.load(std::memory_order_acquire)) != want;) a.wait(v, std::memory_order_acquire);
    }

    // A task that throws does not stop the others; run() rethrows the first exception after all
    // tasks have finished (the job's captures live on the caller's stack until then).
    void guarded(int index) {
        try {
            task_(context_, index);
        } catch (...) {
            std::lock_guard<std::mutex> g(error_lock_);
            if (!error_) error_ = std::current_exception();
        }
    }

    void worker_loop(int index, uint64_t seen) {
        in_job() = true;
        for (;;) {
            uint64_t g = generation_.load(std::memory_order_acquire);
            for (int i = 0; g == seen && i < 20000; ++i) {  // spin: the next job is usually close
                spin_pause();
                g = generation_.load(std::memory_order_acquire);
            }
            while (g == seen) {
                generation_.wait(g, std::memory_order_acquire);
                g = generation_.load(std::memory_order_acquire);
            }
            seen = g;
            if (stop_) return;
            if (index < n_tasks_) guarded(index);
            if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
        }
    }

    std::mutex use_;  // one job at a time
    std::vector<std::thread> workers_;
    Task task_ = nullptr;
    void* context_ = nullptr;
    int n_tasks_ = 0;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
    std::mutex error_lock_;
    std::exception_ptr error_;
};
}  // namespace detail

inline void set_num_threads(int n) { detail::thread_count() = std::max(1, n); }
inline int num_threads() { return detail::thread_count(); }

// The number of hardware threads (at least 1): the CLI's default for -t.
inline int default_num_threads() { return std::max(1, int(std::thread::hardware_concurrency())); }

// Split [0, n) into one contiguous chunk per thread. Small jobs (fewer than min_per_thread items
// per thread) run on the calling thread: waking a worker costs more than they do.
template <class F>
void parallel_for(std::size_t n, F&& f, std::size_t min_per_thread = 16) {
    const std::size_t want = std::min<std::size_t>(num_threads(), n / std::max<std::size_t>(1, min_per_thread));
    if (want <= 1) {
        f(std::size_t{0}, n);
        return;
    }
    struct Job {
        std::remove_reference_t<F>* f;
        std::size_t n, chunk;
    } job{&f, n, (n + want - 1) / want};
    const int tasks = int((n + job.chunk - 1) / job.chunk);
    detail::ThreadPool::instance().run(
        tasks,
        [](void* context, int i) {
            const Job& j = *static_cast<const Job*>(context);
            const std::size_t b = std::size_t(i) * j.chunk;
            (*j.f)(b, std::min(j.n, b + j.chunk));
        },
        &job);
}

// Split [0, n) into chunks of `chunk` items handed out on demand: each thread takes the next
// chunk when it has finished its last, so a thread slowed by something else (another program,
// a busier memory channel) takes fewer chunks instead of making the others wait. Which thread
// computes a chunk varies from run to run; what is computed does not, as long as f computes
// each item of a range the same way whatever the range (the kernels that use this do), so
// results still do not depend on the thread count or on the schedule. One chunk or one thread:
// f(0, n) on the calling thread.
template <class F>
void parallel_for_chunks(std::size_t n, std::size_t chunk, F&& f) {
    chunk = std::max<std::size_t>(1, chunk);
    const std::size_t n_chunks = (n + chunk - 1) / chunk;
    const std::size_t want = std::min<std::size_t>(num_threads(), n_chunks);
    if (want <= 1) {
        f(std::size_t{0}, n);
        return;
    }
    struct Job {
        std::remove_reference_t<F>* f;
        std::size_t n, chunk, n_chunks;
        std::atomic<std::size_t> next{0};
    } job{&f, n, chunk, n_chunks};
    detail::ThreadPool::instance().run(
        int(want),
        [](void* context, int) {
            Job& j = *static_cast<Job*>(context);
            for (std::size_t c; (c = j.next.fetch_add(1, std::memory_order_relaxed)) < j.n_chunks;)
                (*j.f)(c * j.chunk, std::min(j.n, (c + 1) * j.chunk));
        },
        &job);
}

}  // namespace llamaref
