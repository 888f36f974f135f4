#include "simrun/sync/event.hpp"

#include <exception>

#include "simrun/sync/detail/loop_binding.hpp"

#include "waiters.hpp"

namespace simrun {

namespace detail {

struct EventCore {
    explicit EventCore(const void* address) : address(address) {}
    std::string describe() const {
        return describe_primitive("Event", address,
                                  (value ? "set" : "unset") + waiters_suffix(waiters));
    }

    WaiterList waiters;
    LoopBinding binding;
    const void* address;
    bool value = false;
};

namespace {

Coro<void> wait_for_event(std::shared_ptr<EventCore> core) {
    if (core->value)
        co_return;
    EventLoop& loop = core->binding.running_loop(core->describe());
    Future<void> waiter = make_waiter(loop, "Event.wait");
    WaiterEntry entry(core->waiters, waiter);
    co_await waiter;
}

}  // namespace

}  // namespace detail

Event::Event() : core_(std::make_shared<detail::EventCore>(this)) {}

Event::~Event() {
    detail::cancel_waiters(core_->waiters, detail::destroyed_message("Event"));
}

bool Event::is_set() const noexcept {
    return core_->value;
}

void Event::set() {
    if (core_->value)
        return;
    core_->value = true;
    for (Future<void>& waiter : core_->waiters) {
        if (!waiter.done())
            waiter.set_result();
    }
}

void Event::clear() noexcept {
    core_->value = false;
}

Coro<void> Event::wait() {
    return detail::wait_for_event(core_);
}

std::string Event::describe() const {
    return core_->describe();
}

}  // namespace simrun
