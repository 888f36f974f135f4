#include "simrun/core/exception_context.hpp"

#include "simrun/core/exceptions.hpp"
#include "simrun/core/task_ref.hpp"

namespace simrun {

std::set<std::string> ExceptionContext::keys() const {
    std::set<std::string> names{"message"};
    if (exception)
        names.insert("exception");
    if (task)
        names.insert("task");
    if (future)
        names.insert("future");
    for (const auto& [name, value] : details)
        names.insert(name);
    return names;
}

std::string ExceptionContext::format() const {
    std::string text = message.empty() ? "Unhandled exception in event loop" : message;
    std::map<std::string, std::string> fields = details;
    if (task)
        fields["task"] = task.describe();
    if (future)
        fields["future"] = future->description;
    for (const auto& [name, value] : fields) {
        if (name == "source_traceback") {
            text += "\nObject created at (most recent call last):\n  " + value;
        } else if (name == "handle_traceback") {
            text += "\nHandle created at (most recent call last):\n  " + value;
        } else {
            text += "\n" + name + ": " + value;
        }
    }
    if (exception) {
        text += '\n';
        text += describe_exception(
            exception);  // two appends: g++ 12 -O3 warns (-Wrestrict) on a + here
    }
    return text;
}

}  // namespace simrun
