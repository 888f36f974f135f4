// simrun's benchmarks (Google Benchmark). Every workload of common/workloads.hpp is written once,
// as a function of a loop factory, and registered for each loop: "<workload>/sim" for the
// simulator and "<workload>/epoll" for the real loop (when <simrun/epoll/epoll_loop.hpp> exists).
//
//   simrun_bench [Google Benchmark flags]         the timed workloads
//   simrun_bench --sleepers=N --loop=sim|epoll    one run of the sleepers workload, one JSON line
//   simrun_bench --memory-profile --loop=...      a pending task's allocations, by size
//   simrun_bench --list-loops                     the loops this build has
//
// The floors ("floor_<what>/none": a std::function call, a coroutine resume, a heap push and
// pop, ...) are registered with the workloads and run with them: the limits report.py sets beside
// the rows.
//
// scripts/bench.sh runs both and builds the table; see docs/performance.md.
#include <benchmark/benchmark.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <semaphore>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <simrun/sim/sim.hpp>
#include <simrun/simrun.hpp>

#include "common/alloc_counter.hpp"
#include "common/counting.hpp"
#include "common/floors.hpp"
#include "common/process.hpp"
#include "common/stopwatch.hpp"
#include "common/workloads.hpp"
#include "generators.hpp"
#include "program.hpp"

#if __has_include(<simrun/epoll/epoll_loop.hpp>)
#include <simrun/epoll/epoll_loop.hpp>
#define SIMRUN_BENCH_HAS_EPOLL 1
#else
#define SIMRUN_BENCH_HAS_EPOLL 0
#endif

namespace {

using simrun::Coro;
using simrun::Duration;
using simrun::EventLoop;
using simrun::Future;
using simrun::Task;

// ---- the loops ----------------------------------------------------------------------------------

/// The simulator keeps a trace of every callback; the benchmarks keep only its first entries
/// (the digest still covers all of them, and the text of each entry is still built).
constexpr std::size_t kTraceLimit = 1000;

using LoopMaker = std::shared_ptr<EventLoop> (*)();

std::shared_ptr<EventLoop> make_sim_loop() {
    return std::make_shared<simrun::sim::SimLoop>(simrun::sim::SimOptions{
        .seed = 1, .shuffle_timer_ties = false, .trace_limit = kTraceLimit});
}

std::shared_ptr<EventLoop> make_sim_loop_shuffled_ties() {
    return std::make_shared<simrun::sim::SimLoop>(
        simrun::sim::SimOptions{.seed = 1, .shuffle_timer_ties = true, .trace_limit = kTraceLimit});
}

#if SIMRUN_BENCH_HAS_EPOLL
std::shared_ptr<EventLoop> make_epoll_loop() {
    return std::make_shared<simrun::EpollLoop>();
}
#endif

struct LoopKind {
    const char* name;
    LoopMaker make;
    bool real;  // a real loop: threads and wall-clock time exist
};

std::vector<LoopKind> loop_kinds() {
    std::vector<LoopKind> kinds{{"sim", make_sim_loop, false}};
#if SIMRUN_BENCH_HAS_EPOLL
    kinds.push_back({"epoll", make_epoll_loop, true});
#endif
    return kinds;
}

/// Runs one loop iteration: everything ready now (and timers due now), then stops.
void run_one_pass(EventLoop& loop) {
    loop.call_soon([&loop] { loop.stop(); });
    loop.run_forever();
}

// ---- callbacks, tasks, yields
// ---------------------------------------------------------------------

void bm_callbacks(benchmark::State& state, LoopMaker make) {
    auto loop = make();
    std::uint64_t count = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < bench::kCallbacks; ++i)
            loop->call_soon([&count] { ++count; });
        run_one_pass(*loop);
        state.SetIterationTime(watch.seconds());
    }
    loop->close();
    if (bench::check_count(state, count, state.iterations() * bench::kCallbacks))
        bench::set_ops(state, bench::kCallbacks);
}

Coro<void> trivial_task(std::uint64_t* count) {
    ++*count;
    co_return;
}

void bm_tasks(benchmark::State& state, LoopMaker make) {
    auto loop = make();
    std::uint64_t count = 0;
    std::vector<Task<void>> tasks;
    tasks.reserve(bench::kTasks);
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < bench::kTasks; ++i)
            tasks.push_back(loop->create_task(trivial_task(&count)));
        loop->run_until_complete(tasks.back());  // FIFO: the last one ends last
        tasks.clear();
        state.SetIterationTime(watch.seconds());
    }
    loop->close();
    if (bench::check_count(state, count, state.iterations() * bench::kTasks))
        bench::set_ops(state, bench::kTasks);
}

