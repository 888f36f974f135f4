#include "simrun/sync/semaphore.hpp"

#include <algorithm>
#include <exception>

#include "simrun/core/event_loop.hpp"
#include "simrun/core/exception_context.hpp"
#include "simrun/sync/detail/loop_binding.hpp"

#include "waiters.hpp"

namespace simrun {

namespace detail {

struct SemaphoreCore {
    SemaphoreCore(const void* address, std::int64_t value, bool bounded)
        : address(address), value(value), bound(value), bounded(bounded) {}

    const char* kind() const noexcept { return bounded ? "BoundedSemaphore" : "Semaphore"; }
    std::string describe() const {
        return describe_primitive(
            kind(), address,
            (locked() ? std::string("locked") : "unlocked, value:" + std::to_string(value)) +
                waiters_suffix(waiters));
    }
    bool locked() const noexcept {
        return value == 0 || std::any_of(waiters.begin(), waiters.end(),
                                         [](const Future<void>& w) { return !w.cancelled(); });
    }
    /// Hands a permit to the first waiter not woken yet (asyncio's _wake_up_next); false if
    /// there is none.
    bool wake_up_next() {
        for (Future<void>& waiter : waiters) {
            if (!waiter.done()) {
                --value;
                waiter.set_result();
                return true;
            }
        }
        return false;
    }
    void release() {
        if (bounded && value >= bound)
            throw ValueError("BoundedSemaphore released too many times");
        ++value;
        wake_up_next();
    }

    WaiterList waiters;
    LoopBinding binding;
    const void* address;
    std::int64_t value;
    std::int64_t bound;
    bool bounded;
    bool destroyed = false;
};

namespace {

Coro<void> acquire_permit(std::shared_ptr<SemaphoreCore> core) {
    if (core->destroyed)
        throw CancelledError(destroyed_message(core->kind()));
    if (!core->locked()) {
        --core->value;
        co_return;
    }
    EventLoop& loop = core->binding.running_loop(core->describe());
    Future<void> waiter = make_waiter(loop, "Semaphore.acquire");
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
        throw CancelledError(destroyed_message(core->kind()));
    }
    // Woken (handed a permit), then cancelled before running: give the permit back.
    if (error && waiter.done() && !waiter.cancelled())
        ++core->value;
    // Waiters may have queued behind this one only to keep FIFO order: wake as many as the
    // free permits allow (on success and on cancellation alike).
    while (core->value > 0) {
        if (!core->wake_up_next())
            break;
    }
    if (error)
        std::rethrow_exception(error);
}

}  // namespace

}  // namespace detail

// ---- SemaphoreGuard -------------------------------------------------------------------------

SemaphoreGuard& SemaphoreGuard::operator=(SemaphoreGuard&& other) noexcept {
    if (this != &other) {
        release_quietly();
        core_ = std::move(other.core_);
    }
    return *this;
}

SemaphoreGuard::~SemaphoreGuard() {
    release_quietly();
}

void SemaphoreGuard::release() {
    if (!core_)
        throw RuntimeError("SemaphoreGuard holds no permit");
    std::shared_ptr<detail::SemaphoreCore> core = std::move(core_);
    if (!core->destroyed)
        core->release();
}

void SemaphoreGuard::release_quietly() noexcept {
    if (!core_)
        return;
    try {
        release();
    } catch (...) {
        detail::report_release_failure("SemaphoreGuard could not release its permit");
    }
}

// ---- Semaphore ------------------------------------------------------------------------------

Semaphore::Semaphore(std::int64_t value) : Semaphore(value, false) {}

Semaphore::Semaphore(std::int64_t value, bool bounded) {
    if (value < 0)
        throw ValueError("Semaphore initial value must be >= 0");
    core_ = std::make_shared<detail::SemaphoreCore>(this, value, bounded);
}

Semaphore::~Semaphore() {
    core_->destroyed = true;
    detail::cancel_waiters(core_->waiters, detail::destroyed_message(core_->kind()));
}

Coro<void> Semaphore::acquire() {
    return detail::acquire_permit(core_);
}

void Semaphore::release() {
    core_->release();
}

bool Semaphore::locked() const noexcept {
    return core_->locked();
}

Coro<SemaphoreGuard> Semaphore::hold() {
    std::shared_ptr<detail::SemaphoreCore> core = core_;
    co_await detail::acquire_permit(core);
    co_return SemaphoreGuard(std::move(core));
}

std::string Semaphore::describe() const {
    return core_->describe();
}

}  // namespace simrun
