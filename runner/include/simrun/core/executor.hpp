#pragma once
// The executor interface: where blocking functions run (loop.run_in_executor). The real loop's
// default is a thread pool; the simulator's is FakeExecutor (jobs in virtual time).
//
// A job may be withdrawn before it starts, as a concurrent.futures.Future is cancelled: the task
// awaiting run_in_executor() or to_thread() is cancelled, so the job's JobControl is cancelled,
// and the job never runs. A job that has started runs to its end (its result is dropped).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "simrun/core/clock.hpp"

namespace simrun {

/// The default number of workers of an executor on a machine with `cpu_count` CPUs, as Python's
/// ThreadPoolExecutor chooses it: min(32, cpu_count + 4), where a cpu_count of 0 (unknown)
/// counts as 1. ThreadPool uses std::thread::hardware_concurrency(); the simulator's
/// FakeExecutor uses SimOptions::cpu_count, never the machine's.
std::size_t default_worker_count(std::size_t cpu_count) noexcept;

/// How run_in_executor() and to_thread() submit one job. Inside a coroutine, build it as a named
/// variable rather than as a braced argument of a call inside a co_await expression (g++ 12
/// destroys such a temporary twice; see to_thread.hpp).
struct JobOptions {
    /// A name for traces and the simulator's cost models ("resize", "hang"); may be empty.
    std::string name{};
    /// Only for the simulator (ignored by real executors, where a job takes what it takes): the
    /// job's virtual duration in a SimLoop, counted from when a worker starts it. It replaces
    /// the FakeExecutor's cost model for this job (which is then not asked, and draws no
    /// choice). Duration::max() (JobOptions::never) means the job never finishes: its worker
    /// stays busy, as with a cost model's std::nullopt. A negative duration counts as 0.
    std::optional<Duration> sim_duration{};

    /// sim_duration for a job that never finishes.
    static constexpr Duration never = Duration::max();
};

/// The life of one submitted job, shared by its submitter and the executor that runs it: queued,
/// then started, or cancelled instead (concurrent.futures.Future's state machine without the
/// result). Thread-safe: any thread may call any member at the same time.
class JobControl {
  public:
    JobControl() = default;
    JobControl(const JobControl&) = delete;
    JobControl& operator=(const JobControl&) = delete;

    /// Withdraws the job if it has not started: it will never run, and the withdraw hook (if
    /// any) runs at once on the calling thread. Returns true then; false if the job started
    /// already (it runs to its end) or was cancelled before.
    bool cancel();
    /// For executors, just before the job's work runs: marks it started and returns true, or
    /// returns false if it was cancelled (skip it then). True again on a started job.
    bool start();
    /// True once cancel() withdrew the job.
    bool cancelled() const;
    /// True once start() marked the job started.
    bool started() const;
    /// For executors, at submission: `withdraw` drops the job from the executor's queue when it
    /// is cancelled, so it holds no place in the queue, its captures are released at once and a
    /// shutdown does not wait for it. Called at most once, by cancel(), without any lock of this
    /// object held; at once here if the job is already cancelled; never if it started (the hook
    /// is dropped then). Replaces an earlier hook.
    void on_cancel(std::function<void()> withdraw);

  private:
    enum class Phase : std::uint8_t { queued, started, cancelled };
    mutable std::mutex mutex_;
    Phase phase_ = Phase::queued;
    std::function<void()> withdraw_;
};

/// One blocking job.
struct ExecutorJob {
    /// A name for traces and cost models ("resize", "hang"); may be empty.
    std::string name;
    /// The work. It must not throw: run_in_executor wraps user functions so that they report
    /// their result or exception back to the loop themselves.
    std::function<void()> work;
    /// How the submitter withdraws the job (null: it cannot be withdrawn). An executor calls
    /// `control->start()` just before `work` and skips the job if that returns false; it may
    /// also register a withdraw hook (JobControl::on_cancel) to drop the job from its queue at
    /// once. run_in_executor() sets it, and its work checks start() too, so an executor that
    /// ignores this field still never runs a withdrawn job's function.
    std::shared_ptr<JobControl> control{};
    /// The simulator's virtual duration for this job (JobOptions::sim_duration); real
    /// executors ignore it.
    std::optional<Duration> sim_duration{};
};

/// Runs jobs away from the loop.
class Executor {
  public:
    virtual ~Executor() = default;
    /// Queues a job. Throws RuntimeError after shutdown.
    virtual void submit(ExecutorJob job) = 0;
    /// Stops accepting jobs. With `wait`, blocks until every submitted job ended (never call
    /// that on the loop thread of a simulated executor). Idempotent. A withdrawn job counts as
    /// ended.
    virtual void shutdown(bool wait) = 0;
    /// Stops accepting jobs and calls `on_joined` once every submitted job has ended (from any
    /// thread, possibly at once); a withdrawn job counts as ended. shutdown_default_executor()
    /// awaits this with its timeout.
    virtual void join_async(std::function<void()> on_joined) = 0;
};

}  // namespace simrun