Coro<void> sleep_zero_loop(int yields, std::uint64_t* count) {
    for (int i = 0; i < yields; ++i) {
        co_await simrun::sleep(Duration::zero());
        ++*count;
    }
}

Coro<void> yield_now_loop(int yields, std::uint64_t* count) {
    for (int i = 0; i < yields; ++i) {
        co_await simrun::yield_now();
        ++*count;
    }
}

template <Coro<void> (*Body)(int, std::uint64_t*)>
void bm_yields(benchmark::State& state, LoopMaker make) {
    auto loop = make();
    std::uint64_t count = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        loop->run_until_complete(Body(bench::kYields, &count));
        state.SetIterationTime(watch.seconds());
    }
    loop->close();
    if (bench::check_count(state, count, state.iterations() * bench::kYields))
        bench::set_ops(state, bench::kYields);
}

// ---- timers -------------------------------------------------------------------------------------

void bm_timers_fire(benchmark::State& state, LoopMaker make) {
    auto loop = make();
    const std::vector<std::uint32_t> offsets = bench::shuffled(bench::kTimers);
    std::uint64_t count = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        const Duration start = loop->time();
        for (std::uint32_t offset : offsets)
            loop->call_at(start + Duration(offset), [&count] { ++count; });
        EventLoop* raw = loop.get();
        loop->call_at(start + Duration(bench::kTimers), [raw] { raw->stop(); });
        loop->run_forever();
        state.SetIterationTime(watch.seconds());
    }
    loop->close();
    if (bench::check_count(state, count, state.iterations() * bench::kTimers))
        bench::set_ops(state, bench::kTimers);
}

void bm_timers_cancel(benchmark::State& state, LoopMaker make) {
    using std::chrono::microseconds;
    auto loop = make();
    std::vector<simrun::TimerHandle> live;
    live.reserve(bench::kLiveTimers);
    for (int i = 0; i < bench::kLiveTimers; ++i)
        live.push_back(loop->call_later(std::chrono::hours(1) + microseconds(i), [] {}));
    std::uint64_t fired = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < bench::kTimerCancels; ++i) {
            simrun::TimerHandle timer =
                loop->call_later(std::chrono::hours(1) + microseconds(bench::cancel_offset_us(i)),
                                 [&fired] { ++fired; });
            timer.cancel();
        }
        run_one_pass(*loop);
        state.SetIterationTime(watch.seconds());
    }
    for (auto& timer : live)
        timer.cancel();
    loop->close();
    if (bench::check_count(state, fired, 0))
        bench::set_ops(state, bench::kTimerCancels);
}

// ---- cancellation -------------------------------------------------------------------------------

Coro<void> await_at_depth(Future<void> future, int depth) {
    if (depth <= 1) {
        co_await future;
        co_return;
    }
    co_await await_at_depth(std::move(future), depth - 1);
}

void bm_cancel(benchmark::State& state, LoopMaker make, int depth) {
    auto loop = make();
    std::vector<Future<void>> futures;
    std::vector<Task<void>> tasks;
    std::uint64_t cancelled = 0;
    for (auto _ : state) {
        futures.clear();
        tasks.clear();
        for (int i = 0; i < bench::kCancelTasks; ++i) {
            futures.push_back(loop->create_future<void>());
            tasks.push_back(loop->create_task(await_at_depth(futures.back(), depth)));
        }
        run_one_pass(*loop);  // every task is now suspended on its future

        bench::Stopwatch watch;
        for (auto& task : tasks)
            task.cancel();
        run_one_pass(*loop);
        state.SetIterationTime(watch.seconds());

        for (auto& task : tasks)
            cancelled += task.cancelled() ? 1 : 0;
    }
    tasks.clear();
    futures.clear();
    loop->close();
    if (bench::check_count(state, cancelled, state.iterations() * bench::kCancelTasks))
        bench::set_ops(state, bench::kCancelTasks);
}

// ---- executor and threads -----------------------------------------------------------------------

Coro<void> executor_trips(EventLoop* loop, int trips, std::uint64_t* sum) {
    for (int i = 0; i < trips; ++i)
        *sum += static_cast<std::uint64_t>(co_await loop->run_in_executor([] { return 1; }));
}

