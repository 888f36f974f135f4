#include "simrun/core/runner.hpp"

#include <csignal>
#include <cstdio>

#include "simrun/core/gather.hpp"
#include "simrun/epoll/posix_signals.hpp"

namespace simrun {

Runner::Runner(RunnerOptions options) : options_(std::move(options)) {
    install_uncaught_interrupt_handler();
}

Runner::~Runner() {
    std::shared_ptr<EventLoop> loop = loop_;
    try {
        close();
    } catch (...) {
        ExceptionContext context;
        context.message = "exception in Runner's destructor while closing the runner";
        context.exception = std::current_exception();
        try {
            if (loop) {
                loop->call_exception_handler(context);
            } else {
                log_without_loop(LogLevel::error, context.format());
            }
        } catch (...) {  // a destructor never throws
        }
    }
}

void Runner::lazy_init() {
    if (state_ == State::closed)
        throw RuntimeError("Runner is closed");
    if (state_ == State::initialized)
        return;
    std::shared_ptr<EventLoop> loop;
    if (!options_.loop_factory) {
        loop = new_event_loop();
        if (!set_event_loop_) {
            set_event_loop(loop);
            set_event_loop_ = true;
        }
    } else {
        loop = options_.loop_factory();
        if (!loop)
            throw ValueError("RunnerOptions::loop_factory returned no loop");
    }
    if (options_.debug)
        loop->set_debug(*options_.debug);
    context_ = copy_context();
    loop_ = std::move(loop);
    state_ = State::initialized;
}

EventLoop& Runner::get_loop() {
    lazy_init();
    return *loop_;
}

Runner::InterruptScope::InterruptScope(Runner& runner, const TaskRef& main_task,
                                       std::uint32_t earlier_arrivals)
    : runner_(runner) {
    SignalPort& port = runner.loop_->signals();
    if (port.on_main_thread() && port.disposition(SIGINT) == SignalDisposition::default_action) {
        try {
            handler_ = port.install(
                SIGINT, [&runner, main_task] { runner.on_sigint(main_task); },
                SignalHandlerOptions{runner.options_.sigint_grace_period, earlier_arrivals});
        } catch (const ValueError&) {  // e.g. not allowed in this process: carry on without it
        }
    }
    runner.interrupt_count_ = 0;
}

Runner::InterruptScope::~InterruptScope() {
    if (!handler_ || !runner_.loop_)
        return;
    SignalPort& port = runner_.loop_->signals();
    if (port.is_installed(SIGINT, *handler_))
        port.restore_default(SIGINT);
}

void Runner::on_sigint(const TaskRef& main_task) {
    ++interrupt_count_;
    if (interrupt_count_ == 1 && main_task && !main_task.done()) {
        TaskRef task = main_task;
        task.cancel();
        // Only wakes the loop up, so that the cancelled main task runs its next step.
        loop_->post_if_open([] {}, "Runner: SIGINT cancelled the main task");
        return;
    }
    throw KeyboardInterrupt();
}

void Runner::cancel_all_tasks() {
    std::vector<TaskRef> to_cancel = loop_->all_tasks();
    if (to_cancel.empty())
        return;
    for (TaskRef& task : to_cancel)
        task.cancel();
    loop_->run_until_complete(gather(to_cancel, return_exceptions));
    for (TaskRef& task : to_cancel) {
        if (task.cancelled())
            continue;
        if (std::exception_ptr error = task.exception()) {
            ExceptionContext context;
            context.message = "unhandled exception during asyncio.run() shutdown";
            context.exception = error;
            context.task = task;
            loop_->call_exception_handler(context);
        }
    }
}

void Runner::close() {
    if (state_ != State::initialized)
        return;
    if (loop_->is_running())
        throw RuntimeError("Cannot close a running event loop");
    std::shared_ptr<EventLoop> loop = loop_;
    auto finish = [&] {
        if (set_event_loop_) {
            set_event_loop(nullptr);
            set_event_loop_ = false;
        }
        loop->close();
        loop_.reset();
        state_ = State::closed;
    };
    try {
        // Python's default SIGINT handler raises KeyboardInterrupt; C++ has no such default, so
        // the runner keeps a handler during shutdown that does the same (docs/semantics.md).
        // After a run() that SIGINT interrupted, the next Ctrl-C is the user's second one: if the
        // loop is stuck in a clean-up, it must end the process (SignalHandlerOptions).
        const auto earlier = static_cast<std::uint32_t>(interrupts_before_close_);
        interrupts_before_close_ = 0;
        InterruptScope interrupts(*this, TaskRef(), earlier);
        cancel_all_tasks();
        loop->run_until_complete(loop->shutdown_asyncgens(), "Runner.close()");
        loop->run_until_complete(
            loop->shutdown_default_executor(options_.executor_shutdown_timeout), "Runner.close()");
    } catch (...) {
        finish();
        throw;
    }
    finish();
}

}  // namespace simrun
