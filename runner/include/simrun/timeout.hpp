#pragma once
// timeout() and wait_for(): limits on how long something may take, with asyncio 3.13's rules.
// On expiry the current task is cancelled; when the CancelledError comes back out of the body
// and no other cancellation is pending (uncancel() drops to the count seen at entry), it is
// turned into TimeoutError. A cancellation from outside stays a CancelledError.

#include <exception>
#include <memory>
#include <optional>
#include <type_traits>

#include "simrun/clock.hpp"
#include "simrun/coro.hpp"
#include "simrun/event_loop.hpp"
#include "simrun/future.hpp"
#include "simrun/task.hpp"

namespace simrun {

namespace detail {

/// The part of a timeout scope that does not depend on the body's type.
class TimeoutScope {
  public:
    /// Arms the timer; RuntimeError outside a task.
    explicit TimeoutScope(Duration when);
    /// Disarms the timer and applies the expiry rules: throws TimeoutError, rethrows `error`, or
    /// returns normally.
    void exit(const std::exception_ptr& error);
    TimeoutScope(const TimeoutScope&) = delete;
    TimeoutScope& operator=(const TimeoutScope&) = delete;
    ~TimeoutScope() { timer_.cancel(); }

  private:
    TaskRef task_;
    std::shared_ptr<bool> expiring_;
    TimerHandle timer_;
    int cancelling_at_entry_;
};

}  // namespace detail

/// Runs `body` in the current task; if it is not done by loop time `when`, cancels it and
/// throws TimeoutError.
template <class T>
Coro<T> timeout_at(Duration when, Coro<T> body) {
    detail::TimeoutScope scope(when);
    std::exception_ptr error;
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
    try {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(body);
        } else {
            value.emplace(co_await std::move(body));
        }
    } catch (...) {
        error = std::current_exception();
    }
    scope.exit(error);
    if constexpr (!std::is_void_v<T>)
        co_return std::move(*value);
}

/// Runs `body` in the current task with a time limit of `delay`, counted from when the
/// returned coroutine is awaited (asyncio.timeout).
template <class T>
Coro<T> timeout(Duration delay, Coro<T> body) {
    co_return co_await timeout_at(get_running_loop().time() + delay, std::move(body));
}

/// Awaits a coroutine with a time limit (asyncio.wait_for). A limit <= 0 never starts it.
template <class T>
Coro<T> wait_for(Coro<T> body, Duration delay) {
    if (delay <= Duration::zero()) {
        body.drop();  // never started, like a task cancelled before its first step
        throw TimeoutError("timed out");
    }
    co_return co_await timeout(delay, std::move(body));
}

namespace detail {
template <class Awaitable>
auto await_value(Awaitable awaitable) -> Coro<typename Awaitable::value_type> {
    co_return co_await awaitable;
}
}  // namespace detail

/// Awaits a future with a time limit counted from when this is awaited; on expiry the future
/// is cancelled (wait_for).
template <class T>
Coro<T> wait_for(Future<T> future, Duration delay) {
    co_return co_await timeout(delay, detail::await_value(std::move(future)));
}

/// Awaits a task with a time limit counted from when this is awaited; on expiry the task is
/// cancelled (wait_for).
template <class T>
Coro<T> wait_for(Task<T> task, Duration delay) {
    co_return co_await timeout(delay, detail::await_value(std::move(task)));
}

}  // namespace simrun
