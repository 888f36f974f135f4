#pragma once
// Seed sweeps: one coroutine test body run in a fresh SimLoop per seed, stopping at the first
// failing seed with a one-line replay command and the tail of the trace. Framework-neutral: a
// test framework plugs in through SweepHooks (simrun/testing/doctest.hpp does it for doctest).
//
//     auto report = simrun::testing::run_seeds("queue drains", {.seeds = 200}, [] -> Coro<void> {
//         ...  // a failure is an exception leaving the body (or an assertion failure seen by a
//         hook)
//     });
//     if (!report.passed) std::puts(report.message.c_str());
//
// Environment variables (read by every sweep, so a campaign needs no recompilation):
//   SIMRUN_SEED=N          run exactly seed N (the replay line sets it)
//   SIMRUN_SEEDS=N         run N seeds instead of SimTestOptions::seeds
//   SIMRUN_FIRST_SEED=N    start the sweep at seed N instead of SimTestOptions::first_seed
//   SIMRUN_SHARD=i/n       run only the seeds whose position in the sweep is i modulo n
//   SIMRUN_TRACE_DIR=dir   write the failing seed's trace there: <test>-seed-<n>.json (Chrome
//                          trace event JSON) and <test>-seed-<n>.html (a timeline page)
//   SIMRUN_CHECK_DETERMINISM=1   run every seed twice and compare the traces
// A malformed value throws ValueError naming the variable.

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "simrun/core/coro.hpp"
#include "simrun/sim/loop/sim_loop.hpp"
#include "simrun/sim/loop/trace.hpp"

