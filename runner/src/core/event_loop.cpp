#include "simrun/core/event_loop.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "simrun/core/gather.hpp"
#include "simrun/core/timeout.hpp"
#include "simrun/epoll/epoll_loop.hpp"

#include "handle_pool.hpp"

namespace simrun {
namespace {

thread_local EventLoop* running_loop = nullptr;
thread_local std::shared_ptr<EventLoop> thread_current_loop;
std::atomic<std::uint64_t> set_event_loop_calls{0};

std::mutex& factory_mutex() {
    static std::mutex mutex;
    return mutex;
}
LoopFactory& default_factory() {
    static LoopFactory factory;
    return factory;
}

std::string format_seconds(Duration d) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%g", to_seconds(d));
    return buffer;
}

}  // namespace

// ---- the running-loop scope -------------------------------------------------------------------

struct EventLoop::RunningScope {
    explicit RunningScope(EventLoop& loop) : loop_(loop) {
        loop.running_ = true;
        loop.thread_id_.store(std::this_thread::get_id(), std::memory_order_relaxed);
        running_loop = &loop;
    }
    ~RunningScope() {
        loop_.stopping_ = false;
        loop_.running_ = false;
        loop_.thread_id_.store(std::thread::id{}, std::memory_order_relaxed);
        running_loop = nullptr;
    }
    RunningScope(const RunningScope&) = delete;
    RunningScope& operator=(const RunningScope&) = delete;
    EventLoop& loop_;
};

EventLoop::EventLoop()
    : anchor_(std::make_shared<detail::LoopAnchor>(this)), debug_(debug_mode_from_environment()) {}

EventLoop::~EventLoop() {
    detach_anchor();
}

void EventLoop::detach_anchor() noexcept {
    std::lock_guard lock(anchor_->mutex);
    anchor_->loop = nullptr;
}

bool EventLoop::post_through_anchor(const std::shared_ptr<detail::LoopAnchor>& anchor,
                                    std::function<void()> callback, std::string label) {
    std::unique_lock lock(anchor->mutex);
    if (anchor->loop == nullptr) {
        lock.unlock();
        return false;  // `callback` is destroyed by the caller, on its thread
    }
    return anchor->loop->post_if_open(std::move(callback), std::move(label));
}

std::shared_ptr<detail::HandleState> EventLoop::make_io_handle(std::function<void()> callback,
                                                               std::string label) {
    auto handle = make_handle(std::move(callback), SourceLocation::current(), false);
    detail::set_text(handle->label, std::move(label));
    return handle;
}

void EventLoop::schedule_ready(std::shared_ptr<detail::HandleState> handle) {
    ready_.push_back(ReadyItem{std::move(handle)});
}

namespace {
[[noreturn]] void no_file_descriptors(const char* method) {
    throw RuntimeError(std::string("EventLoop::") + method +
                       "(): this loop does not watch file descriptors (the simulation loop has "
                       "no real I/O); use the epoll loop (simrun::EpollLoop)");
}
}  // namespace

Handle EventLoop::add_reader(int, std::function<void()>) {
    no_file_descriptors("add_reader");
}
Handle EventLoop::add_writer(int, std::function<void()>) {
    no_file_descriptors("add_writer");
}
bool EventLoop::remove_reader(int) {
    no_file_descriptors("remove_reader");
}
bool EventLoop::remove_writer(int) {
    no_file_descriptors("remove_writer");
}

io::Network& EventLoop::network() {
    throw RuntimeError(
        "this event loop has no network (open_connection() and start_server() "
        "need the epoll loop or the simulator)");
}

// ---- callbacks ------------------------------------------------------------------------------

// A handle and its control block (two counters and a vtable pointer) fit a pooled block.
static_assert(sizeof(detail::HandleState) + 2 * sizeof(void*) <= 192,
              "HandleState grew past the handle pool's block size (handle_pool.hpp)");

std::shared_ptr<detail::HandleState> EventLoop::make_handle(std::function<void()> callback,
                                                            SourceLocation where,
                                                            bool capture_context) {
    auto handle =
        std::allocate_shared<detail::HandleState>(detail::HandleAllocator<detail::HandleState>());
    handle->callback = std::move(callback);
    handle->loop = this;
    handle->created_at = where;
    if (capture_context)
        handle->context = detail::current_context_data().vars;
    return handle;
}

