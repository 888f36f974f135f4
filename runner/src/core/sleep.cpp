#include "simrun/core/sleep.hpp"

#include "simrun/core/event_loop.hpp"

namespace simrun {
namespace {

/// Where a sleep's timer is made, for reports in debug mode ("created at sleep.cpp:12").
constexpr SourceLocation sleep_site = SourceLocation::current();

/// The await of a sleep: the running task sleeps until `when`.
struct SleepUntil {
    Duration when;
    detail::TaskBase* task = nullptr;

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> at) {
        task = detail::current_task_state();
        if (task == nullptr)
            throw RuntimeError("yield_now()/sleep() can only be awaited from inside a task");
        task->sleep_until(when, at);
    }
    void await_resume() const { task->end_sleep(); }
};

}  // namespace

void YieldNow::await_suspend(std::coroutine_handle<> at) const {
    detail::TaskBase* task = detail::current_task_state();
    if (task == nullptr)
        throw RuntimeError("yield_now()/sleep() can only be awaited from inside a task");
    task->yield_once(at);
}

void YieldNow::await_resume() const {
    detail::deliver_pending_cancellation();
}

Coro<void> detail::sleep_nan() {
    throw ValueError("Invalid delay: NaN (not a number)");
    co_return;
}

Coro<void> sleep(unsigned int seconds) {
    return sleep(seconds_to_duration(seconds));
}

Coro<void> sleep(Duration delay) {
    if (delay <= Duration::zero()) {
        co_await yield_now();
        co_return;
    }
    co_await SleepUntil{saturating_add(get_running_loop().time(), delay)};
}

// ---- a task's sleep ---------------------------------------------------------------------------
//
// asyncio.sleep() makes a future and a timer whose callback sets the future's result; the task
// waits on the future. Here the task keeps one timer for all its sleeps and plays the future's
// part itself, step for step: the timer's callback ("sleep wake-up of Task-3") wakes the task
// at its next step; cancelling the task cancels the sleep, which ends at the task's next step
// with its own CancelledError; the timer is disarmed once the sleep ended. Traces, digests and
// reports ("Task-3 awaits sleep", "wait_for=<Future pending sleep>") are those of that future.

namespace detail {

void TaskBase::sleep_until(Duration when, std::coroutine_handle<> at) {
    EventLoop& loop = this->loop();
    // The timer is reused unless the loop still holds it: cancelled in the heap (until purged)
    // or fired and queued. (Either way it is cancelled or done: end_sleep() cancelled it.)
    if (!sleep_timer_ || sleep_timer_.use_count() > 1) {
        HandleRef timer = HandleRef::make();
        timer->callback = [this] { wake_from_sleep(); };
        timer->created_at = sleep_site;
        timer->describe_as("sleep wake-up of", weak_from_this());
        sleep_timer_ = std::move(timer);
    }
    // Cancelled while running: the sleep is cancelled at once (its error is made first, so
    // that nothing is armed if that fails).
    std::exception_ptr cancelled;
    if (must_cancel_)
        cancelled = std::make_exception_ptr(CancelledError(text_or_empty(pending_cancel_message_)));
    sleep_timer_->cancelled.store(false, std::memory_order_relaxed);
    loop.arm_timer(when, sleep_timer_);
    resume_at_ = at;
    sleep_ = Sleep::armed;
    if (cancelled) {
        try {
            cancel_sleep(std::move(cancelled));
        } catch (...) {  // out of memory queuing the step: the await fails, nothing is left armed
            sleep_timer_->cancel();
            sleep_ = Sleep::none;
            resume_at_ = {};
            throw;
        }
        must_cancel_ = false;
    }
}

void TaskBase::schedule_sleep_end() {
    EventLoop* loop = loop_if_alive();
    if (loop != nullptr && !loop->is_closed() && keep_alive_)
        loop->schedule_task_step(keep_alive_, true);
}

void TaskBase::wake_from_sleep() {
    if (sleep_ != Sleep::armed)
        return;  // cancelled, and its step is queued already
    schedule_sleep_end();
    sleep_ = Sleep::woken;
}

void TaskBase::cancel_sleep(std::exception_ptr error) {
    schedule_sleep_end();
    pending_error_ = std::move(error);
    sleep_ = Sleep::cancelled;
}

void TaskBase::end_sleep() {
    const Sleep ended = std::exchange(sleep_, Sleep::none);
    sleep_timer_->cancel();
    if (ended == Sleep::cancelled) {
        // As an awaited future that was cancelled: its CancelledError is the one thrown, and a
        // cancellation requested since is dropped (asyncio's Task.__step keeps it too).
        std::exception_ptr error = std::exchange(pending_error_, nullptr);
        deliver_pending_cancellation(true);
        std::rethrow_exception(error);
    }
    deliver_pending_cancellation();
}

std::string TaskBase::describe_sleep() const {
    const char* status = sleep_ == Sleep::armed   ? "pending"
                         : sleep_ == Sleep::woken ? "finished"
                                                  : "cancelled";
    std::string text = std::string(" wait_for=<Future ") + status + " sleep";
    EventLoop* loop = loop_if_alive();
    if (loop != nullptr && loop->get_debug())
        text += " created at " + sleep_site.short_text();
    return text + ">";
}

}  // namespace detail
}  // namespace simrun
