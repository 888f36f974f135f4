#pragma once
// Lock: a mutual-exclusion lock for tasks (asyncio.Lock, Python 3.13 rules), and LockGuard, the
// RAII form of `async with lock:`.
//
// Fair: tasks acquire in the order they started waiting, and a task that finds the lock free
// while a woken waiter has not run yet queues behind it (no barging). A waiter cancelled after
// it was woken passes the wake-up on, so a cancellation never loses a release.
//
// Not thread-safe: use a lock only from its loop's thread (other threads go through
// call_soon_threadsafe). Bound to a loop like every primitive: see Lock::acquire().

#include <memory>
#include <string>

#include "simrun/core/coro.hpp"

namespace simrun {

namespace detail {
struct LockCore;
}

class Lock;
class Condition;

/// Holds an acquired Lock (or a Condition's lock) and releases it when destroyed: the C++ form
/// of `async with lock:`. Made by Lock::hold() and Condition::hold(); move-only. It lives in the
/// coroutine frame, so it stays held across co_await and is released on every way out of the
/// scope: normal end, exception, cancellation, and destruction of the frame by a closing loop.
class LockGuard {
  public:
    /// An empty guard (holds nothing).
    LockGuard() noexcept = default;
    LockGuard(LockGuard&& other) noexcept = default;
    /// Releases what this guard holds (as its destructor does), then takes over `other`'s lock.
    LockGuard& operator=(LockGuard&& other) noexcept;
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;
    /// Releases the lock if still held. A release that fails (someone else released the lock
    /// already: RuntimeError "Lock is not acquired.") cannot throw from a destructor: it goes
    /// to the running loop's exception handler (message "LockGuard could not release its
    /// lock"), or to the log when no loop runs. Does nothing once the lock was destroyed.
    ~LockGuard();

    /// True while the guard holds its lock.
    bool owns_lock() const noexcept { return core_ != nullptr; }
    explicit operator bool() const noexcept { return owns_lock(); }
    /// Releases the lock now (nothing if the lock was destroyed); the guard is empty
    /// afterwards. Throws RuntimeError "LockGuard holds no lock" on an empty guard (released
    /// already or moved from), and RuntimeError "Lock is not acquired." if the lock was
    /// released behind the guard's back.
    void release();

  private:
    friend class Lock;
    friend class Condition;
    explicit LockGuard(std::shared_ptr<detail::LockCore> core) noexcept : core_(std::move(core)) {}
    void release_quietly() noexcept;

    std::shared_ptr<detail::LockCore> core_;
};

/// A lock with two states, locked and unlocked. Not re-entrant and without an owner: any task
/// may release it. Not copyable or movable (tasks refer to it while they wait).
///
/// Destroying a lock while tasks wait on it is safe: each waiting task gets CancelledError
/// "Lock was destroyed while a task waited on it" at its acquire() (a waiter that was already
/// woken gets it when it runs), and guards of the dead lock release nothing.
class Lock {
  public:
    Lock();
    ~Lock();
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

    /// Acquires the lock: returns at once (without suspending) if it is unlocked and nobody
    /// waits, else suspends until a release() wakes this task, in FIFO order. asyncio returns
    /// True; there is nothing to return here. Cancellable: a cancelled acquire leaves the lock
    /// as it was and, if a release had already chosen this task, wakes the next waiter.
    /// The first acquire that has to wait binds the lock to the running loop; an acquire that
    /// has to wait on another loop throws RuntimeError "<Lock at 0x... [locked]> is bound to a
    /// different event loop" (one that does not wait never checks, as in asyncio). Throws
    /// RuntimeError "no running event loop" if it must wait outside a loop.
    Coro<void> acquire();
    /// Unlocks and wakes the first waiter. Throws RuntimeError "Lock is not acquired." if the
    /// lock is not locked. Never suspends.
    void release();
    /// True while the lock is held. Note (as in asyncio): between a release() that woke a
    /// waiter and that waiter running, locked() is false, yet a new acquire() still queues.
    bool locked() const noexcept;
    /// acquire(), then a guard that releases the lock when it goes out of scope:
    /// `LockGuard guard = co_await lock.hold();`.
    [[nodiscard]] Coro<LockGuard> hold();
    /// asyncio's repr: "<Lock at 0x... [locked, waiters:1]>" ("[unlocked]" when free; the
    /// waiter count when there are listed waiters).
    std::string describe() const;

  private:
    friend class Condition;
    std::shared_ptr<detail::LockCore> core_;
};

}  // namespace simrun
