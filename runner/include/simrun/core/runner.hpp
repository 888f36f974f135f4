#pragma once
// Runner and run(): asyncio.Runner and asyncio.run for C++ (CPython 3.13 semantics; see
// docs/semantics.md). A Runner owns one loop for several run() calls and shuts everything down
// in close(): leftover tasks are cancelled and awaited, async generators closed, the default
// executor joined (with a timeout), the loop closed.
//
//     int answer = simrun::run(main_task(), {.loop_factory = simrun::sim::factory({.seed = 7})});

#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include "simrun/core/clock.hpp"
#include "simrun/core/context.hpp"
#include "simrun/core/coro.hpp"
#include "simrun/core/event_loop.hpp"
#include "simrun/core/task.hpp"

namespace simrun {

/// Options of Runner and run().
struct RunnerOptions {
    /// Debug mode of the loop; unset keeps the loop's default (SIMRUN_DEBUG).
    std::optional<bool> debug{};
    /// Makes the loop. Empty: new_event_loop(), and the loop becomes the thread's current loop
    /// while the runner is open. A factory's loop is not made current.
    LoopFactory loop_factory{};
    /// How long close() waits for the default executor's jobs (none: no limit).
    std::optional<Duration> executor_shutdown_timeout = std::chrono::seconds(300);
    /// After a second Ctrl-C arrives while the loop is stuck inside a callback, how long the
    /// loop gets to reach its next step before the process ends as by SIGINT.
    Duration sigint_grace_period = std::chrono::seconds(1);
};

/// Runs coroutines on one loop; see the file comment. Not copyable, not movable.
class Runner {
  public:
    /// Stores the options; makes nothing yet (the loop is made on first use). Installs the
    /// process's handler for an uncaught KeyboardInterrupt (install_uncaught_interrupt_handler():
    /// it ends the process as by SIGINT, as Python does).
    explicit Runner(RunnerOptions options = {});
    /// Calls close(); anything close() would throw goes to the loop's exception handler.
    ~Runner();
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;

    /// Runs `coro` as the main task until it is done and returns its result.
    /// - RuntimeError "Runner.run() cannot be called from a running event loop" if a loop runs
    ///   in this thread (the coroutine is not started);
    /// - RuntimeError "Runner is closed" after close();
    /// - the first SIGINT cancels the main task; if it then ends cancelled, KeyboardInterrupt is
    ///   thrown (CancelledError if it was also cancelled by someone else); a second SIGINT
    ///   throws KeyboardInterrupt at once.
    /// The main task runs in the runner's own context: a copy of the context that was current
    /// when the runner was first used (its first run() or get_loop()), shared by every run()
    /// call, so what one run() sets the next one sees. `where` (the caller) is where the
    /// simulator's trace says the main task was created ("Task-1 (main_task() from main.cpp:9)").
    template <class T>
    T run(Coro<T> coro, SourceLocation where = SourceLocation::current()) {
        return run_in_context(std::move(coro), nullptr, where);
    }
    /// As run(coro), with the main task in `context`.
    template <class T>
    T run(Coro<T> coro, Context context, SourceLocation where = SourceLocation::current()) {
        return run_in_context(std::move(coro), &context, where);
    }

    /// Shuts down and closes the loop (see the file comment): cancels the leftover tasks and
    /// waits for them, closes the async generators, then joins the default executor (so a
    /// generator's clean-up may still use it), and closes the loop. Does nothing if the runner
    /// was never used or is closed already. Errors of the shutdown steps propagate; the loop is
    /// closed in any case. A SIGINT during close() throws KeyboardInterrupt (once the loop is
    /// closed). If the last run() ended by an exception after SIGINTs, those count for the
    /// second-Ctrl-C rule: one more SIGINT while close() is stuck in a callback (a clean-up
    /// that blocks the loop) ends the process after sigint_grace_period.
    void close();

    /// The runner's loop (made on first use). RuntimeError "Runner is closed" after close().
    EventLoop& get_loop();
    /// The loop as a shared pointer (empty before first use and after close()).
    std::shared_ptr<EventLoop> loop_pointer() const { return loop_; }

  private:
    template <class T>
    T run_in_context(Coro<T> coro, const Context* context, SourceLocation where) {
        if (!coro)
            throw ValueError("a coroutine was expected, got an empty Coro");
        if (running_loop_or_null() != nullptr) {
            throw RuntimeError("Runner.run() cannot be called from a running event loop");
        }
        lazy_init();
        Task<T> task = loop_->create_task(std::move(coro),
                                          TaskOptions{{}, context ? *context : *context_}, where);
        interrupts_before_close_ = 0;
        InterruptScope interrupts(*this, task);
        try {
            return loop_->run_until_complete(std::move(task));
        } catch (const CancelledError&) {
            interrupts_before_close_ = interrupt_count_;
            if (interrupt_count_ > 0 && task.uncancel() == 0)
                throw KeyboardInterrupt();
            throw;
        } catch (...) {
            interrupts_before_close_ = interrupt_count_;
            throw;
        }
    }

    enum class State { created, initialized, closed };

    /// Installs the SIGINT handler for one run() and restores the old one after.
    class InterruptScope {
      public:
        /// `earlier_arrivals`: SIGINTs that count as already received (SignalHandlerOptions).
        InterruptScope(Runner& runner, const TaskRef& main_task,
                       std::uint32_t earlier_arrivals = 0);
        ~InterruptScope();
        InterruptScope(const InterruptScope&) = delete;
        InterruptScope& operator=(const InterruptScope&) = delete;

      private:
        Runner& runner_;
        std::optional<std::uint64_t> handler_;
    };

    void lazy_init();
    void on_sigint(const TaskRef& main_task);
    void cancel_all_tasks();

    RunnerOptions options_;
    std::shared_ptr<EventLoop> loop_;
    std::optional<Context> context_;
    int interrupt_count_ = 0;
    // The SIGINTs of the last run() if it ended by an exception: close() counts them.
    int interrupts_before_close_ = 0;
    State state_ = State::created;
    bool set_event_loop_ = false;
};

/// asyncio.run: runs `main` in a fresh Runner and closes it, whatever happens.
/// RuntimeError "simrun::run() cannot be called from a running event loop" inside a loop.
/// `where` (the caller) is the main task's creation site in traces (see Runner::run).
template <class T>
T run(Coro<T> main, RunnerOptions options = {}, SourceLocation where = SourceLocation::current()) {
    if (running_loop_or_null() != nullptr) {
        throw RuntimeError("simrun::run() cannot be called from a running event loop");
    }
    Runner runner(std::move(options));
    runner.get_loop();
    if constexpr (std::is_void_v<T>) {
        try {
            runner.run(std::move(main), where);
        } catch (...) {
            runner.close();
            throw;
        }
        runner.close();
    } else {
        std::optional<T> result;
        try {
            result.emplace(runner.run(std::move(main), where));
        } catch (...) {
            runner.close();
            throw;
        }
        runner.close();
        return std::move(*result);
    }
}

}  // namespace simrun
