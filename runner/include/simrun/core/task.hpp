#pragma once
// Task<T>: a coroutine scheduled on a loop. It runs step by step (each step resumes the coroutine
// until its next suspension), can be awaited by several tasks (the result is shared), and can be
// cancelled with asyncio 3.13's rules: cancel() counts requests, the task sees CancelledError at
// its current or next suspension point and may catch it; uncancel() withdraws a request.

#include <array>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "simrun/core/clock.hpp"
#include "simrun/core/context.hpp"
#include "simrun/core/coro.hpp"
#include "simrun/core/future.hpp"
#include "simrun/core/handle.hpp"
#include "simrun/core/task_ref.hpp"

namespace simrun {

/// Options of create_task().
struct TaskOptions {
    /// The task's name; empty means "Task-<n>" with n counted per loop.
    std::string name{};
    /// The context to run in; none means a copy of the creator's current context.
    std::optional<Context> context{};
};

namespace detail {

/// Everything about a task except the type of its result.
class TaskBase : public FutureStateBase {
  public:
    /// Runs in `context` if given (create_task(..., {.context = c})), else in a copy of the
    /// creator's current context, kept inside the task (no allocation of its own). Named
    /// `name`, or if `number` is not 0 "Task-<number>" (spelled out only when asked).
    TaskBase(EventLoop& loop, const Context* context, std::string name, SourceLocation created_at,
             std::uint64_t number = 0);
    ~TaskBase() override;

    /// See TaskRef::cancel.
    bool cancel(std::string message) override;
    int uncancel() noexcept;
    int cancelling() const noexcept { return cancels_requested_; }
    /// The name ("Task-7" for the loop's seventh task that was given none). A name the loop
    /// gave is kept as its number and spelled out here on the first call (so, like everything
    /// about a task, only on the loop's thread).
    const std::string& name() const {
        if (!name_)
            name_ = std::make_unique<std::string>(numbered_name(number_));
        return *name_;
    }
    void set_name(std::string name) {
        if (name_)
            *name_ = std::move(name);  // a reference from name() stays valid
        else
            name_ = std::make_unique<std::string>(std::move(name));
        named_by_loop = false;
        trace_hash_ = 0;
    }
    /// The name: what reports and traces call the task ("awaits Task-2").
    std::string_view label() const noexcept override {
        try {
            return name();
        } catch (...) {  // out of memory spelling "Task-<number>"
            return {};
        }
    }
    /// "Task-<number>".
    static std::string numbered_name(std::uint64_t number);
    /// Room for "Task-<any 64-bit number>".
    using NameBuffer = std::array<char, 32>;
    /// The name, and for a name the loop gave ("Task-3") what the task runs and where it was
    /// created: "Task-3 (worker() from main.cpp:42)" ("Task-3 (main.cpp:42)" for a lambda;
    /// "Task-5 (fetch() in gather())" for a task the library made, see made_by).
    std::string trace_name() const override {
        std::string text;
        append_trace_name(text);
        return text;
    }
    void append_trace_name(std::string& out) const override;
    /// Kept from the first call (named_by_loop and made_by are set before that) until the next
    /// set_name().
    std::uint64_t trace_hash() const override;
    /// Keeps the hash (until the next set_name()).
    std::uint64_t compose_trace_name(std::string& out) const override;
    bool trace_hash_known() const noexcept override { return trace_hash_ != 0; }
    /// "Task-<number>" and " (worker() from main.cpp:42)" while the task has the loop's name.
    bool numbered_trace_name(NumberedName& parts) const override;
    /// The context the task runs in (it keeps the task's state alive).
    Context context() const;
    std::string describe() const override;
    const char* kind() const noexcept override { return "Task"; }
    /// Adds the name, coroutine, context and what a pending task awaits.
    FutureSnapshot snapshot() const override;
    /// What the task is suspended on, for deadlock reports: "sleep 5s", "Task-2", "a yield".
    std::string awaiting() const;

