#pragma once
// sleep() and yield_now(): suspension points of the running task.

#include "simrun/clock.hpp"
#include "simrun/coro.hpp"

namespace simrun {

/// Suspends the current task for `delay` of loop time. A delay <= 0 yields for one loop
/// iteration (asyncio's sleep(0)). Cancellable at its suspension point.
Coro<void> sleep(Duration delay);

/// Suspends for `delay`, then returns `value`.
template <class T>
Coro<T> sleep(Duration delay, T value) {
    co_await sleep(delay);
    co_return value;
}

/// An awaitable that lets every other ready callback run once before the task resumes
/// (asyncio's bare `yield`). Cheaper than sleep(0): no coroutine frame.
struct YieldNow {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> at) const;
    void await_resume() const;
};
inline YieldNow yield_now() noexcept {
    return {};
}

}  // namespace simrun
