#include "simrun/sync/condition.hpp"

#include <exception>

#include "simrun/core/event_loop.hpp"

#include "lock_core.hpp"

namespace simrun {

namespace detail {

struct ConditionCore {
    explicit ConditionCore(const void* address) : address(address) {}

    std::string describe(const LockCore& lock) const {
        return describe_primitive("Condition", address,
                                  (lock.locked ? "locked" : "unlocked") + waiters_suffix(waiters));
    }
    /// Wakes the first `n` waiters that are not done yet (asyncio's _notify).
    void notify(std::size_t n) {
        std::size_t woken = 0;
        for (Future<void>& waiter : waiters) {
            if (woken >= n)
                break;
            if (!waiter.done()) {
                ++woken;
                waiter.set_result();
            }
        }
    }

    WaiterList waiters;
    LoopBinding binding;
    const void* address;
    bool destroyed = false;
};

namespace {

Coro<void> wait_on_condition(std::shared_ptr<ConditionCore> core, std::shared_ptr<LockCore> lock) {
    if (!lock->locked)
        throw RuntimeError("cannot wait on un-acquired lock");
    EventLoop& loop = core->binding.running_loop(core->describe(*lock));
    Future<void> waiter = make_waiter(loop, "Condition.wait");
    lock->release();
    std::exception_ptr error;
    {
        WaiterEntry entry(core->waiters, waiter);
        try {
            co_await waiter;
        } catch (...) {
            error = std::current_exception();
        }
    }
    // Take the lock back whatever happened. A cancellation here is remembered and the acquire
    // retried; any other error (a lock bound to another loop, a destroyed lock) ends it.
    std::exception_ptr cancelled_in_acquire;
    std::exception_ptr acquire_error;
    for (;;) {
        if (lock->destroyed)
            break;  // nothing left to hold (see below)
        std::exception_ptr attempt;
        try {
            co_await acquire_lock(lock);
        } catch (...) {
            attempt = std::current_exception();
        }
        if (!attempt)
            break;
        if (is_cancellation(attempt) && !lock->destroyed) {
            cancelled_in_acquire = attempt;
            continue;
        }
        acquire_error = attempt;
        break;
    }
    if (acquire_error)
        error = acquire_error;
    else if (cancelled_in_acquire)
        error = cancelled_in_acquire;  // the most recent one, as asyncio
    // Gone meanwhile: the condition (a notified waiter that has not run yet), or the lock (a
    // shared lock destroyed before the condition, against the rules).
    if (!error && core->destroyed)
        error = std::make_exception_ptr(CancelledError(destroyed_message("Condition")));
    if (!error && lock->destroyed)
        error = std::make_exception_ptr(CancelledError(destroyed_message("Lock")));
    if (error) {
        // This task may have been notified before the error: pass a wake-up on (possibly a
        // spurious one, which the condition-variable protocol allows).
        if (!core->destroyed)
            core->notify(1);
        std::rethrow_exception(error);
    }
}

}  // namespace

}  // namespace detail

Condition::Condition()
    : core_(std::make_shared<detail::ConditionCore>(this)),
      lock_(std::make_shared<detail::LockCore>(this)),
      owns_lock_(true) {}

Condition::Condition(Lock& lock)
    : core_(std::make_shared<detail::ConditionCore>(this)), lock_(lock.core_), owns_lock_(false) {}

Condition::~Condition() {
    core_->destroyed = true;
    detail::cancel_waiters(core_->waiters, detail::destroyed_message("Condition"));
    if (owns_lock_)
        lock_->abandon();
}

Coro<void> Condition::acquire() {
    return detail::acquire_lock(lock_);
}

void Condition::release() {
    lock_->release();
}

bool Condition::locked() const noexcept {
    return lock_->locked;
}

Coro<LockGuard> Condition::hold() {
    std::shared_ptr<detail::LockCore> lock = lock_;
    co_await detail::acquire_lock(lock);
    co_return LockGuard(std::move(lock));
}

Coro<void> Condition::wait() {
    return detail::wait_on_condition(core_, lock_);
}

void Condition::notify(std::size_t n) {
    if (!lock_->locked)
        throw RuntimeError("cannot notify on un-acquired lock");
    core_->notify(n);
}

void Condition::notify_all() {
    notify(core_->waiters.size());
}

std::string Condition::describe() const {
    return core_->describe(*lock_);
}

}  // namespace simrun