void bm_executor(benchmark::State& state, LoopMaker make) {
    auto loop = make();
    std::uint64_t sum = 0;
    for (auto _ : state) {
        bench::Stopwatch watch(bench::Timing::cross_thread);
        loop->run_until_complete(executor_trips(loop.get(), bench::kExecutorTrips, &sum));
        state.SetIterationTime(watch.seconds());
    }
    loop->run_until_complete(loop->shutdown_default_executor());
    loop->close();
    if (bench::check_count(state, sum, state.iterations() * bench::kExecutorTrips))
        bench::set_ops(state, bench::kExecutorTrips);
}

void bm_threadsafe(benchmark::State& state, LoopMaker make) {
    auto loop = make();
    std::binary_semaphore pong(0);
    for (auto _ : state) {
        bench::Stopwatch watch(bench::Timing::cross_thread);
        std::thread other([&loop, &pong] {
            for (int i = 0; i < bench::kThreadsafeTrips; ++i) {
                loop->call_soon_threadsafe([&pong] { pong.release(); });
                pong.acquire();
            }
            loop->call_soon_threadsafe([&loop] { loop->stop(); });
        });
        loop->run_forever();
        other.join();
        state.SetIterationTime(watch.seconds());
    }
    loop->close();
    bench::set_ops(state, bench::kThreadsafeTrips);
}

// ---- memory -------------------------------------------------------------------------------------

Coro<void> pending_task(Future<void> future) {
    co_await future;
}

struct PendingMemory {
    double frame_bytes = 0;  // the user's coroutine frame alone
    double task_bytes = 0;   // everything a pending task holds, its frame included
    double allocations = 0;  // operator new calls per task
    std::vector<std::pair<std::size_t, std::int64_t>> sizes;  // operator new sizes, all tasks
};

/// kPendingTasks tasks all awaiting one future: heap use per task.
PendingMemory measure_pending_memory(EventLoop& loop) {
    PendingMemory measured;
    Future<void> future = loop.create_future<void>();
    // Every frame and task below comes from operator new, none from the block lists.
    simrun::detail::release_free_blocks();
    {  // the frame alone: created, never started
        std::vector<Coro<void>> frames;
        frames.reserve(bench::kPendingTasks);
        bench::AllocWindow window;
        for (int i = 0; i < bench::kPendingTasks; ++i)
            frames.push_back(pending_task(future));
        measured.frame_bytes = static_cast<double>(window.heap_bytes()) / bench::kPendingTasks;
        for (auto& frame : frames)
            frame.drop();
    }
    simrun::detail::release_free_blocks();
    std::vector<Task<void>> tasks;
    tasks.reserve(bench::kPendingTasks);
    {
        bench::AllocWindow window;
        for (int i = 0; i < bench::kPendingTasks; ++i)
            tasks.push_back(loop.create_task(pending_task(future)));
        run_one_pass(loop);
        measured.task_bytes = static_cast<double>(window.heap_bytes()) / bench::kPendingTasks;
        measured.allocations = static_cast<double>(window.allocations()) / bench::kPendingTasks;
        measured.sizes = window.allocations_by_size();
    }
    future.set_result();
    run_one_pass(loop);
    return measured;
}

void bm_pending_memory(benchmark::State& state, LoopMaker make) {
    auto loop = make();
    PendingMemory measured;
    for (auto _ : state) {
        bench::Stopwatch watch;
        measured = measure_pending_memory(*loop);
        state.SetIterationTime(watch.seconds());
    }
    loop->close();
    state.counters["bytes_per_task"] = measured.task_bytes;
    state.counters["frame_bytes"] = measured.frame_bytes;
    state.counters["bookkeeping_bytes"] = measured.task_bytes - measured.frame_bytes;
    state.counters["allocations_per_task"] = measured.allocations;
}

/// Runs `body` (which does `operations` operations) once to warm up, then once counting.
template <class Body>
void print_allocations(const char* what, int operations, Body body) {
    body();
    bench::AllocWindow window;
    body();
    const auto calls = static_cast<double>(window.allocations());
    const auto sizes = window.allocations_by_size();
    double bytes = 0;
    std::string by_size;
    for (const auto& [size, allocations] : sizes) {
        bytes += static_cast<double>(size) * static_cast<double>(allocations);
        const double per_operation = static_cast<double>(allocations) / operations;
        if (per_operation >= 0.1) {
            char item[48];
            std::snprintf(item, sizeof item, " %zu B x%.1f", size, per_operation);
            by_size += item;
        }
    }
    std::printf("  %-32s %5.2f calls, %6.0f bytes:%s\n", what, calls / operations,
                bytes / operations, by_size.c_str());
}

