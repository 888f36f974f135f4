#pragma once
// rapidcheck glue of the testing kit: generators of fault plans (signal schedules, executor job
// durations including jobs that never finish, the simulator's choices) and check_in_sim(), which
// runs a property's program in a SimLoop under a plan, so that rapidcheck shrinks a failure to a
// small plan and a short schedule.
//
//     RC_GTEST_PROP / rc::check("the service shuts down cleanly", [] {
//         const auto plan = *simrun::testing::fault_plans(10s);
//         simrun::testing::check_in_sim(plan, [] { return service(); },
//                                       {.allow_keyboard_interrupt = true});
//     });
//
// FaultPlan::extra is a hook for faults the plan does not model (a simulated network's
// partitions, say): it is called with the loop before the body starts, and is not generated.

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <rapidcheck.h>

#include "simrun/sim/sim.hpp"
#include "simrun/testing.hpp"

namespace simrun::testing {

/// A signal that arrives at a virtual time.
struct ScheduledSignal {
    Duration at{};
    int signum = SIGINT;
};

/// The faults of one simulated run, as plain data that rapidcheck generates, shrinks and prints.
struct FaultPlan {
    /// Signals to deliver (FakeSignals::schedule_at).
    std::vector<ScheduledSignal> signals{};
    /// Virtual durations of the default executor's jobs, in submission order; std::nullopt: the
    /// job never finishes. Jobs past the list take FaultPlan::other_jobs.
    std::vector<std::optional<Duration>> jobs{};
    /// Duration of the jobs past `jobs`.
    Duration other_jobs = std::chrono::milliseconds(1);
    /// The simulator's choices (timer ties, lateness), as ScriptedChoices: shrinks towards the
    /// simplest schedule.
    std::vector<std::uint64_t> choices{};
    /// More faults (see the file comment).
    std::function<void(sim::SimLoop&)> extra{};
};

inline std::ostream& operator<<(std::ostream& out, const FaultPlan& plan) {
    out << "FaultPlan{signals:";
    for (const ScheduledSignal& signal : plan.signals)
        out << " " << sim::signal_name(signal.signum) << "@" << sim::format_time(signal.at);
    out << "; jobs:";
    for (const std::optional<Duration>& job : plan.jobs)
        out << " " << (job ? sim::format_time(*job) : std::string("hangs"));
    out << "; choices:";
    for (std::uint64_t choice : plan.choices)
        out << " " << choice;
    return out << (plan.extra ? "; extra hook" : "") << "}";
}

/// A cost model for FakeExecutorOptions::cost: job i takes durations[i] (std::nullopt: never
/// finishes); later jobs take `otherwise`.
inline sim::CostModel scripted_cost(std::vector<std::optional<Duration>> durations,
                                    Duration otherwise = std::chrono::milliseconds(1)) {
    return
        [durations = std::move(durations), otherwise](const sim::JobInfo& job, sim::ChoiceSource&) {
            return job.index < durations.size() ? durations[job.index]
                                                : std::optional<Duration>(otherwise);
        };
}

/// A virtual duration in [0, longest], in whole milliseconds; shrinks towards 0.
inline rc::Gen<Duration> durations(Duration longest) {
    const auto bound = std::chrono::duration_cast<std::chrono::milliseconds>(longest).count();
    return rc::gen::map(rc::gen::inRange<std::int64_t>(0, bound + 1),
                        [](std::int64_t ms) { return Duration(std::chrono::milliseconds(ms)); });
}

/// Signal schedules: up to `max_signals` signals (each one of `signums`) at virtual times in
/// [0, horizon], sorted by time; shrinks towards fewer and earlier signals.
inline rc::Gen<std::vector<ScheduledSignal>> signal_schedules(Duration horizon,
                                                              std::size_t max_signals = 3,
                                                              std::vector<int> signums = {SIGINT}) {
    auto one = rc::gen::map(rc::gen::pair(durations(horizon), rc::gen::elementOf(signums)),
                            [](const std::pair<Duration, int>& p) {
                                return ScheduledSignal{p.first, p.second};
                            });
    return rc::gen::map(rc::gen::container<std::vector<ScheduledSignal>>(one),
                        [max_signals](std::vector<ScheduledSignal> list) {
                            if (list.size() > max_signals)
                                list.resize(max_signals);
                            std::stable_sort(list.begin(), list.end(),
                                             [](const ScheduledSignal& a,
                                                const ScheduledSignal& b) { return a.at < b.at; });
                            return list;
                        });
}

/// One executor job's duration in [0, longest]; about `hung_percent` % never finish
/// (std::nullopt). Shrinks towards a job that finishes at once.
inline rc::Gen<std::optional<Duration>> job_durations(Duration longest, int hung_percent = 10) {
    return rc::gen::map(rc::gen::pair(rc::gen::inRange(0, 100), durations(longest)),
                        [hung_percent](const std::pair<int, Duration>& p) {
                            return p.first >= 100 - hung_percent ? std::optional<Duration>()
                                                                 : std::optional(p.second);
                        });
}

/// The simulator's choices for ScriptedChoices: shrinks towards fewer and smaller choices.
inline rc::Gen<std::vector<std::uint64_t>> choice_scripts() {
    return rc::gen::container<std::vector<std::uint64_t>>(
        rc::gen::inRange<std::uint64_t>(0, std::uint64_t{1} << 20));
}

/// Fault plans: signal_schedules(horizon, max_signals, signums), job_durations for the first
/// jobs, choice_scripts().
inline rc::Gen<FaultPlan> fault_plans(Duration horizon, std::size_t max_signals = 3,
                                      Duration longest_job = std::chrono::seconds(5),
                                      int hung_percent = 10, std::vector<int> signums = {SIGINT}) {
    return rc::gen::map(
        rc::gen::tuple(signal_schedules(horizon, max_signals, std::move(signums)),
                       rc::gen::container<std::vector<std::optional<Duration>>>(
                           job_durations(longest_job, hung_percent)),
                       choice_scripts()),
        [](std::tuple<std::vector<ScheduledSignal>, std::vector<std::optional<Duration>>,
                      std::vector<std::uint64_t>>
               parts) {
            FaultPlan plan;
            plan.signals = std::move(std::get<0>(parts));
            plan.jobs = std::move(std::get<1>(parts));
            plan.choices = std::move(std::get<2>(parts));
            return plan;
        });
}

/// `options` with `plan` applied: the executor's cost model, the scripted choices, and a setup
/// that schedules the signals and calls plan.extra (then options.setup).
inline SimTestOptions with_plan(SimTestOptions options, const FaultPlan& plan) {
    options.executor.cost = scripted_cost(plan.jobs, plan.other_jobs);
    options.choices = [choices = plan.choices](std::uint64_t) {
        return std::shared_ptr<sim::ChoiceSource>(std::make_shared<sim::ScriptedChoices>(choices));
    };
    options.setup = [plan, setup = options.setup](sim::SimLoop& loop, std::uint64_t seed) {
        for (const ScheduledSignal& signal : plan.signals)
            loop.fake_signals().schedule_at(signal.at, signal.signum);
        if (plan.extra)
            plan.extra(loop);
        if (setup)
            setup(loop, seed);
    };
    return options;
}

/// Runs `body` once in a SimLoop under `plan` (see with_plan; the real-time guard included) and
/// returns the run. If the body or the clean-up fails, or the guard caught a call: an exception
/// the kit does not know (RC_ASSERT's) is rethrown as it is, any other ends the property with
/// RC_FAIL (the reason and the trace's tail), so rapidcheck shrinks the plan.
inline SeedRun check_in_sim(const FaultPlan& plan, const TestBody& body,
                            SimTestOptions options = {}) {
    const std::size_t tail_lines = options.trace_tail;
    SeedRun run = run_seed(with_plan(std::move(options), plan), 0, body);
    std::string tail;
    for (const sim::TraceEntry& entry : run.loop->trace().last(tail_lines))
        tail += "\n  " + sim::Trace::format_entry(entry);
    if (run.error) {
        try {
            std::rethrow_exception(run.error);
        } catch (const BaseException&) {
        } catch (const std::exception&) {
        }  // anything else propagates
        RC_FAIL(describe(run.error) + "\nlast trace entries:" + tail);
    }
    if (!run.leaks.empty())
        RC_FAIL("real time leaked into the simulation: " + run.leaks.front() +
                "\nlast trace entries:" + tail);
    return run;
}

}  // namespace simrun::testing
