#pragma once
// What the loop's exception handler receives: Python's context dict as a struct.
//
// Which report carries which fields (asyncio's keys; "source_traceback" only in debug mode):
//
//   message                                          fields
//   "Future exception was never retrieved"           exception, future (a FutureSnapshot)
//   "Task exception was never retrieved"             exception, future (the task's snapshot)
//   "Task was destroyed but it is pending!"          task (a live TaskRef)
//   "Exception in callback <where>"                  exception, details["handle"]
//   "unhandled exception during asyncio.run() shutdown"   exception, task
//   "Task <t> has errored out but its parent task <p> is already completed"   exception, task
//   "an error occurred during closing of asynchronous generator <g>"
//                                                    exception, details["asyncgen"]
//   "Unhandled error in exception handler"           exception, details["context"]
//   transport and server errors                      exception, details["transport"], ...
//
// "never retrieved" is reported while the future or task is being destroyed: asyncio passes the
// object (context['future']), which C++ cannot hand out from a destructor (it can be neither
// kept alive nor used afterwards), so `future` is a snapshot of its state that refers to nothing.
// "destroyed but it is pending" is reported by EventLoop::close() while the task is still alive
// (its frame is destroyed just after the handler returns), so `task` is the task itself: a
// handler that keeps the TaskRef keeps a task that stays pending, with no coroutine to run.

#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "simrun/core/future_snapshot.hpp"
#include "simrun/core/task_ref.hpp"

namespace simrun {

class EventLoop;

/// Describes an error the loop could not raise to anyone (an exception in a callback, a task
/// exception nobody retrieved, an error during shutdown, ...). Keys, as in asyncio: "message",
/// "exception" (when set), "task" (when set), "future" (when set), plus any of `details`. See the
/// file comment for which report sets which.
struct ExceptionContext {
    /// The first line of the report, e.g. "unhandled exception during asyncio.run() shutdown".
    std::string message;
    /// The error, if there is one.
    std::exception_ptr exception;
    /// The task concerned, if it is still alive when reported ("task").
    TaskRef task;
    /// Other fields by name ("handle", "asyncgen", "transport", "source_traceback", ...),
    /// printable.
    std::map<std::string, std::string> details;
    /// The future or task of a "... exception was never retrieved" report ("future"): a copy of
    /// its state taken as it was destroyed (see the file comment).
    std::optional<FutureSnapshot> future{};

    /// The names of the fields present, as asyncio's dict keys.
    std::set<std::string> keys() const;
    /// The text the default handler logs, as asyncio's default_exception_handler: the message,
    /// the other fields sorted by name as "key: value" (a task or future as its repr), then the
    /// exception. E.g. "Task exception was never retrieved\nfuture: <Task finished
    /// name='Task-2' coro=<boom()> exception=ValueError: boom>\nValueError: boom".
    std::string format() const;
};

/// A custom exception handler: `loop.set_exception_handler(handler)`. It runs inside the
/// Context of the task the report is about (`task`, else a task's `future` snapshot), if any.
using ExceptionHandler = std::function<void(EventLoop&, const ExceptionContext&)>;

}  // namespace simrun