namespace simrun::testing {

/// Options of a simulated test. The limits are the kit's defaults, far tighter than SimLoop's
/// own (one virtual year, 100 million steps): a test that runs past them is livelocked, and ends
/// with LivelockError (pending tasks, last trace lines) instead of hanging.
struct SimTestOptions {
    /// Seeds per sweep (SIMRUN_SEEDS overrides it).
    std::uint64_t seeds = 100;
    /// The first seed of the sweep (SIMRUN_FIRST_SEED overrides it).
    std::uint64_t first_seed = 1;
    /// SimOptions::time_limit of every run.
    Duration time_limit = std::chrono::hours(24);
    /// SimOptions::step_limit of every run.
    std::uint64_t step_limit = 10'000'000;
    /// SimOptions::shuffle_timer_ties.
    bool shuffle_timer_ties = true;
    /// SimOptions::max_timer_lateness.
    Duration max_timer_lateness = Duration::zero();
    /// SimOptions::executor (workers, job durations, hung jobs).
    sim::FakeExecutorOptions executor{};
    /// Called with each fresh loop before the body starts: the place for a fault plan (signals
    /// to schedule, network faults, hung jobs, a log handler). It may use loop.choices().
    std::function<void(sim::SimLoop& loop, std::uint64_t seed)> setup{};
    /// A run that ends in KeyboardInterrupt (a SIGINT scheduled by `setup`) passes.
    bool allow_keyboard_interrupt = false;
    /// Run every seed twice and fail if the traces differ (SIMRUN_CHECK_DETERMINISM=1 turns it
    /// on for every sweep).
    bool check_determinism = false;
    /// Report calls that read real time or randomness (clock_gettime, sleep, getrandom, ...)
    /// made while the simulation runs (see real_time_guard.hpp).
    bool guard_real_time = true;
    /// Trace lines shown in a failure message.
    std::size_t trace_tail = 20;
    /// Replaces the seeded choice source of each run (a property test's ScriptedChoices, so
    /// that rapidcheck shrinks the schedule); empty: SeededChoices(seed).
    std::function<std::shared_ptr<sim::ChoiceSource>(std::uint64_t seed)> choices{};
    /// Real-time bound of the epoll-loop run of a both-loops test (SIMRUN_LOOP_TEST): past it
    /// the body is cancelled and the test fails with TimeoutError.
    Duration real_time_limit = std::chrono::seconds(60);
};

/// The SimOptions of one run of a sweep.
sim::SimOptions sim_options(const SimTestOptions& options, std::uint64_t seed);

/// The seeds a sweep runs, after the environment variables (see the file comment).
struct SeedPlan {
    std::uint64_t first = 1;  ///< the first seed of the sweep
    std::uint64_t count = 0;  ///< seeds in the whole sweep (all shards)
    std::uint64_t shard = 0;  ///< this process runs the seeds first + shard + k * shards
    std::uint64_t shards = 1;
    std::optional<std::uint64_t> replay{};  ///< SIMRUN_SEED: only this seed
    /// The seeds this process runs, in order.
    std::vector<std::uint64_t> seeds() const;
};

/// The plan for `options` and the environment. ValueError for a malformed variable.
SeedPlan seed_plan(const SimTestOptions& options);

/// How a test framework takes part in a sweep (all optional).
struct SweepHooks {
    /// Runs one seed: must call `run` exactly once (e.g. inside a scope that adds the seed to
    /// the framework's failure messages).
    std::function<void(std::uint64_t seed, const std::function<void()>& run)> around_seed{};
    /// Assertion failures recorded by the framework so far on this thread (a seed fails if the
    /// count grew while it ran).
    std::function<std::uint64_t()> failed_assertions{};
    /// What the replay line appends to "SIMRUN_SEED=<n> <program>", e.g. `-tc="name"`.
    std::string replay_arguments{};
};

/// The result of a sweep.
struct SweepReport {
    bool passed = true;
    /// Seeds run (a determinism check counts once per seed).
    std::uint64_t seeds_run = 0;
    /// The failing seed.
    std::optional<std::uint64_t> failing_seed{};
    /// Why it failed, one line: "ValueError: boom", "assertion failed", "LivelockError: ...".
    std::string reason{};
    /// "SIMRUN_SEED=17 ./tests -tc=\"name\"".
    std::string replay{};
    /// The Chrome trace written for the failing seed (SIMRUN_TRACE_DIR), else empty.
    std::string trace_file{};
    /// The HTML timeline page written next to it (html_timeline.hpp), else empty.
    std::string timeline_file{};
    /// The last trace lines of the failing run.
    std::vector<std::string> trace_tail{};
    /// Everything above as a multi-line message (empty if passed).
    std::string message{};
};

/// The body of a simulated test: a fresh coroutine per run.
using TestBody = std::function<Coro<void>()>;

/// Runs `body` for every seed of seed_plan(options), each in a fresh SimLoop driven by a
/// Runner (so leftover tasks are cancelled and the executor joined, as run() does), and stops
/// at the first failure: an exception out of the body or the Runner's clean-up, a failed
/// assertion (hooks.failed_assertions), a call caught by the real-time guard, or (with the
/// determinism check) two runs of a seed whose traces differ. Writes the failing trace to
/// SIMRUN_TRACE_DIR if set (as JSON and as an HTML timeline). Throws ValueError for malformed
/// environment variables only.
SweepReport run_seeds(const std::string& test_name, const SimTestOptions& options,
                      const TestBody& body, const SweepHooks& hooks = {});

/// Where two traces of the same seed part.
struct Divergence {
    /// Index of the first differing entry (or the length of the shorter trace).
    std::size_t index = 0;
    /// That entry in each run ("(trace ended)" if a run had no more entries).
    std::string first{};
    std::string second{};
};

/// The first difference between two traces' entries, or nullopt if they are equal. Compares
/// the kept entries, then the total count and digest (see Trace).
std::optional<Divergence> compare_traces(const sim::Trace& first, const sim::Trace& second);

/// The outcome of one run of one seed.
struct SeedRun {
    std::shared_ptr<sim::SimLoop> loop;  ///< closed; its trace is what happened
    std::exception_ptr error{};          ///< what left the body or the clean-up, if anything
    std::vector<std::string> leaks{};    ///< real-time guard reports
    /// Trace entries recorded when the body's error came out (before the Runner's clean-up
    /// added its own); 0 if the body did not fail.
    std::uint64_t failed_at = 0;
};

/// Runs `body` once with `seed` (no hooks, no environment variables).
SeedRun run_seed(const SimTestOptions& options, std::uint64_t seed, const TestBody& body);

/// Runs `seed` twice and compares the traces: nullopt if they are equal.
std::optional<Divergence> check_determinism(const SimTestOptions& options, std::uint64_t seed,
                                            const TestBody& body);

/// "ValueError: boom" for an exception of any kind.
std::string describe(const std::exception_ptr& error);

/// The path of the running program, as typed (argv[0]), for replay lines.
std::string program_name();

}  // namespace simrun::testing
