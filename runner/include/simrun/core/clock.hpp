#pragma once
// Time on a loop: a duration since the loop's own epoch (0 in the simulator, an arbitrary
// monotonic origin on the real loop). Nanosecond resolution.
//
// "Never" is Duration::max() (about 292 years), simrun's stand-in for asyncio's `math.inf`: a
// timer due at Duration::max() is never armed and never fires, a sleep of Duration::max() waits
// until it is cancelled, a timeout of Duration::max() never expires. Every time the library adds
// a delay to a time, it saturates (saturating_add), so any delay too large to represent means
// never, and any very negative delay means "already due", as 0 does.

#include <chrono>
#include <concepts>
#include <limits>
#include <type_traits>
#include <utility>

namespace simrun {

/// A span of time, and also a point in time measured from the loop's epoch.
using Duration = std::chrono::nanoseconds;

using namespace std::chrono_literals;  // NOLINT: lets users write 100ms, 5s

/// Seconds as a double, for messages ("took 0.151 seconds").
inline double to_seconds(Duration d) noexcept {
    return std::chrono::duration<double>(d).count();
}

/// `time + delay`, clamped to [Duration::min(), Duration::max()] instead of overflowing: a
/// deadline past the representable range is Duration::max(), which means never.
constexpr Duration saturating_add(Duration time, Duration delay) noexcept {
    constexpr auto max = Duration::max().count();
    constexpr auto min = Duration::min().count();
    const auto a = time.count();
    const auto b = delay.count();
    if (b > 0 && a > max - b)
        return Duration::max();
    if (b < 0 && a < min - b)
        return Duration::min();
    return Duration(a + b);
}

/// Any std::chrono duration as a Duration, clamped instead of overflowing (hours::max() becomes
/// Duration::max(), never; a NaN of a floating duration becomes 0).
template <class Rep, class Period>
constexpr Duration saturating_duration(std::chrono::duration<Rep, Period> d) noexcept {
    using Ratio = std::ratio_divide<Period, std::nano>;  // nanoseconds per tick
    if constexpr (std::is_integral_v<Rep> && Ratio::den == 1) {
        // Whole nanoseconds per tick: multiply, unless the product does not fit.
        constexpr auto max_ticks = Duration::max().count() / Ratio::num;
        constexpr auto min_ticks = Duration::min().count() / Ratio::num;
        const Rep ticks = d.count();
        if (std::cmp_greater(ticks, max_ticks))
            return Duration::max();
        if (std::cmp_less(ticks, min_ticks))
            return Duration::min();
        return Duration(static_cast<Duration::rep>(ticks) * Ratio::num);
    } else {
        // Floating ticks, or a tick that is not a whole number of nanoseconds.
        const long double nanoseconds = static_cast<long double>(d.count()) *
                                        static_cast<long double>(Ratio::num) /
                                        static_cast<long double>(Ratio::den);
        if (nanoseconds != nanoseconds)  // NaN
            return Duration::zero();
        constexpr long double limit = 9223372036854775808.0L;  // 2^63, exact
        if (nanoseconds >= limit)
            return Duration::max();
        if (nanoseconds <= -limit)
            return Duration::min();
        return Duration(static_cast<Duration::rep>(nanoseconds));
    }
}

/// A number of seconds (as asyncio takes them: `sleep(1)`, `sleep(0.5)`) as a Duration,
/// clamped: infinity and anything too large is Duration::max() (never), -infinity and anything
/// too small is Duration::min(); NaN is 0.
template <class Seconds>
requires(std::is_arithmetic_v<Seconds> && !std::is_same_v<Seconds, bool>) constexpr Duration
    seconds_to_duration(Seconds seconds) noexcept {
    if constexpr (std::is_floating_point_v<Seconds>) {
        return saturating_duration(std::chrono::duration<Seconds>(seconds));
    } else if constexpr (std::is_signed_v<Seconds>) {
        return saturating_duration(std::chrono::duration<long long>(seconds));
    } else {
        return saturating_duration(std::chrono::duration<unsigned long long>(seconds));
    }
}

}  // namespace simrun
