#pragma once
// gather(): wait for several tasks, as asyncio.gather. Without return_exceptions the first error
// (or cancellation) of a child fails the gather at once while the others keep running; with it,
// every child's outcome is collected. Cancelling the gather cancels every child.

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "simrun/event_loop.hpp"
#include "simrun/future.hpp"
#include "simrun/task.hpp"

namespace simrun {

/// The outcome of one child with return_exceptions: a value or an error (CancelledError for a
/// cancelled child).
template <class T>
struct Outcome {
    std::optional<T> value;
    std::exception_ptr error;
    bool ok() const noexcept { return !error; }
};
template <>
struct Outcome<void> {
    std::exception_ptr error;
    bool ok() const noexcept { return !error; }
};

/// Tag selecting gather's return-exceptions mode.
struct ReturnExceptions {};
inline constexpr ReturnExceptions return_exceptions{};

namespace detail {

struct GatherCore {
    std::vector<std::shared_ptr<FutureStateBase>> children;
    std::size_t finished = 0;
    bool return_exceptions = false;
    bool cancel_requested = false;
};

std::exception_ptr child_error(FutureStateBase& child);

/// asyncio's _GatheringFuture: `collect` builds the result once every child is done.
template <class R>
Future<R> gather_children(EventLoop& loop, std::vector<std::shared_ptr<FutureStateBase>> children,
                          bool return_exceptions, std::function<R(GatherCore&)> collect) {
    Future<R> outer = loop.create_future<R>();
    outer.set_label("gather of " + std::to_string(children.size()));
    auto core = std::make_shared<GatherCore>();
    core->children = std::move(children);
    core->return_exceptions = return_exceptions;
    auto complete = [collect](FutureState<R>& state, GatherCore& gathered) {
        if constexpr (std::is_void_v<R>) {
            collect(gathered);
            state.set_result();
        } else {
            state.set_result(collect(gathered));
        }
    };
    if (core->children.empty()) {
        complete(*outer.state(), *core);
        return outer;
    }
    outer.state()->set_cancel_hook([core](const std::string& message) {
        bool any = false;
        for (auto& child : core->children)
            any = child->cancel(message) || any;
        if (any)
            core->cancel_requested = true;
        return any;
    });
    for (auto& child : core->children) {
        child->add_done_callback([core, state = outer.state(), child = child.get(), complete] {
            ++core->finished;
            if (state->done()) {
                if (!child->cancelled())
                    child->mark_retrieved();
                return;
            }
            if (!core->return_exceptions) {
                if (std::exception_ptr error = child_error(*child)) {
                    state->clear_cancel_hook();
                    state->set_exception(error);
                    return;
                }
            }
            if (core->finished == core->children.size()) {
                state->clear_cancel_hook();
                if (core->cancel_requested) {
                    // As asyncio: every child's outcome is still looked at (so no error of theirs
                    // is reported as never retrieved), then the gather ends cancelled.
                    for (auto& each : core->children)
                        child_error(*each);
                    state->set_exception(std::make_exception_ptr(
                        child->cancelled() ? child->make_cancelled_error() : CancelledError()));
                } else {
                    complete(*state, *core);
                }
            }
        });
    }
    return outer;
}

template <class T>
std::vector<std::shared_ptr<FutureStateBase>> states_of(const std::vector<T>& tasks) {
    std::vector<std::shared_ptr<FutureStateBase>> states;
    states.reserve(tasks.size());
    for (const auto& task : tasks)
        states.push_back(task.state());
    return states;
}

EventLoop& loop_of(const std::vector<std::shared_ptr<FutureStateBase>>& children);

}  // namespace detail

/// Waits for every task; the result holds their values in order. Fails with the first error.
template <class T>
requires(!std::is_void_v<T>) Future<std::vector<T>> gather(const std::vector<Task<T>>& tasks) {
    auto children = detail::states_of(tasks);
    EventLoop& loop = detail::loop_of(children);
    return detail::gather_children<std::vector<T>>(
        loop, std::move(children), false, [](detail::GatherCore& core) {
            std::vector<T> values;
            values.reserve(core.children.size());
            for (auto& child : core.children)
                values.push_back(static_cast<detail::TaskState<T>&>(*child).result());
            return values;
        });
}

/// Waits for every task of a list of void tasks. Fails with the first error.
Future<void> gather(const std::vector<Task<void>>& tasks);

/// Waits for every task and returns each one's outcome; never fails because of a child.
template <class T>
Future<std::vector<Outcome<T>>> gather(const std::vector<Task<T>>& tasks, ReturnExceptions) {
    auto children = detail::states_of(tasks);
    EventLoop& loop = detail::loop_of(children);
    return detail::gather_children<std::vector<Outcome<T>>>(
        loop, std::move(children), true, [](detail::GatherCore& core) {
            std::vector<Outcome<T>> outcomes(core.children.size());
            for (std::size_t i = 0; i < core.children.size(); ++i) {
                auto& child = static_cast<detail::TaskState<T>&>(*core.children[i]);
                outcomes[i].error = detail::child_error(child);
                if constexpr (!std::is_void_v<T>) {
                    if (!outcomes[i].error)
                        outcomes[i].value.emplace(child.result());
                }
            }
            return outcomes;
        });
}

/// gather with return_exceptions over tasks of any result type.
Future<std::vector<Outcome<void>>> gather(const std::vector<TaskRef>& tasks, ReturnExceptions);

}  // namespace simrun
