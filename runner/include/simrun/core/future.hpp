#pragma once
// Future<T>: a result that will be set later, on one loop. Tasks await futures; everything a
// task waits for (a sleep, an event, another task, an executor job) is a future underneath.

#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "simrun/core/context.hpp"
#include "simrun/core/detail/rare_text.hpp"
#include "simrun/core/detail/text_hash.hpp"
#include "simrun/core/exceptions.hpp"
#include "simrun/core/future_snapshot.hpp"
#include "simrun/core/source_location.hpp"

namespace simrun {

class EventLoop;

namespace detail {

class TaskBase;

/// A task's place in the list of tasks waiting on one future (a task waits on at most one at a
/// time, so the links live in the task and waiting allocates nothing).
struct WaiterLink {
    TaskBase* previous = nullptr;
    TaskBase* next = nullptr;
    /// The position among the future's callbacks (their ids), so that waiters and done
    /// callbacks are scheduled in the order they were added; 0 while not linked.
    std::uint64_t order = 0;
};

/// Lets objects that may outlive their loop find out whether it still exists. `loop` is read
/// without locking on the loop's own thread; other threads (executor workers) read it only
/// under `mutex`, which the loop's destructor holds while it clears the pointer.
struct LoopAnchor {
    explicit LoopAnchor(EventLoop* anchored) : loop(anchored) {}
    EventLoop* loop;
    std::mutex mutex;
};

/// The non-typed part of every future and task: status, exception, callbacks.
class FutureStateBase : public std::enable_shared_from_this<FutureStateBase> {
  public:
    enum class Status : std::uint8_t { pending, cancelled, finished };

    FutureStateBase(EventLoop& loop, SourceLocation created_at);
    virtual ~FutureStateBase();
    FutureStateBase(const FutureStateBase&) = delete;
    FutureStateBase& operator=(const FutureStateBase&) = delete;

    /// The loop; throws RuntimeError if it was destroyed.
    EventLoop& loop() const;
    /// The loop, or null once it was destroyed.
    EventLoop* loop_if_alive() const noexcept { return anchor_->loop; }
    const std::shared_ptr<LoopAnchor>& anchor() const noexcept { return anchor_; }

    bool done() const noexcept { return status_ != Status::pending; }
    bool cancelled() const noexcept { return status_ == Status::cancelled; }
    Status status() const noexcept { return status_; }

    /// Cancels a pending future (schedules its callbacks); false if it was already done.
    /// In debug mode, RuntimeError from a thread other than the loop's (see check_thread()).
    virtual bool cancel(std::string message);
    /// Fails the future; InvalidStateError if it is already done; in debug mode RuntimeError
    /// from a thread other than the loop's.
    void set_exception(std::exception_ptr error);
    /// The exception (null if it has a result); CancelledError if cancelled; InvalidStateError if
    /// pending. Marks the exception as retrieved.
    std::exception_ptr exception();
    /// Throws what result() must throw when there is no value: InvalidStateError if pending,
    /// CancelledError if cancelled, the stored exception if failed. Marks it retrieved.
    void raise_if_no_value();
    /// The stored exception without marking it retrieved (null if none).
    const std::exception_ptr& stored_exception() const noexcept { return exception_; }
    /// Marks the exception as retrieved, so it is never reported as "never retrieved".
    void mark_retrieved() noexcept { log_traceback_ = false; }

    /// Schedules `callback` (with call_soon, in a copy of the current context) once the future
    /// is done; at once if it is done already. Returns an id for remove_done_callback().
    /// `purpose` names the callback in traces, followed by this future's trace_name(): the
    /// library's own callbacks say what they are for ("gather() sees the end of").
    std::uint64_t add_done_callback(std::function<void()> callback,
                                    const char* purpose = "done callback of");
    /// Wakes `waiter` (runs its next step) once the future is done. The task is linked into
    /// this future's list through its WaiterLink: no allocation.
    void add_waiter(TaskBase& waiter) noexcept;
    /// Forgets `waiter` (a task woken by other means, before this future is done).
    void remove_waiter(TaskBase& waiter) noexcept;
    /// Removes a callback that was not scheduled yet; returns how many were removed.
    std::size_t remove_done_callback(std::uint64_t id);
    /// Drops every callback and waiter not scheduled yet (the loop closed: they can never run).
    void clear_done_callbacks() noexcept;

    /// The CancelledError this future's cancellation carries.
    CancelledError make_cancelled_error() const { return CancelledError(cancel_message()); }
    const std::string& cancel_message() const noexcept {
        return extras_ ? extras_->cancel_message : no_text();
    }

    /// A label naming what this future stands for in reports ("sleep 5s", "Event.wait"); a
    /// task's is its name.
    virtual std::string_view label() const noexcept {
        return extras_ && !extras_->label.empty() ? std::string_view(extras_->label)
                                                  : std::string_view(static_label_);
    }
    void set_label(std::string label) {
        static_label_ = "";
        if (!label.empty() || extras_)
            extras().label = std::move(label);
    }
    /// set_label() with a text of static storage, which is not copied (futures made by the
    /// million, as a sleep's).
    void set_static_label(const char* label) noexcept {
        if (extras_)
            extras_->label.clear();
        static_label_ = label != nullptr ? label : "";
    }
    SourceLocation created_at() const noexcept { return created_at_; }

