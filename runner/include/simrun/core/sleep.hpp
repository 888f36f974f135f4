#pragma once
// sleep() and yield_now(): suspension points of the running task.
//
// sleep() takes a std::chrono duration (`sleep(100ms)`, `sleep(2s)`) or, as asyncio.sleep does,
// a number of seconds (`sleep(1)`, `sleep(0.25)`). The seconds overloads also keep the natural
// spelling safe under `using namespace simrun;` next to POSIX's `unsigned sleep(unsigned)`
// from <unistd.h>: `sleep(1)` and `sleep(0.5)` pick simrun's sleep (a better match than the
// conversion to unsigned), and `sleep(1u)` does not compile (ambiguous) instead of blocking the
// whole loop in ::sleep. Write `simrun::sleep(1u)` or `sleep(1s)` then.
//
// Delays saturate: Duration::max() (or any delay too large to add to the loop's time, or an
// infinite number of seconds) sleeps until the task is cancelled, as asyncio.sleep(math.inf);
// a delay <= 0 (however negative) is asyncio's sleep(0), one loop iteration. NaN seconds are
// rejected (ValueError), as asyncio does.

#include <chrono>
#include <concepts>
#include <type_traits>

#include "simrun/core/clock.hpp"
#include "simrun/core/coro.hpp"

namespace simrun {

/// Suspends the current task for `delay` of loop time. A delay <= 0 yields for one loop
/// iteration (asyncio's sleep(0)); Duration::max() waits until cancelled. Cancellable at its
/// suspension point.
Coro<void> sleep(Duration delay);

/// Any other std::chrono duration (`sleep(2s)`, `sleep(std::chrono::hours::max())`), converted
/// without overflow (a delay too large for Duration is Duration::max(): until cancelled).
template <class Rep, class Period>
Coro<void> sleep(std::chrono::duration<Rep, Period> delay) {
    return sleep(saturating_duration(delay));
}

namespace detail {
/// A number of seconds for sleep(): any arithmetic type except bool.
template <class S>
concept Seconds = std::is_arithmetic_v<S> && !std::is_same_v<S, bool>;
/// A coroutine that throws ValueError "Invalid delay: NaN (not a number)" when awaited.
Coro<void> sleep_nan();
}  // namespace detail

/// asyncio.sleep(seconds): `co_await sleep(1)`, `co_await sleep(0.5)`. Infinity (or any
/// number of seconds too large for Duration) waits until cancelled; NaN throws ValueError
/// "Invalid delay: NaN (not a number)" when awaited.
template <detail::Seconds S>
Coro<void> sleep(S seconds) {
    if constexpr (std::is_floating_point_v<S>) {
        if (seconds != seconds)
            return detail::sleep_nan();
    }
    return sleep(seconds_to_duration(seconds));
}

/// `sleep(1u)`: exists so that, under `using namespace simrun;`, an unsigned argument is
/// ambiguous with POSIX ::sleep(unsigned) (a compile error) rather than silently calling it.
/// Called qualified (`simrun::sleep(1u)`), it sleeps that many seconds.
Coro<void> sleep(unsigned int seconds);

/// Suspends for `delay`, then returns `value` (asyncio.sleep(d, result)).
template <class Rep, class Period, class T>
Coro<T> sleep(std::chrono::duration<Rep, Period> delay, T value) {
    co_await sleep(saturating_duration(delay));
    co_return value;
}

/// Suspends for `seconds` (as sleep(seconds)), then returns `value` (asyncio.sleep(d, result)).
template <detail::Seconds S, class T>
Coro<T> sleep(S seconds, T value) {
    co_await sleep(seconds);
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
