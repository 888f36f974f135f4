#include "simrun/sync/barrier.hpp"

#include <exception>
#include <optional>

#include "simrun/core/exceptions.hpp"
#include "simrun/sync/condition.hpp"

#include "waiters.hpp"

namespace simrun {

namespace detail {

struct BarrierCore {
    enum class State { filling, draining, resetting, broken };

    BarrierCore(const void* address, std::size_t parties) : address(address), parties(parties) {
        condition.emplace();
    }

    static const char* name(State state) noexcept {
        switch (state) {
            case State::filling:
                return "filling";
            case State::draining:
                return "draining";
            case State::resetting:
                return "resetting";
            case State::broken:
                return "broken";
        }
        return "?";
    }
    std::size_t n_waiting() const noexcept { return state == State::filling ? count : 0; }
    std::string describe() const {
        std::string extra = name(state);
        if (state != State::broken)
            extra += ", waiters:" + std::to_string(n_waiting()) + "/" + std::to_string(parties);
        return describe_primitive("Barrier", address, extra);
    }
    /// The last task out of a drained or reset round lets the next round fill.
    void exit() {
        if (count == 0) {
            if (state == State::resetting || state == State::draining)
                state = State::filling;
            condition->notify_all();
        }
    }

    // Every operation runs under the condition's lock. Emptied when the barrier is destroyed,
    // which fails every waiter; the cores of the waiting coroutines stay alive.
    std::optional<Condition> condition;
    const void* address;
    std::size_t parties;
    std::size_t count = 0;  // tasks inside wait() past the blocking stage
    State state = State::filling;
};

namespace {

using State = BarrierCore::State;

Coro<std::size_t> wait_at_barrier(std::shared_ptr<BarrierCore> core) {
    BarrierCore* barrier = core.get();
    LockGuard guard = co_await barrier->condition->hold();
    // Wait while the previous round drains or resets. Every await below throws if the barrier
    // is destroyed meanwhile (the condition and its lock go with it), so `condition` is used
    // only while it exists.
    co_await barrier->condition->wait_for([barrier] {
        return barrier->state != State::draining && barrier->state != State::resetting;
    });
    if (barrier->state == State::broken)
        throw BrokenBarrierError("Barrier aborted");
    const std::size_t index = barrier->count++;
    std::exception_ptr error;
    try {
        if (index + 1 == barrier->parties) {
            barrier->state = State::draining;  // this task trips the barrier
            barrier->condition->notify_all();
        } else {
            co_await barrier->condition->wait_for(
                [barrier] { return barrier->state != State::filling; });
            if (barrier->state == State::broken || barrier->state == State::resetting)
                throw BrokenBarrierError("Abort or reset of barrier");
        }
    } catch (...) {
        error = std::current_exception();
    }
    if (barrier->condition) {
        --barrier->count;
        barrier->exit();
    }
    if (error)
        std::rethrow_exception(error);
    co_return index;
}

Coro<void> reset_barrier(std::shared_ptr<BarrierCore> core) {
    LockGuard guard = co_await core->condition->hold();
    if (core->count > 0)
        core->state = State::resetting;  // the waiters fail; the last one out refills
    else
        core->state = State::filling;
    core->condition->notify_all();
}

Coro<void> abort_barrier(std::shared_ptr<BarrierCore> core) {
    LockGuard guard = co_await core->condition->hold();
    core->state = State::broken;
    core->condition->notify_all();
}

}  // namespace

}  // namespace detail

Barrier::Barrier(std::size_t parties) {
    if (parties == 0)
        throw ValueError("parties must be > 0");
    core_ = std::make_shared<detail::BarrierCore>(this, parties);
}

Barrier::~Barrier() {
    core_->condition.reset();
}

Coro<std::size_t> Barrier::wait() {
    return detail::wait_at_barrier(core_);
}

Coro<void> Barrier::reset() {
    return detail::reset_barrier(core_);
}

Coro<void> Barrier::abort() {
    return detail::abort_barrier(core_);
}

std::size_t Barrier::parties() const noexcept {
    return core_->parties;
}

std::size_t Barrier::n_waiting() const noexcept {
    return core_->n_waiting();
}

bool Barrier::broken() const noexcept {
    return core_->state == detail::BarrierCore::State::broken;
}

std::string Barrier::describe() const {
    return core_->describe();
}

}  // namespace simrun
