#pragma once
// timeout() and wait_for(): limits on how long something may take, with asyncio 3.13's rules.
// On expiry the current task is cancelled; when the CancelledError comes back out of the body
// and no other cancellation is pending (uncancel() drops to the count seen at entry), it is
// turned into TimeoutError. A cancellation from outside stays a CancelledError.
//
// Limits saturate, as asyncio's `inf`: a delay of Duration::max() (or any delay too large to add
// to the loop's time) and a deadline of Duration::max() never expire (no timer is armed); a
// deadline in the past, or a delay <= 0 however negative, expires at once.

#include <exception>
#include <memory>
#include <optional>
#include <type_traits>

#include "simrun/core/clock.hpp"
#include "simrun/core/coro.hpp"
#include "simrun/core/event_loop.hpp"
#include "simrun/core/future.hpp"
#include "simrun/core/task.hpp"

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
/// throws TimeoutError. `when` == Duration::max() never expires.
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
/// returned coroutine is awaited (asyncio.timeout). Duration::max() never expires.
template <class T>
Coro<T> timeout(Duration delay, Coro<T> body) {
    co_return co_await timeout_at(saturating_add(get_running_loop().time(), delay),
                                  std::move(body));
}

namespace detail {

template <class Awaitable>
auto await_value(Awaitable awaitable) -> Coro<typename Awaitable::value_type> {
    co_return co_await awaitable;
}

/// Removes a done callback when the scope ends (however the coroutine leaves it).
template <class Awaitable>
class DoneCallbackRemover {
  public:
    DoneCallbackRemover(Awaitable& target, std::uint64_t id) noexcept : target_(target), id_(id) {}
    ~DoneCallbackRemover() {
        try {
            target_.remove_done_callback(id_);
        } catch (...) {  // a destructor never throws; the callback would find its waiter done
        }
    }
    DoneCallbackRemover(const DoneCallbackRemover&) = delete;
    DoneCallbackRemover& operator=(const DoneCallbackRemover&) = delete;

  private:
    Awaitable& target_;
    std::uint64_t id_;
};

/// wait_for() with a delay <= 0 (asyncio's _cancel_and_wait): cancels `target` once and waits
/// until it is done through a separate future, so a cancellation of the caller ends the wait at
/// once and never reaches `target` a second time. A value or error `target` still produced is
/// the result; its cancellation becomes TimeoutError. `owned`: nobody else holds `target` (a task
/// made here), so its result is moved out.
template <class Awaitable, bool owned = false>
auto cancel_and_wait(Awaitable target) -> Coro<typename Awaitable::value_type> {
    using T = typename Awaitable::value_type;
    if (!target.done()) {
        Future<void> waiter = get_running_loop().template create_future<void>();
        waiter.set_label("wait_for(..., 0): waiting for the cancelled one to finish");
        std::function<void()> release = [state = waiter.state()] {
            if (!state->done())
                state->set_result();
        };
        const std::uint64_t id = target.add_done_callback(std::move(release));
        DoneCallbackRemover<Awaitable> remover(target, id);
        target.cancel();
        co_await waiter;
    }
    try {
        if constexpr (std::is_void_v<T>) {
            target.result();
        } else if constexpr (owned) {
            co_return target.take_result();
        } else {
            co_return T(target.result());
        }
    } catch (const CancelledError&) {
        throw TimeoutError("timed out");
    }
}

}  // namespace detail

/// Awaits a coroutine with a time limit (asyncio.wait_for). With a limit <= 0 the coroutine is
/// made a task and cancelled before its first step, after one turn of the loop (TimeoutError);
/// Duration::max() is no limit.
template <class T>
Coro<T> wait_for(Coro<T> body, Duration delay) {
    if (delay <= Duration::zero()) {
        // A statement of its own: g++ 12 destroys a default argument's temporary twice inside
        // a co_await expression.
        Task<T> task = get_running_loop().create_task(std::move(body));
        task.state()->made_by = "wait_for()";
        co_return co_await detail::cancel_and_wait<Task<T>, true>(std::move(task));
    }
    co_return co_await timeout(delay, std::move(body));
}

/// Awaits a future with a time limit counted from when this is awaited; on expiry the future
/// is cancelled (wait_for).
template <class T>
Coro<T> wait_for(Future<T> future, Duration delay) {
    if (delay <= Duration::zero())
        co_return co_await detail::cancel_and_wait(std::move(future));
    co_return co_await timeout(delay, detail::await_value(std::move(future)));
}

/// Awaits a task with a time limit counted from when this is awaited; on expiry the task is
/// cancelled (wait_for).
template <class T>
Coro<T> wait_for(Task<T> task, Duration delay) {
    if (delay <= Duration::zero())
        co_return co_await detail::cancel_and_wait(std::move(task));
    co_return co_await timeout(delay, detail::await_value(std::move(task)));
}

}  // namespace simrun
