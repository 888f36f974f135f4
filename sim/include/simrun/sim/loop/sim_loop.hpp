#pragma once
// SimLoop: the deterministic simulation loop. Virtual time starts at 0 and jumps to the next
// timer, executor completion or scheduled signal whenever nothing is ready; nothing reads a real
// clock or starts a thread. Every nondeterministic choice comes from one ChoiceSource. If the
// loop would wait forever, it throws DeadlockError listing every pending task and what it awaits;
// if it keeps running past SimOptions::time_limit or step_limit, it throws LivelockError with the
// same list and the last trace lines, so no simulated program runs (or hangs) without end.
//
//     int result = simrun::run(main(), {.loop_factory = simrun::sim::factory({.seed = 7})});

#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "simrun/core/event_loop.hpp"
#include "simrun/sim/fakes/fake_executor.hpp"
#include "simrun/sim/fakes/fake_signals.hpp"
#include "simrun/sim/loop/choice_source.hpp"
#include "simrun/sim/loop/trace.hpp"

namespace simrun::sim {

class SimNetwork;

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

/// The loop went past SimOptions::time_limit or SimOptions::step_limit: something keeps it busy
/// (a periodic task, a callback that reschedules itself) while what it runs does not finish.
/// The message names the limit, its value, the virtual time and the callbacks run, lists every
/// pending task and what it awaits (as DeadlockError does) and ends with the last trace lines.
class LivelockError : public RuntimeError {
  public:
    /// Which limit was hit.
    enum class Limit { time, steps };
    LivelockError(const std::string& message, Limit limit, std::vector<std::string> pending)
        : RuntimeError(message), limit_(limit), pending_(std::move(pending)) {}
    /// Which limit was hit.
    Limit limit() const noexcept { return limit_; }
    /// One line per pending task: "Task-2 awaits Event.wait".
    const std::vector<std::string>& pending_tasks() const noexcept { return pending_; }

  private:
    Limit limit_;
    std::vector<std::string> pending_;
};

/// SimOptions::time_limit for "no limit".
inline constexpr Duration no_time_limit = Duration::max();
/// SimOptions::step_limit for "no limit".
inline constexpr std::uint64_t no_step_limit = std::numeric_limits<std::uint64_t>::max();

/// Options of a simulated loop.
struct SimOptions {
    /// Seed of the default choice source.
    std::uint64_t seed = 0;
    /// Replaces the seeded source (e.g. ScriptedChoices from a property test).
    std::shared_ptr<ChoiceSource> choices{};
    /// The fake default executor.
    FakeExecutorOptions executor{};
    /// The simulated machine's CPU count (Python's os.process_cpu_count()). Only the fake
    /// executor's default worker count depends on it: min(32, cpu_count + 4), so 8 workers with
    /// the default of 4 (0 counts as 1, as Python's `or 1`). The real machine's count is never
    /// read, so a seed replays the same on every machine.
    std::size_t cpu_count = 4;
    /// Timers may fire up to this much late (a seeded choice per time jump); 0: exactly on time.
    Duration max_timer_lateness = Duration::zero();
    /// Timers with equal deadlines fire in a seeded order (true) or in creation order.
    bool shuffle_timer_ties = true;
    /// Trace entries kept in memory (the digest always covers all).
    std::size_t trace_limit = 200000;
    /// The loop never lets virtual time pass this point: when its next event (timer, executor
    /// completion, signal) lies beyond it, it throws LivelockError instead of jumping there.
    /// The default, one year, is far beyond any sensible test and ends a program that would
    /// otherwise tick forever (a 1 s periodic task gets there in tens of seconds of real time).
    /// no_time_limit: no limit.
    Duration time_limit = std::chrono::hours(24 * 365);
    /// Once this many callbacks have run (EventLoop::steps()), the loop throws LivelockError
    /// instead of running more. Checked once per loop iteration, so a run ends at most one
    /// iteration's ready callbacks past it. The default, 100 million, is far more than any test
    /// needs and ends a callback that reschedules itself forever after tens of seconds of real
    /// time. no_step_limit: no limit.
    std::uint64_t step_limit = 100'000'000;
    /// After a limit was hit, the loop moves both limits to "now + cleanup_time" and "steps so
    /// far + cleanup_steps", so that the clean-up that follows runs but cannot hang either:
    /// Runner::close() (and so run()) cancels the leftover tasks, closes async generators and
    /// joins the executor (its default timeout, 300 s, fits in the default hour); past these,
    /// LivelockError is thrown again (from close()) and each new hit grants the same budget.
    Duration cleanup_time = std::chrono::hours(1);
    /// See cleanup_time.
    std::uint64_t cleanup_steps = 1'000'000;
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
    /// The simulated network (sim/network/sim_network.hpp), made on first use with the host
    /// "localhost" (127.0.0.1); open_connection() and start_server() use it. Closing the loop
    /// closes every socket of it.
    io::Network& network() override;
    /// network() as the SimNetwork it is, for hosts and faults.
    SimNetwork& sim_network();
    /// Adds a line to the trace (for test programs that want their own events recorded).
    void note(std::string_view kind, std::string_view text);

