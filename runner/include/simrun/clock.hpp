#pragma once
// Time on a loop: a duration since the loop's own epoch (0 in the simulator, an arbitrary
// monotonic origin on the real loop). Nanosecond resolution.

#include <chrono>

namespace simrun {

/// A span of time, and also a point in time measured from the loop's epoch.
using Duration = std::chrono::nanoseconds;

using namespace std::chrono_literals;  // NOLINT: lets users write 100ms, 5s

/// Seconds as a double, for messages ("took 0.151 seconds").
inline double to_seconds(Duration d) noexcept {
    return std::chrono::duration<double>(d).count();
}

}  // namespace simrun
