#pragma once
// to_thread: run a blocking function away from the loop and await its result, as Python's
// asyncio.to_thread.

#include <string>
#include <type_traits>
#include <utility>

#include "simrun/core/context.hpp"
#include "simrun/core/coro.hpp"
#include "simrun/core/event_loop.hpp"
#include "simrun/core/executor.hpp"
#include "simrun/core/future.hpp"

namespace simrun {

/// Runs `fn()` on the running loop's default executor (a worker thread of the real loop's
/// ThreadPool; the simulator's FakeExecutor in a SimLoop) and returns its result, or throws its
/// exception. `fn` runs inside a copy of the awaiting task's Context, taken when the returned
/// Coro starts: it sees the task's context variables, and what it sets stays invisible to the
/// task. `options` name the job (traces, cost models) and may give its virtual duration in the
/// simulator (JobOptions::sim_duration, ignored by real executors):
///
///     auto resize = [image] { return scale(image); };
///     JobOptions options{.name = "resize", .sim_duration = 2s};
///     auto small = co_await to_thread(resize, options);
///
/// `fn` must be copyable (executor jobs are std::functions) and return a non-reference type (or
/// void).
///
/// Cancelling the awaiting task makes it throw CancelledError at once, as asyncio.to_thread: if
/// `fn` is still queued (every worker busy), it is withdrawn and never runs, and the executor's
/// shutdown does not wait for it; if it already started, the thread runs it to its end and its
/// result is dropped. Throws RuntimeError when no loop is running or after the loop's
/// shutdown_default_executor().
///
/// g++ 12 pitfall: a lambda with non-trivial captures written inside a co_await expression,
/// `co_await to_thread([p] {...})`, has its captures destroyed twice (a g++ 12 bug, not ours;
/// clang 14 is fine). Name the lambda first: `auto job = [p] {...}; co_await to_thread(job);`.
/// The same holds for braced options: `co_await to_thread(job, {.name = "x"})` frees the name
/// twice under g++ 12; name the JobOptions first, as above.
template <class F>
auto to_thread(F fn, JobOptions options) -> Coro<std::invoke_result_t<F&>> {
    using R = std::invoke_result_t<F&>;
    Future<R> result = get_running_loop().run_in_executor(
        [context = copy_context(), work = std::move(fn)]() mutable -> R {
            return context.run(work);
        },
        std::move(options));
    if constexpr (std::is_void_v<R>) {
        co_await result;
    } else {
        co_return co_await result;
    }
}

/// to_thread(fn, JobOptions{.name = job_name}): see above.
template <class F>
auto to_thread(F fn, std::string job_name = {}) -> Coro<std::invoke_result_t<F&>> {
    return to_thread(std::move(fn), JobOptions{std::move(job_name)});
}

}  // namespace simrun
