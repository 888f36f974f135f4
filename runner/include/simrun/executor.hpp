#pragma once
// The executor interface: where blocking functions run (loop.run_in_executor). The real loop's
// default is a thread pool; the simulator's is FakeExecutor (jobs in virtual time).

#include <functional>
#include <string>

namespace simrun {

/// One blocking job.
struct ExecutorJob {
    /// A name for traces and cost models ("resize", "hang"); may be empty.
    std::string name;
    /// The work. It must not throw: run_in_executor wraps user functions so that they report
    /// their result or exception back to the loop themselves.
    std::function<void()> work;
};

/// Runs jobs away from the loop.
class Executor {
  public:
    virtual ~Executor() = default;
    /// Queues a job. Throws RuntimeError after shutdown.
    virtual void submit(ExecutorJob job) = 0;
    /// Stops accepting jobs. With `wait`, blocks until every submitted job ended (never call
    /// that on the loop thread of a simulated executor). Idempotent.
    virtual void shutdown(bool wait) = 0;
    /// Stops accepting jobs and calls `on_joined` once every submitted job has ended (from any
    /// thread, possibly at once). shutdown_default_executor() awaits this with its timeout.
    virtual void join_async(std::function<void()> on_joined) = 0;
};

}  // namespace simrun