    /// Registers the task with its loop and schedules its first step.
    void start();
    /// Suspends the task until `future` is done; it resumes at `at`.
    void wait_on(FutureStateBase& future, std::coroutine_handle<> at);
    /// Suspends the task for one loop iteration (asyncio's bare `yield`); it resumes at `at`.
    void yield_once(std::coroutine_handle<> at);
    /// Suspends the task until loop time `when` (Duration::max(): until cancelled); it resumes
    /// at `at`. What asyncio does with a future and a timer, the task does with a timer it
    /// keeps for its sleeps, so a sleep allocates nothing but its coroutine frame; traces,
    /// reports and cancellation see what they would see of that future (sleep.cpp).
    void sleep_until(Duration when, std::coroutine_handle<> at);
    /// Called when the task resumes from sleep_until(): disarms the timer, then throws the
    /// sleep's CancelledError if it was cancelled, else delivers a pending cancellation.
    void end_sleep();
    /// Called when the task resumes after a suspension: throws CancelledError if a cancellation
    /// is pending (unless the awaited future was cancelled: its own error is then thrown by the
    /// caller), else the error that interrupt_wait() left for this step, if any.
    void deliver_pending_cancellation(bool awaited_cancelled = false);
    /// See simrun::detail::take_start_cancellation() (coro.hpp).
    std::optional<std::string> take_start_cancellation() noexcept;
    /// The loop is closing with this task still pending: drop the frame without running it.
    void abandon() noexcept;
    /// Runs one step: resumes the coroutine until it suspends or ends. `wake` is set when the
    /// step follows the end of the future the task waited on.
    void step(bool wake);
    /// Where the task's coroutine function is defined.
    const SourceLocation& coro_origin() const noexcept { return coro_origin_; }

    /// False for tasks made by run_until_complete(coro): no "destroyed but pending" report.
    bool log_destroy_pending = true;
    /// True while the task has the name the loop gave it ("Task-<n>"), not one of the user's.
    bool named_by_loop = false;
    /// For a task the library made: what made it ("gather()", "Runner.close()"), shown in
    /// traces instead of the creation site, which is the library's ("Task-5 (fetch() in
    /// gather())"). Null: the task was created by the user's code.
    const char* made_by = nullptr;
    /// Intrusive list of the loop's pending tasks, in creation order.
    TaskBase* previous_pending = nullptr;
    TaskBase* next_pending = nullptr;
    /// The task's place among the waiters of the future it awaits (FutureStateBase::add_waiter).
    WaiterLink waiter_link;
    /// The reference a pending task holds to itself (null once done): what wakes it.
    const std::shared_ptr<TaskBase>& self_reference() const noexcept { return keep_alive_; }

  protected:
    /// The name, spelled in `buffer` if it is still a number.
    std::string_view name_text(NameBuffer& buffer) const;
    /// Keeps the trace hash and returns it; writes the trace name after `out` if not null.
    std::uint64_t keep_trace_hash(std::string* out) const;
    /// The top coroutine frame (null once destroyed) and its promise.
    virtual std::coroutine_handle<> frame() const noexcept = 0;
    virtual CoroPromiseBase& promise() const noexcept = 0;
    /// Moves the top coroutine's return value into the task's result.
    virtual void store_value() = 0;
    /// Destroys the top coroutine frame (and with it every frame it awaits).
    virtual void destroy_frame() noexcept = 0;

    void set_coro_origin(SourceLocation origin) noexcept { coro_origin_ = origin; }

  private:
    void schedule_step();
    void complete_from_frame();
    /// The sleep's timer fired: the task resumes at its next step (unless it was cancelled).
    void wake_from_sleep();
    /// cancel() while sleeping, as asyncio cancels the sleep's future: the task resumes at its
    /// next step with `error` (a CancelledError). Nothing changes if scheduling throws.
    void cancel_sleep(std::exception_ptr error);
    /// Queues the step that ends a sleep, unless the loop is gone or closed (asyncio's future
    /// then schedules nothing either).
    void schedule_sleep_end();
    /// " wait_for=<Future pending sleep>": the future asyncio's task would wait for.
    std::string describe_sleep() const;
    /// Ends the current suspension at the next step with `error` (thrown at the await unless a
    /// cancellation is pending by then): stops waiting on `waiting_on_` and schedules a step.
    void interrupt_wait(std::exception_ptr error);

    ContextData& context_data() noexcept { return given_context_ ? *given_context_ : own_context_; }

