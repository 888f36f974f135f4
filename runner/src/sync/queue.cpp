#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>

#include "simrun/core/event_loop.hpp"
#include "simrun/core/exceptions.hpp"
#include "simrun/sync/detail/queue_core.hpp"

namespace simrun::detail {

/// Undoes a wait that did not end by a wake-up, as the `except:` clause of asyncio's put() and
/// get() (and the `finally` of Event.wait() for join()): the waiter leaves the deque and, if it
/// had been woken and the queue can still serve, the wake-up passes to the next waiter. Runs
/// when the wait throws (a cancellation) and when the frame is destroyed at its suspension
/// point (the loop closed with the task pending; Python's GeneratorExit). Does nothing once the
/// queue is destroyed.
class QueueCore::WaitCleanup {
  public:
    WaitCleanup(QueueCore* queue, Side side, Future<void> waiter,
                std::shared_ptr<const bool> alive) noexcept
        : queue_(queue), side_(side), waiter_(std::move(waiter)), alive_(std::move(alive)) {}
    WaitCleanup(const WaitCleanup&) = delete;
    WaitCleanup& operator=(const WaitCleanup&) = delete;
    ~WaitCleanup() {
        if (dismissed_ || !*alive_)
            return;
        try {
            waiter_.cancel();  // in case it is not done yet
            Waiters& waiters = queue_->waiters_of(side_);
            forget(waiters, waiter_);
            const bool can_serve = (side_ == Side::getters && !queue_->empty()) ||
                                   (side_ == Side::putters && !queue_->full());
            if (can_serve && !waiter_.cancelled())
                wake_next(waiters);
        } catch (...) {  // only an allocation can fail here; a destructor must not throw
        }
    }
    /// The wait ended by a wake-up: the waker already took the waiter out of the deque.
    void dismiss() noexcept { dismissed_ = true; }

  private:
    QueueCore* queue_;
    Side side_;
    Future<void> waiter_;
    std::shared_ptr<const bool> alive_;
    bool dismissed_ = false;
};

QueueCore::~QueueCore() {
    if (alive_)
        *alive_ = false;
    try {
        const std::string message = std::string(kind_) + " was destroyed while a task waited on it";
        for (Waiters* waiters : {&getters_, &putters_, &joiners_}) {
            for (Future<void>& waiter : *waiters)
                waiter.cancel(message);
        }
    } catch (...) {  // only an allocation can fail here; a destructor must not throw
    }
}

void QueueCore::task_done() {
    if (unfinished_ == 0)
        throw ValueError("task_done() called too many times");
    if (--unfinished_ == 0)
        wake_all(joiners_);
}

Coro<void> QueueCore::join() {
    if (unfinished_ == 0)
        co_return;
    std::shared_ptr<const bool> alive = alive_token();
    Future<void> waiter = new_waiter(Side::joiners);
    WaitCleanup cleanup(this, Side::joiners, waiter, std::move(alive));
    co_await waiter;
    // Woken: every task was done. Nothing here touches the queue, which may be gone by now.
    cleanup.dismiss();
}

void QueueCore::shutdown(bool immediate) {
    shut_down_ = true;
    if (immediate) {
        const std::size_t dropped = drop_items();
        unfinished_ -= std::min(unfinished_, dropped);
        if (unfinished_ == 0)
            wake_all(joiners_);
    }
    wake_all(getters_);
    wake_all(putters_);
}

void QueueCore::check_can_put() const {
    if (shut_down_)
        throw QueueShutDown();
    if (full())
        throw QueueFull();
}

void QueueCore::check_can_get() const {
    if (!empty())
        return;
    if (shut_down_)
        throw QueueShutDown();
    throw QueueEmpty();
}

void QueueCore::item_added() {
    ++unfinished_;
    wake_next(getters_);
}

Coro<void> QueueCore::wait_turn(Side side) {
    if (shut_down_)
        throw QueueShutDown();
    std::shared_ptr<const bool> alive = alive_token();
    Future<void> waiter = new_waiter(side);
    const char* kind = kind_;
    WaitCleanup cleanup(this, side, waiter, alive);
    co_await waiter;
    cleanup.dismiss();
    // The caller's loop re-checks the queue: not possible if it was destroyed meanwhile.
    if (!*alive)
        throw_destroyed(kind);
}

std::string QueueCore::describe_with(const void* self, const std::string& items) const {
    char address[2 + 2 * sizeof(std::uintptr_t) + 1];
    std::snprintf(address, sizeof address, "%#" PRIxPTR, reinterpret_cast<std::uintptr_t>(self));
    std::string text = "<" + std::string(kind_) + " at " + address;
    text += " maxsize=" + std::to_string(maxsize_);
    if (!items.empty())
        text += " " + items;
    if (!getters_.empty())
        text += " _getters[" + std::to_string(getters_.size()) + "]";
    if (!putters_.empty())
        text += " _putters[" + std::to_string(putters_.size()) + "]";
    if (unfinished_ != 0)
        text += " tasks=" + std::to_string(unfinished_);
    if (shut_down_)
        text += " shutdown";
    return text + ">";
}

QueueCore::Waiters& QueueCore::waiters_of(Side side) noexcept {
    switch (side) {
        case Side::getters:
            return getters_;
        case Side::putters:
            return putters_;
        case Side::joiners:
            break;
    }
    return joiners_;
}

Future<void> QueueCore::new_waiter(Side side) {
    static constexpr const char* operations[] = {"get", "put", "join"};
    LoopBinding& binding = side == Side::joiners ? joiner_binding_ : binding_;
    EventLoop& loop = binding.running_loop(describe());
    Future<void> waiter = loop.create_future<void>();
    waiter.set_label(std::string(kind_) + "." + operations[static_cast<int>(side)]);
    waiters_of(side).push_back(waiter);
    return waiter;
}

std::shared_ptr<const bool> QueueCore::alive_token() {
    if (!alive_)
        alive_ = std::make_shared<bool>(true);
    return alive_;
}

void QueueCore::throw_destroyed(const char* kind) {
    throw CancelledError(std::string(kind) + " was destroyed while a task waited on it");
}

void QueueCore::wake_next(Waiters& waiters) {
    while (!waiters.empty()) {
        Future<void> waiter = std::move(waiters.front());
        waiters.pop_front();
        if (!waiter.done()) {
            waiter.set_result();
            return;
        }
    }
}

void QueueCore::wake_all(Waiters& waiters) {
    while (!waiters.empty()) {
        Future<void> waiter = std::move(waiters.front());
        waiters.pop_front();
        if (!waiter.done())
            waiter.set_result();
    }
}

void QueueCore::forget(Waiters& waiters, const Future<void>& waiter) noexcept {
    auto found = std::find_if(waiters.begin(), waiters.end(), [&](const Future<void>& entry) {
        return entry.state() == waiter.state();
    });
    if (found != waiters.end())
        waiters.erase(found);
}

}  // namespace simrun::detail
