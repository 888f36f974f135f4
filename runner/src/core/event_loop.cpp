#include "simrun/core/event_loop.hpp"

#include <thread>

#include "running_loop.hpp"

namespace simrun {

// ---- the running-loop scope -------------------------------------------------------------------

struct EventLoop::RunningScope {
    explicit RunningScope(EventLoop& loop) : loop_(loop) {
        loop.running_ = true;
        loop.thread_id_.store(std::this_thread::get_id(), std::memory_order_relaxed);
        detail::set_running_loop(&loop);
    }
    ~RunningScope() {
        loop_.stopping_ = false;
        loop_.running_ = false;
        loop_.thread_id_.store(std::thread::id{}, std::memory_order_relaxed);
        detail::set_running_loop(nullptr);
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

detail::HandleRef EventLoop::make_io_handle(std::function<void()> callback, std::string label) {
    auto handle = make_handle(std::move(callback), SourceLocation::current(), false);
    detail::set_text(handle->label, std::move(label));
    return handle;
}

void EventLoop::schedule_ready(detail::HandleRef handle) {
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

detail::HandleRef EventLoop::make_handle(std::function<void()> callback, SourceLocation where,
                                         bool capture_context) {
    auto handle = detail::HandleRef::make();
    handle->callback = std::move(callback);
    handle->loop = this;
    handle->created_at = where;
    if (capture_context) {
        handle->context = detail::current_context_data().vars;
        handle->has_context = true;
    }
    return handle;
}

Handle EventLoop::call_soon(std::function<void()> callback, SourceLocation where) {
    check_closed();
    check_thread();
    auto handle = make_handle(std::move(callback), where, true);
    ready_.push_back(ReadyItem{handle.share_new()});
    return Handle(std::move(handle));
}

detail::HandleState& EventLoop::call_soon_in_context(
    std::function<void()> callback, std::shared_ptr<const detail::ContextMap> context,
    std::string label) {
    check_closed();
    check_thread();
    auto handle = make_io_handle(std::move(callback), std::move(label));
    handle->context = std::move(context);
    handle->has_context = true;
    detail::HandleState& queued = *handle;
    schedule_ready(std::move(handle));
    return queued;
}

void EventLoop::call_soon_without_context(std::function<void()> callback, std::string label) {
    check_closed();
    check_thread();
    schedule_ready(make_io_handle(std::move(callback), std::move(label)));
}

TimerHandle EventLoop::call_later(Duration delay, std::function<void()> callback,
                                  SourceLocation where) {
    return call_at(saturating_add(time(), delay), std::move(callback), where);
}

TimerHandle EventLoop::call_at(Duration when, std::function<void()> callback,
                               SourceLocation where) {
    auto timer = make_handle(std::move(callback), where, true);
    arm_timer(when, timer);  // it checks
    return TimerHandle(std::move(timer));
}

void EventLoop::arm_timer(Duration when, const detail::HandleRef& timer) {
    check_closed();
    check_thread();
    timer->loop = this;
    timer->is_timer = true;
    timer->when = when;
    if (when == Duration::max())  // never: not armed, so it neither fires nor bounds a wait
        return;
    timer->sequence = timer_sequence();
    timers_.push(timer);
}

Handle EventLoop::call_soon_threadsafe(std::function<void()> callback, SourceLocation where) {
    auto handle = make_handle(std::move(callback), where, true);
    // On the loop's own thread while it runs, asyncio appends to the ready queue at once, so the
    // callback keeps its place among call_soon()s of the same pass.
    if (thread_id_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
        check_closed();
        ready_.push_back(ReadyItem{handle.share_new()});
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
    std::vector<detail::HandleRef> incoming;
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
    if (running_loop_or_null() != nullptr)
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
        ReadyItem item = ready_.pop_front();
        if (item.kind != ReadyItem::Kind::callback) {
            run_task_step(*item.task, item.kind == ReadyItem::Kind::wake_step);
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
        if (handle.has_context) {
            detail::ContextData context{handle.context, false};
            detail::ContextScope scope(context);
            handle.callback();
        } else {
            handle.callback();
        }
    } catch (...) {
        step_failed(std::current_exception(), handle.text(),
                    "<Handle " + handle.created_at.short_text() + ">", handle.created_at,
                    handle.has_context ? &handle.context : nullptr);
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
                            const std::shared_ptr<const detail::ContextMap>* context) {
    if (observer_ != nullptr)
        observer_->after_callback();
    if (escapes_loop(error))
        std::rethrow_exception(error);
    report_callback_error(std::move(error), text, handle_text, created_at, context);
}

void EventLoop::report_callback_error(std::exception_ptr error, const std::string& text,
                                      const std::string& handle_text, SourceLocation created_at,
                                      const std::shared_ptr<const detail::ContextMap>* context) {
    ExceptionContext report;
    report.message = "Exception in callback " + text;
    report.exception = std::move(error);
    report.details["handle"] = handle_text;
    if (debug_)
        report.details["source_traceback"] = created_at.short_text();
    if (context) {  // the handler runs in the callback's context (asyncio 3.12+)
        detail::ContextData callback_context{*context, false};
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
    std::vector<detail::HandleRef> dropped;
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

}  // namespace simrun
