#pragma once
// FutureSnapshot: what a future or task looked like at one moment, kept without a reference to
// it. The "... exception was never retrieved" report is made while the future (or task) is being
// destroyed: asyncio hands the object itself to the exception handler (context['future']), but a
// C++ object in its destructor can neither be kept alive nor handed out, so the report carries
// this copy of its state instead (ExceptionContext::future). Reports about objects that are still
// alive carry a real handle instead (ExceptionContext::task, a TaskRef).

#include <exception>
#include <optional>
#include <string>

#include "simrun/core/context.hpp"
#include "simrun/core/source_location.hpp"

namespace simrun {

class TaskRef;

/// A copy of a future's or task's state that refers to nothing (see the file comment): keeping
/// it keeps no future, task or coroutine frame alive.
struct FutureSnapshot {
    /// The state of the future when the snapshot was taken.
    enum class State { pending, cancelled, finished };

    /// "Future" or "Task".
    std::string kind{};
    /// The task's name ("Task-2"); empty for a plain future.
    std::string name{};
    /// What the future stands for ("executor job resize"); a task's label is its name. May be
    /// empty.
    std::string label{};
    /// Pending, cancelled or finished (with a result or an exception).
    State state = State::pending;
    /// asyncio's repr, as the default handler prints it after "future: ", e.g.
    /// "<Task finished name='Task-2' coro=<boom()> exception=ValueError: boom>".
    std::string description{};
    /// Where the future or task was made (the caller of create_future() / create_task()).
    SourceLocation created_at{};
    /// For a task: its coroutine function (name, file and line of its definition); line 0 for a
    /// plain future.
    SourceLocation coroutine{};
    /// The exception it finished with; null if it has none (pending, cancelled, or a result).
    std::exception_ptr exception{};
    /// For a pending task: what it awaits ("sleep 5s", "Task-3", "a yield"), as deadlock reports
    /// say it; empty otherwise. There is no coroutine stack: the frames of a finished task are
    /// gone, and C++ exceptions carry no traceback.
    std::string awaiting{};
    /// For a task: its Context (a handle to the same variables; holds no task). The exception
    /// handler runs inside it, as asyncio runs the handler in the context of context['future'].
    std::optional<Context> context{};

    /// True for a task's snapshot.
    bool is_task() const noexcept { return kind == "Task"; }
};

/// A snapshot of `task` as it is now. ValueError for an empty TaskRef.
FutureSnapshot snapshot_of(const TaskRef& task);

}  // namespace simrun
