// The physical floors (see common/floors.hpp).
#include "common/floors.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "common/counting.hpp"
#include "common/stopwatch.hpp"
#include "common/workloads.hpp"

namespace {

// What each in-loop workload cannot do without, measured alone in the same run, no loop:
// "floor_<what>/none". report.py prints the relevant one beside each row (callbacks: a
// std::function call; tasks, yields and cancellations: a coroutine resume; timers: a heap push
// and pop), so that the table shows how close to the limit each operation is.

/// Operations per iteration of a floor: 100,000, not the workloads' 10,000, because a read of
/// the thread CPU clock is a system call (about 0.5 us here): two per batch of 2 ns operations
/// would add 5 %; at 100,000, under 1 %.
constexpr int kFloorOps = 100'000;

/// A callback through a std::function, as a loop runs one: the std::function is reached through
/// a pointer the compiler cannot see through, so the call is a real indirect call.
void bm_floor_function_call(benchmark::State& state) {
    std::uint64_t count = 0;
    std::function<void()> callback = [&count] { ++count; };
    std::function<void()>* opaque = &callback;
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < kFloorOps; ++i) {
            benchmark::DoNotOptimize(opaque);
            (*opaque)();
        }
        state.SetIterationTime(watch.seconds());
    }
    if (bench::check_count(state, count, state.iterations() * kFloorOps))
        bench::set_ops(state, kFloorOps);
}

/// The least coroutine there is: suspends at once and whenever it is resumed; destroyed by its
/// owner while suspended.
struct Suspender {
    struct promise_type {
        Suspender get_return_object() {
            return {std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        void return_void() {}
        void unhandled_exception() { std::terminate(); }
    };
    std::coroutine_handle<promise_type> handle;
};

Suspender suspend_forever(std::uint64_t* count) {
    for (;;) {
        co_await std::suspend_always{};
        ++*count;
    }
}

/// One resume of a suspended coroutine (which counts and suspends again), through a type-erased
/// handle, as a loop resumes a task.
void bm_floor_coroutine_resume(benchmark::State& state) {
    std::uint64_t count = 0;
    const Suspender coroutine = suspend_forever(&count);
    std::coroutine_handle<> handle = coroutine.handle;
    handle.resume();  // to the first co_await
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < kFloorOps; ++i) {
            benchmark::DoNotOptimize(handle);
            handle.resume();
        }
        state.SetIterationTime(watch.seconds());
    }
    coroutine.handle.destroy();
    if (bench::check_count(state, count, state.iterations() * kFloorOps))
        bench::set_ops(state, kFloorOps);
}

/// A timer heap's entry with its key inline: (deadline, sequence) orders it, the pointer is the
/// timer's handle.
struct HeapEntry {
    std::int64_t deadline;
    std::uint64_t sequence;
    void* pointer;
};

struct Later {
    bool operator()(const HeapEntry& a, const HeapEntry& b) const {
        return std::tie(a.deadline, a.sequence) > std::tie(b.deadline, b.sequence);
    }
};

/// A std::vector min-heap of kLiveTimers entries: push one, pop the earliest, per operation (the
/// classic hold model: each new deadline is the last popped one plus a pseudo-random delay of
/// 0 .. 2 * kLiveTimers ns, so the heap keeps its size and its spread).
void bm_floor_heap_push_pop(benchmark::State& state) {
    std::vector<HeapEntry> heap;
    heap.reserve(bench::kLiveTimers + 1);
    std::uint64_t sequence = 0;
    for (std::uint32_t offset : bench::shuffled(bench::kLiveTimers))
        heap.push_back({static_cast<std::int64_t>(offset), sequence++, &heap});
    std::make_heap(heap.begin(), heap.end(), Later{});
    std::int64_t now = 0;
    std::uint64_t x = 0x9E3779B97F4A7C15ULL;
    std::uint64_t in_order = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < kFloorOps; ++i) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            const auto delay = static_cast<std::int64_t>(x % (2 * bench::kLiveTimers));
            heap.push_back({now + delay, sequence++, &heap});
            std::push_heap(heap.begin(), heap.end(), Later{});
            std::pop_heap(heap.begin(), heap.end(), Later{});
            const HeapEntry earliest = heap.back();
            heap.pop_back();
            in_order += earliest.deadline >= now ? 1 : 0;
            now = earliest.deadline;
            benchmark::DoNotOptimize(earliest.pointer);
        }
        state.SetIterationTime(watch.seconds());
    }
    if (bench::check_count(state, in_order, state.iterations() * kFloorOps))
        bench::set_ops(state, kFloorOps);
}