Coro<void> sleepers_main(std::int64_t count);

void print_allocations_per_operation(LoopMaker make) {
    auto loop = make();
    std::uint64_t count = 0;
    print_allocations("call_soon + run", bench::kCallbacks, [&] {
        for (int i = 0; i < bench::kCallbacks; ++i)
            loop->call_soon([&count] { ++count; });
        run_one_pass(*loop);
    });
    std::vector<Task<void>> tasks;
    tasks.reserve(bench::kTasks);
    print_allocations("create_task + run + complete", bench::kTasks, [&] {
        for (int i = 0; i < bench::kTasks; ++i)
            tasks.push_back(loop->create_task(trivial_task(&count)));
        loop->run_until_complete(tasks.back());
        tasks.clear();
    });
    print_allocations("sleep(0)", bench::kYields,
                      [&] { loop->run_until_complete(sleep_zero_loop(bench::kYields, &count)); });
    print_allocations("yield_now()", bench::kYields,
                      [&] { loop->run_until_complete(yield_now_loop(bench::kYields, &count)); });
    print_allocations("call_at + fire", bench::kTimers, [&] {
        const Duration start = loop->time();
        for (int i = 0; i < bench::kTimers; ++i)
            loop->call_at(start + Duration(i), [&count] { ++count; });
        EventLoop* raw = loop.get();
        loop->call_at(start + Duration(bench::kTimers), [raw] { raw->stop(); });
        loop->run_forever();
    });
    print_allocations("a sleeper (task + sleep 1-2 ms)", bench::kTasks,
                      [&] { loop->run_until_complete(sleepers_main(bench::kTasks)); });
    loop->close();
}

/// --memory-profile: where a pending task's bytes go, by allocation size.
int print_memory_profile(LoopMaker make) {
    auto loop = make();
    const PendingMemory measured = measure_pending_memory(*loop);
    loop->close();
    std::printf("per pending task: %.1f heap bytes (frame %.1f), %.2f operator new calls\n",
                measured.task_bytes, measured.frame_bytes, measured.allocations);
    std::printf(
        "sizeof: TaskState<void> %zu (FutureStateBase %zu), HandleState %zu, std::string %zu, "
        "SourceLocation %zu, std::function %zu\n",
        sizeof(simrun::detail::TaskState<void>), sizeof(simrun::detail::FutureStateBase),
        sizeof(simrun::detail::HandleState), sizeof(std::string), sizeof(simrun::SourceLocation),
        sizeof(std::function<void()>));
    std::printf("operator new calls while the tasks were made and started (freed ones too):\n");
    std::printf("%10s %12s %14s\n", "size", "per task", "bytes per task");
    for (const auto& [size, count] : measured.sizes) {
        const double per_task = static_cast<double>(count) / bench::kPendingTasks;
        if (per_task >= 0.01) {
            std::printf("%10zu %12.2f %14.1f\n", size, per_task,
                        per_task * static_cast<double>(size));
        }
    }
    std::printf(
        "operator new calls per operation of the timed workloads (after a warm-up: objects "
        "reused from the per-thread block lists are not operator new calls):\n");
    print_allocations_per_operation(make);
    return 0;
}

// ---- simulator only -----------------------------------------------------------------------------

Coro<void> timer_worker(std::uint64_t seed, int sleeps) {
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (int i = 0; i < sleeps; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        co_await simrun::sleep(std::chrono::milliseconds(1 + static_cast<int>(x % 100)));
    }
}

Coro<void> timer_program(int workers, int sleeps) {
    std::vector<Task<void>> tasks;
    for (int w = 0; w < workers; ++w)
        tasks.push_back(simrun::create_task(timer_worker(static_cast<std::uint64_t>(w), sleeps)));
    for (auto& task : tasks)
        co_await task;
}

void bm_sim_speed(benchmark::State& state) {
    constexpr int kWorkers = 100;
    constexpr int kSleeps = 100;
    double virtual_seconds = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        auto loop = make_sim_loop();
        loop->run_until_complete(timer_program(kWorkers, kSleeps));
        virtual_seconds += simrun::to_seconds(loop->time());
        loop->close();
        state.SetIterationTime(watch.seconds());
    }
    // Google Benchmark divides a rate by the (manual) time measured.
    state.counters["virtual_seconds_per_second"] =
        benchmark::Counter(virtual_seconds, benchmark::Counter::kIsRate);
    bench::set_ops(state, kWorkers * kSleeps);
}

