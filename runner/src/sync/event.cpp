#include "simrun/sync/event.hpp"

#include "simrun/event_loop.hpp"

namespace simrun {

void Event::set() {
    if (value_)
        return;
    value_ = true;
    for (Future<void>& waiter : waiters_) {
        if (!waiter.done())
            waiter.set_result();
    }
}

Coro<void> Event::wait() {
    if (value_)
        co_return;
    Future<void> waiter = get_running_loop().create_future<void>();
    waiter.set_label("Event.wait");
    auto position = waiters_.insert(waiters_.end(), waiter);
    std::exception_ptr error;
    try {
        co_await waiter;
    } catch (...) {
        error = std::current_exception();
    }
    waiters_.erase(position);
    if (error)
        std::rethrow_exception(error);
}

}  // namespace simrun
