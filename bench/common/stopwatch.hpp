#pragma once
// The clock every benchmark times itself with (Google Benchmark's manual time). The machine the
// benchmarks run on is shared, so by default a workload that runs on the loop's thread alone is
// timed by that thread's CPU time (CLOCK_THREAD_CPUTIME_ID: user + system, not the time spent
// descheduled); workloads that cross threads (executor, threadsafe) always use the monotonic
// clock. BENCH_CLOCK=wall times everything with the monotonic clock.

#include <time.h>

#include <cstdlib>
#include <string_view>

namespace bench {

/// True unless BENCH_CLOCK=wall.
inline bool cpu_clock_selected() {
    static const bool cpu = [] {
        const char* value = std::getenv("BENCH_CLOCK");
        return value == nullptr || std::string_view(value) != "wall";
    }();
    return cpu;
}

/// Which clock a workload needs.
enum class Timing { loop_thread, cross_thread };

class Stopwatch {
  public:
    explicit Stopwatch(Timing timing = Timing::loop_thread)
        : clock_(timing == Timing::loop_thread && cpu_clock_selected() ? CLOCK_THREAD_CPUTIME_ID
                                                                       : CLOCK_MONOTONIC),
          start_(now()) {}

    /// Seconds since construction.
    double seconds() const { return now() - start_; }

  private:
    double now() const {
        timespec time{};
        ::clock_gettime(clock_, &time);
        return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_nsec) * 1e-9;
    }

    clockid_t clock_;
    double start_;
};

}  // namespace bench