Handle EventLoop::call_soon(std::function<void()> callback, SourceLocation where) {
    check_closed();
    check_thread();
    auto handle = make_handle(std::move(callback), where, true);
    ready_.push_back(ReadyItem{handle});
    return Handle(std::move(handle));
}

detail::HandleState& EventLoop::call_soon_in_context(
    std::function<void()> callback, std::shared_ptr<const detail::ContextMap> context,
    std::string label) {
    check_closed();
    check_thread();
    auto handle = make_handle(std::move(callback), SourceLocation::current(), false);
    handle->context = std::move(context);
    detail::set_text(handle->label, std::move(label));
    detail::HandleState& queued = *handle;
    ready_.push_back(ReadyItem{std::move(handle)});
    return queued;
}

TimerHandle EventLoop::call_later(Duration delay, std::function<void()> callback,
                                  SourceLocation where) {
    return call_at(saturating_add(time(), delay), std::move(callback), where);
}

TimerHandle EventLoop::call_at(Duration when, std::function<void()> callback,
                               SourceLocation where) {
    return schedule_timer(when, make_handle(std::move(callback), where, true));  // it checks
}

TimerHandle EventLoop::schedule_timer(Duration when, std::shared_ptr<detail::HandleState> timer) {
    check_closed();
    check_thread();
    timer->loop = this;
    timer->is_timer = true;
    timer->when = when;
    if (when == Duration::max())  // never: not armed, so it neither fires nor bounds a wait
        return TimerHandle(std::move(timer));
    timer->sequence = timer_sequence();
    timers_.push(timer);
    return TimerHandle(std::move(timer));
}

Handle EventLoop::call_soon_threadsafe(std::function<void()> callback, SourceLocation where) {
    auto handle = make_handle(std::move(callback), where, true);
    // On the loop's own thread while it runs, asyncio appends to the ready queue at once, so the
    // callback keeps its place among call_soon()s of the same pass.
    if (thread_id_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
        check_closed();
        ready_.push_back(ReadyItem{handle});
        return Handle(std::move(handle));
    }
    {
        std::lock_guard lock(threadsafe_mutex_);
        check_closed();
        threadsafe_queue_.push_back(handle);
        threadsafe_pending_.store(true, std::memory_order_release);
    }
    wake_up();
    return Handle(std::move(handle));
}

