#pragma once
// SimLoop: the deterministic simulation loop. Virtual time starts at 0 and jumps to the next
// timer, executor completion or scheduled signal whenever nothing is ready; nothing reads a real
// clock or starts a thread. Every nondeterministic choice comes from one ChoiceSource. If the
// loop would wait forever, it throws DeadlockError listing every pending task and what it awaits.
//
//     int result = simrun::run(main(), {.loop_factory = simrun::sim::factory({.seed = 7})});

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "simrun/event_loop.hpp"
#include "simrun/sim/choice_source.hpp"
#include "simrun/sim/fake_executor.hpp"
#include "simrun/sim/fake_signals.hpp"
#include "simrun/sim/trace.hpp"

namespace simrun::sim {

/// The loop would block forever: nothing is ready, no timer, no job, no signal to come.
class DeadlockError : public RuntimeError {
  public:
    DeadlockError(const std::string& message, std::vector<std::string> pending)
        : RuntimeError(message), pending_(std::move(pending)) {}
    /// One line per pending task: "Task-2 awaits Event.wait".
    const std::vector<std::string>& pending_tasks() const noexcept { return pending_; }

  private:
    std::vector<std::string> pending_;
};

/// Options of a simulated loop.
struct SimOptions {
    /// Seed of the default choice source.
    std::uint64_t seed = 0;
    /// Replaces the seeded source (e.g. ScriptedChoices from a property test).
    std::shared_ptr<ChoiceSource> choices{};
    /// The fake default executor.
    FakeExecutorOptions executor{};
    /// Timers may fire up to this much late (a seeded choice per time jump); 0: exactly on time.
    Duration max_timer_lateness = Duration::zero();
    /// Timers with equal deadlines fire in a seeded order (true) or in creation order.
    bool shuffle_timer_ties = true;
    /// Trace entries kept in memory (the digest always covers all).
    std::size_t trace_limit = 200000;
};

/// The simulation loop (see the file comment).
class SimLoop final : public EventLoop, private StepObserver {
  public:
    explicit SimLoop(SimOptions options = {});
    ~SimLoop() override;

    Duration time() const override { return now_; }
    SignalPort& signals() override { return signals_; }

    /// Injects and inspects simulated signals.
    FakeSignals& fake_signals() noexcept { return signals_; }
    /// The default executor (made on first use).
    FakeExecutor& fake_executor();
    /// The default fake executor if one was made, else null.
    FakeExecutor* fake_executor_if_made() noexcept { return executor_.get(); }
    /// The source of every choice.
    ChoiceSource& choices() noexcept { return *choices_; }
    const SimOptions& options() const noexcept { return options_; }
    /// What happened so far.
    const Trace& trace() const noexcept { return trace_; }
    /// Adds a line to the trace (for test programs that want their own events recorded).
    void note(std::string kind, std::string text);

    /// Simulates a callback that keeps the loop thread busy for `duration` without returning
    /// (a tight loop): virtual time passes, signals arrive but their handlers wait for the next
    /// step, and a repeated SIGINT whose grace period runs out ends the "process"
    /// (ProcessTerminated). Only valid inside a callback or task of this loop.
    void busy(Duration duration);
    /// True once a signal's default action ended the simulated process.
    bool terminated() const noexcept { return terminated_.has_value(); }

  protected:
    void wait_for_events(std::optional<Duration> timeout) override;
    void wake_up() noexcept override {}
    std::shared_ptr<Executor> make_default_executor() override;
    std::uint64_t timer_sequence() noexcept override;
    void on_close() override;

  private:
    friend class FakeSignals;
    // StepObserver
    void before_callback(const detail::HandleState& handle) override;
    void after_callback() override;
    void on_log(LogLevel level, const std::string& message) override;

    void deliver_due();
    [[noreturn]] void terminate(int signum);
    void throw_if_terminated() const;
    [[noreturn]] void report_deadlock();

    SimOptions options_;
    std::shared_ptr<ChoiceSource> choices_;
    FakeSignals signals_;
    std::shared_ptr<FakeExecutor> executor_;
    Trace trace_;
    Duration now_{};
    std::uint64_t timers_made_ = 0;
    std::optional<int> terminated_;
    bool inside_callback_ = false;
};

/// A loop factory for RunnerOptions::loop_factory: each call makes a SimLoop with `options`.
LoopFactory factory(SimOptions options = {});

/// The running SimLoop; RuntimeError if the running loop is not a simulation.
SimLoop& running_sim();

/// SimLoop::busy on the running simulated loop.
void busy(Duration duration);

}  // namespace simrun::sim