    ContextData own_context_;                     // a copy of the creator's context ...
    std::shared_ptr<ContextData> given_context_;  // ... unless one was given
    std::shared_ptr<TaskBase> keep_alive_;        // a pending task owns itself; the loop lists it
    std::shared_ptr<FutureStateBase> waiting_on_;
    std::coroutine_handle<> resume_at_;
    mutable std::unique_ptr<std::string> name_;  // null: "Task-<number_>", not spelled out yet
    std::uint64_t number_ = 0;
    mutable std::uint64_t trace_hash_ = 0;                 // 0: not known yet
    std::unique_ptr<std::string> pending_cancel_message_;  // null: none
    std::exception_ptr pending_error_;  // thrown at the next step (see interrupt_wait)
    HandleRef sleep_timer_;             // the timer of the task's sleeps, once it slept
    SourceLocation coro_origin_;
    int cancels_requested_ = 0;
    bool must_cancel_ = false;
    bool started_ = false;
    bool start_cancellation_ = false;  // the first step's body takes a pending cancellation
    bool yielded_ = false;
    // A sleep in progress: armed (its timer pending), woken (the timer fired) or cancelled
    // (pending_error_ holds its CancelledError); none once the task resumed from it.
    enum class Sleep : std::uint8_t { none, armed, woken, cancelled };
    Sleep sleep_ = Sleep::none;
    bool cancelling_waiter_ = false;   // inside cancel(), cancelling waiting_on_ (cycle check)
    mutable bool describing_ = false;  // inside describe() (an await cycle prints "...")
};

/// The task the calling thread is running right now, or null.
TaskBase* current_task_state() noexcept;

template <class T>
class TaskState final : public TaskBase, public ValueSlot<T> {
  public:
    TaskState(EventLoop& loop, Coro<T> coro, const Context* context, std::string name,
              SourceLocation where, std::uint64_t number)
        : TaskBase(loop, context, std::move(name), where, number), coro_(std::move(coro)) {
        set_coro_origin(coro_.origin());
    }
    ~TaskState() override { report_unretrieved(); }

    std::add_lvalue_reference_t<const T> result() {
        raise_if_no_value();
        if constexpr (!std::is_void_v<T>)
            return *this->value;
    }
    /// The result moved out (for the one owner that will not look again), or the exception.
    T take_result() {
        raise_if_no_value();
        if constexpr (!std::is_void_v<T>)
            return std::move(*this->value);
    }

  protected:
    std::coroutine_handle<> frame() const noexcept override { return coro_.handle(); }
    CoroPromiseBase& promise() const noexcept override { return coro_.handle().promise(); }
    void store_value() override {
        if constexpr (!std::is_void_v<T>)
            this->value.emplace(std::move(*coro_.handle().promise().result));
    }
    void destroy_frame() noexcept override { coro_ = Coro<T>(); }

  private:
    Coro<T> coro_;
};

}  // namespace detail

/// A scheduled coroutine with a shared result. Copies refer to the same task. Made by
/// `create_task(coro)` or `loop.create_task(coro)`.
template <class T = void>
class Task : public TaskRef {
  public:
    using value_type = T;

    Task() = default;
    explicit Task(std::shared_ptr<detail::TaskState<T>> state) : TaskRef(state) {}

    /// The return value; throws the task's exception, CancelledError if it was cancelled, or
    /// InvalidStateError if it is not done.
    decltype(auto) result() const { return typed().result(); }
    /// The result moved out of the task (move-only results); later result() calls see a
    /// moved-from value. For code that owns the task alone, e.g. run().
    T take_result() const { return typed().take_result(); }
    /// See Future::add_done_callback.
    std::uint64_t add_done_callback(std::function<void()> callback) const {
        return typed().add_done_callback(std::move(callback));
    }
    std::size_t remove_done_callback(std::uint64_t id) const {
        return typed().remove_done_callback(id);
    }

    /// Awaiting a task waits for it and returns its result (a copy). Cancelling the awaiting
    /// task cancels the awaited one too (as in asyncio). A task awaiting itself gets
    /// RuntimeError "Task cannot await on itself: <Task ...>", and one awaiting a task of another
    /// loop RuntimeError "Task <Task ...> got Future <Task ...> attached to a different loop",
    /// both at its next step (callbacks already ready run first; a cancellation requested
    /// meanwhile replaces the error), as in asyncio.
    auto operator co_await() const {
        return detail::FutureAwaiter<detail::TaskState<T>>{
            std::static_pointer_cast<detail::TaskState<T>>(state())};
    }

  private:
    detail::TaskState<T>& typed() const { return static_cast<detail::TaskState<T>&>(*state()); }
};

}  // namespace simrun
