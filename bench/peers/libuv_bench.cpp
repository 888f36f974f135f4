// The workloads of ../common/workloads.hpp that libuv (Debian's libuv1-dev) can express, through
// its C API. libuv has no coroutines, tasks or futures, so tasks, sleep0, the cancellations and
// pending_memory have no libuv column. Benchmarks are named "<workload>/libuv".
//
// libuv has no call_soon either: "callbacks" uses a ready queue drained by a uv_idle handle, as
// uvloop builds asyncio's call_soon on libuv (a vector of {function, argument}: no allocation
// per callback). Its timers have millisecond deadlines, so timers_fire gives every timer a
// timeout of 0 (all due at once, fired in start order) instead of distinct nanosecond deadlines.
//
//   libuv_bench [Google Benchmark flags]
//   libuv_bench --sleepers=N       one run of the sleepers workload, one JSON line
#include <benchmark/benchmark.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "common/counting.hpp"
#include "common/process.hpp"
#include "common/stopwatch.hpp"
#include "common/workloads.hpp"

namespace {

using bench::check_count;
using bench::set_ops;

using Clock = std::chrono::steady_clock;

/// A uv_loop_t. close() closes its handles and the loop: every benchmark calls it before the
/// handles it declared after the loop go away.
class Loop {
  public:
    Loop() { uv_loop_init(&loop_); }
    ~Loop() { close(); }
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;
    uv_loop_t* get() noexcept { return &loop_; }

    void close() {
        if (closed_)
            return;
        closed_ = true;
        uv_walk(
            &loop_,
            [](uv_handle_t* handle, void*) {
                if (uv_is_closing(handle) == 0)
                    uv_close(handle, nullptr);
            },
            nullptr);
        uv_run(&loop_, UV_RUN_DEFAULT);
        uv_loop_close(&loop_);
    }

  private:
    uv_loop_t loop_{};
    bool closed_ = false;
};

// ---- callbacks ----------------------------------------------------------------------------------

/// call_soon on libuv: callbacks queue up and a uv_idle handle runs those queued before each
/// loop iteration (the ones they queue run in the next).
class ReadyQueue {
  public:
    using Function = void (*)(void*);

    explicit ReadyQueue(uv_loop_t* loop) {
        uv_idle_init(loop, &idle_);
        idle_.data = this;
    }
    void call_soon(Function function, void* argument) {
        if (queue_.empty())
            uv_idle_start(&idle_, &ReadyQueue::run_ready);
        queue_.push_back({function, argument});
    }

  private:
    struct Callback {
        Function function;
        void* argument;
    };
    static void run_ready(uv_idle_t* idle) {
        auto& self = *static_cast<ReadyQueue*>(idle->data);
        self.running_.swap(self.queue_);
        for (const Callback& callback : self.running_)
            callback.function(callback.argument);
        self.running_.clear();
        if (self.queue_.empty())
            uv_idle_stop(idle);
    }

    uv_idle_t idle_{};
    std::vector<Callback> queue_;
    std::vector<Callback> running_;
};

void bm_callbacks(benchmark::State& state) {
    Loop loop;
    ReadyQueue ready(loop.get());
    std::uint64_t count = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < bench::kCallbacks; ++i)
            ready.call_soon([](void* counter) { ++*static_cast<std::uint64_t*>(counter); }, &count);
        uv_run(loop.get(), UV_RUN_DEFAULT);
        state.SetIterationTime(watch.seconds());
    }
    loop.close();
    if (check_count(state, count, state.iterations() * bench::kCallbacks))
        set_ops(state, bench::kCallbacks);
}

// ---- timers -------------------------------------------------------------------------------------

void count_in_loop_data(uv_timer_t* timer) {
    ++*static_cast<std::uint64_t*>(timer->data);
}

void bm_timers_fire(benchmark::State& state) {
    Loop loop;
    const std::vector<std::uint32_t> order = bench::shuffled(bench::kTimers);
    std::vector<uv_timer_t> timers(bench::kTimers);
    std::uint64_t count = 0;
    for (auto& timer : timers) {
        uv_timer_init(loop.get(), &timer);
        timer.data = &count;
    }
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (std::uint32_t index : order)
            uv_timer_start(&timers[index], count_in_loop_data, 0, 0);
        uv_run(loop.get(), UV_RUN_DEFAULT);
        state.SetIterationTime(watch.seconds());
    }
    loop.close();
    if (check_count(state, count, state.iterations() * bench::kTimers))
        set_ops(state, bench::kTimers);
}

