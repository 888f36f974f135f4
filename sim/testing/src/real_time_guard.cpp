// The real-time guard (see simrun/testing/real_time_guard.hpp): this file defines clock_gettime,
// gettimeofday, time, nanosleep, clock_nanosleep, sleep, usleep and getrandom. The program's own
// definitions come first in the dynamic linker's search order, so calls from the program and from
// the shared libraries it loads (libstdc++'s steady_clock::now(), ...) arrive here; each records
// the call if a guard is armed on this thread and then calls the C library's function, found with
// dlsym(RTLD_NEXT). The linker pulls this file in with RealTimeGuard, which run_seeds() uses.
#include "simrun/testing/real_time_guard.hpp"

#include <dlfcn.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "simrun/core/task.hpp"
#include "simrun/sim/loop/sim_loop.hpp"
#include "simrun/sim/loop/trace.hpp"

namespace simrun::testing {

namespace {

thread_local RealTimeGuard* armed = nullptr;
thread_local bool recording = false;

/// The C library's `name`, looked up once.
template <class F>
F next_symbol(std::atomic<void*>& cache, const char* name) noexcept {
    void* found = cache.load(std::memory_order_relaxed);
    if (found == nullptr) {
        found = ::dlsym(RTLD_NEXT, name);
        cache.store(found, std::memory_order_relaxed);
    }
    return reinterpret_cast<F>(found);
}

void record(const char* call) noexcept {
    if (armed == nullptr || recording)
        return;
    recording = true;
    try {
        armed->record(call);
    } catch (...) {
    }
    recording = false;
}

const char* clock_call(clockid_t clock) noexcept {
    switch (clock) {
        case CLOCK_MONOTONIC:
            return "clock_gettime(CLOCK_MONOTONIC) (std::chrono::steady_clock::now())";
        case CLOCK_REALTIME:
            return "clock_gettime(CLOCK_REALTIME) (std::chrono::system_clock::now())";
        case CLOCK_MONOTONIC_RAW:
            return "clock_gettime(CLOCK_MONOTONIC_RAW)";
        case CLOCK_BOOTTIME:
            return "clock_gettime(CLOCK_BOOTTIME)";
        case CLOCK_PROCESS_CPUTIME_ID:
            return "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)";
        case CLOCK_THREAD_CPUTIME_ID:
            return "clock_gettime(CLOCK_THREAD_CPUTIME_ID)";
        default:
            return "clock_gettime";
    }
}

std::atomic<void*> real_clock_gettime{nullptr};
std::atomic<void*> real_gettimeofday{nullptr};
std::atomic<void*> real_time{nullptr};
std::atomic<void*> real_nanosleep{nullptr};
std::atomic<void*> real_clock_nanosleep{nullptr};
std::atomic<void*> real_sleep{nullptr};
std::atomic<void*> real_usleep{nullptr};
std::atomic<void*> real_getrandom{nullptr};

}  // namespace

RealTimeGuard::RealTimeGuard(const sim::SimLoop& loop) : loop_(loop), outer_(armed) {
    armed = this;
}

RealTimeGuard::~RealTimeGuard() {
    armed = outer_;
}

void RealTimeGuard::record(const char* call) {
    ++count_;
    if (reports_.size() >= max_reports)
        return;
    const detail::TaskBase* task = detail::current_task_state();
    std::string line = std::string(call) + " called by " +
                       (task != nullptr ? task->name() : std::string("a callback outside tasks")) +
                       " at t=" + sim::format_time(loop_.time()) + " #" +
                       std::to_string(loop_.steps());
    reports_.push_back(std::move(line));
}

bool real_time_guard_linked() noexcept {
    // The address of clock_gettime as this program sees it is ours if the interposition works.
    int (*seen)(clockid_t, timespec*) noexcept = &::clock_gettime;
    void* global = ::dlsym(RTLD_DEFAULT, "clock_gettime");
    return global == reinterpret_cast<void*>(seen);
}

}  // namespace simrun::testing

using simrun::testing::next_symbol;
using simrun::testing::record;

extern "C" {

int clock_gettime(clockid_t clock, struct timespec* time) noexcept {
    record(simrun::testing::clock_call(clock));
    return next_symbol<int (*)(clockid_t, struct timespec*)>(simrun::testing::real_clock_gettime,
                                                             "clock_gettime")(clock, time);
}

int gettimeofday(struct timeval* __restrict time, void* __restrict zone) noexcept {
    record("gettimeofday");
    return next_symbol<int (*)(struct timeval*, void*)>(simrun::testing::real_gettimeofday,
                                                        "gettimeofday")(time, zone);
}

time_t time(time_t* out) noexcept {
    record("time");
    return next_symbol<time_t (*)(time_t*)>(simrun::testing::real_time, "time")(out);
}

int nanosleep(const struct timespec* duration, struct timespec* remaining) {
    record("nanosleep (std::this_thread::sleep_for)");
    return next_symbol<int (*)(const struct timespec*, struct timespec*)>(
        simrun::testing::real_nanosleep, "nanosleep")(duration, remaining);
}

int clock_nanosleep(clockid_t clock, int flags, const struct timespec* duration,
                    struct timespec* remaining) {
    record("clock_nanosleep (std::this_thread::sleep_for)");
    return next_symbol<int (*)(clockid_t, int, const struct timespec*, struct timespec*)>(
        simrun::testing::real_clock_nanosleep, "clock_nanosleep")(clock, flags, duration,
                                                                  remaining);
}

unsigned int sleep(unsigned int seconds) {
    record("sleep");
    return next_symbol<unsigned int (*)(unsigned int)>(simrun::testing::real_sleep,
                                                       "sleep")(seconds);
}

int usleep(useconds_t microseconds) {
    record("usleep");
    return next_symbol<int (*)(useconds_t)>(simrun::testing::real_usleep, "usleep")(microseconds);
}

ssize_t getrandom(void* buffer, size_t length, unsigned int flags) {
    record("getrandom");
    return next_symbol<ssize_t (*)(void*, size_t, unsigned int)>(
        simrun::testing::real_getrandom, "getrandom")(buffer, length, flags);
}

}  // extern "C"
