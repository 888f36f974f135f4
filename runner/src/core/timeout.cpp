#include "simrun/core/timeout.hpp"

namespace simrun::detail {

TimeoutScope::TimeoutScope(Duration when)
    : task_(current_task()), expiring_(std::make_shared<bool>(false)) {
    if (!task_)
        throw RuntimeError("timeout() should be used inside a task");
    cancelling_at_entry_ = task_.cancelling();
    EventLoop& loop = task_.get_loop();
    auto on_timeout = [task = task_, expiring = expiring_]() mutable {
        task.cancel();
        *expiring = true;
    };
    if (when == Duration::max())
        return;  // never expires: no timer (asyncio's timeout(inf))
    if (when <= loop.time()) {
        timer_ = TimerHandle(loop.call_soon(on_timeout).state());
    } else {
        timer_ = loop.call_at(when, on_timeout);
    }
    timer_.state()->describe_as("timeout of", task_.state());
}

void TimeoutScope::exit(const std::exception_ptr& error) {
    timer_.cancel();
    if (*expiring_) {
        *expiring_ = false;
        if (task_.uncancel() <= cancelling_at_entry_ && is_cancellation(error)) {
            throw TimeoutError("timed out");
        }
    }
    if (error)
        std::rethrow_exception(error);
}

}  // namespace simrun::detail
