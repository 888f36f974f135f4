#pragma once
// gather(): waits for several tasks, as asyncio.gather. Without return_exceptions the first error
// (or cancellation) of a child fails the gather at once while the others keep running; with it,
// every child's outcome is collected. Cancelling the gather cancels every child.
//
// A fixed set of children of any types, coroutines included (each becomes a task, in argument
// order), gives a tuple; void children give std::monostate:
//
//     auto [user, _, orders] = co_await gather(load_user(id), log_visit(id), orders_task);
//     auto [a, b] = co_await gather(return_exceptions, fetch(1), fetch(2));  // Outcome<T>s
//
// A list of tasks (or coroutines) of one type gives a vector. g++ 12 cannot compile a braced
// list inside a co_await expression (`co_await gather({a, b})`): name the vector first, or use
// the argument form above.

#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "simrun/core/coro.hpp"
#include "simrun/core/detail/future_handles.hpp"
#include "simrun/core/event_loop.hpp"
#include "simrun/core/future.hpp"
#include "simrun/core/task.hpp"

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

/// The children of a gather, in argument order (repeats kept).
using GatherChildren = std::vector<std::shared_ptr<FutureStateBase>>;

/// What the children's callbacks share. They hold it; it holds the task children (a cycle that
/// ends when the task ends, or when the loop closes and drops the task's callbacks) but plain
/// futures only weakly, so that a future nobody can complete any more does not keep the gather
/// alive: the outer future holds every child (asyncio's _GatheringFuture._children).
struct GatherCore {
    std::vector<std::weak_ptr<FutureStateBase>> children;
    GatherChildren tasks;
    std::size_t distinct = 0;  // children without repeats
    std::size_t finished = 0;
    bool return_exceptions = false;
    bool cancel_requested = false;
    bool outer_done = false;
};

std::exception_ptr child_error(FutureStateBase& child);

/// The children without repeats, in order.
GatherChildren distinct_children(const GatherChildren& children);

/// Makes the core for `children` (see GatherCore).
std::shared_ptr<GatherCore> make_gather_core(const GatherChildren& children,
                                             bool return_exceptions);

/// The children again (alive while the outer future is).
GatherChildren lock_children(const GatherCore& core);

/// asyncio's _GatheringFuture: `collect` builds the result from the children once every one
/// is done. Children that are done already are counted at once, so a gather of finished
/// children is finished when it is returned (as in asyncio).
template <class R>
Future<R> gather_children(EventLoop& loop, GatherChildren children, bool return_exceptions,
                          std::function<R(const GatherChildren&)> collect) {
    Future<R> outer = loop.create_future<R>();
    outer.set_label("gather of " + std::to_string(children.size()));
    auto complete = [collect](FutureState<R>& state, const GatherChildren& all) {
        if constexpr (std::is_void_v<R>) {
            collect(all);
            state.set_result();
        } else {
            state.set_result(collect(all));
        }
    };
    if (children.empty()) {
        complete(*outer.state(), children);
        return outer;
    }
    auto core = make_gather_core(children, return_exceptions);
    // The hook is never cleared: it is what keeps the children alive with the outer future.
    outer.state()->set_cancel_hook([core, children](const std::string& message) {
        bool any = false;
        for (const auto& child : children)
            any = child->cancel(message) || any;
        if (any)
            core->cancel_requested = true;
        return any;
    });
    // asyncio's _done_callback(child).
    auto on_child_done = [core, weak_outer = std::weak_ptr<FutureState<R>>(outer.state()),
                          complete](FutureStateBase& child) {
        ++core->finished;
        auto state = weak_outer.lock();
        if (core->outer_done || (state && state->done())) {
            core->outer_done = true;
            if (!child.cancelled())
                child.mark_retrieved();
            return;
        }
        if (!state)
            return;  // nobody can see the gather any more: the child reports its own error
        if (!core->return_exceptions) {
            if (std::exception_ptr error = child_error(child)) {
                core->outer_done = true;
                state->set_exception(error);
                return;
            }
        }
        if (core->finished == core->distinct) {
            core->outer_done = true;
            GatherChildren all = lock_children(*core);
            if (core->cancel_requested) {
                // As asyncio: every child's outcome is still looked at (so no error of theirs
                // is reported as never retrieved), then the gather ends cancelled.
                for (const auto& each : all)
                    child_error(*each);
                state->set_exception(std::make_exception_ptr(
                    child.cancelled() ? child.make_cancelled_error() : CancelledError()));
            } else {
                complete(*state, all);
            }
        }
    };
    GatherChildren done_already;
    for (const auto& child : distinct_children(children)) {
        if (child->done()) {
            done_already.push_back(child);
        } else {
            child->add_done_callback(
                [on_child_done, weak = std::weak_ptr(child)] {
                    if (auto alive = weak.lock())
                        on_child_done(*alive);
                },
                "gather() sees the end of");
        }
    }
    for (const auto& child : done_already)
        on_child_done(*child);
    return outer;
}

