// What the loop offers besides running callbacks: async generators' finalization, the default
// executor and signal handlers (and their shutdown, which Runner.close() asks for).
#include <csignal>
#include <cstdio>

#include "simrun/core/event_loop.hpp"
#include "simrun/core/gather.hpp"
#include "simrun/core/timeout.hpp"

namespace simrun {
namespace {

std::string format_seconds(Duration d) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%g", to_seconds(d));
    return buffer;
}

}  // namespace

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
