// The workloads of ../common/workloads.hpp on Asio (standalone, Debian's libasio-dev): an
// io_context run on the calling thread, steady_timer, and C++20 coroutines (awaitable, co_spawn)
// for the task-shaped workloads. Benchmarks are named "<workload>/asio".
//
//   asio_bench [Google Benchmark flags]
//   asio_bench --sleepers=N        one run of the sleepers workload, one JSON line
#include <benchmark/benchmark.h>

#include <asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "common/alloc_counter.hpp"
#include "common/counting.hpp"
#include "common/process.hpp"
#include "common/stopwatch.hpp"
#include "common/workloads.hpp"

namespace {

using bench::check_count;
using bench::set_ops;

using Clock = std::chrono::steady_clock;
using asio::awaitable;
using asio::use_awaitable;

/// io_context::run() returns when it runs out of work; restart() makes it usable again.
void run_until_idle(asio::io_context& io) {
    io.restart();
    io.run();
}

// ---- callbacks, tasks, yields
// ---------------------------------------------------------------------

void bm_callbacks(benchmark::State& state) {
    asio::io_context io(1);
    std::uint64_t count = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < bench::kCallbacks; ++i)
            asio::post(io, [&count] { ++count; });
        run_until_idle(io);
        state.SetIterationTime(watch.seconds());
    }
    if (check_count(state, count, state.iterations() * bench::kCallbacks))
        set_ops(state, bench::kCallbacks);
}

awaitable<void> trivial_task(std::uint64_t* count) {
    ++*count;
    co_return;
}

void bm_tasks(benchmark::State& state) {
    asio::io_context io(1);
    std::uint64_t count = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < bench::kTasks; ++i)
            asio::co_spawn(io, trivial_task(&count), asio::detached);
        run_until_idle(io);
        state.SetIterationTime(watch.seconds());
    }
    if (check_count(state, count, state.iterations() * bench::kTasks))
        set_ops(state, bench::kTasks);
}

awaitable<void> post_loop(int yields, std::uint64_t* count) {
    auto executor = co_await asio::this_coro::executor;
    for (int i = 0; i < yields; ++i) {
        co_await asio::post(executor, use_awaitable);
        ++*count;
    }
}

void bm_sleep0(benchmark::State& state) {
    asio::io_context io(1);
    std::uint64_t count = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        asio::co_spawn(io, post_loop(bench::kYields, &count), asio::detached);
        run_until_idle(io);
        state.SetIterationTime(watch.seconds());
    }
    if (check_count(state, count, state.iterations() * bench::kYields))
        set_ops(state, bench::kYields);
}

// ---- timers -------------------------------------------------------------------------------------

void bm_timers_fire(benchmark::State& state) {
    asio::io_context io(1);
    const std::vector<std::uint32_t> offsets = bench::shuffled(bench::kTimers);
    std::vector<asio::steady_timer> timers;
    timers.reserve(bench::kTimers);
    std::uint64_t count = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        const auto start = asio::steady_timer::clock_type::now();
        for (std::uint32_t offset : offsets) {
            timers.emplace_back(io, start + std::chrono::nanoseconds(offset));
            timers.back().async_wait([&count](const std::error_code& error) {
                if (!error)
                    ++count;
            });
        }
        run_until_idle(io);
        timers.clear();
        state.SetIterationTime(watch.seconds());
    }
    if (check_count(state, count, state.iterations() * bench::kTimers))
        set_ops(state, bench::kTimers);
}

void bm_timers_cancel(benchmark::State& state) {
    using std::chrono::microseconds;
    asio::io_context io(1);
    std::vector<asio::steady_timer> live;
    live.reserve(bench::kLiveTimers);
    for (int i = 0; i < bench::kLiveTimers; ++i) {
        live.emplace_back(io, std::chrono::hours(1) + microseconds(i));
        live.back().async_wait([](const std::error_code&) {});
    }
    std::uint64_t fired = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < bench::kTimerCancels; ++i) {
            asio::steady_timer timer(
                io, std::chrono::hours(1) + microseconds(bench::cancel_offset_us(i)));
            timer.async_wait([&fired](const std::error_code& error) {
                if (!error)
                    ++fired;
            });
            timer.cancel();
        }
        io.restart();
        io.poll();  // runs the cancelled waits' handlers (operation_aborted)
        state.SetIterationTime(watch.seconds());
    }
    for (auto& timer : live)
        timer.cancel();
    run_until_idle(io);
    if (check_count(state, fired, 0))
        set_ops(state, bench::kTimerCancels);
}

// ---- cancellation -------------------------------------------------------------------------------

awaitable<void> await_at_depth(asio::steady_timer* timer, int depth) {
    if (depth <= 1) {
        co_await timer->async_wait(use_awaitable);
        co_return;
    }
    co_await await_at_depth(timer, depth - 1);
}

void bm_cancel(benchmark::State& state, int depth) {
    asio::io_context io(1);
    std::uint64_t cancelled = 0;
    for (auto _ : state) {
        std::vector<asio::steady_timer> timers;
        std::vector<asio::cancellation_signal> signals(bench::kCancelTasks);
        timers.reserve(bench::kCancelTasks);
        for (int i = 0; i < bench::kCancelTasks; ++i) {
            timers.emplace_back(io, asio::steady_timer::time_point::max());
            asio::co_spawn(
                io, await_at_depth(&timers.back(), depth),
                asio::bind_cancellation_slot(signals[static_cast<std::size_t>(i)].slot(),
                                             [&cancelled](const std::exception_ptr& error) {
                                                 if (error)
                                                     ++cancelled;
                                             }));
        }
        io.restart();
        io.poll();  // every task is now suspended on its timer

        bench::Stopwatch watch;
        for (auto& signal : signals)
            signal.emit(asio::cancellation_type::terminal);
        io.restart();
        io.poll();
        state.SetIterationTime(watch.seconds());
    }
    if (check_count(state, cancelled, state.iterations() * bench::kCancelTasks))
        set_ops(state, bench::kCancelTasks);
}