    /// "<Future pending>", "<Future finished exception=...>", as asyncio's repr.
    virtual std::string describe() const;
    /// What traces call this future: its label, else kind(); a task's name (with, for a name
    /// the loop gave, the coroutine and where the task was created).
    virtual std::string trace_name() const {
        const std::string_view text = label();
        return text.empty() ? std::string(kind()) : std::string(text);
    }
    /// Appends trace_name() to `out`.
    virtual void append_trace_name(std::string& out) const { out += trace_name(); }
    /// The hash of trace_name() the trace digest uses: detail::text_hash(trace_name()) for a
    /// future; a task combines its name's hash with that of what follows it (" (worker() from
    /// main.cpp:42)"), and keeps it: its trace name does not change.
    virtual std::uint64_t trace_hash() const;
    /// Writes trace_name() into `out` (cleared first) and returns its hash (which a task keeps).
    virtual std::uint64_t compose_trace_name(std::string& out) const;
    /// A trace name that is "Task-<number>" and a suffix (a name the loop gave a task, see
    /// TaskBase): the parts, so that the simulator's trace shares one text among such tasks.
    struct NumberedName {
        NumberedName() = default;
        NumberedName(const NumberedName&) = delete;  // `suffix` may point into `spare`
        NumberedName& operator=(const NumberedName&) = delete;
        /// What comes before the number, and its hash (the trace hashes such a name by parts).
        static constexpr std::string_view prefix = "Task-";
        static constexpr std::uint64_t prefix_hash = text_hash(prefix);
        std::uint64_t number = 0;
        std::string_view suffix;  // valid until the next call (of any task) on this thread
        std::uint64_t suffix_hash = 0;
        std::string spare;  // holds the suffix if no memo could
    };
    /// Fills `parts` and returns true if the trace name is numbered; false for any other.
    virtual bool numbered_trace_name(NumberedName& parts) const {
        (void)parts;
        return false;
    }
    /// True if trace_hash() is kept, so that it costs nothing (a task's, once composed).
    virtual bool trace_hash_known() const noexcept { return false; }
    /// "Future" or "Task": the name used in "... exception was never retrieved".
    virtual const char* kind() const noexcept { return "Future"; }
    /// A copy of the state that refers to nothing (for reports made while it is destroyed).
    virtual FutureSnapshot snapshot() const;

    /// In debug mode, throws RuntimeError "Non-thread-safe operation invoked on an event loop
    /// other than the current one" when called from a thread other than the one running the
    /// loop (EventLoop::check_thread).
    void check_thread() const;

  protected:
    /// InvalidStateError if done (and the thread check of check_thread()).
    void check_pending_for_set() const;
    /// Marks the future finished (value or exception already stored) and schedules callbacks.
    void finish();
    /// Marks the future cancelled with `message` and schedules callbacks.
    void finish_cancelled(std::string message);
    /// The last step of destruction of a failed future: reports "... exception was never
    /// retrieved" through the loop's exception handler. Derived destructors call it.
    void report_unretrieved() noexcept;
    std::string status_text() const;

    std::exception_ptr exception_;

  private:
    struct DoneCallback {
        std::uint64_t id;
        std::function<void()> callback;
        std::shared_ptr<const ContextMap> context;
        const char* purpose = nullptr;  // see add_done_callback()
    };
    /// What most futures never have, out of line: 8 bytes in every future instead of 40.
    struct Extras {
        std::vector<DoneCallback> callbacks;
        std::string cancel_message;
        std::string label;  // empty: static_label_
    };
    Extras& extras() {
        if (!extras_)
            extras_ = std::make_unique<Extras>();
        return *extras_;
    }
    static const std::string& no_text() noexcept;
    void schedule_callbacks();
    /// Clears the links of `first` and of the waiters after it.
    static void unlink_all(TaskBase* first) noexcept;

    std::shared_ptr<LoopAnchor> anchor_;
    std::unique_ptr<Extras> extras_;    // null: no done callback, cancel message or built label
    TaskBase* first_waiter_ = nullptr;  // tasks waiting on this future, in the order they came
    TaskBase* last_waiter_ = nullptr;
    const char* static_label_ = "";
    SourceLocation created_at_;
    std::uint64_t next_callback_id_ = 1;
    Status status_ = Status::pending;
    bool log_traceback_ = false;
};

/// Storage for a result of type T (nothing for void).
template <class T>
struct ValueSlot {
    std::optional<T> value;
};
template <>
struct ValueSlot<void> {};

/// A plain future's state.
template <class T>
class FutureState : public FutureStateBase, public ValueSlot<T> {
  public:
    using FutureStateBase::FutureStateBase;
    ~FutureState() override { report_unretrieved(); }

