#pragma once
// FakeExecutor: the simulator's default executor. Jobs run on the loop thread, in virtual time:
// a fixed number of workers take jobs in FIFO order, each job takes a virtual duration, and a
// job may never finish (its worker stays busy forever), which is how a test exercises the
// Runner's executor shutdown timeout.
//
// A job's duration is, in this order: the one given at submission
// (`to_thread(fn, {.name = "resize", .sim_duration = 2s})`, JobOptions::sim_duration;
// JobOptions::never: it never finishes), else what the cost model says (FakeExecutorOptions::cost,
// which sees the job's index and name), else 1 ms. It counts from when a worker starts the job.
// Duration::max() means never; a negative duration counts as 0.
//
// The worker count is FakeExecutorOptions::workers, by default what Python's ThreadPoolExecutor
// would choose on the simulated machine: min(32, SimOptions::cpu_count + 4), 8 with the default
// of 4 CPUs. The machine's real CPU count is never read, so a seed replays the same everywhere.
//
// on_job_done() observes completions: the observer runs on the loop's thread, inside the loop
// iteration that completes the job, so it is as deterministic as the rest of the run.
//
// A queued job whose JobControl is cancelled
// (its task was cancelled while it waited for a worker) leaves the queue at once, noted as
// "cancelled #N" in the trace: it takes no worker and no choice, and never runs. A job that
// started (its virtual duration is running) finishes as planned; its result is dropped.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "simrun/core/clock.hpp"
#include "simrun/core/executor.hpp"

namespace simrun::sim {

class ChoiceSource;
class SimLoop;

/// What a cost model knows about a job.
struct JobInfo {
    std::uint64_t index;  ///< 0 for the first job submitted, then 1, 2, ...
    const std::string& name;
};

/// The virtual duration of a job; std::nullopt means it never finishes.
using CostModel = std::function<std::optional<Duration>(const JobInfo&, ChoiceSource&)>;

/// Every job takes `duration`.
CostModel fixed_cost(Duration duration);
/// Each job takes a seeded random duration in [shortest, longest].
CostModel random_cost(Duration shortest, Duration longest);
/// Jobs whose name is `name` never finish; the others follow `otherwise`.
CostModel never_finishes_if_named(std::string name, CostModel otherwise);

/// Called as a job finishes: the job (index, name) and the virtual time.
using JobObserver = std::function<void(const JobInfo& job, Duration at)>;

/// Options of the fake executor.
struct FakeExecutorOptions {
    /// How many jobs run at once; more wait in FIFO order. std::nullopt (the default):
    /// min(32, SimOptions::cpu_count + 4), as Python's ThreadPoolExecutor chooses. 0 is a
    /// ValueError when the executor is made.
    std::optional<std::size_t> workers{};
    /// Durations of the jobs submitted without JobOptions::sim_duration (default: 1 ms each).
    CostModel cost{};
};

/// See the file comment. Made by SimLoop as its default executor.
class FakeExecutor final : public Executor {
  public:
    FakeExecutor(SimLoop& loop, FakeExecutorOptions options);
    /// Drops every job (discard()).
    ~FakeExecutor() override;
    FakeExecutor(const FakeExecutor&) = delete;
    FakeExecutor& operator=(const FakeExecutor&) = delete;

    /// Queues `job` (started at once if a worker is free). Its duration is job.sim_duration if
    /// set, else the cost model's (see the file comment). RuntimeError "cannot schedule new
    /// futures after shutdown" after shutdown() or join_async().
    void submit(ExecutorJob job) override;
    void shutdown(bool wait) override;
    void join_async(std::function<void()> on_joined) override;

    /// How many jobs run at once (FakeExecutorOptions::workers, or the default it stands for).
    std::size_t workers() const noexcept { return workers_; }
    /// Calls `observer` each time a job finishes, right after its function ran (its result
    /// reaches the awaiting future in a later callback of the same iteration), with the job's
    /// index and name and the virtual time; not for hung or withdrawn jobs. One observer at a
    /// time; an empty function removes it. It runs on the loop's thread inside the loop's
    /// iteration; an exception it throws leaves through the loop's run call.
    void on_job_done(JobObserver observer) { job_observer_ = std::move(observer); }

    /// The earliest completion time of a running job, if any.
    std::optional<Duration> next_completion() const;
    /// Finishes every job due at or before `now` (their results go to the loop).
    void complete_due(Duration now);
    /// Jobs that will never finish, submitted so far.
    std::size_t hung_jobs() const noexcept { return hung_; }
    /// Jobs queued or running (hung ones included).
    std::size_t unfinished_jobs() const noexcept { return queue_.size() + running_.size() + hung_; }
    bool is_shutdown() const noexcept { return shutdown_; }
    /// Drops every job (the loop closed).
    void discard() noexcept;

  private:
    void start_queued();
    /// Takes the queued job number `index` out of the queue (its control was cancelled).
    void withdraw(std::uint64_t index);
    void notify_if_joined();

    SimLoop& loop_;
    FakeExecutorOptions options_;
    std::deque<ExecutorJob> queue_;
    std::deque<std::uint64_t> queued_index_;
    std::multimap<std::pair<Duration, std::uint64_t>, ExecutorJob> running_;
    std::vector<std::function<void()>> on_joined_;
    JobObserver job_observer_;
    std::uint64_t submitted_ = 0;
    std::size_t workers_ = 0;
    std::size_t hung_ = 0;
    bool shutdown_ = false;
};

}  // namespace simrun::sim
