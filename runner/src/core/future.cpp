#include "simrun/core/future.hpp"

#include <algorithm>
#include <cstdio>

#include "simrun/core/detail/text_hash.hpp"
#include "simrun/core/event_loop.hpp"
#include "simrun/core/exception_context.hpp"
#include "simrun/core/task.hpp"

namespace simrun::detail {

FutureStateBase::FutureStateBase(EventLoop& loop, SourceLocation created_at)
    : anchor_(loop.anchor()), created_at_(created_at) {}

FutureStateBase::~FutureStateBase() {
    unlink_all(first_waiter_);  // none are left in practice: a waiting task holds its future
}

EventLoop& FutureStateBase::loop() const {
    if (anchor_->loop == nullptr)
        throw RuntimeError("the event loop of this future was destroyed");
    return *anchor_->loop;
}

void FutureStateBase::check_thread() const {
    if (EventLoop* loop = anchor_->loop)
        loop->check_thread();
}

bool FutureStateBase::cancel(std::string message) {
    check_thread();
    log_traceback_ = false;
    if (done())
        return false;
    finish_cancelled(std::move(message));
    return true;
}

void FutureStateBase::check_pending_for_set() const {
    check_thread();
    if (done())
        throw InvalidStateError("invalid state: " + describe() + " is already done");
}

void FutureStateBase::set_exception(std::exception_ptr error) {
    check_pending_for_set();  // checks the thread too
    if (!error)
        throw ValueError("set_exception() needs an exception");
    exception_ = std::move(error);
    log_traceback_ = true;
    finish();
}

std::exception_ptr FutureStateBase::exception() {
    if (status_ == Status::cancelled)
        throw make_cancelled_error();
    if (status_ == Status::pending)
        throw InvalidStateError("Exception is not set.");
    log_traceback_ = false;
    return exception_;
}

void FutureStateBase::raise_if_no_value() {
    if (status_ == Status::cancelled)
        throw make_cancelled_error();
    if (status_ == Status::pending)
        throw InvalidStateError("Result is not set.");
    log_traceback_ = false;
    if (exception_)
        std::rethrow_exception(exception_);
}

std::uint64_t FutureStateBase::add_done_callback(std::function<void()> callback,
                                                 const char* purpose) {
    std::uint64_t id = next_callback_id_++;
    auto context = current_context_data().vars;
    if (done()) {
        loop()
            .call_soon_in_context(std::move(callback), std::move(context), {})
            .describe_as(purpose, weak_from_this());
    } else {
        extras().callbacks.push_back(
            DoneCallback{id, std::move(callback), std::move(context), purpose});
    }
    return id;
}

void FutureStateBase::add_waiter(TaskBase& waiter) noexcept {
    WaiterLink& link = waiter.waiter_link;
    link.order = next_callback_id_++;
    link.previous = last_waiter_;
    link.next = nullptr;
    if (last_waiter_ != nullptr)
        last_waiter_->waiter_link.next = &waiter;
    else
        first_waiter_ = &waiter;
    last_waiter_ = &waiter;
}

std::size_t FutureStateBase::remove_done_callback(std::uint64_t id) {
    if (!extras_)
        return 0;
    return std::erase_if(extras_->callbacks, [id](const DoneCallback& c) { return c.id == id; });
}

void FutureStateBase::remove_waiter(TaskBase& waiter) noexcept {
    WaiterLink& link = waiter.waiter_link;
    if (link.order == 0)
        return;  // not waiting (woken already)
    (link.previous != nullptr ? link.previous->waiter_link.next : first_waiter_) = link.next;
    (link.next != nullptr ? link.next->waiter_link.previous : last_waiter_) = link.previous;
    link = WaiterLink{};
}

void FutureStateBase::unlink_all(TaskBase* first) noexcept {
    while (first != nullptr)
        first = std::exchange(first->waiter_link, WaiterLink{}).next;
}

void FutureStateBase::clear_done_callbacks() noexcept {
    if (extras_)
        extras_->callbacks.clear();
    last_waiter_ = nullptr;
    unlink_all(std::exchange(first_waiter_, nullptr));
}

const std::string& FutureStateBase::no_text() noexcept {
    static const std::string empty;
    return empty;
}

void FutureStateBase::finish() {
    status_ = Status::finished;
    schedule_callbacks();
}

void FutureStateBase::finish_cancelled(std::string message) {
    status_ = Status::cancelled;
    if (!message.empty() || extras_)
        extras().cancel_message = std::move(message);
    schedule_callbacks();
}

void FutureStateBase::schedule_callbacks() {
    std::vector<DoneCallback> callbacks;
    if (extras_)
        callbacks.swap(extras_->callbacks);
    TaskBase* waiter = std::exchange(first_waiter_, nullptr);
    last_waiter_ = nullptr;
    EventLoop* loop = anchor_->loop;
    if (loop == nullptr || loop->is_closed()) {
        unlink_all(waiter);
        return;  // nobody can run them any more
    }
    // Callbacks and waiters are scheduled in the order they were added (ids and orders).
    try {
        auto callback = callbacks.begin();
        while (waiter != nullptr || callback != callbacks.end()) {
            if (waiter != nullptr &&
                (callback == callbacks.end() || waiter->waiter_link.order < callback->id)) {
                TaskBase* task = waiter;
                waiter = std::exchange(task->waiter_link, WaiterLink{}).next;
                if (const auto& self = task->self_reference())
                    loop->schedule_task_step(self, true);
            } else {
                loop->call_soon_in_context(std::move(callback->callback),
                                           std::move(callback->context), {})
                    .describe_as(callback->purpose, weak_from_this());
                ++callback;
            }
        }
    } catch (...) {  // out of memory: the waiters not scheduled must not point into the list
        unlink_all(waiter);
        throw;
    }
}

std::string FutureStateBase::status_text() const {
    switch (status_) {
        case Status::pending:
            return "pending";
        case Status::cancelled:
            return "cancelled";
        case Status::finished:
            return "finished";
    }
    return "?";
}

std::uint64_t FutureStateBase::trace_hash() const {
    return text_hash(trace_name());
}

std::uint64_t FutureStateBase::compose_trace_name(std::string& out) const {
    out.clear();
    append_trace_name(out);
    return text_hash(out);
}

std::string FutureStateBase::describe() const {
    std::string text = std::string("<") + kind() + " " + status_text();
    if (const std::string_view label = this->label(); !label.empty())
        text.append(" ").append(label);
    if (status_ == Status::finished && exception_)
        text += " exception=" + describe_exception(exception_);
    EventLoop* loop = anchor_->loop;
    if (loop != nullptr && loop->get_debug() && created_at_.line != 0) {
        text += " created at " + created_at_.short_text();
    }
    return text + ">";
}

FutureSnapshot FutureStateBase::snapshot() const {
    FutureSnapshot copy;
    copy.kind = kind();
    copy.label = std::string(label());
    switch (status_) {
        case Status::pending:
            copy.state = FutureSnapshot::State::pending;
            break;
        case Status::cancelled:
            copy.state = FutureSnapshot::State::cancelled;
            break;
        case Status::finished:
            copy.state = FutureSnapshot::State::finished;
            copy.exception = exception_;
            break;
    }
    copy.description = describe();
    copy.created_at = created_at_;
    return copy;
}

void FutureStateBase::report_unretrieved() noexcept {
    if (status_ != Status::finished || !exception_ || !log_traceback_)
        return;
    try {
        ExceptionContext context;
        context.message = std::string(kind()) + " exception was never retrieved";
        context.exception = exception_;
        context.future = snapshot();  // the object itself is being destroyed
        if (anchor_->loop != nullptr && anchor_->loop->get_debug() && created_at_.line != 0) {
            context.details["source_traceback"] = created_at_.short_text();
        }
        if (EventLoop* loop = anchor_->loop) {
            loop->call_exception_handler(context);
        } else {
            log_without_loop(LogLevel::error, context.format());
        }
    } catch (...) {  // a report must never throw out of a destructor
    }
}

}  // namespace simrun::detail
