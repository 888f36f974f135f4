#pragma once
// Internals shared by gather(), wait(), as_completed() and shield(): what counts as a handle to a
// future (Task<T>, TaskRef, Future<T>), and the checks every one of them makes on a list of such
// handles.

#include <concepts>
#include <functional>
#include <memory>
#include <set>
#include <vector>

#include "simrun/core/future.hpp"

namespace simrun {

class EventLoop;

namespace detail {

/// Task<T>, TaskRef or Future<T>: a copyable handle to a shared future state. A Coro is not one
/// (it is not scheduled yet).
template <class H>
concept FutureHandle = requires(const H& handle) {
    { handle.state() } -> std::convertible_to<std::shared_ptr<FutureStateBase>>;
};

/// `state` itself; ValueError "an empty Task or Future handle was passed" if it is null (a
/// default-constructed handle).
std::shared_ptr<FutureStateBase> checked_state(std::shared_ptr<FutureStateBase> state);

/// ValueError unless `future` belongs to `loop`, in asyncio's words ("The future belongs to a
/// different loop than the one specified as the loop argument").
void check_same_loop(const FutureStateBase& future, const EventLoop& loop);

/// The states of `handles`, in order; ValueError for an empty handle.
template <FutureHandle H>
std::vector<std::shared_ptr<FutureStateBase>> states_of(const std::vector<H>& handles) {
    std::vector<std::shared_ptr<FutureStateBase>> states;
    states.reserve(handles.size());
    for (const H& handle : handles)
        states.push_back(checked_state(handle.state()));
    return states;
}

/// `handles` without repeats (the first of each is kept), in their order; asyncio makes a set.
template <FutureHandle H>
std::vector<H> unique_handles(const std::vector<H>& handles) {
    std::vector<H> unique;
    unique.reserve(handles.size());
    std::set<const FutureStateBase*, std::less<>> seen;  // lookups only: the order is the input's
    for (const H& handle : handles) {
        if (seen.insert(checked_state(handle.state()).get()).second)
            unique.push_back(handle);
    }
    return unique;
}

}  // namespace detail
}  // namespace simrun