EventLoop& loop_of(const GatherChildren& children);

/// Each coroutine made a task of get_event_loop(), in order, with its "destroyed but pending"
/// report off (asyncio's: nobody else has a handle to it). ValueError for an empty Coro.
template <class T>
std::vector<Task<T>> tasks_of(std::vector<Coro<T>> coros) {
    std::vector<Task<T>> tasks;
    if (coros.empty())
        return tasks;
    for (const Coro<T>& coro : coros) {
        if (!coro)
            throw ValueError("a coroutine was expected, got an empty Coro");
    }
    EventLoop& loop = get_event_loop();
    tasks.reserve(coros.size());
    for (Coro<T>& coro : coros) {
        tasks.push_back(loop.create_task(std::move(coro)));
        tasks.back().state()->log_destroy_pending = false;
        tasks.back().state()->made_by = "gather()";
    }
    return tasks;
}

// ---- the argument form: gather(a, b, c) ----------------------------------------------------

/// What gather() accepts as one argument: a Task<T>, a Future<T> or a Coro<T> (made a task).
template <class A>
struct GatherArg {
    static constexpr bool valid = false;
};
template <class T>
struct GatherArg<Task<T>> {
    static constexpr bool valid = true;
    static constexpr bool coroutine = false;
    using value_type = T;
    using State = TaskState<T>;
};
template <class T>
struct GatherArg<Future<T>> {
    static constexpr bool valid = true;
    static constexpr bool coroutine = false;
    using value_type = T;
    using State = FutureState<T>;
};
template <class T>
struct GatherArg<Coro<T>> {
    static constexpr bool valid = true;
    static constexpr bool coroutine = true;
    using value_type = T;
    using State = TaskState<T>;
};

template <class A>
concept GatherArgument = GatherArg<std::remove_cvref_t<A>>::valid;

template <class A>
using gather_value_t = typename GatherArg<std::remove_cvref_t<A>>::value_type;

/// A child's value in a tuple: void becomes std::monostate.
template <class T>
using TupleSlot = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// asyncio's loop choice: the loop of the first argument if it is a task or future, otherwise
/// get_event_loop(); every task or future must belong to it. Runs before any task is made.
template <class A>
void pick_gather_loop(EventLoop*& loop, const A& arg) {
    if constexpr (GatherArg<A>::coroutine) {
        if (!arg)
            throw ValueError("a coroutine was expected, got an empty Coro");
        if (loop == nullptr)
            loop = &get_event_loop();
    } else {
        const auto& state = checked_state(arg.state());
        if (loop == nullptr)
            loop = &state->loop();
        else
            check_same_loop(*state, *loop);
    }
}

/// The child for one argument: a coroutine becomes a task of `loop` (its "destroyed but
/// pending" report is off, as asyncio's: nobody else has a handle to it).
template <class A>
std::shared_ptr<FutureStateBase> gather_child(EventLoop& loop, A&& arg) {
    if constexpr (GatherArg<std::remove_cvref_t<A>>::coroutine) {
        static_assert(!std::is_lvalue_reference_v<A>,
                      "gather() takes a Coro by value: gather(std::move(coro)) or gather(f())");
        auto task = loop.create_task(std::move(arg));
        task.state()->log_destroy_pending = false;
        task.state()->made_by = "gather()";
        return task.state();
    } else {
        return arg.state();
    }
}

/// The value of child `child` of type A for the result tuple (moved out of a task made from a
/// coroutine, which nobody else sees; copied otherwise).
template <class A>
TupleSlot<gather_value_t<A>> gather_value(FutureStateBase& child) {
    using Arg = GatherArg<std::remove_cvref_t<A>>;
    auto& state = static_cast<typename Arg::State&>(child);
    if constexpr (std::is_void_v<typename Arg::value_type>) {
        state.result();
        return std::monostate{};
    } else if constexpr (Arg::coroutine) {
        return state.take_result();
    } else {
        return state.result();
    }
}

