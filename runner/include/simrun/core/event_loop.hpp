#pragma once
// EventLoop: the interface every loop implements, and the machinery both loops share (the ready
// queue, the timer heap, tasks, the exception handler, executor and async-generator shutdown).
// A concrete loop (sim::SimLoop, the real epoll loop) supplies only the clock and the "wait for
// the next event" step. See docs/design.md for the life of one iteration.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "simrun/core/clock.hpp"
#include "simrun/core/coro.hpp"
#include "simrun/core/detail/async_gen_base.hpp"
#include "simrun/core/detail/ring_queue.hpp"
#include "simrun/core/detail/timer_heap.hpp"
#include "simrun/core/exception_context.hpp"
#include "simrun/core/executor.hpp"
#include "simrun/core/future.hpp"
#include "simrun/core/handle.hpp"
#include "simrun/core/signals.hpp"
#include "simrun/core/source_location.hpp"
#include "simrun/core/task.hpp"

namespace simrun {

namespace io {
class Network;
}

/// Severity of a log line.
enum class LogLevel { debug, info, warning, error };
/// Receives the loop's log lines (default: standard error).
using LogHandler = std::function<void(LogLevel, const std::string&)>;

/// Sees every callback the loop runs (the simulator's trace uses it).
class StepObserver {
  public:
    virtual ~StepObserver() = default;
    /// Called just before a callback runs.
    virtual void before_callback(const detail::HandleState& handle) = 0;
    /// Called just before a task's step runs (a step is queued without a HandleState).
    virtual void before_task_step(const detail::TaskBase& task) = 0;
    /// Called after a callback returned (or threw).
    virtual void after_callback() = 0;
    /// Called for every log line (warnings included).
    virtual void on_log(LogLevel level, const std::string& message) = 0;
};

/// An event loop. Not copyable; one thread runs it at a time. Methods marked "thread-safe" may
/// be called from any thread; all others belong to the loop's thread, and so do the futures and
/// tasks of the loop (set_result, cancel, ...). From another thread, hand the work to the loop
/// with call_soon_threadsafe():
///
///     loop.call_soon_threadsafe([task]() mutable { task.cancel(); });
///
/// In debug mode, calling call_soon, call_later, call_at, create_task, Task::cancel or a
/// future's set_result / set_exception / cancel from a thread other than the one running the
/// loop throws RuntimeError "Non-thread-safe operation invoked on an event loop other than the
/// current one" (as asyncio's debug mode); outside debug mode it is a data race.
class EventLoop {
  public:
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;
    virtual ~EventLoop();

    // ---- time ---------------------------------------------------------------------------

    /// The loop's clock: virtual time in the simulator, CLOCK_MONOTONIC on the real loop.
    virtual Duration time() const = 0;

    // ---- callbacks ----------------------------------------------------------------------

    /// Runs `callback` at the next iteration, after the callbacks already queued (FIFO).
    /// Loop thread only (see the class comment).
    Handle call_soon(std::function<void()> callback,
                     SourceLocation where = SourceLocation::current());
    /// Runs `callback` once `delay` has passed. A delay <= 0 is due at once; a delay too large
    /// to add to time() (Duration::max()) means never: the timer is not armed. Loop thread only.
    TimerHandle call_later(Duration delay, std::function<void()> callback,
                           SourceLocation where = SourceLocation::current());
    /// Runs `callback` at loop time `when`. Equal deadlines have no guaranteed order. `when` in
    /// the past is due at once; `when` == Duration::max() is never (not armed: it keeps no
    /// wait short and the simulator does not jump to it). Loop thread only.
    TimerHandle call_at(Duration when, std::function<void()> callback,
                        SourceLocation where = SourceLocation::current());
    /// Thread-safe call_soon: wakes the loop. Throws RuntimeError "Event loop is closed".
    Handle call_soon_threadsafe(std::function<void()> callback,
                                SourceLocation where = SourceLocation::current());

    // ---- tasks and futures --------------------------------------------------------------