bool EventLoop::post_if_open(std::function<void()> callback, std::string label) {
    auto handle = make_handle(std::move(callback), SourceLocation::current(), false);
    detail::set_text(handle->label, std::move(label));
    if (thread_id_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {  // as above
        if (closed_)
            return false;
        ready_.push_back(ReadyItem{std::move(handle)});
        return true;
    }
    {
        std::lock_guard lock(threadsafe_mutex_);
        if (closed_)
            return false;
        threadsafe_queue_.push_back(std::move(handle));
        threadsafe_pending_.store(true, std::memory_order_release);
    }
    wake_up();
    return true;
}

bool EventLoop::has_pending_threadsafe() const {
    return threadsafe_pending_.load(std::memory_order_acquire);
}

void EventLoop::drain_threadsafe_queue() {
    if (!threadsafe_pending_.load(std::memory_order_acquire))
        return;  // the usual case: no lock taken
    std::vector<std::shared_ptr<detail::HandleState>> incoming;
    {
        std::lock_guard lock(threadsafe_mutex_);
        incoming.swap(threadsafe_queue_);
        threadsafe_pending_.store(false, std::memory_order_relaxed);
    }
    for (auto& handle : incoming)
        ready_.push_back(ReadyItem{std::move(handle)});
}

void EventLoop::schedule_task_step(std::shared_ptr<detail::TaskBase> task, bool wake) {
    ready_.push_back(ReadyItem{std::move(task), wake});
}

// ---- tasks ----------------------------------------------------------------------------------

std::string EventLoop::next_task_name() {
    return "Task-" + std::to_string(++task_counter_);
}

void EventLoop::task_started(detail::TaskBase& task) noexcept {
    task.previous_pending = last_pending_task_;
    task.next_pending = nullptr;
    if (last_pending_task_ != nullptr) {
        last_pending_task_->next_pending = &task;
    } else {
        first_pending_task_ = &task;
    }
    last_pending_task_ = &task;
}

void EventLoop::task_finished(detail::TaskBase& task) noexcept {
    if (task.previous_pending != nullptr) {
        task.previous_pending->next_pending = task.next_pending;
    } else if (first_pending_task_ == &task) {
        first_pending_task_ = task.next_pending;
    }
    if (task.next_pending != nullptr) {
        task.next_pending->previous_pending = task.previous_pending;
    } else if (last_pending_task_ == &task) {
        last_pending_task_ = task.previous_pending;
    }
    task.previous_pending = task.next_pending = nullptr;
}

std::vector<TaskRef> EventLoop::all_tasks() const {
    std::vector<TaskRef> tasks;
    for (detail::TaskBase* task = first_pending_task_; task != nullptr; task = task->next_pending) {
        tasks.emplace_back(std::static_pointer_cast<detail::TaskBase>(task->shared_from_this()));
    }
    return tasks;
}

// ---- running --------------------------------------------------------------------------------

void EventLoop::check_closed() const {
    if (closed_)
        throw RuntimeError("Event loop is closed");
}

void EventLoop::check_thread() const {
    if (!get_debug())
        return;
    // asyncio's _check_thread: no check while the loop does not run (no thread owns it then).
    const std::thread::id owner = thread_id_.load(std::memory_order_relaxed);
    if (owner != std::thread::id{} && owner != std::this_thread::get_id()) {
        throw RuntimeError(
            "Non-thread-safe operation invoked on an event loop other than the current one");
    }
}

void EventLoop::check_not_running() const {
    if (running_)
        throw RuntimeError("This event loop is already running");
    if (running_loop != nullptr)
        throw RuntimeError("Cannot run the event loop while another loop is running");
}

void EventLoop::run_forever() {
    check_closed();
    check_not_running();
    RunningScope scope(*this);
    for (;;) {
        run_once();
        if (stopping_)
            break;
    }
}

void EventLoop::run_until_done(detail::FutureStateBase& future, bool own_task) {
    check_closed();
    check_not_running();
    auto keep = future.shared_from_this();
    // The stop callback may already sit in the ready queue when run_forever() is left by an
    // exception (a KeyboardInterrupt from a signal handler right after the future finished).
    // `active` keeps such a stale callback from stopping a later run of the loop.
    auto active = std::make_shared<bool>(true);
    std::uint64_t callback = future.add_done_callback(
        [keep, active] {
            if (!*active)
                return;
            if (keep->cancelled() || !escapes_loop(keep->stored_exception())) {
                if (EventLoop* loop = keep->loop_if_alive())
                    loop->stop();
            }
        },
        "run_until_complete() stops the loop at the end of");
    try {
        run_forever();
    } catch (...) {
        *active = false;
        if (own_task && future.done() && !future.cancelled())
            future.mark_retrieved();
        future.remove_done_callback(callback);
        throw;
    }
    *active = false;
    future.remove_done_callback(callback);
    if (!future.done())
        throw RuntimeError("Event loop stopped before Future completed.");
}

std::optional<Duration> EventLoop::next_timer_deadline() {
    timers_.purge_cancelled();
    if (timers_.empty())
        return std::nullopt;
    return timers_.next_deadline();
}

void EventLoop::run_once() {
    std::optional<Duration> timeout;
    std::optional<Duration> deadline = next_timer_deadline();
    if (!ready_.empty() || stopping_) {
        timeout = Duration::zero();
    } else if (deadline) {
        const Duration now = time();  // deadlines may be far in the past: no subtraction then
        timeout = *deadline <= now ? Duration::zero() : *deadline - now;
    }
    wait_for_events(timeout);
    drain_threadsafe_queue();
    if (signal_arrived_.load(std::memory_order_acquire))
        dispatch_signals();

    const Duration now = time();
    for (timers_.purge_cancelled(); !timers_.empty() && timers_.next_deadline() <= now;
         timers_.purge_cancelled()) {
        ready_.push_back(ReadyItem{timers_.pop()});
    }

    // Only what is ready now runs in this pass; callbacks it schedules run in the next one.
    for (std::size_t count = ready_.size(); count > 0 && !ready_.empty(); --count) {
        ReadyItem item = std::move(ready_.front());
        ready_.pop_front();
        if (item.task) {
            run_task_step(*item.task, item.wake);
        } else {
            if (item.handle->cancelled.load(std::memory_order_relaxed))
                continue;
            run_handle(*item.handle);
        }
        if (signal_arrived_.load(std::memory_order_acquire))
            dispatch_signals();
    }
}

void EventLoop::run_task_step(detail::TaskBase& task, bool wake) {
    ++steps_;
    if (observer_ != nullptr)
        observer_->before_task_step(task);
    const bool debug = get_debug();
    const Duration started = debug ? time() : Duration::zero();
    try {
        task.step(wake);
    } catch (...) {
        step_failed(std::current_exception(), task.trace_name(),
                    "<Handle step of " + task.name() + ">", task.created_at(), nullptr);
        return;
    }
    step_done(debug, started, nullptr, &task);
}

void EventLoop::run_handle(detail::HandleState& handle) {
    ++steps_;
    if (observer_ != nullptr)
        observer_->before_callback(handle);
    const bool debug = get_debug();
    const Duration started = debug ? time() : Duration::zero();
    try {
        if (handle.context) {
            detail::ContextData context{handle.context, false};
            detail::ContextScope scope(context);
            handle.callback();
        } else {
            handle.callback();
        }
    } catch (...) {
        step_failed(std::current_exception(), handle.text(),
                    "<Handle " + handle.created_at.short_text() + ">", handle.created_at,
                    handle.context);
        return;
    }
    step_done(debug, started, &handle, nullptr);
}

void EventLoop::step_done(bool debug, Duration started, const detail::HandleState* handle,
                          const detail::TaskBase* task) {
    if (observer_ != nullptr)
        observer_->after_callback();
    if (debug)
        check_slow_callback(started, handle, task);
}

void EventLoop::step_failed(std::exception_ptr error, const std::string& text,
                            const std::string& handle_text, SourceLocation created_at,
                            const std::shared_ptr<const detail::ContextMap>& context) {
    if (observer_ != nullptr)
        observer_->after_callback();
    if (escapes_loop(error))
        std::rethrow_exception(error);
    report_callback_error(std::move(error), text, handle_text, created_at, context);
}

void EventLoop::report_callback_error(std::exception_ptr error, const std::string& text,
                                      const std::string& handle_text, SourceLocation created_at,
                                      const std::shared_ptr<const detail::ContextMap>& context) {
    ExceptionContext report;
    report.message = "Exception in callback " + text;
    report.exception = std::move(error);
    report.details["handle"] = handle_text;
    if (debug_)
        report.details["source_traceback"] = created_at.short_text();
    if (context) {  // the handler runs in the callback's context (asyncio 3.12+)
        detail::ContextData callback_context{context, false};
        detail::ContextScope scope(callback_context);
        call_exception_handler(report);
    } else {
        call_exception_handler(report);
    }
}

void EventLoop::check_slow_callback(Duration started, const detail::HandleState* handle,
                                    const detail::TaskBase* task) {
    const Duration took = time() - started;
    if (took < slow_callback_duration_)
        return;
    std::string what = task != nullptr ? task->describe() : "<Handle " + handle->text() + ">";
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.3f", to_seconds(took));
    log(LogLevel::warning, "Executing " + what + " took " + seconds + " seconds");
}

// ---- closing --------------------------------------------------------------------------------

void EventLoop::close() {
    if (running_)
        throw RuntimeError("Cannot close a running event loop");
    if (closed_)
        return;
    if (debug_)
        log(LogLevel::debug, "Close <EventLoop running=False closed=False debug=True>");
    std::vector<std::shared_ptr<detail::HandleState>> dropped;
    {
        std::lock_guard lock(threadsafe_mutex_);
        closed_ = true;
        dropped.swap(threadsafe_queue_);
        threadsafe_pending_.store(false, std::memory_order_relaxed);
    }
    dropped.clear();  // outside the lock: a callback's destructor may post again (and fail)
    ready_.clear();
    timers_.clear();
    loop_signal_handlers_.clear();  // the loop's on_close() restores the dispositions
    asyncgen_finalizers_.clear();
    asyncgens_finalizing_.clear();
    executor_shutdown_called_ = true;
    if (auto executor = std::move(default_executor_))
        executor->shutdown(false);
    abandon_pending_tasks();
    on_close();
}

void EventLoop::abandon_pending_tasks() noexcept {
    while (first_pending_task_ != nullptr) {
        detail::TaskBase& task = *first_pending_task_;
        auto keep = std::static_pointer_cast<detail::TaskBase>(task.shared_from_this());
        task_finished(task);
        if (task.log_destroy_pending) {
            try {
                ExceptionContext context;
                context.message = "Task was destroyed but it is pending!";
                context.task = TaskRef(keep);
                if (debug_)
                    context.details["source_traceback"] = task.created_at().short_text();
                call_exception_handler(context);
            } catch (...) {  // close() must finish whatever a handler does
            }
        }
        task.abandon();
    }
}

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

// ---- async generators -----------------------------------------------------------------------

void EventLoop::register_asyncgen(const std::shared_ptr<detail::AsyncGenStateBase>& generator) {
    if (asyncgens_shutdown_called_) {
        warn("ResourceWarning", "asynchronous generator " + generator->describe() +
                                    " was scheduled after shutdown_asyncgens() call");
    }
    asyncgens_.emplace(next_asyncgen_id_++, generator);
}

void EventLoop::finalize_asyncgen(std::shared_ptr<detail::AsyncGenStateBase> generator) {
    std::string label = "close the abandoned async generator " + generator->describe();
    post_if_open(
        [this, generator = std::move(generator)] {
            if (generator->finished() || closed_)
                return;
            std::erase_if(asyncgens_finalizing_, [](const auto& kept) { return kept->finished(); });
            asyncgens_finalizing_.push_back(generator);
            std::erase_if(asyncgen_finalizers_, [](const TaskRef& task) { return task.done(); });
            Task<void> closer = create_task(generator->close_async());
            closer.state()->made_by = "the async generator finalizer";
            asyncgen_finalizers_.push_back(std::move(closer));
        },
        std::move(label));
}

Coro<void> EventLoop::shutdown_asyncgens() {
    asyncgens_shutdown_called_ = true;
    // First let the closes that the finalizer hook already started finish, so that no clean-up
    // is cut off half-way and no generator is closed twice.
    std::vector<TaskRef> finalizers;
    for (TaskRef& task : asyncgen_finalizers_) {
        if (!task.done())
            finalizers.push_back(task);
    }
    asyncgen_finalizers_.clear();
    if (!finalizers.empty())
        co_await gather(finalizers, return_exceptions);
    // Then close every generator still open (its finalizer task may have been cancelled before
    // it ran).
    std::vector<std::shared_ptr<detail::AsyncGenStateBase>> open;
    for (auto& [id, weak] : asyncgens_) {
        if (auto generator = weak.lock(); generator && !generator->finished())
            open.push_back(std::move(generator));
    }
    asyncgens_.clear();
    asyncgens_finalizing_.clear();
    if (open.empty())
        co_return;
    std::vector<Task<void>> closers;
    closers.reserve(open.size());
    for (auto& generator : open)
        closers.push_back(create_task(generator->close_async()));
    closers.back().state()->made_by = "shutdown_asyncgens()";
    std::vector<Outcome<void>> results = co_await gather(closers, return_exceptions);
    for (std::size_t i = 0; i < results.size(); ++i) {
        const std::exception_ptr& error = results[i].error;
        if (!error || is_base_exception(error))
            continue;
        ExceptionContext context;
        context.message =
            "an error occurred during closing of asynchronous generator " + open[i]->describe();
        context.exception = error;
        context.details["asyncgen"] = open[i]->describe();
        call_exception_handler(context);
    }
}

// ---- executor -------------------------------------------------------------------------------

Executor& EventLoop::default_executor() {
    if (!default_executor_)
        default_executor_ = make_default_executor();
    return *default_executor_;
}

void EventLoop::set_default_executor(std::shared_ptr<Executor> executor) {
    if (!executor)
        throw ValueError("set_default_executor() needs an executor");
    default_executor_ = std::move(executor);
}

Coro<void> EventLoop::shutdown_default_executor(std::optional<Duration> timeout) {
    executor_shutdown_called_ = true;
    std::shared_ptr<Executor> executor = default_executor_;
    if (!executor)
        co_return;
    Future<void> joined = create_future<void>();
    joined.set_label("the default executor's shutdown");
    // A hung worker may end after this loop is gone: reach it through the anchor only.
    executor->join_async([anchor = anchor_, state = joined.state()]() mutable {
        post_through_anchor(
            anchor,
            [state = std::move(state)] {
                if (!state->done())
                    state->set_result();
            },
            "the default executor's threads are joined");
    });
    bool timed_out = false;
    if (timeout) {
        try {
            co_await wait_for(joined, *timeout);
        } catch (const TimeoutError&) {
            timed_out = true;
        }
    } else {
        co_await joined;
    }
    if (timed_out) {
        warn("RuntimeWarning", "The executor did not finishing joining its threads within " +
                                   format_seconds(*timeout) + " seconds.");
        executor->shutdown(false);
    }
}

// ---- signals --------------------------------------------------------------------------------

void EventLoop::notify_signal_arrived() noexcept {
    signal_arrived_.store(true, std::memory_order_release);
    wake_up();
}

void EventLoop::dispatch_signals() {
    signal_arrived_.store(false, std::memory_order_release);
    signals().dispatch_pending();
}

void EventLoop::add_signal_handler(int signum, std::function<void()> callback) {
    check_closed();
    if (!callback)
        throw ValueError("add_signal_handler() needs a callback");
    signals().install(signum, [this, signum, callback] {
        if (!closed_)
            detail::set_text(call_soon(callback).state()->label,
                             "signal handler for " + detail::signal_text(signum));
    });
    loop_signal_handlers_[signum] = std::move(callback);  // only once installed
}

bool EventLoop::remove_signal_handler(int signum) {
    if (loop_signal_handlers_.erase(signum) == 0)
        return false;
    signals().restore_default(signum);
    return true;
}

// ---- free functions -------------------------------------------------------------------------

EventLoop& get_running_loop() {
    if (running_loop == nullptr)
        throw RuntimeError("no running event loop");
    return *running_loop;
}

EventLoop* running_loop_or_null() noexcept {
    return running_loop;
}

EventLoop& get_event_loop() {
    if (running_loop != nullptr)
        return *running_loop;
    if (thread_current_loop)
        return *thread_current_loop;
    throw RuntimeError("There is no current event loop in this thread.");
}

void set_event_loop(std::shared_ptr<EventLoop> loop) {
    if (loop)
        set_event_loop_calls.fetch_add(1, std::memory_order_relaxed);
    thread_current_loop = std::move(loop);
}

std::uint64_t set_event_loop_count() noexcept {
    return set_event_loop_calls.load(std::memory_order_relaxed);
}

std::shared_ptr<EventLoop> new_event_loop() {
    LoopFactory factory;
    {
        std::lock_guard lock(factory_mutex());
        factory = default_factory();
    }
    if (!factory)
        return std::make_shared<EpollLoop>();
    return factory();
}

void set_default_loop_factory(LoopFactory factory) {
    std::lock_guard lock(factory_mutex());
    default_factory() = std::move(factory);
}

bool debug_mode_from_environment() noexcept {
    const char* value = std::getenv("SIMRUN_DEBUG");
    return value != nullptr && *value != '\0';
}

TaskRef current_task() {
    detail::TaskBase* task = detail::current_task_state();
    if (task == nullptr)
        return {};
    return TaskRef(std::static_pointer_cast<detail::TaskBase>(task->shared_from_this()));
}

std::vector<TaskRef> all_tasks(EventLoop* loop) {
    return (loop != nullptr ? *loop : get_running_loop()).all_tasks();
}

std::string detail::signal_text(int signum) {
    switch (signum) {
        case SIGINT:
            return "SIGINT";
        case SIGTERM:
            return "SIGTERM";
        case SIGHUP:
            return "SIGHUP";
        case SIGQUIT:
            return "SIGQUIT";
        case SIGUSR1:
            return "SIGUSR1";
        case SIGUSR2:
            return "SIGUSR2";
        case SIGCHLD:
            return "SIGCHLD";
        default:
            return "signal " + std::to_string(signum);
    }
}

}  // namespace simrun
