#include "simrun/core/detail/future_handles.hpp"

#include "simrun/core/event_loop.hpp"

namespace simrun::detail {

std::shared_ptr<FutureStateBase> checked_state(std::shared_ptr<FutureStateBase> state) {
    if (!state)
        throw ValueError("an empty Task or Future handle was passed");
    return state;
}

void check_same_loop(const FutureStateBase& future, const EventLoop& loop) {
    if (future.loop_if_alive() != &loop) {
        throw ValueError(
            "The future belongs to a different loop than the one specified as the loop argument");
    }
}

}  // namespace simrun::detail
