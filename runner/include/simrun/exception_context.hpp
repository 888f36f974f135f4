#pragma once
// What the loop's exception handler receives: Python's context dict as a struct.

#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "simrun/task_ref.hpp"

namespace simrun {

class EventLoop;

/// Describes an error the loop could not raise to anyone (an exception in a callback, a task
/// exception nobody retrieved, an error during shutdown, ...). Keys, as in asyncio: "message",
/// "exception" (when set), "task" (when set), plus any of `details`.
struct ExceptionContext {
    /// The first line of the report, e.g. "unhandled exception during asyncio.run() shutdown".
    std::string message;
    /// The error, if there is one.
    std::exception_ptr exception;
    /// The task concerned, if any.
    TaskRef task;
    /// Other fields by name ("future", "handle", "asyncgen", "source_traceback", ...), printable.
    std::map<std::string, std::string> details;

    /// The names of the fields present, as asyncio's dict keys.
    std::set<std::string> keys() const;
    /// The text the default handler logs: the message, the other fields sorted by name as
    /// "key: value", then the exception.
    std::string format() const;
};

/// A custom exception handler: `loop.set_exception_handler(handler)`.
using ExceptionHandler = std::function<void(EventLoop&, const ExceptionContext&)>;

}  // namespace simrun