    /// Simulates a callback that keeps the loop thread busy for `duration` without returning
    /// (a tight loop): virtual time passes, signals arrive but their handlers wait for the next
    /// step, and a repeated SIGINT whose grace period runs out ends the "process"
    /// (ProcessTerminated). Only valid inside a callback or task of this loop.
    void busy(Duration duration);
    /// True once a signal's default action ended the simulated process.
    bool terminated() const noexcept { return terminated_.has_value(); }
    /// The virtual-time limit in force: SimOptions::time_limit until a limit is hit, then the
    /// clean-up budget's (see SimOptions::cleanup_time).
    Duration time_limit() const noexcept { return time_limit_; }
    /// The step limit in force (see time_limit()).
    std::uint64_t step_limit() const noexcept { return step_limit_; }

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
    void before_task_step(const detail::TaskBase& task) override;
    struct NameMemo;
    /// The trace name of `future` (a task's: "Task-3 (fetch() from main.cpp:42)") and its hash,
    /// composed once while they stay in a small memo.
    const NameMemo& memo_of(const detail::FutureStateBase& future);
    void after_callback() override;
    void on_log(LogLevel level, const std::string& message) override;

    void deliver_due();
    [[noreturn]] void terminate(int signum);
    void throw_if_terminated() const;
    [[noreturn]] void report_deadlock();
    [[noreturn]] void report_livelock(LivelockError::Limit limit, Duration next_event);
    /// "Task-2 awaits Event.wait" for every pending task, in creation order.
    std::vector<std::string> pending_task_lines() const;
    /// The end of a deadlock or livelock message: hung executor jobs and the pending tasks.
    std::string pending_report(const std::vector<std::string>& pending) const;

    SimOptions options_;
    struct NameMemo {
        const detail::FutureStateBase* future = nullptr;
        std::uint64_t hash = 0;
        std::string name;
    };
    std::array<NameMemo, 256> name_memo_;  // see memo_of()
    /// The trace text and hash of a callback named by its creation site ("main.cpp:12"), by
    /// site: composed once while they stay in the memo.
    struct SiteMemo {
        const char* file = nullptr;
        std::uint32_t line = 0;
        std::uint64_t hash = 0;
        std::string text;
    };
    std::array<SiteMemo, 64> site_memo_;
    std::shared_ptr<ChoiceSource> choices_;
    FakeSignals signals_;
    std::shared_ptr<FakeExecutor> executor_;
    std::unique_ptr<SimNetwork> network_;
    Trace trace_;
    Duration now_{};
    std::uint64_t timers_made_ = 0;
    std::optional<int> terminated_;
    Duration time_limit_;
    std::uint64_t step_limit_;
    bool limit_hit_ = false;
    bool inside_callback_ = false;
};

/// A loop factory for RunnerOptions::loop_factory: each call makes a SimLoop with `options`.
LoopFactory factory(SimOptions options = {});

/// The running SimLoop; RuntimeError if the running loop is not a simulation.
SimLoop& running_sim();

/// SimLoop::busy on the running simulated loop.
void busy(Duration duration);

}  // namespace simrun::sim