    /// Wraps `coro` in a task and schedules its first step. Loop thread only.
    /// Throws ValueError for an empty Coro, and RuntimeError "cannot reuse already awaited
    /// coroutine" for a Coro that was awaited (or ran in a task) already, "coroutine is being
    /// awaited already" for one that is suspended inside another await (a frame still in use
    /// is left to the await that runs it).
    template <class T>
    Task<T> create_task(Coro<T> coro, TaskOptions options = {},
                        SourceLocation where = SourceLocation::current()) {
        check_closed();
        check_thread();
        if (!coro)
            throw ValueError("a coroutine was expected, got an empty Coro");
        detail::check_not_started(coro.handle());
        const bool named_by_loop = options.name.empty();
        auto state = std::allocate_shared<detail::TaskState<T>>(
            detail::BlockAllocator<detail::TaskState<T>>(), *this, std::move(coro),
            options.context ? &*options.context : nullptr, std::move(options.name), where,
            named_by_loop ? ++task_counter_ : 0);
        state->named_by_loop = named_by_loop;
        state->start();
        return Task<T>(std::move(state));
    }
    /// A new pending future of this loop.
    template <class T = void>
    Future<T> create_future(SourceLocation where = SourceLocation::current()) {
        return Future<T>(std::make_shared<detail::FutureState<T>>(*this, where));
    }
    /// The not-done tasks of this loop, in creation order.
    std::vector<TaskRef> all_tasks() const;

    // ---- running ------------------------------------------------------------------------

    /// Runs the loop until `task` is done and returns its result (or throws its exception).
    template <class T>
    T run_until_complete(const Task<T>& task) {
        run_until_done(*task.state(), false);
        return T(task.result());
    }
    /// As above, for a task the caller gives up: its result is moved out (move-only results).
    template <class T>
    T run_until_complete(Task<T>&& task) {
        run_until_done(*task.state(), false);
        return task.take_result();
    }
    /// Runs the loop until `future` is done and returns its result (or throws its exception).
    template <class T>
    T run_until_complete(const Future<T>& future) {
        run_until_done(*future.state(), false);
        return T(future.result());
    }
    /// Wraps `coro` in a task and runs the loop until it is done.
    template <class T>
    T run_until_complete(Coro<T> coro, SourceLocation where = SourceLocation::current()) {
        return run_coro_until_complete(std::move(coro), where, nullptr);
    }
    /// As above, for the library's own work (Runner::close()): `made_by` names the task's
    /// origin in traces ("Task-2 (shutdown_asyncgens() in Runner.close())"), see
    /// detail::TaskBase::made_by.
    template <class T>
    T run_until_complete(Coro<T> coro, const char* made_by) {
        return run_coro_until_complete(std::move(coro), SourceLocation{}, made_by);
    }
    /// Runs until stop() is called.
    void run_forever();
    /// Makes run_forever() return after the current iteration.
    void stop() noexcept { stopping_ = true; }
    bool is_running() const noexcept { return running_; }
    bool is_closed() const noexcept { return closed_; }
    /// Closes the loop: drops queued callbacks and timers, shuts the default executor down
    /// without waiting, and reports every still-pending task ("Task was destroyed but it is
    /// pending!") before destroying its frame. Does not cancel tasks. A second close does
    /// nothing. RuntimeError "Cannot close a running event loop" while running.
    void close();

    // ---- debug mode ---------------------------------------------------------------------

    /// Debug mode; defaults to on when the environment variable SIMRUN_DEBUG is non-empty.
    bool get_debug() const noexcept { return debug_.load(std::memory_order_relaxed); }
    void set_debug(bool enabled) noexcept { debug_.store(enabled, std::memory_order_relaxed); }
    /// In debug mode, callbacks taking at least this long are logged (default 100 ms).
    Duration slow_callback_duration() const noexcept { return slow_callback_duration_; }
    void set_slow_callback_duration(Duration duration) noexcept {
        slow_callback_duration_ = duration;
    }

    // ---- errors, warnings and logs ------------------------------------------------------

    /// Replaces the exception handler (an empty function restores the default).
    void set_exception_handler(ExceptionHandler handler) {
        exception_handler_ = std::move(handler);
    }
    const ExceptionHandler& get_exception_handler() const noexcept { return exception_handler_; }
    /// Calls the custom handler, or the default one. A custom handler that throws is reported
    /// by the default handler ("Unhandled error in exception handler"). Never throws, except
    /// KeyboardInterrupt/SystemExit from a handler.
    void call_exception_handler(const ExceptionContext& context);
    /// Logs `context.format()` at error level.
    void default_exception_handler(const ExceptionContext& context);
    /// Replaces where log lines go (an empty function restores standard error).
    void set_log_handler(LogHandler handler) { log_handler_ = std::move(handler); }
    void log(LogLevel level, const std::string& message);
    /// Emits a warning ("RuntimeWarning: ..."), as Python's warnings.warn: a log line at
    /// warning level.
    void warn(std::string_view category, const std::string& message);

