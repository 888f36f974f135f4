#pragma once
// Condition: a condition variable for tasks (asyncio.Condition, Python 3.13 rules).
//
// A task holding the condition's lock waits with wait() (which releases the lock while it
// waits and always takes it back before returning or throwing) and is woken by notify() or
// notify_all() from a task holding the lock. Wake-ups may be spurious (see wait()): re-check
// the state after waking, or use wait_for(predicate).
//
// Not thread-safe: use a condition only from its loop's thread.

#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>

#include "simrun/core/coro.hpp"
#include "simrun/sync/lock.hpp"

namespace simrun {

namespace detail {
struct ConditionCore;
struct LockCore;
}  // namespace detail

/// A condition variable with its lock. Not copyable or movable.
///
/// Destroying a condition while tasks wait on it is safe: each task waiting in wait() gets
/// CancelledError "Condition was destroyed while a task waited on it"; it still re-acquires a
/// shared lock that is alive, and gives up on an own lock (destroyed with the condition).
class Condition {
  public:
    /// A condition with its own Lock.
    Condition();
    /// A condition on `lock` (shared with others). The Lock must outlive the condition. Unlike
    /// asyncio, which accepts any object with acquire/release/locked, only a Lock is accepted.
    explicit Condition(Lock& lock);
    ~Condition();
    Condition(const Condition&) = delete;
    Condition& operator=(const Condition&) = delete;

    /// The lock's acquire() (see Lock::acquire).
    Coro<void> acquire();
    /// The lock's release(): RuntimeError "Lock is not acquired." if it is not locked.
    void release();
    /// The lock's locked().
    bool locked() const noexcept;
    /// Acquires the lock and returns a guard that releases it: `auto guard = co_await
    /// cond.hold();` is `async with cond:`.
    [[nodiscard]] Coro<LockGuard> hold();

    /// Releases the lock, suspends until notified, re-acquires the lock (queueing FIFO on the
    /// lock like any acquirer) and returns (asyncio returns True). Throws RuntimeError "cannot
    /// wait on un-acquired lock" if the lock is not locked (who holds it is not checked).
    /// Always leaves with the lock held, also when cancelled: a cancellation during the
    /// re-acquire is remembered and the acquire retried; the most recent one is thrown once
    /// the lock is held, else the CancelledError of the wait itself. On any exception it
    /// first notifies one other waiter in its place, so no notification is lost; this can
    /// wake another waiter spuriously even if this one was never notified (asyncio 3.13).
    /// Binds the condition to the running loop on every call (RuntimeError "<Condition at
    /// 0x... [locked]> is bound to a different event loop" on another loop).
    Coro<void> wait();
    /// Evaluates `predicate()`; while the result is falsy, wait()s and evaluates it again.
    /// Returns the final (truthy) result. A predicate true at once returns without checking
    /// the lock; otherwise the lock must be held (see wait()).
    template <class Pred>
    Coro<std::remove_cvref_t<std::invoke_result_t<Pred&>>> wait_for(Pred predicate) {
        std::remove_cvref_t<std::invoke_result_t<Pred&>> result = predicate();
        while (!result) {
            co_await wait();
            result = predicate();
        }
        co_return result;
    }
    /// Wakes the first `n` waiters not woken yet, oldest first; each returns from wait() once
    /// it has re-acquired the lock. Throws RuntimeError "cannot notify on un-acquired lock" if
    /// the lock is not locked.
    void notify(std::size_t n = 1);
    /// notify() for every listed waiter; the same RuntimeError.
    void notify_all();
    /// asyncio's repr: "<Condition at 0x... [locked, waiters:1]>".
    std::string describe() const;

  private:
    std::shared_ptr<detail::ConditionCore> core_;
    std::shared_ptr<detail::LockCore> lock_;
    bool owns_lock_;
};

}  // namespace simrun