void bm_timers_cancel(benchmark::State& state) {
    constexpr std::uint64_t kHourMs = 3'600'000;
    Loop loop;
    std::vector<uv_timer_t> live(bench::kLiveTimers);
    std::uint64_t fired = 0;
    for (std::size_t i = 0; i < live.size(); ++i) {
        uv_timer_init(loop.get(), &live[i]);
        live[i].data = &fired;
        uv_timer_start(&live[i], count_in_loop_data, kHourMs + i / 1000, 0);
    }
    uv_timer_t timer;
    uv_timer_init(loop.get(), &timer);
    timer.data = &fired;
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < bench::kTimerCancels; ++i) {
            const auto offset_ms = static_cast<std::uint64_t>(bench::cancel_offset_us(i) / 1000);
            uv_timer_start(&timer, count_in_loop_data, kHourMs + offset_ms, 0);
            uv_timer_stop(&timer);
        }
        uv_run(loop.get(), UV_RUN_NOWAIT);
        state.SetIterationTime(watch.seconds());
    }
    loop.close();
    if (check_count(state, fired, 0))
        set_ops(state, bench::kTimerCancels);
}

// ---- executor and threads -----------------------------------------------------------------------

struct ExecutorTrips {
    uv_work_t request{};
    int left = 0;
    int result = 0;
    std::uint64_t sum = 0;

    void next(uv_loop_t* loop) {
        if (left-- == 0)
            return;
        request.data = this;
        uv_queue_work(
            loop, &request,
            [](uv_work_t* work) { static_cast<ExecutorTrips*>(work->data)->result = 1; },
            [](uv_work_t* work, int) {
                auto& self = *static_cast<ExecutorTrips*>(work->data);
                self.sum += static_cast<std::uint64_t>(self.result);
                self.next(work->loop);
            });
    }
};

void bm_executor(benchmark::State& state) {
    Loop loop;
    std::uint64_t sum = 0;
    for (auto _ : state) {
        bench::Stopwatch watch(bench::Timing::cross_thread);
        ExecutorTrips trips;
        trips.left = bench::kExecutorTrips;
        trips.next(loop.get());
        uv_run(loop.get(), UV_RUN_DEFAULT);
        sum += trips.sum;
        state.SetIterationTime(watch.seconds());
    }
    loop.close();
    if (check_count(state, sum, state.iterations() * bench::kExecutorTrips))
        set_ops(state, bench::kExecutorTrips);
}

struct PingPong {
    std::binary_semaphore pong{0};
    std::atomic<bool> finished{false};
};

void bm_threadsafe(benchmark::State& state) {
    Loop loop;
    PingPong shared;
    uv_async_t async;
    uv_async_init(loop.get(), &async, [](uv_async_t* handle) {
        auto& self = *static_cast<PingPong*>(handle->data);
        if (self.finished.load(std::memory_order_acquire))
            uv_stop(handle->loop);
        else
            self.pong.release();
    });
    async.data = &shared;
    for (auto _ : state) {
        bench::Stopwatch watch(bench::Timing::cross_thread);
        shared.finished.store(false, std::memory_order_release);
        std::thread other([&shared, &async] {
            for (int i = 0; i < bench::kThreadsafeTrips; ++i) {
                uv_async_send(&async);
                shared.pong.acquire();
            }
            shared.finished.store(true, std::memory_order_release);
            uv_async_send(&async);
        });
        uv_run(loop.get(), UV_RUN_DEFAULT);
        other.join();
        state.SetIterationTime(watch.seconds());
    }
    loop.close();
    set_ops(state, bench::kThreadsafeTrips);
}

// ---- the sleepers workload
// ------------------------------------------------------------------------

int run_sleepers(std::int64_t count) {
    Loop loop;
    std::int64_t remaining = count;
    const double cpu_before = bench::process_cpu_seconds();
    const auto start = Clock::now();
    for (std::int64_t i = 0; i < count; ++i) {
        auto* timer = new uv_timer_t;  // one object per sleeper, freed when it is done
        uv_timer_init(loop.get(), timer);
        timer->data = &remaining;
        const auto delay_ms = static_cast<std::uint64_t>((bench::sleeper_delay_us(i) + 999) / 1000);
        uv_timer_start(
            timer,
            [](uv_timer_t* handle) {
                --*static_cast<std::int64_t*>(handle->data);
                uv_close(reinterpret_cast<uv_handle_t*>(handle),
                         [](uv_handle_t* closed) { delete reinterpret_cast<uv_timer_t*>(closed); });
            },
            delay_ms, 0);
    }
    uv_run(loop.get(), UV_RUN_DEFAULT);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const double cpu_seconds = bench::process_cpu_seconds() - cpu_before;
    loop.close();
    if (remaining != 0)
        return 1;
    bench::print_sleepers_result("libuv", count, seconds, cpu_seconds);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--sleepers=", 11) == 0)
            return run_sleepers(std::atoll(argv[i] + 11));
    }
    auto add = [](const char* name, auto&& fn) {
        return benchmark::RegisterBenchmark(name, fn)->UseManualTime();  // bench::Stopwatch
    };
    add("callbacks/libuv", bm_callbacks);
    add("timers_fire/libuv", bm_timers_fire);
    add("timers_cancel/libuv", bm_timers_cancel);
    add("executor/libuv", bm_executor);
    add("threadsafe/libuv", bm_threadsafe);

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
