// The loop's exception handler and logs: call_exception_handler, log, warn and the process-wide
// default log handler.
#include <cstdio>
#include <mutex>

#include "simrun/core/event_loop.hpp"

namespace simrun {

// ---- exceptions and logs --------------------------------------------------------------------

void EventLoop::call_exception_handler(const ExceptionContext& context) {
    if (!exception_handler_) {
        try {
            default_exception_handler(context);
        } catch (...) {
            if (escapes_loop(std::current_exception()))
                throw;
            log(LogLevel::error, "Exception in default exception handler");
        }
        return;
    }
    try {
        // As asyncio 3.12+: the handler runs in the context of the task it reports, if any.
        detail::ContextData* task_context = nullptr;
        if (context.task) {
            task_context = &context.task.state()->context().data();
        } else if (context.future && context.future->context) {
            task_context = &context.future->context->data();  // a task destroyed unretrieved
        }
        if (task_context != nullptr && !task_context->entered) {
            detail::ContextScope scope(*task_context);
            exception_handler_(*this, context);
        } else {
            exception_handler_(*this, context);
        }
    } catch (...) {
        std::exception_ptr error = std::current_exception();
        if (escapes_loop(error))
            throw;
        try {
            ExceptionContext report;
            report.message = "Unhandled error in exception handler";
            report.exception = error;
            report.details["context"] = context.format();
            default_exception_handler(report);
        } catch (...) {
            if (escapes_loop(std::current_exception()))
                throw;
            log(LogLevel::error,
                "Exception in default exception handler while handling an unexpected error in "
                "custom "
                "exception handler");
        }
    }
}

void EventLoop::default_exception_handler(const ExceptionContext& context) {
    log(LogLevel::error, context.format());
}

void EventLoop::log(LogLevel level, const std::string& message) {
    if (observer_ != nullptr)
        observer_->on_log(level, message);
    if (log_handler_) {
        log_handler_(level, message);
        return;
    }
    if (level == LogLevel::debug || level == LogLevel::info)
        return;  // as Python's default: warnings and up
    log_without_loop(level, message);
}

namespace {
std::mutex& default_log_mutex() {
    static std::mutex mutex;
    return mutex;
}
LogHandler& default_log_handler() {
    static LogHandler handler;
    return handler;
}
}  // namespace

void set_default_log_handler(LogHandler handler) {
    std::lock_guard lock(default_log_mutex());
    default_log_handler() = std::move(handler);
}

void log_without_loop(LogLevel level, const std::string& message) {
    LogHandler handler;
    {
        std::lock_guard lock(default_log_mutex());
        handler = default_log_handler();
    }
    if (handler) {
        handler(level, message);
    } else {
        std::fprintf(stderr, "%s\n", message.c_str());
    }
}

void EventLoop::warn(std::string_view category, const std::string& message) {
    log(LogLevel::warning, std::string(category) + ": " + message);
}

}  // namespace simrun
