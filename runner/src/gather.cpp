#include "simrun/gather.hpp"

namespace simrun {
namespace detail {

std::exception_ptr child_error(FutureStateBase& child) {
    if (child.cancelled())
        return std::make_exception_ptr(child.make_cancelled_error());
    return child.exception();
}

EventLoop& loop_of(const std::vector<std::shared_ptr<FutureStateBase>>& children) {
    if (children.empty())
        return get_running_loop();
    EventLoop& loop = children.front()->loop();
    for (const auto& child : children) {
        if (&child->loop() != &loop)
            throw ValueError("gather(): all tasks must belong to the same loop");
    }
    return loop;
}

}  // namespace detail

Future<void> gather(const std::vector<Task<void>>& tasks) {
    auto children = detail::states_of(tasks);
    EventLoop& loop = detail::loop_of(children);
    return detail::gather_children<void>(loop, std::move(children), false,
                                         [](detail::GatherCore&) {});
}

Future<std::vector<Outcome<void>>> gather(const std::vector<TaskRef>& tasks, ReturnExceptions) {
    auto children = detail::states_of(tasks);
    EventLoop& loop = detail::loop_of(children);
    return detail::gather_children<std::vector<Outcome<void>>>(
        loop, std::move(children), true, [](detail::GatherCore& core) {
            std::vector<Outcome<void>> outcomes(core.children.size());
            for (std::size_t i = 0; i < core.children.size(); ++i) {
                outcomes[i].error = detail::child_error(*core.children[i]);
            }
            return outcomes;
        });
}

}  // namespace simrun
