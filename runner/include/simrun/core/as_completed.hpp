#pragma once
// as_completed(): the results of several tasks in the order they finish, as asyncio's
// as_completed (3.13). The call itself starts everything: coroutines become tasks at once, and
// the time limit starts counting. Then each step gives whichever finishes next:
//
//     AsCompleted<Task<Page>> pages = as_completed(std::move(downloads), 10s);
//     while (pages.has_next()) {
//         Page page = co_await pages.next();         // the value, or the task's exception
//         ...
//     }
//
//     while (pages.has_next()) {
//         Task<Page> task = co_await pages.next_done();  // the finished task itself
//         if (task == slow_mirror) ...
//     }
//
// asyncio offers the same two ways as `for aw in as_completed(...)` (each step a new awaitable
// that gives the next result or raises its exception) and `async for task in as_completed(...)`
// (each step the finished task itself). Once the time limit has passed, each remaining step throws
// TimeoutError; nothing is cancelled, the late tasks keep running.
//
// Why not an AsyncGen: an async generator ends for good at the first exception it throws, but
// here a failed task or the timeout is one step's outcome and the steps after it still work.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "simrun/core/clock.hpp"
#include "simrun/core/coro.hpp"
#include "simrun/core/detail/future_handles.hpp"
#include "simrun/core/event_loop.hpp"
#include "simrun/core/future.hpp"
#include "simrun/core/handle.hpp"
#include "simrun/core/task.hpp"

namespace simrun {

namespace detail {

/// The part of as_completed() that does not depend on the result type: the inputs (without
/// repeats), the queue of finished ones in completion order, the waiting steps, the timer.
class AsCompletedCore {
  public:
    /// Registers the completion callbacks and starts the timer (if any and if there are inputs).
    static std::shared_ptr<AsCompletedCore> start(
        EventLoop& loop, std::vector<std::shared_ptr<FutureStateBase>> futures,
        std::optional<Duration> timeout);
    AsCompletedCore(EventLoop& loop, std::vector<std::shared_ptr<FutureStateBase>> futures);
    ~AsCompletedCore();
    AsCompletedCore(const AsCompletedCore&) = delete;
    AsCompletedCore& operator=(const AsCompletedCore&) = delete;

    /// Steps not taken yet.
    std::size_t left() const noexcept { return left_; }
    /// Takes one step; RuntimeError if none is left.
    void take();
    /// Waits until an input is done and gives its index; TimeoutError once the time limit has
    /// passed. Steps that wait are served in the order they started waiting.
    static Coro<std::size_t> next_index(std::shared_ptr<AsCompletedCore> self);

  private:
    void on_completion(std::size_t index);
    void on_timeout();
    void put(std::optional<std::size_t> item);
    void wake_next();

    std::shared_ptr<LoopAnchor> anchor_;  // the loop may be gone before this object is
    std::vector<std::shared_ptr<FutureStateBase>> futures_;
    std::vector<std::uint64_t> callback_ids_;
    std::vector<bool> todo_;  // not done yet, and no timeout yet
    std::size_t todo_count_ = 0;
    std::deque<std::optional<std::size_t>> done_;  // in completion order; nullopt: timed out
    std::deque<std::shared_ptr<FutureState<void>>> getters_;
    TimerHandle timer_;
    std::size_t left_ = 0;
};

}  // namespace detail

/// The object as_completed() returns; `Handle` is Task<T> or Future<T>. Copies share the same
/// iteration. Each step may be taken as a value (next()) or as the finished handle (next_done()),
/// in any mix; there are as many steps as distinct inputs.
template <class Handle>
class AsCompleted {
  public:
    using value_type = typename Handle::value_type;

    /// Made by as_completed().
    AsCompleted(std::shared_ptr<detail::AsCompletedCore> core, std::vector<Handle> handles)
        : core_(std::move(core)),
          handles_(std::make_shared<const std::vector<Handle>>(std::move(handles))) {}