    // ---- async generators ---------------------------------------------------------------

    /// Closes every registered, still-open async generator concurrently; errors go to the
    /// exception handler. Afterwards, a generator iterated for the first time is reported.
    Coro<void> shutdown_asyncgens();
    /// Called by an async generator on its first iteration.
    void register_asyncgen(const std::shared_ptr<detail::AsyncGenStateBase>& generator);
    bool asyncgens_shutdown_called() const noexcept { return asyncgens_shutdown_called_; }
    /// The finalizer hook: the owner of a generator suspended mid-body let go of it. The loop
    /// keeps it and closes it in a task of its own (shutdown_asyncgens() waits for that task).
    void finalize_asyncgen(std::shared_ptr<detail::AsyncGenStateBase> generator);

    // ---- executor -----------------------------------------------------------------------

    /// Runs `fn` on the default executor; the future gets its result or exception.
    /// RuntimeError "Executor shutdown has been called" after shutdown_default_executor().
    /// `job_name` names the job in traces and cost models (JobOptions::name).
    template <class F>
    auto run_in_executor(F fn, std::string job_name = {},
                         SourceLocation where = SourceLocation::current()) {
        return run_in_executor(std::move(fn), JobOptions{std::move(job_name)}, where);
    }
    /// As above, with the job's options: its name, and its virtual duration in the simulator
    /// (JobOptions::sim_duration; real executors ignore it), e.g.
    /// `loop.run_in_executor(resize, {.name = "resize", .sim_duration = 2s})`.
    template <class F>
    auto run_in_executor(F fn, JobOptions options,
                         SourceLocation where = SourceLocation::current()) {
        check_closed();
        if (executor_shutdown_called_)
            throw RuntimeError("Executor shutdown has been called");
        return run_in_executor(default_executor(), std::move(fn), std::move(options), where);
    }
    /// Runs `fn` on `executor`, the job named `job_name`; see the JobOptions overload.
    template <class F>
    auto run_in_executor(Executor& executor, F fn, std::string job_name = {},
                         SourceLocation where = SourceLocation::current()) {
        return run_in_executor(executor, std::move(fn), JobOptions{std::move(job_name)}, where);
    }
    /// Runs `fn` on `executor`. Cancelling the future (or the task awaiting it) before the job
    /// started withdraws the job: `fn` never runs, and the executor drops it from its queue (as
    /// asyncio cancels the concurrent.futures.Future). A job that started runs to its end and
    /// its result or exception is dropped. `options` name the job and may give its virtual
    /// duration (ExecutorJob::name, ExecutorJob::sim_duration).
    template <class F>
    auto run_in_executor(Executor& executor, F fn, JobOptions options,
                         SourceLocation where = SourceLocation::current()) {
        using R = std::invoke_result_t<F&>;
        check_closed();
        Future<R> future = create_future<R>(where);
        future.set_label("executor job" +
                         (options.name.empty() ? std::string() : " " + options.name));
        auto state = future.state();
        std::string delivery =
            "executor job done" + (options.name.empty() ? std::string() : ": " + options.name);
        auto control = std::make_shared<JobControl>();
        // The hook belongs to the state, so `self` is alive whenever it runs; `keep` holds the
        // state while withdrawing destroys the job's reference to it.
        state->set_cancel_hook([control, self = state.get()](const std::string& message) {
            auto keep = self->shared_from_this();
            control->cancel();
            return self->detail::FutureStateBase::cancel(message);
        });
        // The job may outlive the loop (a hung worker): it reaches the loop only through the
        // anchor, and hands its reference to the future over to the loop thread.
        executor.submit(ExecutorJob{
            std::move(options.name),
            [anchor = anchor_, state = std::move(state), delivery = std::move(delivery),
             fn = std::move(fn), control]() mutable {
                if (!control->start())
                    return;  // withdrawn, on an executor that does not skip withdrawn jobs
                std::function<void()> deliver;
                try {
                    if constexpr (std::is_void_v<R>) {
                        fn();
                        deliver = [state = std::move(state)] {
                            if (!state->done())
                                state->set_result();
                        };
                    } else {
                        auto value = std::make_shared<R>(fn());
                        deliver = [state = std::move(state), value] {
                            if (!state->done())
                                state->set_result(std::move(*value));
                        };
                    }
                } catch (...) {
                    deliver = [state = std::move(state), error = std::current_exception()] {
                        if (!state->done())
                            state->set_exception(error);
                    };
                }
                post_through_anchor(anchor, std::move(deliver), std::move(delivery));
            },
            control, options.sim_duration});
        return future;
    }
    /// Replaces the default executor.
    void set_default_executor(std::shared_ptr<Executor> executor);
    /// Waits (at most `timeout`) for the default executor's jobs to end. On timeout warns
    /// "The executor did not finishing joining its threads within N seconds." and shuts it
    /// down without waiting.
    Coro<void> shutdown_default_executor(std::optional<Duration> timeout = std::nullopt);

