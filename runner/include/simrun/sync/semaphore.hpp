#pragma once
// Semaphore and BoundedSemaphore: a counter of permits for tasks (asyncio.Semaphore and
// asyncio.BoundedSemaphore, Python 3.13 rules), and SemaphoreGuard, the RAII form of
// `async with sem:`.
//
// Fair: waiters acquire in FIFO order, and a task that finds a free permit while earlier
// waiters have not run yet queues behind them. A release hands its permit to the first waiter
// at once; a waiter cancelled after that gives it back and it goes to the next one.
//
// Not thread-safe: use a semaphore only from its loop's thread.

#include <cstdint>
#include <memory>
#include <string>

#include "simrun/core/coro.hpp"

namespace simrun {

namespace detail {
struct SemaphoreCore;
}

/// Holds one acquired permit of a Semaphore and releases it when destroyed (see LockGuard,
/// which it mirrors). Made by Semaphore::hold(); move-only.
class SemaphoreGuard {
  public:
    /// An empty guard (holds nothing).
    SemaphoreGuard() noexcept = default;
    SemaphoreGuard(SemaphoreGuard&& other) noexcept = default;
    /// Releases what this guard holds (as its destructor does), then takes over `other`'s permit.
    SemaphoreGuard& operator=(SemaphoreGuard&& other) noexcept;
    SemaphoreGuard(const SemaphoreGuard&) = delete;
    SemaphoreGuard& operator=(const SemaphoreGuard&) = delete;
    /// Releases the permit if still held. A release that fails (a BoundedSemaphore released
    /// too many times behind the guard's back) goes to the running loop's exception handler
    /// (message "SemaphoreGuard could not release its permit"), or to the log when no loop
    /// runs. Does nothing once the semaphore was destroyed.
    ~SemaphoreGuard();

    /// True while the guard holds its permit.
    bool owns_permit() const noexcept { return core_ != nullptr; }
    explicit operator bool() const noexcept { return owns_permit(); }
    /// Releases the permit now (nothing if the semaphore was destroyed); the guard is empty
    /// afterwards. Throws RuntimeError "SemaphoreGuard holds no permit" on an empty guard, and
    /// what Semaphore::release() throws.
    void release();

  private:
    friend class Semaphore;
    explicit SemaphoreGuard(std::shared_ptr<detail::SemaphoreCore> core) noexcept
        : core_(std::move(core)) {}
    void release_quietly() noexcept;

    std::shared_ptr<detail::SemaphoreCore> core_;
};

/// A counter of permits: acquire() takes one (waiting while there is none), release() gives
/// one back. Any task may release; a plain Semaphore has no upper bound. Not copyable or
/// movable.
///
/// Destroying a semaphore while tasks wait on it is safe: each waiting task gets
/// CancelledError "Semaphore was destroyed while a task waited on it" ("BoundedSemaphore was
/// ..." for a BoundedSemaphore), also one already handed a permit that has not run yet, and
/// guards of the dead semaphore release nothing.
class Semaphore {
  public:
    /// Throws ValueError "Semaphore initial value must be >= 0" for a negative value.
    explicit Semaphore(std::int64_t value = 1);
    ~Semaphore();
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    /// Takes a permit: at once (without suspending) if not locked(), else suspends until a
    /// release() hands this task a permit, in FIFO order (asyncio returns True). Cancellable:
    /// a permit handed to a cancelled waiter goes back and on to the next waiter. Once it has
    /// its permit it also wakes the waiters queued behind it that free permits allow.
    /// The first acquire that has to wait binds the semaphore to the running loop; one that
    /// has to wait on another loop throws RuntimeError "<Semaphore at 0x... [locked]> is bound
    /// to a different event loop".
    Coro<void> acquire();
    /// Gives a permit back and hands it to the first waiter not woken yet, if any. Never
    /// suspends. A BoundedSemaphore throws ValueError "BoundedSemaphore released too many
    /// times" (and changes nothing) if this would exceed its initial value.
    void release();
    /// True if acquire() would wait: no permit left, or a waiter that is not cancelled is in
    /// line (a woken waiter that has not run yet counts, to keep FIFO order).
    bool locked() const noexcept;
    /// acquire(), then a guard that releases the permit when it goes out of scope.
    [[nodiscard]] Coro<SemaphoreGuard> hold();
    /// asyncio's repr: "<Semaphore at 0x... [unlocked, value:2]>", "[locked, waiters:1]".
    std::string describe() const;

  protected:
    Semaphore(std::int64_t value, bool bounded);

  private:
    std::shared_ptr<detail::SemaphoreCore> core_;
};

/// A Semaphore whose release() refuses to go above the initial value (ValueError
/// "BoundedSemaphore released too many times"); see Semaphore::release().
class BoundedSemaphore : public Semaphore {
  public:
    /// Throws ValueError "Semaphore initial value must be >= 0" for a negative value.
    explicit BoundedSemaphore(std::int64_t value = 1) : Semaphore(value, true) {}
};

}  // namespace simrun