/// malloc and free of one block, 64 to 200 bytes (the sizes of a loop's handles, futures and
/// small frames) by steps of 8, one size after the other.
void bm_floor_malloc_free(benchmark::State& state) {
    std::size_t size = 64;
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < kFloorOps; ++i) {
            void* block = std::malloc(size);
            benchmark::DoNotOptimize(block);
            std::free(block);
            size = size == 200 ? 64 : size + 8;
        }
        state.SetIterationTime(watch.seconds());
    }
    bench::set_ops(state, kFloorOps);
}

/// std::make_shared of a 152-byte object (a loop handle's size), then its release: one
/// allocation, the object's zeroing, the control block's atomic count down, the free.
void bm_floor_shared_ptr_make(benchmark::State& state) {
    struct Object {
        std::array<std::uint64_t, 19> words;
    };
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < kFloorOps; ++i) {
            auto object = std::make_shared<Object>();
            benchmark::DoNotOptimize(object.get());
        }
        state.SetIterationTime(watch.seconds());
    }
    bench::set_ops(state, kFloorOps);
}

/// An atomic increment (a shared_ptr copy's reference count, uncontended).
/// An exception thrown in one function and caught in its caller: what a cancellation costs per
/// coroutine frame it unwinds (CancelledError is thrown at the await and rethrown by each
/// awaiting frame). 1,000 per iteration: a throw takes about a microsecond.
[[gnu::noinline]] void throw_error(int value) {
    if (value >= 0)
        throw std::runtime_error("cancelled");
}

void bm_floor_exception(benchmark::State& state) {
    constexpr int kThrows = 1'000;
    std::uint64_t caught = 0;
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < kThrows; ++i) {
            try {
                throw_error(i);
            } catch (const std::runtime_error&) {
                ++caught;
            }
        }
        state.SetIterationTime(watch.seconds());
    }
    if (bench::check_count(state, caught, state.iterations() * kThrows))
        bench::set_ops(state, kThrows);
}

void bm_floor_atomic_increment(benchmark::State& state) {
    std::atomic<std::uint64_t> count{0};
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < kFloorOps; ++i)
            count.fetch_add(1, std::memory_order_acq_rel);
        state.SetIterationTime(watch.seconds());
    }
    if (bench::check_count(state, count.load(), state.iterations() * kFloorOps))
        bench::set_ops(state, kFloorOps);
}

/// epoll_wait with a zero timeout on an empty epoll set: the system call the epoll loop makes
/// per iteration. 10,000 per iteration: a system call is microseconds, not nanoseconds.
void bm_floor_epoll_wait(benchmark::State& state) {
    constexpr int kCalls = 10'000;
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll < 0) {
        state.SkipWithError("epoll_create1 failed");
        return;
    }
    std::uint64_t returned = 0;
    epoll_event events[1];
    for (auto _ : state) {
        bench::Stopwatch watch;
        for (int i = 0; i < kCalls; ++i)
            returned += ::epoll_wait(epoll, events, 1, 0) == 0 ? 1 : 0;
        state.SetIterationTime(watch.seconds());
    }
    ::close(epoll);
    if (bench::check_count(state, returned, state.iterations() * kCalls))
        bench::set_ops(state, kCalls);
}

}  // namespace

void bench::register_floors() {
    auto add = [](const char* name, void (*body)(benchmark::State&)) {
        benchmark::RegisterBenchmark(name, body)->UseManualTime();
    };
    add("floor_function_call/none", bm_floor_function_call);
    add("floor_coroutine_resume/none", bm_floor_coroutine_resume);
    add("floor_heap_push_pop/none", bm_floor_heap_push_pop);
    add("floor_malloc_free/none", bm_floor_malloc_free);
    add("floor_shared_ptr_make/none", bm_floor_shared_ptr_make);
    add("floor_atomic_increment/none", bm_floor_atomic_increment);
    add("floor_epoll_wait/none", bm_floor_epoll_wait);
    add("floor_exception/none", bm_floor_exception);
}