// ---- executor and threads -----------------------------------------------------------------------

/// One round trip: a job on the pool whose result comes back to the io_context's thread, which
/// then submits the next one. The work guard keeps run() going while a job is on the pool.
struct ExecutorTrips {
    asio::io_context& io;
    asio::thread_pool& pool;
    int left;
    asio::executor_work_guard<asio::io_context::executor_type> guard;
    std::uint64_t sum = 0;

    void next() {
        if (left-- == 0) {
            guard.reset();
            return;
        }
        asio::post(pool, [this] {
            int result = 1;  // the job
            asio::post(io, [this, result] {
                sum += static_cast<std::uint64_t>(result);
                next();
            });
        });
    }
};

void bm_executor(benchmark::State& state) {
    asio::io_context io(1);
    asio::thread_pool pool;
    std::uint64_t sum = 0;
    for (auto _ : state) {
        bench::Stopwatch watch(bench::Timing::cross_thread);
        ExecutorTrips trips{io, pool, bench::kExecutorTrips, asio::make_work_guard(io)};
        asio::post(io, [&trips] { trips.next(); });
        run_until_idle(io);
        sum += trips.sum;
        state.SetIterationTime(watch.seconds());
    }
    pool.join();
    if (check_count(state, sum, state.iterations() * bench::kExecutorTrips))
        set_ops(state, bench::kExecutorTrips);
}

void bm_threadsafe(benchmark::State& state) {
    asio::io_context io(1);
    std::binary_semaphore pong(0);
    for (auto _ : state) {
        bench::Stopwatch watch(bench::Timing::cross_thread);
        auto guard = asio::make_work_guard(io);
        std::thread other([&io, &pong, &guard] {
            for (int i = 0; i < bench::kThreadsafeTrips; ++i) {
                asio::post(io, [&pong] { pong.release(); });
                pong.acquire();
            }
            asio::post(io, [&guard] { guard.reset(); });
        });
        run_until_idle(io);
        other.join();
        state.SetIterationTime(watch.seconds());
    }
    set_ops(state, bench::kThreadsafeTrips);
}

// ---- memory -------------------------------------------------------------------------------------

awaitable<void> pending_task(asio::steady_timer* timer) {
    std::error_code error;
    co_await timer->async_wait(asio::redirect_error(use_awaitable, error));
}

void bm_pending_memory(benchmark::State& state) {
    asio::io_context io(1);
    double frame_bytes = 0;
    double task_bytes = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        asio::steady_timer timer(io, asio::steady_timer::time_point::max());
        {  // the user's coroutine frame alone: created, never started
            std::vector<awaitable<void>> frames;
            frames.reserve(bench::kPendingTasks);
            bench::AllocWindow window;
            for (int i = 0; i < bench::kPendingTasks; ++i)
                frames.push_back(pending_task(&timer));
            frame_bytes = static_cast<double>(window.heap_bytes()) / bench::kPendingTasks;
        }
        {
            bench::AllocWindow window;
            for (int i = 0; i < bench::kPendingTasks; ++i)
                asio::co_spawn(io, pending_task(&timer), asio::detached);
            io.restart();
            io.poll();
            task_bytes = static_cast<double>(window.heap_bytes()) / bench::kPendingTasks;
        }
        timer.cancel();
        run_until_idle(io);
        state.SetIterationTime(watch.seconds());
    }
    state.counters["bytes_per_task"] = task_bytes;
    state.counters["frame_bytes"] = frame_bytes;
    state.counters["bookkeeping_bytes"] = task_bytes - frame_bytes;
}

// ---- the sleepers workload
// ------------------------------------------------------------------------

awaitable<void> sleeper(std::chrono::microseconds delay, std::int64_t* remaining) {
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    co_await timer.async_wait(use_awaitable);
    --*remaining;
}

int run_sleepers(std::int64_t count) {
    asio::io_context io(1);
    std::int64_t remaining = count;
    const double cpu_before = bench::process_cpu_seconds();
    const auto start = Clock::now();
    for (std::int64_t i = 0; i < count; ++i) {
        asio::co_spawn(io,
                       sleeper(std::chrono::microseconds(bench::sleeper_delay_us(i)), &remaining),
                       asio::detached);
    }
    io.run();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (remaining != 0)
        return 1;
    bench::print_sleepers_result("asio", count, seconds, bench::process_cpu_seconds() - cpu_before);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--sleepers=", 11) == 0)
            return run_sleepers(std::atoll(argv[i] + 11));
    }
    // Every workload times itself (bench::Stopwatch), as in simrun_bench.
    auto add = [](const char* name, auto&& fn, auto... args) {
        return benchmark::RegisterBenchmark(name, fn, args...)->UseManualTime();
    };
    add("callbacks/asio", bm_callbacks);
    add("tasks/asio", bm_tasks);
    add("sleep0/asio", bm_sleep0);
    add("timers_fire/asio", bm_timers_fire);
    add("timers_cancel/asio", bm_timers_cancel);
    add("cancel_depth1/asio", bm_cancel, 1);
    add("cancel_depth10/asio", bm_cancel, 10);
    add("executor/asio", bm_executor);
    add("threadsafe/asio", bm_threadsafe);
    add("pending_memory/asio", bm_pending_memory)->Iterations(1);

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
