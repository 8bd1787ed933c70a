// llamaref/formats/progress.hpp — a progress bar on stderr for loads that take more than a second.
//
// Readers report the bytes they have prepared (views made, tensors copied or concatenated). The
// bar appears only once a load has run for a second, only when stderr is a terminal (logs and
// test output stay clean), and is erased when the load ends. set_load_progress(false) silences it.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

namespace llamaref {

inline std::atomic<bool>& load_progress_enabled() {
    static std::atomic<bool> on{true};
    return on;
}
inline void set_load_progress(bool on) { load_progress_enabled() = on; }

class LoadProgress {
  public:
    LoadProgress(std::string label, std::size_t total_bytes)
        : label_(std::move(label)),
          total_(total_bytes),
          start_(std::chrono::steady_clock::now()),
          active_(load_progress_enabled() && ::isatty(2)) {}
    ~LoadProgress() {
        if (shown_) std::fprintf(stderr, "\r\033[K");
    }
    LoadProgress(const LoadProgress&) = delete;
    LoadProgress& operator=(const LoadProgress&) = delete;

    void add(std::size_t bytes) {
        done_ += bytes;
        if (!active_) return;
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        if (s < 1.0) return;
        const double frac = total_ ? std::min(1.0, double(done_) / double(total_)) : 1.0;
        const int width = 30, filled = int(frac * width);
        std::fprintf(stderr, "\r%s [%s%s] %3d%% %.2f / %.2f GB %.1fs", label_.c_str(), std::string(filled, '#').c_str(),
                     std::string(width - filled, ' ').c_str(), int(frac * 100), double(done_) / 1e9,
                     double(total_) / 1e9, s);
        std::fflush(stderr);
        shown_ = true;
    }

  private:
    std::string label_;
    std::size_t total_, done_ = 0;
    std::chrono::steady_clock::time_point start_;
    bool active_, shown_ = false;
};

}  // namespace llamaref
