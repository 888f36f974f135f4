#include "simrun/sleep.hpp"

#include "simrun/event_loop.hpp"

namespace simrun {

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
    Future<void> done = loop.create_future<void>();
    done.set_label("sleep");
    TimerHandle timer = loop.call_later(delay, [state = done.state()] {
        if (!state->done())
            state->set_result();
    });
    // The sleeping task, named when the trace asks ("sleep wake-up of worker-1").
    std::weak_ptr<detail::FutureStateBase> sleeper;
    if (detail::TaskBase* task = detail::current_task_state())
        sleeper = task->weak_from_this();
    timer.state()->describe_as("sleep wake-up of", std::move(sleeper));
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
