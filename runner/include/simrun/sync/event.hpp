#pragma once
// Event: a flag tasks can wait for (asyncio.Event, Python 3.13 rules).
//
// Not thread-safe: use an event only from its loop's thread (another thread sets it with
// `loop.call_soon_threadsafe([&event] { event.set(); })`).

#include <memory>
#include <string>

#include "simrun/core/coro.hpp"

namespace simrun {

namespace detail {
struct EventCore;
}

/// A flag, initially false. wait() suspends until it is set; set() wakes every waiter. Not
/// copyable or movable (tasks refer to it while they wait).
///
/// Destroying an event while tasks wait on it is safe: each waiting task gets CancelledError
/// "Event was destroyed while a task waited on it" at its wait() (a waiter already woken by
/// set() returns normally).
class Event {
  public:
    Event();
    ~Event();
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    /// True once set() was called (and clear() not since).
    bool is_set() const noexcept;
    /// Sets the flag and wakes every waiting task; does nothing if the flag is already set.
    void set();
    /// Resets the flag; later wait() calls suspend again. Waiters already woken by set() still
    /// return.
    void clear() noexcept;
    /// Returns at once (without suspending) if the flag is set, else suspends until set()
    /// (asyncio returns True; there is nothing to return here). Cancellable; a cancelled waiter
    /// leaves nothing behind. The first wait that has to suspend binds the event to the
    /// running loop; a wait that has to suspend on another loop throws RuntimeError
    /// "<Event at 0x... [unset]> is bound to a different event loop". Throws RuntimeError "no
    /// running event loop" if it must suspend outside a loop.
    Coro<void> wait();
    /// asyncio's repr: "<Event at 0x... [unset, waiters:1]>" ("[set]" once set).
    std::string describe() const;

  private:
    std::shared_ptr<detail::EventCore> core_;
};

}  // namespace simrun