    /// True while steps are left (one per distinct input).
    bool has_next() const noexcept { return core_->left() > 0; }
    /// Steps left.
    std::size_t remaining() const noexcept { return core_->left(); }

    /// Takes a step (now: RuntimeError if none is left) and returns a coroutine that, when
    /// awaited, waits for the next input to finish and gives its value, or throws its exception
    /// (CancelledError if it was cancelled), or TimeoutError once the time limit has passed.
    /// "Next" means next at the time it is awaited: steps taken earlier but awaited later get
    /// later results.
    Coro<value_type> next() {
        core_->take();
        return next_value(core_, handles_);
    }

    /// Takes a step as next() does; the coroutine gives the finished handle itself (the task
    /// passed in, or the one made from a coroutine), whatever its outcome, or throws
    /// TimeoutError once the time limit has passed.
    Coro<Handle> next_done() {
        core_->take();
        return next_handle(core_, handles_);
    }

    /// The distinct inputs, in input order (the tasks made from coroutines, for those).
    const std::vector<Handle>& handles() const noexcept { return *handles_; }

  private:
    static Coro<value_type> next_value(std::shared_ptr<detail::AsCompletedCore> core,
                                       std::shared_ptr<const std::vector<Handle>> handles) {
        std::size_t index = co_await detail::AsCompletedCore::next_index(std::move(core));
        if constexpr (std::is_void_v<value_type>) {
            (*handles)[index].result();
        } else {
            co_return value_type((*handles)[index].result());
        }
    }
    static Coro<Handle> next_handle(std::shared_ptr<detail::AsCompletedCore> core,
                                    std::shared_ptr<const std::vector<Handle>> handles) {
        std::size_t index = co_await detail::AsCompletedCore::next_index(std::move(core));
        co_return (*handles)[index];
    }

    std::shared_ptr<detail::AsCompletedCore> core_;
    std::shared_ptr<const std::vector<Handle>> handles_;
};

namespace detail {

template <class Handle>
AsCompleted<Handle> make_as_completed(EventLoop& loop, std::vector<Handle> handles,
                                      std::optional<Duration> timeout) {
    std::vector<Handle> unique = unique_handles(handles);
    std::vector<std::shared_ptr<FutureStateBase>> states = states_of(unique);
    for (const auto& state : states)
        check_same_loop(*state, loop);
    return AsCompleted<Handle>(AsCompletedCore::start(loop, std::move(states), timeout),
                               std::move(unique));
}

}  // namespace detail

/// Iterates `tasks` in completion order (see the file comment); repeats count once. `timeout`
/// (none: no limit) starts now, on the loop of get_event_loop(). Throws RuntimeError if there is
/// no running or current loop, ValueError for an empty handle or a task of another loop.
template <class T>
AsCompleted<Task<T>> as_completed(std::vector<Task<T>> tasks,
                                  std::optional<Duration> timeout = std::nullopt) {
    return detail::make_as_completed(get_event_loop(), std::move(tasks), timeout);
}

/// As above for futures.
template <class T>
AsCompleted<Future<T>> as_completed(std::vector<Future<T>> futures,
                                    std::optional<Duration> timeout = std::nullopt) {
    return detail::make_as_completed(get_event_loop(), std::move(futures), timeout);
}

/// As above for coroutines: each becomes a task on get_event_loop() now, in order (next_done()
/// gives these tasks).
template <class T>
AsCompleted<Task<T>> as_completed(std::vector<Coro<T>> coros,
                                  std::optional<Duration> timeout = std::nullopt) {
    EventLoop& loop = get_event_loop();
    std::vector<Task<T>> tasks;
    tasks.reserve(coros.size());
    for (Coro<T>& coro : coros) {
        tasks.push_back(loop.create_task(std::move(coro)));
        tasks.back().state()->made_by = "as_completed()";
    }
    return detail::make_as_completed(loop, std::move(tasks), timeout);
}

}  // namespace simrun
