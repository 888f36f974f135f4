#pragma once
// ThreadPool: the real loop's default executor, as Python's concurrent.futures.ThreadPoolExecutor.
// Jobs wait in one FIFO queue; worker threads start lazily, one per submit that finds no idle
// worker, up to a maximum, and then stay until shutdown. A job whose JobControl is cancelled
// before a worker takes it leaves the queue at once and never runs (concurrent.futures cancels
// a pending work item the same way); a running job cannot be stopped.
//
// Differences from Python, on purpose:
// - Worker threads block every asynchronous signal from birth, so a POSIX signal handler (the
//   Runner's SIGINT handler, the real loop's signal wake-up) only ever runs on a loop thread.
// - The destructor never waits for a running job. Python joins its worker threads at interpreter
//   exit and hangs forever on a stuck job; here the destructor stops accepting jobs, lets the
//   queued ones still run, joins the idle workers and detaches the busy ones (they keep the
//   pool's internal state alive, never the ThreadPool object). So a Runner's executor timeout
//   really bounds its shutdown; the cost is that a stuck job's thread outlives the pool.
// - A job that throws (ExecutorJob::work must not) is ignored; its worker goes on.
//
// Thread safety: every member function may be called from any thread at the same time.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>

#include "simrun/core/clock.hpp"
#include "simrun/core/executor.hpp"

namespace simrun {

/// Options of a ThreadPool.
struct ThreadPoolOptions {
    /// Most worker threads at once; 0 means min(32, hardware_concurrency + 4), as Python's
    /// ThreadPoolExecutor.
    std::size_t max_workers = 0;
};

/// A pool of worker threads running ExecutorJobs (see the file comment).
class ThreadPool final : public Executor {
  public:
    /// Starts no thread yet; the first submit() starts the first worker.
    explicit ThreadPool(ThreadPoolOptions options = {});
    /// Stops accepting jobs and returns without waiting for running jobs (see the file
    /// comment). Queued jobs still run; join_async() callbacks not called yet never will be
    /// (their owner is usually what is being destroyed), and none is running once it returns.
    ~ThreadPool() override;
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    /// Queues `job` behind the jobs already queued (jobs start in submission order) and starts
    /// a worker if no idle worker is left for it and fewer than max_workers() exist. Throws
    /// RuntimeError "cannot schedule new futures after shutdown" after shutdown or
    /// join_async(), and RuntimeError "can't start new thread" if no worker exists and none
    /// can be started (the job is then dropped). If `job.control` is set, cancelling it before
    /// a worker takes the job removes the job from the queue (its captures are destroyed on the
    /// cancelling thread) and it never runs; jobs behind it move up.
    void submit(ExecutorJob job) override;
    /// shutdown(wait, no timeout).
    void shutdown(bool wait) override;
    /// Stops accepting jobs (queued jobs still run). With `wait`, blocks until every submitted
    /// job has ended or `timeout` passed, and joins the workers once they all have. Returns true
    /// if every job has ended. Idempotent; RuntimeError if a job of this pool waits for it.
    bool shutdown(bool wait, std::optional<Duration> timeout);
    /// Stops accepting jobs; calls `on_joined` once every submitted job has ended: at once on
    /// the calling thread if none is left, else on the last worker thread to finish. Exceptions
    /// thrown by `on_joined` are ignored.
    void join_async(std::function<void()> on_joined) override;

    /// Worker threads started so far and not yet finished (workers finish only at shutdown).
    std::size_t worker_count() const;
    /// Workers waiting for a job right now (a submit() finding one starts no thread).
    std::size_t idle_workers() const;
    /// Jobs queued and not yet started (withdrawn ones are gone from the queue).
    std::size_t pending_jobs() const;
    /// The resolved maximum number of workers (never 0).
    std::size_t max_workers() const noexcept { return max_workers_; }

  private:
    struct State;
    /// submit() without the withdraw hook.
    void enqueue(ExecutorJob job);
    std::shared_ptr<State> state_;
    std::size_t max_workers_;
};

}  // namespace simrun
