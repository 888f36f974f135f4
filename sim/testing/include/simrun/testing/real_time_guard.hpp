#pragma once
// A guard against real time and real randomness leaking into a simulation. Linking
// simrun::testing interposes clock_gettime (so std::chrono::steady_clock::now() and
// system_clock::now()), gettimeofday, time, nanosleep, clock_nanosleep, sleep, usleep
// (std::this_thread::sleep_for) and getrandom: while a RealTimeGuard is armed on a thread, each
// such call made from that thread is recorded with the task that made it, the virtual time and
// the step, and then performs the real call as usual. Other threads, and the thread once the
// guard is disarmed, see no difference (one thread-local test per call). run_seeds() arms it
// around every simulated run and fails the seed that made such a call.
//
// Not caught: calls that bypass these symbols (a raw syscall, the vDSO called directly,
// rdtsc), std::random_device when the CPU has RDRAND (libstdc++ then needs no system call).

#include <string>
#include <vector>

namespace simrun::sim {
class SimLoop;
}

namespace simrun::testing {

/// Arms the guard on this thread for `loop` while it lives (see the file comment). Guards nest:
/// the innermost one records.
class RealTimeGuard {
  public:
    explicit RealTimeGuard(const sim::SimLoop& loop);
    ~RealTimeGuard();
    RealTimeGuard(const RealTimeGuard&) = delete;
    RealTimeGuard& operator=(const RealTimeGuard&) = delete;

    /// One line per call caught: "clock_gettime(CLOCK_MONOTONIC) (steady_clock::now()) called by
    /// Task-2 at t=1.000s #5". At most max_reports are kept (the count goes on).
    const std::vector<std::string>& reports() const noexcept { return reports_; }
    /// Calls caught.
    std::size_t count() const noexcept { return count_; }
    static constexpr std::size_t max_reports = 10;

    /// Records a call (used by the interposed functions).
    void record(const char* call);

  private:
    const sim::SimLoop& loop_;
    RealTimeGuard* outer_;
    std::vector<std::string> reports_;
    std::size_t count_ = 0;
};

/// True if this binary's calls of clock_gettime go through the guard (the interposed symbols
/// were linked in); for a self-check.
bool real_time_guard_linked() noexcept;

}  // namespace simrun::testing
