#pragma once
// The workloads, defined once for every implementation (simrun's two loops, Asio, libuv, and
// peers/asyncio_bench.py, which repeats these numbers). Each benchmark iteration does a batch of
// operations; results are reported per operation.
//
//   callbacks        schedule kCallbacks callbacks with call_soon (Asio: post; libuv: a
//                    uvloop-style ready queue drained by a uv_idle handle), then run them.
//   tasks            create kTasks trivial tasks (Asio: co_spawn), run them to completion.
//   sleep0           one task awaits sleep(0) kYields times (Asio: co_await post).
//   timers_fire      kTimers timers with distinct deadlines, scheduled in a shuffled order,
//                    all due by the time the loop runs (deadlines now + [0, kTimers) ns), fired.
//   timers_cancel    with kLiveTimers timers pending an hour away, schedule and cancel one more
//                    timer, kTimerCancels times; then one loop iteration (which may purge).
//   cancel_depth1/10 kCancelTasks tasks each await their own future through 1 or 10 coroutine
//                    levels; cancel them all and run until they are done (only that is timed).
//   executor         one task awaits run_in_executor(return 1) kExecutorTrips times (Asio: post
//                    to a thread_pool and back; libuv: uv_queue_work).
//   threadsafe       another thread calls call_soon_threadsafe (Asio: post; libuv:
//                    uv_async_send), the callback wakes that thread, which posts again:
//                    kThreadsafeTrips round trips (real loops only).
//   pending_memory   kPendingTasks tasks all awaiting one future (Asio: one timer): heap bytes
//                    per pending task, total and minus the task's own coroutine frame.
//   sleepers         kSleepers tasks each sleep 1 ms + (i % 1000) us, then count down; the last
//                    one ends the program. Run in a process of its own: wall time and peak RSS.
//   sim_speed        (simulator) 100 tasks, each sleeping 100 times for 1-100 ms: virtual
//                    seconds simulated per wall second.
//   random_programs  (simulator) programs from properties/generators.hpp run by
//                    properties/program.cpp's execute(), as the property tests do.

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace bench {

inline constexpr int kCallbacks = 10'000;
inline constexpr int kTasks = 10'000;
inline constexpr int kYields = 10'000;
inline constexpr int kTimers = 10'000;
inline constexpr int kLiveTimers = 10'000;
inline constexpr int kTimerCancels = 10'000;
inline constexpr int kCancelTasks = 1'000;
inline constexpr int kExecutorTrips = 1'000;
inline constexpr int kThreadsafeTrips = 1'000;
inline constexpr int kPendingTasks = 100'000;
inline constexpr int kSleepers = 1'000'000;

/// 0 .. n-1 in a fixed shuffled order (the timers' deadline offsets).
inline std::vector<std::uint32_t> shuffled(std::uint32_t n, std::uint32_t seed = 42) {
    std::vector<std::uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0U);
    std::mt19937 random(seed);
    std::shuffle(order.begin(), order.end(), random);
    return order;
}

/// The sleepers workload's delay of task `i`, in microseconds.
inline std::int64_t sleeper_delay_us(std::int64_t i) {
    return 1000 + i % 1000;
}

/// Where a cancelled-and-rescheduled timer goes among the live ones, in microseconds past an
/// hour (the live timers sit at an hour plus i microseconds).
inline std::int64_t cancel_offset_us(std::int64_t i) {
    return (i * 7919) % kLiveTimers;
}

}  // namespace bench