template <class A>
Outcome<gather_value_t<A>> gather_outcome(FutureStateBase& child) {
    Outcome<gather_value_t<A>> outcome;
    outcome.error = child_error(child);
    if constexpr (!std::is_void_v<gather_value_t<A>>) {
        if (!outcome.error)
            outcome.value.emplace(gather_value<A>(child));
    }
    return outcome;
}

/// The result tuple from the children, in argument order.
template <bool ReturnAll, class Result, class... A, std::size_t... I>
Result collect_tuple(const GatherChildren& all, std::index_sequence<I...>) {
    if constexpr (ReturnAll)
        return Result(gather_outcome<A>(*all[I])...);
    else
        return Result(gather_value<A>(*all[I])...);
}

template <bool ReturnAll, class... A>
auto gather_arguments(A&&... args) {
    using Result = std::conditional_t<ReturnAll, std::tuple<Outcome<gather_value_t<A>>...>,
                                      std::tuple<TupleSlot<gather_value_t<A>>...>>;
    EventLoop* loop = nullptr;
    (pick_gather_loop(loop, std::as_const(args)), ...);
    if constexpr (sizeof...(A) == 0)
        loop = &get_event_loop();
    // A braced list is evaluated in order: coroutines become tasks in argument order.
    GatherChildren children{gather_child(*loop, std::forward<A>(args))...};
    return gather_children<Result>(
        *loop, std::move(children), ReturnAll, [](const GatherChildren& all) {
            return collect_tuple<ReturnAll, Result, A...>(all, std::index_sequence_for<A...>{});
        });
}

}  // namespace detail

/// Waits for every argument (Task<T>, Future<T> or Coro<T>, mixed freely) and gives their
/// values as a tuple in argument order; void children give std::monostate. Coroutines become
/// tasks at once, in argument order. Fails with the first error (or CancelledError for a
/// cancelled child) while the others keep running; cancelling the returned future cancels every
/// child, and it then ends with CancelledError. With no argument, a finished future of an empty
/// tuple. Throws RuntimeError if a coroutine comes first (or there is no argument) and there is
/// no running or current loop; ValueError for a child of another loop or an empty handle.
template <class... A>
requires(detail::GatherArgument<A>&&...) auto gather(A&&... args) {
    return detail::gather_arguments<false>(std::forward<A>(args)...);
}

/// As above, but every child's outcome is collected as an Outcome<T> (value or error); never
/// fails because of a child, only with CancelledError if the gather itself was cancelled.
template <class... A>
requires(detail::GatherArgument<A>&&...) auto gather(ReturnExceptions, A&&... args) {
    return detail::gather_arguments<true>(std::forward<A>(args)...);
}

/// Waits for every task; the result holds their values in order. Fails with the first error.
template <class T>
requires(!std::is_void_v<T>) Future<std::vector<T>> gather(const std::vector<Task<T>>& tasks) {
    auto children = detail::states_of(tasks);
    EventLoop& loop = detail::loop_of(children);
    return detail::gather_children<std::vector<T>>(
        loop, std::move(children), false, [](const detail::GatherChildren& all) {
            std::vector<T> values;
            values.reserve(all.size());
            for (const auto& child : all)
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
        loop, std::move(children), true, [](const detail::GatherChildren& all) {
            std::vector<Outcome<T>> outcomes;
            outcomes.reserve(all.size());
            for (const auto& child : all)
                outcomes.push_back(detail::gather_outcome<Task<T>>(*child));
            return outcomes;
        });
}

/// gather with return_exceptions over tasks of any result type.
Future<std::vector<Outcome<void>>> gather(const std::vector<TaskRef>& tasks, ReturnExceptions);

/// Makes each coroutine a task of get_event_loop(), in order, and gathers them: their values in
/// order (nothing for void). Fails with the first error. RuntimeError if there is no running or
/// current loop.
template <class T>
auto gather(std::vector<Coro<T>> coros) {
    std::vector<Task<T>> tasks = detail::tasks_of(std::move(coros));
    return gather(tasks);
}

/// As above, collecting every outcome.
template <class T>
Future<std::vector<Outcome<T>>> gather(std::vector<Coro<T>> coros, ReturnExceptions) {
    std::vector<Task<T>> tasks = detail::tasks_of(std::move(coros));
    return gather(tasks, return_exceptions);
}

}  // namespace simrun