    template <class... U>
    void set_result(U&&... value) {
        check_pending_for_set();
        if constexpr (!std::is_void_v<T>)
            this->value.emplace(std::forward<U>(value)...);
        finish();
    }
    /// The value (a reference into the state) or the exception it must throw.
    std::add_lvalue_reference_t<const T> result() {
        raise_if_no_value();
        if constexpr (!std::is_void_v<T>)
            return *this->value;
    }

    /// Replaces cancel() of a pending future (gather() cancels its children instead).
    void set_cancel_hook(std::function<bool(const std::string&)> hook) {
        if (hook)
            cancel_hook_ = std::make_unique<CancelHook>(std::move(hook));
        else
            cancel_hook_.reset();
    }
    bool cancel(std::string message) override {
        if (cancel_hook_ && !done()) {
            check_thread();
            mark_retrieved();
            return (*cancel_hook_)(message);
        }
        return FutureStateBase::cancel(std::move(message));
    }

  private:
    using CancelHook = std::function<bool(const std::string&)>;
    std::unique_ptr<CancelHook> cancel_hook_;  // out of line: few futures have one
};

/// The current task of the calling thread suspends until `future` is done, to resume at `at`.
/// Throws RuntimeError outside a task or for a future of another loop.
void suspend_current_task(FutureStateBase& future, std::coroutine_handle<> at);
/// Called when a task resumes after a suspension: throws the CancelledError of a cancellation
/// that was requested while the task could not be interrupted (asyncio's `_must_cancel`).
/// `awaited_cancelled`: the future the task awaited was cancelled; as in asyncio's Task.__step,
/// its CancelledError (and message) is the one the task sees, and the pending one is dropped.
void deliver_pending_cancellation(bool awaited_cancelled = false);

/// The awaiter for anything future-like: returns at once if done, else suspends the task.
template <class State>
struct FutureAwaiter {
    std::shared_ptr<State> state;
    bool suspended = false;

    bool await_ready() const noexcept { return state->done(); }
    void await_suspend(std::coroutine_handle<> at) {
        suspend_current_task(*state, at);
        suspended = true;
    }
    auto await_resume() {
        if (suspended) {
            // As asyncio's Task.__wakeup: the outcome is looked at before a pending cancellation
            // is delivered, so a failure is never reported as "never retrieved" because of it.
            state->mark_retrieved();
            deliver_pending_cancellation(state->cancelled());
        }
        using Result = std::remove_cvref_t<decltype(state->result())>;
        if constexpr (std::is_void_v<Result>) {
            state->result();
        } else {
            return Result(state->result());
        }
    }
};

}  // namespace detail

/// A result that some code will set later. Belongs to one loop; awaitable from tasks of that
/// loop. Copies share the same future. Made by `loop.create_future<T>()`. Not thread-safe: set
/// or cancel it on the loop's thread (from another thread, through
/// loop.call_soon_threadsafe()); in debug mode set_result, set_exception and cancel throw
/// RuntimeError "Non-thread-safe operation invoked on an event loop other than the current one"
/// from another thread while the loop runs.
template <class T = void>
class Future {
  public:
    using value_type = T;

    Future() = default;
    explicit Future(std::shared_ptr<detail::FutureState<T>> state) : state_(std::move(state)) {}

    bool done() const { return state_->done(); }
    bool cancelled() const { return state_->cancelled(); }
    /// Cancels the future if pending; false if already done.
    bool cancel(std::string message = {}) { return state_->cancel(std::move(message)); }
    /// Sets the result; InvalidStateError if already done.
    template <class... U>
    void set_result(U&&... value) {
        state_->set_result(std::forward<U>(value)...);
    }
    /// Fails the future; InvalidStateError if already done.
    void set_exception(std::exception_ptr error) { state_->set_exception(std::move(error)); }
    /// The result; throws the exception, CancelledError, or InvalidStateError if pending.
    decltype(auto) result() const { return state_->result(); }
    /// The exception or null; CancelledError if cancelled; InvalidStateError if pending.
    std::exception_ptr exception() const { return state_->exception(); }
    /// See FutureStateBase::add_done_callback.
    std::uint64_t add_done_callback(std::function<void()> callback) {
        return state_->add_done_callback(std::move(callback));
    }
    std::size_t remove_done_callback(std::uint64_t id) { return state_->remove_done_callback(id); }
    EventLoop& get_loop() const { return state_->loop(); }
    /// Names the future in deadlock reports and traces.
    void set_label(std::string label) { state_->set_label(std::move(label)); }
    std::string describe() const { return state_->describe(); }

    const std::shared_ptr<detail::FutureState<T>>& state() const { return state_; }
    explicit operator bool() const noexcept { return state_ != nullptr; }

    auto operator co_await() const { return detail::FutureAwaiter<detail::FutureState<T>>{state_}; }

  private:
    std::shared_ptr<detail::FutureState<T>> state_;
};

}  // namespace simrun