void bm_random_programs(benchmark::State& state) {
    simrun::set_default_log_handler([](simrun::LogLevel, const std::string&) {});
    std::uint64_t seed = 1000;
    std::uint64_t digests = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        const props::Program program = props::programs()(rc::Random(seed++), 50).value();
        digests ^= props::execute(program).digest;
        state.SetIterationTime(watch.seconds());
    }
    benchmark::DoNotOptimize(digests);
    simrun::set_default_log_handler({});
    bench::set_ops(state, 1);
}

// ---- registration -------------------------------------------------------------------------------

void register_all() {
    // Every workload times itself (bench::Stopwatch): the clock depends on the workload, and
    // the cancellations leave their set-up out.
    auto add = [](const std::string& name, auto&& fn, auto... args) {
        return benchmark::RegisterBenchmark(name.c_str(), fn, args...)->UseManualTime();
    };
    for (const LoopKind& kind : loop_kinds()) {
        const std::string suffix = std::string("/") + kind.name;
        add("callbacks" + suffix, bm_callbacks, kind.make);
        add("tasks" + suffix, bm_tasks, kind.make);
        add("sleep0" + suffix, bm_yields<sleep_zero_loop>, kind.make);
        add("yield_now" + suffix, bm_yields<yield_now_loop>, kind.make);
        add("timers_fire" + suffix, bm_timers_fire, kind.make);
        add("timers_cancel" + suffix, bm_timers_cancel, kind.make);
        add("cancel_depth1" + suffix, bm_cancel, kind.make, 1);
        add("cancel_depth10" + suffix, bm_cancel, kind.make, 10);
        add("executor" + suffix, bm_executor, kind.make);
        if (kind.real)
            add("threadsafe" + suffix, bm_threadsafe, kind.make);
        add("pending_memory" + suffix, bm_pending_memory, kind.make)->Iterations(1);
    }
    add("timers_fire_shuffled_ties/sim", bm_timers_fire, make_sim_loop_shuffled_ties);
    add("sim_speed/sim", bm_sim_speed);
    add("random_programs/sim", bm_random_programs);
    bench::register_floors();
}

// ---- the sleepers workload, one process per run
// ---------------------------------------------------

Coro<void> sleeper(Duration delay, std::int64_t* remaining, Future<void> all_done) {
    co_await simrun::sleep(delay);
    if (--*remaining == 0)
        all_done.set_result();
}

Coro<void> sleepers_main(std::int64_t count) {
    EventLoop& loop = simrun::get_running_loop();
    Future<void> all_done = loop.create_future<void>();
    std::int64_t remaining = count;
    for (std::int64_t i = 0; i < count; ++i) {
        (void)loop.create_task(
            sleeper(std::chrono::microseconds(bench::sleeper_delay_us(i)), &remaining, all_done));
    }
    co_await all_done;
}

LoopMaker find_loop(const std::string& loop_name) {
    for (const LoopKind& kind : loop_kinds()) {
        if (loop_name == kind.name)
            return kind.make;
    }
    std::fprintf(stderr, "simrun_bench: unknown or unavailable loop '%s'\n", loop_name.c_str());
    std::exit(2);
}

int run_sleepers(std::int64_t count, const std::string& loop_name) {
    auto loop = find_loop(loop_name)();
    const double cpu_before = bench::process_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    loop->run_until_complete(sleepers_main(count));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu_seconds = bench::process_cpu_seconds() - cpu_before;
    loop->close();
    bench::print_sleepers_result(loop_name, count, seconds, cpu_seconds);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::int64_t sleepers = 0;
    std::string loop_name = "sim";
    bool list_loops = false;
    bool memory_profile = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--sleepers=", 11) == 0)
            sleepers = std::atoll(argv[i] + 11);
        else if (std::strncmp(argv[i], "--loop=", 7) == 0)
            loop_name = argv[i] + 7;
        else if (std::strcmp(argv[i], "--list-loops") == 0)
            list_loops = true;
        else if (std::strcmp(argv[i], "--memory-profile") == 0)
            memory_profile = true;
    }
    if (list_loops) {
        for (const LoopKind& kind : loop_kinds())
            std::printf("%s\n", kind.name);
        return 0;
    }
    if (sleepers > 0)
        return run_sleepers(sleepers, loop_name);
    if (memory_profile)
        return print_memory_profile(find_loop(loop_name));

    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
