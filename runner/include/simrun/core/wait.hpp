#pragma once
// wait(): waits for some or all of a list of tasks or futures, as asyncio.wait. It never cancels
// anything: not when its timeout passes, not when the waiting task is cancelled. It gives back
// two lists, what is done and what is still pending, holding the very handles that were passed in.
//
//     std::vector<Task<Reply>> calls{create_task(ask(a)), create_task(ask(b))};
//     auto [done, pending] = co_await wait(calls, 2s, ReturnWhen::first_completed);
//     for (Task<Reply>& call : pending) call.cancel();
//
// g++ 12 cannot compile a braced list inside a co_await expression (`co_await wait({a, b})`):
// name the vector first, as above.

#include <cstddef>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "simrun/core/clock.hpp"
#include "simrun/core/coro.hpp"
#include "simrun/core/detail/future_handles.hpp"
#include "simrun/core/future.hpp"
#include "simrun/core/task.hpp"

namespace simrun {

/// When wait() returns (asyncio's FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED).
enum class ReturnWhen {
    /// As soon as any one is done (returned, failed or cancelled).
    first_completed,
    /// As soon as any one fails with an exception (a cancelled one does not count), or when all
    /// are done.
    first_exception,
    /// When all are done.
    all_completed,
};

/// What wait() gives back: the handles that were passed in (repeats removed), split into those
/// done and those still pending when wait() returned. Each list keeps the order of the input
/// (asyncio returns sets; this order is one of theirs, and it is deterministic).
template <class Handle>
struct WaitResult {
    std::vector<Handle> done;
    std::vector<Handle> pending;
};

namespace detail {

/// ValueError "Set of Tasks/Futures is empty." or "Invalid return_when value: N".
void check_wait_arguments(std::size_t count, ReturnWhen return_when);

/// asyncio's _wait(): suspends the current task until `return_when` holds or `timeout` has
/// passed; always suspends at least once. ValueError for a future of another loop.
Coro<void> wait_until(std::vector<std::shared_ptr<FutureStateBase>> futures,
                      std::optional<Duration> timeout, ReturnWhen return_when);

}  // namespace detail

/// Waits until `return_when` holds for `futures` (Task<T>s, Future<T>s, or TaskRefs for a list
/// of tasks of different types), or until `timeout` has passed (none: no limit). Always
/// suspends at least once, even if everything is done already. Neither the timeout nor a
/// cancellation of the waiting task cancels any of the futures: on timeout the late ones are
/// simply in `pending`, and a cancelled wait() throws CancelledError.
///
/// Throws, when awaited: ValueError "Set of Tasks/Futures is empty." for an empty list,
/// "Invalid return_when value: N" for a value outside the enum, and ValueError for an empty
/// handle or a future of another loop. Coroutines are not accepted (asyncio 3.11+ raises
/// TypeError; here it does not compile): wrap them in tasks first.
///
/// With ReturnWhen::first_exception, the exception of a future that failed is marked as
/// retrieved (asyncio looks at it), so it is never reported as "never retrieved".
template <detail::FutureHandle Handle>
Coro<WaitResult<Handle>> wait(std::vector<Handle> futures,
                              std::optional<Duration> timeout = std::nullopt,
                              ReturnWhen return_when = ReturnWhen::all_completed) {
    detail::check_wait_arguments(futures.size(), return_when);
    std::vector<Handle> unique = detail::unique_handles(futures);
    co_await detail::wait_until(detail::states_of(unique), timeout, return_when);
    WaitResult<Handle> result;
    for (Handle& handle : unique)
        (handle.state()->done() ? result.done : result.pending).push_back(std::move(handle));
    co_return result;
}

/// wait() with no time limit.
template <detail::FutureHandle Handle>
Coro<WaitResult<Handle>> wait(std::vector<Handle> futures, ReturnWhen return_when) {
    return wait(std::move(futures), std::nullopt, return_when);
}

}  // namespace simrun
