#pragma once
// shield(): awaits a task without letting a cancellation of the awaiting task reach it, as
// asyncio.shield.
//
//     Task<void> save = create_task(save_to_disk(data));
//     co_await shield(save);  // if this task is cancelled here, it sees CancelledError at once,
//                             // but the save goes on to the end
//
// shield() returns a new future (the "outer") that follows the task (the "inner"): it gets the
// inner's value or exception, and is cancelled if the inner is cancelled. Cancelling the outer
// (which is what cancelling its awaiter does) leaves the inner alone; its result stays
// available from the inner's own handle.

#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "simrun/core/coro.hpp"
#include "simrun/core/detail/future_handles.hpp"
#include "simrun/core/event_loop.hpp"
#include "simrun/core/future.hpp"
#include "simrun/core/task.hpp"

namespace simrun {

namespace detail {

/// asyncio's shield() for a pending inner: the outer future and the two callbacks that link
/// them. `Own` moves the inner's value out (the inner is a task nobody else has a handle to).
template <class T, bool Own, class InnerState>
Future<T> shield_pending(std::shared_ptr<InnerState> inner) {
    Future<T> outer = inner->loop().template create_future<T>();
    outer.set_label("shield of " + (inner->label().empty() ? std::string(inner->kind())
                                                           : std::string(inner->label())));
    // No reference cycle: the outer's callback holds the inner until the outer is done (so the
    // inner lives while somebody awaits the outer); the inner's callback holds both weakly.
    std::uint64_t id = inner->add_done_callback(
        [weak_inner = std::weak_ptr<InnerState>(inner), weak_outer = std::weak_ptr(outer.state())] {
            auto in = weak_inner.lock();
            auto out = weak_outer.lock();
            if (!in || !out)
                return;  // nobody can see the outer: the inner reports its own error
            if (out->cancelled()) {
                if (!in->cancelled())
                    in->mark_retrieved();
                return;
            }
            if (in->cancelled()) {
                out->cancel(std::string());
            } else if (std::exception_ptr error = in->exception()) {
                out->set_exception(error);
            } else if constexpr (std::is_void_v<T>) {
                out->set_result();
            } else if constexpr (Own) {
                out->set_result(std::move(*in->value));
            } else {
                out->set_result(*in->value);
            }
        },
        "shield() passes on the end of");
    outer.state()->add_done_callback(
        [inner, id] {
            if (!inner->done())
                inner->remove_done_callback(id);
        },
        "shield() sees the end of");
    return outer;
}

}  // namespace detail

/// Shields a future: if it is done already, returns it unchanged (asyncio's shortcut); otherwise
/// a new future of the same loop that follows it (see the file comment). ValueError for an
/// empty handle.
template <class T>
Future<T> shield(Future<T> inner) {
    detail::checked_state(inner.state());
    if (inner.done())
        return inner;
    return detail::shield_pending<T, false>(inner.state());
}

/// Shields a task. A task that is done already gives a future that is done the same way (in
/// asyncio, the task itself; the exception, if any, moves to the new future and is then
/// reported only if nobody retrieves it there). ValueError for an empty handle.
template <class T>
Future<T> shield(Task<T> inner) {
    detail::checked_state(inner.state());
    auto state = std::static_pointer_cast<detail::TaskState<T>>(inner.state());
    if (!inner.done())
        return detail::shield_pending<T, false>(std::move(state));
    Future<T> outer = inner.get_loop().template create_future<T>();
    if (inner.cancelled()) {
        outer.cancel(state->cancel_message());
    } else if (std::exception_ptr error = inner.exception()) {
        outer.set_exception(error);
    } else if constexpr (std::is_void_v<T>) {
        outer.set_result();
    } else {
        outer.set_result(inner.result());
    }
    return outer;
}

/// Shields a coroutine: it becomes a task on get_event_loop() at once (RuntimeError if there is
/// no running or current loop), which keeps running even if the awaiter of the result is
/// cancelled.
template <class T>
Future<T> shield(Coro<T> body) {
    Task<T> task = get_event_loop().create_task(std::move(body));
    task.state()->made_by = "shield()";
    return detail::shield_pending<T, true>(
        std::static_pointer_cast<detail::TaskState<T>>(task.state()));
}

}  // namespace simrun