    // ---- signals ------------------------------------------------------------------------

    /// The process-level signal interface (used by Runner for SIGINT).
    virtual SignalPort& signals() = 0;
    /// Runs `callback` through call_soon whenever `signum` arrives.
    void add_signal_handler(int signum, std::function<void()> callback);
    /// Removes the handler added for `signum`; false if there was none.
    bool remove_signal_handler(int signum);
    /// Called (from any context, async-signal-safe) when a signal arrived: the loop dispatches
    /// signal handlers at its next safe point.
    void notify_signal_arrived() noexcept;

    // ---- file descriptors (the real loop only) -------------------------------------------

    /// Runs `callback` (at the loop's next iteration, repeatedly) while `fd` is readable;
    /// replaces an earlier reader of `fd`. The simulation loop has no file descriptors and
    /// throws RuntimeError.
    /// The handle is cancelled once this reader is removed or replaced.
    virtual Handle add_reader(int fd, std::function<void()> callback);
    /// As add_reader, for writability.
    virtual Handle add_writer(int fd, std::function<void()> callback);
    /// Stops watching `fd` for reading; false if it had no reader. Call it before closing fd.
    virtual bool remove_reader(int fd);
    /// Stops watching `fd` for writing; false if it had no writer.
    virtual bool remove_writer(int fd);

    // ---- network --------------------------------------------------------------------------

    /// The loop's network, which open_connection() and start_server() use: kernel sockets on
    /// the epoll loop, the simulated network in the simulator (io/network.hpp).
    virtual io::Network& network();

    // ---- introspection ------------------------------------------------------------------

    /// Callbacks run so far.
    std::uint64_t steps() const noexcept { return steps_; }
    /// Runs `callback` before and after each callback (null to stop).
    void set_step_observer(StepObserver* observer) noexcept { observer_ = observer; }

    // ---- used by tasks, futures and generators ------------------------------------------

    /// Throws RuntimeError "Event loop is closed".
    void check_closed() const;
    /// In debug mode, while the loop runs, throws RuntimeError "Non-thread-safe operation invoked
    /// on an event loop other than the current one" if called from another thread. Any thread.
    void check_thread() const;
    void task_started(detail::TaskBase& task) noexcept;
    void task_finished(detail::TaskBase& task) noexcept;
    /// Schedules a task's step (no context capture, no debug checks); `wake` as TaskBase::step.
    void schedule_task_step(std::shared_ptr<detail::TaskBase> task, bool wake);
    /// call_soon in a copy of the given context (null: no variables set), for future
    /// callbacks. Returns the queued callback's state, to name it (HandleState::describe_as).
    detail::HandleState& call_soon_in_context(std::function<void()> callback,
                                              std::shared_ptr<const detail::ContextMap> context,
                                              std::string label = {});
    /// call_soon for a callback that runs in the loop's current context (it enters contexts of
    /// its own, as the simulated network's tick runs each watch in its own).
    void call_soon_without_context(std::function<void()> callback, std::string label);
    /// Thread-safe: queues `callback` unless the loop is closed (then it is dropped).
    bool post_if_open(std::function<void()> callback, std::string label = {});
    /// Thread-safe, and safe after the loop was destroyed: post_if_open on the anchor's loop
    /// if it still exists. Otherwise, or if that loop is closed, `callback` is destroyed on the
    /// calling thread (an executor job's delivery then only releases a pending future).
    static bool post_through_anchor(const std::shared_ptr<detail::LoopAnchor>& anchor,
                                    std::function<void()> callback, std::string label = {});
    void timer_cancelled(detail::HandleState& timer) noexcept { timers_.cancelled(timer); }
    /// Puts a timer the caller made (callback, description and context set) in the timer heap,
    /// due at `when` (Duration::max(): never, not armed). The caller may arm it again once the
    /// loop holds it no more (a task's sleeps reuse one timer). Throws as call_at().
    void arm_timer(Duration when, const detail::HandleRef& timer);
    const std::shared_ptr<detail::LoopAnchor>& anchor() const noexcept { return anchor_; }

