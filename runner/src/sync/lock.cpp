#include "simrun/sync/lock.hpp"

#include <algorithm>
#include <exception>

#include "simrun/core/event_loop.hpp"
#include "simrun/core/exception_context.hpp"

#include "lock_core.hpp"

namespace simrun {

namespace detail {

std::string LockCore::describe() const {
    return describe_primitive("Lock", address,
                              (locked ? "locked" : "unlocked") + waiters_suffix(waiters));
}

void LockCore::release() {
    if (!locked)
        throw RuntimeError("Lock is not acquired.");
    locked = false;
    wake_up_first();
}

void LockCore::wake_up_first() {
    // Only the head: a done head is a waiter already on its way (it takes the lock, or passes
    // the wake-up on if it was cancelled).
    if (!waiters.empty() && !waiters.front().done())
        waiters.front().set_result();
}

void LockCore::abandon() noexcept {
    destroyed = true;
    cancel_waiters(waiters, destroyed_message("Lock"));
}

Coro<void> acquire_lock(std::shared_ptr<LockCore> core) {
    if (core->destroyed)
        throw CancelledError(destroyed_message("Lock"));
    // Fast path only when nobody is in line: a woken waiter that has not run yet has a done,
    // not cancelled future, and keeps its turn (no barging). Waiters that are all cancelled
    // are on their way out and do not count.
    if (!core->locked && std::all_of(core->waiters.begin(), core->waiters.end(),
                                     [](const Future<void>& w) { return w.cancelled(); })) {
        core->locked = true;
        co_return;
    }
    EventLoop& loop = core->binding.running_loop(core->describe());
    Future<void> waiter = make_waiter(loop, "Lock.acquire");
    std::exception_ptr error;
    {
        WaiterEntry entry(core->waiters, waiter);
        try {
            co_await waiter;
        } catch (...) {
            error = std::current_exception();
        }
    }
    if (core->destroyed) {
        if (error)
            std::rethrow_exception(error);
        throw CancelledError(destroyed_message("Lock"));
    }
    if (error) {
        // Cancelled (the only way out of the wait besides a wake-up): if the lock is free, the
        // new head must run, whether a release() had picked this task or the head was cancelled
        // before that release() and was skipped by it.
        if (!core->locked)
            core->wake_up_first();
        std::rethrow_exception(error);
    }
    core->locked = true;
}

}  // namespace detail

// ---- LockGuard ------------------------------------------------------------------------------

LockGuard& LockGuard::operator=(LockGuard&& other) noexcept {
    if (this != &other) {
        release_quietly();
        core_ = std::move(other.core_);
    }
    return *this;
}

LockGuard::~LockGuard() {
    release_quietly();
}

void LockGuard::release() {
    if (!core_)
        throw RuntimeError("LockGuard holds no lock");
    std::shared_ptr<detail::LockCore> core = std::move(core_);
    if (!core->destroyed)
        core->release();
}

void LockGuard::release_quietly() noexcept {
    if (!core_)
        return;
    try {
        release();
    } catch (...) {
        detail::report_release_failure("LockGuard could not release its lock");
    }
}

// ---- Lock -----------------------------------------------------------------------------------

Lock::Lock() : core_(std::make_shared<detail::LockCore>(this)) {}

Lock::~Lock() {
    core_->abandon();
}

Coro<void> Lock::acquire() {
    return detail::acquire_lock(core_);
}

void Lock::release() {
    core_->release();
}

bool Lock::locked() const noexcept {
    return core_->locked;
}

Coro<LockGuard> Lock::hold() {
    std::shared_ptr<detail::LockCore> core = core_;
    co_await detail::acquire_lock(core);
    co_return LockGuard(std::move(core));
}

std::string Lock::describe() const {
    return core_->describe();
}

}  // namespace simrun
