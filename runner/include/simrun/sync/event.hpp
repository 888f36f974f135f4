#pragma once
// Event: a flag tasks can wait for (asyncio.Event). Bound to the loop of its first waiter.

#include <list>

#include "simrun/coro.hpp"
#include "simrun/future.hpp"

namespace simrun {

/// A flag, initially false. wait() suspends until it is set; set() wakes every waiter.
class Event {
  public:
    Event() = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    bool is_set() const noexcept { return value_; }
    /// Sets the flag and wakes every waiting task.
    void set();
    /// Resets the flag; later wait() calls suspend again.
    void clear() noexcept { value_ = false; }
    /// Returns at once if the flag is set, else suspends until set() (cancellable).
    Coro<void> wait();

  private:
    std::list<Future<void>> waiters_;
    bool value_ = false;
};

}  // namespace simrun