  protected:
    EventLoop();

    /// Waits for I/O, signals or thread-safe callbacks, at most `timeout` (none: no limit;
    /// zero: just poll). The simulator advances virtual time here instead.
    virtual void wait_for_events(std::optional<Duration> timeout) = 0;
    /// Wakes a wait_for_events() in progress (thread-safe).
    virtual void wake_up() noexcept = 0;
    /// Makes the default executor on first use.
    virtual std::shared_ptr<Executor> make_default_executor() = 0;
    /// Gives a new timer its tie-break among equal deadlines (default: creation order).
    virtual std::uint64_t timer_sequence() noexcept { return ++timer_counter_; }
    /// Called at the end of close().
    virtual void on_close() {}

    /// A handle for `callback` (no context), to be queued with schedule_ready() later.
    detail::HandleRef make_io_handle(std::function<void()> callback, std::string label);
    /// Queues `handle` to run in the current iteration (I/O readiness found by the wait).
    void schedule_ready(detail::HandleRef handle);
    /// Makes the anchor forget this loop (a derived destructor calls it before it releases
    /// what post_if_open() uses, such as its wake-up descriptor).
    void detach_anchor() noexcept;
    /// True if nothing is queued and no timer is pending (for the simulator's deadlock check).
    bool has_ready_callbacks() const noexcept { return !ready_.empty(); }
    bool has_pending_threadsafe() const;
    std::optional<Duration> next_timer_deadline();
    /// One iteration: wait, collect due timers, run the callbacks that were ready.
    void run_once();

  private:
    struct RunningScope;
    template <class T>
    T run_coro_until_complete(Coro<T> coro, SourceLocation where, const char* made_by) {
        check_closed();
        check_not_running();
        Task<T> task = create_task(std::move(coro), {}, where);
        task.state()->log_destroy_pending = false;
        task.state()->made_by = made_by;
        run_until_done(*task.state(), true);
        return task.take_result();
    }
    void run_until_done(detail::FutureStateBase& future, bool own_task);
    void check_not_running() const;
    void run_handle(detail::HandleState& handle);
    void run_task_step(detail::TaskBase& task, bool wake);
    /// The end of a callback or step that returned (`debug`: debug mode when it began).
    void step_done(bool debug, Duration started, const detail::HandleState* handle,
                   const detail::TaskBase* task);
    /// The end of a callback or step that threw: an error that ends the loop is rethrown, any
    /// other goes to report_callback_error().
    void step_failed(std::exception_ptr error, const std::string& text,
                     const std::string& handle_text, SourceLocation created_at,
                     const std::shared_ptr<const detail::ContextMap>* context);
    /// After a callback or step threw an error that does not end the loop: the exception
    /// handler hears of it ("Exception in callback ..."), in the callback's context if it had
    /// one (`context` not null).
    void report_callback_error(std::exception_ptr error, const std::string& text,
                               const std::string& handle_text, SourceLocation created_at,
                               const std::shared_ptr<const detail::ContextMap>* context);
    /// In debug mode: warns about a callback or step that took slow_callback_duration() or more.
    void check_slow_callback(Duration started, const detail::HandleState* handle,
                             const detail::TaskBase* task);
    void dispatch_signals();
    void drain_threadsafe_queue();
    Executor& default_executor();
    detail::HandleRef make_handle(std::function<void()> callback, SourceLocation where,
                                  bool capture_context);
    void abandon_pending_tasks() noexcept;

