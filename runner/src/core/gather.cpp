#include "simrun/core/gather.hpp"

#include <set>

namespace simrun {
namespace detail {

std::exception_ptr child_error(FutureStateBase& child) {
    if (child.cancelled())
        return std::make_exception_ptr(child.make_cancelled_error());
    return child.exception();
}

GatherChildren distinct_children(const GatherChildren& children) {
    GatherChildren distinct;
    std::set<FutureStateBase*, std::less<>> seen;  // lookups only: the order is the children's
    for (const auto& child : children) {
        if (seen.insert(child.get()).second)
            distinct.push_back(child);
    }
    return distinct;
}

std::shared_ptr<GatherCore> make_gather_core(const GatherChildren& children,
                                             bool return_exceptions) {
    auto core = std::make_shared<GatherCore>();
    core->return_exceptions = return_exceptions;
    core->children.assign(children.begin(), children.end());
    GatherChildren distinct = distinct_children(children);
    core->distinct = distinct.size();
    for (auto& child : distinct) {
        if (dynamic_cast<TaskBase*>(child.get()) != nullptr)
            core->tasks.push_back(std::move(child));
    }
    return core;
}

GatherChildren lock_children(const GatherCore& core) {
    GatherChildren all;
    all.reserve(core.children.size());
    for (const auto& child : core.children)
        all.push_back(child.lock());
    return all;
}

EventLoop& loop_of(const GatherChildren& children) {
    if (children.empty())
        return get_event_loop();
    EventLoop& loop = children.front()->loop();
    for (const auto& child : children)
        check_same_loop(*child, loop);
    return loop;
}

}  // namespace detail

Future<void> gather(const std::vector<Task<void>>& tasks) {
    auto children = detail::states_of(tasks);
    EventLoop& loop = detail::loop_of(children);
    return detail::gather_children<void>(loop, std::move(children), false,
                                         [](const detail::GatherChildren&) {});
}

Future<std::vector<Outcome<void>>> gather(const std::vector<TaskRef>& tasks, ReturnExceptions) {
    auto children = detail::states_of(tasks);
    EventLoop& loop = detail::loop_of(children);
    return detail::gather_children<std::vector<Outcome<void>>>(
        loop, std::move(children), true, [](const detail::GatherChildren& all) {
            std::vector<Outcome<void>> outcomes(all.size());
            for (std::size_t i = 0; i < all.size(); ++i)
                outcomes[i].error = detail::child_error(*all[i]);
            return outcomes;
        });
}

}  // namespace simrun
