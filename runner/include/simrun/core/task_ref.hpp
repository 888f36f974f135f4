#pragma once
// TaskRef: a handle to a task of any result type (what all_tasks() and current_task() return).

#include <exception>
#include <memory>
#include <string>

namespace simrun {

class EventLoop;

namespace detail {
class TaskBase;
}

/// A shared handle to a task whose result type is not known here. Empty when default-built.
class TaskRef {
  public:
    TaskRef() = default;
    explicit TaskRef(std::shared_ptr<detail::TaskBase> state) : state_(std::move(state)) {}

    explicit operator bool() const noexcept { return state_ != nullptr; }

    /// The task's name ("Task-1" unless one was given).
    const std::string& name() const;
    void set_name(std::string name);
    /// True once the task finished (returned, threw or was cancelled).
    bool done() const;
    /// True only if the task ended in the cancelled state.
    bool cancelled() const;
    /// Requests cancellation: false if already done; otherwise counts one more request and
    /// throws CancelledError(message) into the task at its current or next suspension point.
    /// What the task awaits is cancelled too (a future, or another task, recursively). If that
    /// leads round an await cycle back to a task already being cancelled (t1 awaits t2, t2
    /// awaits t1), the cycle is broken there: that task's await ends with CancelledError at its
    /// next step (asyncio recurses until RecursionError instead).
    /// Loop thread only: from another thread use
    /// `loop.call_soon_threadsafe([task]() mutable { task.cancel(); })`; in debug mode another
    /// thread gets RuntimeError "Non-thread-safe operation invoked on an event loop other than
    /// the current one" while the loop runs.
    bool cancel(std::string message = {});
    /// Number of pending cancellation requests.
    int cancelling() const;
    /// Decrements the cancellation count (never below 0) and returns what remains; at 0 a
    /// not-yet-delivered cancellation is withdrawn.
    int uncancel();
    /// The task's exception (null if it returned); throws CancelledError if it was cancelled
    /// and InvalidStateError if it is not done. Marks the exception as retrieved.
    std::exception_ptr exception() const;
    /// The loop the task belongs to.
    EventLoop& get_loop() const;
    /// "<Task pending name='Task-1' ...>", as asyncio's repr.
    std::string describe() const;

    const std::shared_ptr<detail::TaskBase>& state() const { return state_; }
    friend bool operator==(const TaskRef& a, const TaskRef& b) { return a.state_ == b.state_; }

  private:
    std::shared_ptr<detail::TaskBase> state_;
};

}  // namespace simrun