    std::shared_ptr<detail::LoopAnchor> anchor_;
    /// One entry of the ready queue: a callback, or a task's step (which needs no handle: no
    /// one can cancel it, and the task names it). Two members rather than a union of them:
    /// g++ warns (-Wmaybe-uninitialized) about a union's shared_ptr in some builds. 32 bytes.
    struct ReadyItem {
        enum class Kind : std::uint8_t { callback, step, wake_step };
        ReadyItem() noexcept = default;
        explicit ReadyItem(detail::HandleRef callback) noexcept
            : handle(std::move(callback)), kind(Kind::callback) {}
        ReadyItem(std::shared_ptr<detail::TaskBase> stepping, bool wake_step) noexcept
            : task(std::move(stepping)), kind(wake_step ? Kind::wake_step : Kind::step) {}
        detail::HandleRef handle;                // a callback's
        std::shared_ptr<detail::TaskBase> task;  // a step's
        Kind kind = Kind::callback;
    };
    detail::RingQueue<ReadyItem> ready_;
    detail::TimerHeap timers_;
    mutable std::mutex threadsafe_mutex_;
    std::vector<detail::HandleRef> threadsafe_queue_;
    std::atomic<bool> threadsafe_pending_{false};  // threadsafe_queue_ is not empty
    detail::TaskBase* first_pending_task_ = nullptr;
    detail::TaskBase* last_pending_task_ = nullptr;
    std::map<std::uint64_t, std::weak_ptr<detail::AsyncGenStateBase>> asyncgens_;
    std::vector<TaskRef> asyncgen_finalizers_;
    // Generators handed to the finalizer hook, kept alive until closed: their close task may
    // be cancelled before it runs (Runner::close() cancels every task), and then
    // shutdown_asyncgens() must still find them.
    std::vector<std::shared_ptr<detail::AsyncGenStateBase>> asyncgens_finalizing_;
    std::uint64_t next_asyncgen_id_ = 0;
    std::shared_ptr<Executor> default_executor_;
    std::map<int, std::function<void()>> loop_signal_handlers_;
    ExceptionHandler exception_handler_;
    LogHandler log_handler_;
    StepObserver* observer_ = nullptr;
    // The thread running the loop (none when it does not run); other threads read it in
    // check_thread().
    std::atomic<std::thread::id> thread_id_{};
    Duration slow_callback_duration_ = std::chrono::milliseconds(100);
    std::uint64_t steps_ = 0;
    std::uint64_t timer_counter_ = 0;
    std::uint64_t task_counter_ = 0;
    std::atomic<bool> signal_arrived_{false};
    bool running_ = false;
    bool stopping_ = false;
    bool closed_ = false;
    std::atomic<bool> debug_{false};  // read by check_thread() on any thread
    bool asyncgens_shutdown_called_ = false;
    bool executor_shutdown_called_ = false;
};

/// Replaces where log lines go for loops without their own log handler, and for reports made
/// when no loop is running (e.g. a coroutine destroyed unstarted). Empty: standard error.
void set_default_log_handler(LogHandler handler);
/// Writes a line through the default log handler.
void log_without_loop(LogLevel level, const std::string& message);

/// Makes a new loop (the default loop factory).
using LoopFactory = std::function<std::shared_ptr<EventLoop>()>;

/// The loop running in the calling thread; RuntimeError "no running event loop" if none.
EventLoop& get_running_loop();
/// The loop running in the calling thread, or null.
EventLoop* running_loop_or_null() noexcept;
/// The running loop, else the thread's current loop (set_event_loop); RuntimeError if none.
EventLoop& get_event_loop();
/// Sets (or with null, clears) the calling thread's current loop.
void set_event_loop(std::shared_ptr<EventLoop> loop);
/// How many times set_event_loop() was called with a loop in this process (for tests).
std::uint64_t set_event_loop_count() noexcept;
/// A new loop from the default factory. Until the epoll loop lands, there is no default and
/// this throws RuntimeError unless set_default_loop_factory() was called.
std::shared_ptr<EventLoop> new_event_loop();
/// Replaces the default loop factory used by new_event_loop() (empty: back to the built-in).
void set_default_loop_factory(LoopFactory factory);
/// The global default of debug mode: true if SIMRUN_DEBUG is set and non-empty.
bool debug_mode_from_environment() noexcept;

/// create_task on the running loop.
template <class T>
Task<T> create_task(Coro<T> coro, TaskOptions options = {},
                    SourceLocation where = SourceLocation::current()) {
    return get_running_loop().create_task(std::move(coro), std::move(options), where);
}
/// The task running in the calling thread, or an empty TaskRef.
TaskRef current_task();
/// The not-done tasks of `loop` (default: the running loop).
std::vector<TaskRef> all_tasks(EventLoop* loop = nullptr);

}  // namespace simrun
