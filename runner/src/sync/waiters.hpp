#pragma once
// Internals shared by the synchronization primitives: the FIFO list of waiter futures, the RAII
// entry a waiting coroutine keeps in it, and the texts every primitive formats the same way.

#include <cstdio>
#include <exception>
#include <list>
#include <string>
#include <utility>

#include "simrun/core/event_loop.hpp"
#include "simrun/core/exception_context.hpp"
#include "simrun/core/future.hpp"

namespace simrun::detail {

/// The futures of the tasks waiting on a primitive, oldest first. A waiter removes its own
/// entry when it leaves, as in asyncio; a waker only completes the future.
using WaiterList = std::list<Future<void>>;

/// A waiter's place in a WaiterList: added on construction, removed by remove() or at the
/// latest on destruction (also when the loop closes and destroys the suspended frame). The
/// list must outlive the entry: a waiting coroutine holds the primitive's shared core first.
class WaiterEntry {
  public:
    WaiterEntry(WaiterList& list, Future<void> waiter)
        : list_(&list), position_(list.insert(list.end(), std::move(waiter))) {}
    ~WaiterEntry() { remove(); }
    WaiterEntry(const WaiterEntry&) = delete;
    WaiterEntry& operator=(const WaiterEntry&) = delete;

    void remove() noexcept {
        if (list_ != nullptr) {
            list_->erase(position_);
            list_ = nullptr;
        }
    }

  private:
    WaiterList* list_;
    WaiterList::iterator position_;
};

/// A new waiter future of `loop`, labelled for deadlock reports and traces.
inline Future<void> make_waiter(EventLoop& loop, const char* label) {
    Future<void> waiter = loop.create_future<void>();
    waiter.set_label(label);
    return waiter;
}

/// Cancels every waiter that is still pending, with `message` (the primitive is going away).
inline void cancel_waiters(WaiterList& waiters, const std::string& message) {
    for (Future<void>& waiter : waiters) {
        if (!waiter.done())
            waiter.cancel(message);
    }
}

/// "<Kind at 0x... [extra]>", as asyncio's reprs: `extra` is the bracketed state.
inline std::string describe_primitive(const char* kind, const void* address,
                                      const std::string& extra) {
    char text[64];
    std::snprintf(text, sizeof text, "%p", address);
    return std::string("<") + kind + " at " + text + " [" + extra + "]>";
}

/// ", waiters:N" when some futures are listed, as asyncio's reprs.
inline std::string waiters_suffix(const WaiterList& waiters) {
    return waiters.empty() ? std::string() : ", waiters:" + std::to_string(waiters.size());
}

/// The CancelledError message a waiter gets when its primitive is destroyed under it.
inline std::string destroyed_message(const char* kind) {
    return std::string(kind) + " was destroyed while a task waited on it";
}

/// Reports the exception being handled, which a guard's destructor could not throw, to the
/// running loop's exception handler (or the log without a loop) under `message`. Never throws.
inline void report_release_failure(const char* message) noexcept {
    try {
        ExceptionContext context;
        context.message = message;
        context.exception = std::current_exception();
        if (EventLoop* loop = running_loop_or_null())
            loop->call_exception_handler(context);
        else
            log_without_loop(LogLevel::error, context.format());
    } catch (...) {  // a report must never throw out of a destructor
    }
}

}  // namespace simrun::detail
