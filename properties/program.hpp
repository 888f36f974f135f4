#pragma once
// Random async programs for the property tests: a tree of tasks that sleep, spawn, await, gather,
// cancel each other, raise, catch cancellation (and re-raise, swallow, or uncancel), use
// timeout()/task_group(), iterate async generators with awaiting clean-ups and submit executor
// jobs (some never finish); plus SIGINTs at random virtual times. A Program is plain data: it is
// generated and shrunk by rapidcheck, printed on failure, and interpreted on a SimLoop.

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <simrun/sim/sim.hpp>
#include <simrun/simrun.hpp>

namespace props {

using simrun::Duration;

/// What a task does when CancelledError reaches its body.
enum class OnCancel : std::uint8_t {
    propagate,             ///< lets it out
    swallow_and_return,    ///< returns its result as if nothing happened
    raise_error,           ///< turns it into ValueError
    uncancel_and_reraise,  ///< current_task().uncancel(), then re-raises
    cleanup_then_reraise,  ///< sleeps `cleanup` (awaiting clean-up), then re-raises
};

/// One instruction of a task.
struct Step {
    enum class Kind : std::uint8_t {
        sleep,         ///< sleep(duration)
        yield,         ///< sleep(0)
        busy,          ///< sim::busy(duration): a tight loop (main task only)
        spawn,         ///< create_task(tasks[target])
        await_child,   ///< await the `target`-th child spawned so far (errors caught)
        gather,        ///< gather(children, return_exceptions)
        cancel_child,  ///< cancel the `target`-th child
        raise,         ///< throw ValueError
        executor,      ///< await run_in_executor (named "hang" when `hangs`)
        generator,  ///< iterate an async generator half-way (`count` items, `duration` apart), then
                    ///< drop it (target 0), aclose() it (1), or hold it until the task ends (2)
        timeout,    ///< timeout(duration, sleep(inner)) catching TimeoutError
        group,      ///< task_group spawning tasks[target] and tasks[target2]
    };
    Kind kind = Kind::yield;
    Duration duration{};
    Duration inner{};
    int target = 0;
    int target2 = 0;
    int count = 0;
    bool hangs = false;
};

/// A task's code. tasks[0] is the main task; a task spawns only tasks of higher index (a tree).
struct TaskCode {
    std::vector<Step> steps;
    OnCancel on_cancel = OnCancel::propagate;
    Duration cleanup{};
    int result = 0;
    bool raise_at_end = false;
};

/// A whole test case.
struct Program {
    std::vector<TaskCode> tasks;
    /// Virtual times at which SIGINT arrives (sorted).
    std::vector<Duration> sigints;
    /// Scheduling steps (callbacks run, 1-based) during which SIGINT arrives.
    std::vector<std::uint64_t> sigint_steps;
    /// If set, a helper task cancels the main task at this virtual time.
    std::optional<Duration> external_cancel;
    /// Executor workers of the fake executor.
    int workers = 2;
    /// The simulator's choices (timer ties, job costs): generated and shrunk.
    std::vector<std::uint64_t> choices;
    Duration executor_timeout = std::chrono::seconds(300);
    Duration grace = std::chrono::seconds(1);
    /// Timers may fire this late (0 for the outcome property, whose model assumes punctuality).
    Duration max_lateness{};
    /// If not empty, executor job number i (in submission order) takes job_costs[i % size]
    /// instead of a cost drawn from `choices` (the differential campaign against CPython sets
    /// it, so that both sides give every job the same duration).
    std::vector<Duration> job_costs;
    /// Record Observation::events (the differential campaign's trace).
    bool record_events = false;
    /// Whether the loop's thread counts as the process's main thread (FakeSignals).
    bool main_thread = true;
    /// SIGINT's disposition before run(): the default, ignored, or some other code's handler.
    simrun::SignalDisposition sigint_before = simrun::SignalDisposition::default_action;
    /// The main task installs its own SIGINT handler as its first action (as user code calling
    /// signal.signal() inside asyncio.run()); the Runner must then leave it in place.
    bool user_sigint_handler = false;
};

std::ostream& operator<<(std::ostream& out, const Program& program);
std::string describe(const Program& program);

/// What happened while a program ran.
struct Observation {
    enum class Outcome {
        value,
        keyboard_interrupt,
        cancelled,
        value_error,
        process_terminated,
        deadlock,
        other
    };
    Outcome outcome = Outcome::other;
    int value = 0;
    std::string other_error;
    Duration end_time{};                          ///< loop time after run() returned or threw
    std::optional<Duration> last_sigint_handled;  ///< virtual time of the last SIGINT handler run
    std::optional<Duration> close_started;  ///< when Runner::close() began (its handler install)
    bool close_interrupted = false;         ///< a SIGINT arrived while close() ran
    std::uint64_t digest = 0;
    std::int64_t frames_after = 0;
    bool loop_closed = false;
    std::size_t pending_tasks_after = 0;
    std::size_t destroyed_pending_reports = 0;
    // async generators: started; clean-ups entered, completed, and interrupted by a cancellation
    std::set<int> generators_started;
    std::map<int, int> generator_cleanups;
    std::map<int, int> generator_cleanups_completed;
    std::map<int, int> generator_cleanups_interrupted;
    // failed tasks (by name) and how their errors were seen
    std::set<std::string> failed_tasks;
    std::map<std::string, int> retrieved;  ///< errors collected by the program itself
    std::map<std::string, int> reported;   ///< reports through the exception handler
    // executor
    bool executor_shut_down = true;
    std::optional<Duration> executor_join_started;
    std::vector<Duration> executor_warnings;  ///< times of the timeout warning
    std::size_t hung_jobs = 0;
    // timing
    std::vector<std::string> timing_violations;  ///< "sleep 5ms woke at ... (early)"
    bool time_monotonic = true;
    std::string trace_excerpt;
    std::string full_trace;  ///< with execute(program, true)
    /// With Program::record_events: what the program did, at which virtual time ("t1 start",
    /// "t1 sleep done", "main returns 5", "report never-retrieved t2", ...). The differential
    /// campaign renders the same lines from CPython (properties/cpython/diff_runner.py).
    std::vector<std::pair<Duration, std::string>> events;
    // SIGINT disposition: as the main task saw it when it started, after run() (and close()),
    // and how many handlers the Runner installed (run() and close() together).
    std::optional<simrun::SignalDisposition> sigint_in_run;
    std::optional<simrun::SignalDisposition> sigint_after;
    int sigint_installs = 0;
    // cancel() and uncancel() inside the program, checked against CPython 3.13 as they happen:
    // "cancel t2 of a done task returned True", "uncancel: cancelling 2, returned 2, then 2".
    std::vector<std::string> cancel_violations;
    int cancels_of_done_tasks = 0;  ///< cancel() calls on a task already done (must be false)
    int cancels_of_cancelling = 0;  ///< cancel() calls on a task already being cancelled
    int uncancels = 0;              ///< uncancel() calls checked
};

/// Runs `program` with simrun::run() on a SimLoop and records what happened.
/// Runs `program` in the simulator. With `full_trace`, Observation::full_trace gets every trace
/// line (simrun_trace_digests --trace, to see why two builds' digests differ).
Observation execute(const Program& program, bool full_trace = false);

const char* outcome_name(Observation::Outcome outcome);

}  // namespace props
