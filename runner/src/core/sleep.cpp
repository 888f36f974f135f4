#include "simrun/core/sleep.hpp"

#include "simrun/core/event_loop.hpp"

namespace simrun {
namespace {
/// A sleep's future with its timer inside.
struct SleepFuture final : detail::FutureState<void> {
    using FutureState<void>::FutureState;
    detail::HandleState timer;
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
    EventLoop& loop = get_running_loop();
    // The future and its timer in one allocation; the timer's callback needs no reference to
    // the future it is part of.
    auto state = std::allocate_shared<SleepFuture>(detail::BlockAllocator<SleepFuture>(), loop,
                                                   SourceLocation::current());
    state->set_static_label("sleep");
    state->timer.callback = [future = state.get()] {
        if (!future->done())
            future->set_result();
    };
    state->timer.created_at = SourceLocation::current();
    // The sleeping task, named when the trace asks ("sleep wake-up of worker-1").
    if (detail::TaskBase* task = detail::current_task_state())
        state->timer.describe_as("sleep wake-up of", task->weak_from_this());
    TimerHandle timer =
        loop.schedule_timer(saturating_add(loop.time(), delay),
                            std::shared_ptr<detail::HandleState>(state, &state->timer));
    Future<void> done(std::move(state));
    std::exception_ptr error;
    try {
        co_await done;
    } catch (...) {
        error = std::current_exception();
    }
    timer.cancel();
    if (error)
        std::rethrow_exception(error);
}

}  // namespace simrun
