#include "simrun/epoll/thread_pool.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "simrun/core/exceptions.hpp"

namespace simrun {
namespace {

/// Blocks every asynchronous signal in the calling thread for its lifetime, then restores the
/// previous mask. A thread inherits its creator's mask, so creating a worker inside this scope
/// means no signal can ever be delivered to it; blocking from inside the new thread would leave
/// a window between its birth and its first instruction.
class AllSignalsBlocked {
  public:
    AllSignalsBlocked() noexcept {
        // Not the synchronous signals (a fault in a job must still reach crash handlers and
        // sanitizers) nor SIGPROF (profilers sample every thread).
        sigset_t all;
        sigfillset(&all);
        for (int synchronous : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGPROF})
            sigdelset(&all, synchronous);
        pthread_sigmask(SIG_BLOCK, &all, &previous_);
    }
    ~AllSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
    AllSignalsBlocked(const AllSignalsBlocked&) = delete;
    AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

  private:
    sigset_t previous_;
};

/// The pool whose worker the calling thread is (null on other threads), to refuse a job that
/// would wait for itself.
thread_local const void* current_pool_state = nullptr;

std::size_t resolve_max_workers(std::size_t requested) {
    if (requested != 0)
        return requested;
    // As Python: min(32, (os.process_cpu_count() or 1) + 4).
    return default_worker_count(std::thread::hardware_concurrency());
}

void run_ignoring_errors(const std::function<void()>& fn) noexcept {
    if (!fn)
        return;
    try {
        fn();
    } catch (...) {
        // ExecutorJob::work and join_async callbacks must not throw; if one does, the worker
        // thread must survive it (an exception escaping a thread would terminate the process).
    }
}

}  // namespace

/// Shared by the ThreadPool and every worker thread: a detached worker keeps it alive after the
/// ThreadPool is gone. Every field is guarded by `mutex`.
struct ThreadPool::State {
    struct Worker {
        std::thread thread;        // only the pool's side touches it
        bool running_job = false;  // the worker's side writes these two
        bool finished = false;     // left its loop (it may still be calling on_joined)
    };

    void run_worker(Worker& self);
    /// Takes the job `control` belongs to out of the queue (an empty job if it is not there).
    ExecutorJob withdraw(const JobControl& control);
    bool all_finished() const { return alive == 0; }
    /// Moves out the threads of finished workers, except the calling thread's own (detached).
    std::vector<std::thread> take_finished_threads();

    mutable std::mutex mutex;
    std::condition_variable work_ready;    // workers wait here for a job or shutdown
    std::condition_variable workers_done;  // shutdown(wait) waits here
    std::deque<ExecutorJob> queue;
    std::deque<Worker> workers;  // a deque: a worker keeps a reference to its entry
    std::vector<std::function<void()>> on_joined;
    std::size_t idle = 0;   // workers waiting for a job
    std::size_t alive = 0;  // workers started and not finished
    bool shutdown = false;
};

void ThreadPool::State::run_worker(Worker& self) {
    current_pool_state = this;
    std::unique_lock lock(mutex);
    for (;;) {
        if (queue.empty()) {
            if (shutdown)
                break;
            ++idle;
            work_ready.wait(lock, [this] { return !queue.empty() || shutdown; });
            --idle;
            continue;
        }
        ExecutorJob job = std::move(queue.front());
        queue.pop_front();
        // A job cancelled after it left the queue's reach (withdraw() found it gone) is skipped.
        const bool runs = !job.control || job.control->start();
        self.running_job = runs;
        lock.unlock();
        if (runs)
            run_ignoring_errors(job.work);
        job = {};  // the job's captures die outside the lock too
        lock.lock();
        self.running_job = false;
    }
    self.finished = true;
    --alive;
    std::vector<std::function<void()>> callbacks;
    if (alive == 0) {
        callbacks.swap(on_joined);
        workers_done.notify_all();
    }
    lock.unlock();
    for (const auto& callback : callbacks)
        run_ignoring_errors(callback);
}

ExecutorJob ThreadPool::State::withdraw(const JobControl& control) {
    std::lock_guard lock(mutex);
    auto found = std::find_if(queue.begin(), queue.end(), [&](const ExecutorJob& job) {
        return job.control.get() == &control;
    });
    if (found == queue.end())
        return {};  // a worker took it already and will skip it
    ExecutorJob job = std::move(*found);
    queue.erase(found);
    // Nothing to wake: an idle worker waits for a job or the shutdown, and a busy one finds
    // the queue without this job when it comes back.
    return job;
}

std::vector<std::thread> ThreadPool::State::take_finished_threads() {
    std::vector<std::thread> threads;
    for (Worker& worker : workers) {
        if (!worker.finished || !worker.thread.joinable())
            continue;
        if (worker.thread.get_id() == std::this_thread::get_id()) {
            worker.thread.detach();  // a join_async callback shutting down its own pool
        } else {
            threads.push_back(std::move(worker.thread));
        }
    }
    return threads;
}

ThreadPool::ThreadPool(ThreadPoolOptions options)
    : state_(std::make_shared<State>()), max_workers_(resolve_max_workers(options.max_workers)) {}

ThreadPool::~ThreadPool() {
    std::vector<std::thread> to_join;
    std::vector<std::function<void()>> dropped_callbacks;
    {
        std::lock_guard lock(state_->mutex);
        state_->shutdown = true;
        dropped_callbacks.swap(state_->on_joined);
        for (State::Worker& worker : state_->workers) {
            if (!worker.thread.joinable())
                continue;
            // A worker ends promptly if it already left its loop, or if it is idle and no job is
            // left for it (no job can come: submit() now throws). Any other is, or will be, busy.
            bool ends_promptly = worker.finished || (!worker.running_job && state_->queue.empty());
            if (ends_promptly && worker.thread.get_id() != std::this_thread::get_id()) {
                to_join.push_back(std::move(worker.thread));
            } else {
                worker.thread.detach();
            }
        }
    }
    state_->work_ready.notify_all();
    for (std::thread& thread : to_join)
        thread.join();
}

void ThreadPool::submit(ExecutorJob job) {
    std::shared_ptr<JobControl> control = job.control;
    enqueue(std::move(job));
    if (!control)
        return;
    // Registered once the pool's lock is released: a job cancelled already is withdrawn here,
    // at once, and the hook takes that lock. The hook holds the state weakly: the control may
    // outlive the pool.
    std::weak_ptr<State> weak_state = state_;
    control->on_cancel([weak_state, &control = *control] {
        if (std::shared_ptr<State> state = weak_state.lock())
            state->withdraw(control);  // the returned job dies here, with the lock released
    });
}

void ThreadPool::enqueue(ExecutorJob job) {
    std::lock_guard lock(state_->mutex);
    if (state_->shutdown)
        throw RuntimeError("cannot schedule new futures after shutdown");
    state_->queue.push_back(std::move(job));
    state_->work_ready.notify_one();
    // Every idle worker will take one queued job; start a thread only for a job none is left for.
    if (state_->queue.size() <= state_->idle || state_->alive >= max_workers_)
        return;
    State::Worker& worker = state_->workers.emplace_back();
    try {
        AllSignalsBlocked blocked;
        worker.thread = std::thread([state = state_, &worker] { state->run_worker(worker); });
    } catch (...) {
        state_->workers.pop_back();
        if (state_->alive > 0)
            return;  // a busy worker will take the job later
        state_->queue.pop_back();
        throw RuntimeError("can't start new thread");
    }
    // The new thread blocks on the mutex we hold, so it cannot finish before this count.
    ++state_->alive;
}

void ThreadPool::shutdown(bool wait) {
    shutdown(wait, std::nullopt);
}

bool ThreadPool::shutdown(bool wait, std::optional<Duration> timeout) {
    std::unique_lock lock(state_->mutex);
    state_->shutdown = true;
    state_->work_ready.notify_all();
    if (!wait)
        return state_->all_finished();
    if (!state_->all_finished() && current_pool_state == state_.get())
        throw RuntimeError("a ThreadPool job cannot wait for its own pool's shutdown");
    auto finished = [this] { return state_->all_finished(); };
    if (!timeout) {
        state_->workers_done.wait(lock, finished);
    } else {
        // wait_for() adds the timeout to now() and overflows on huge durations: cap it.
        constexpr Duration century = std::chrono::hours(24 * 365 * 100);
        Duration bounded = std::clamp(*timeout, Duration::zero(), century);
        if (!state_->workers_done.wait_for(lock, bounded, finished))
            return false;
    }
    std::vector<std::thread> to_join = state_->take_finished_threads();
    lock.unlock();
    for (std::thread& thread : to_join)
        thread.join();
    return true;
}

void ThreadPool::join_async(std::function<void()> on_joined) {
    {
        std::lock_guard lock(state_->mutex);
        state_->shutdown = true;
        state_->work_ready.notify_all();
        if (!state_->all_finished()) {
            state_->on_joined.push_back(std::move(on_joined));
            return;
        }
    }
    run_ignoring_errors(on_joined);
}

std::size_t ThreadPool::worker_count() const {
    std::lock_guard lock(state_->mutex);
    return state_->alive;
}

std::size_t ThreadPool::idle_workers() const {
    std::lock_guard lock(state_->mutex);
    return state_->idle;
}

std::size_t ThreadPool::pending_jobs() const {
    std::lock_guard lock(state_->mutex);
    return state_->queue.size();
}

}  // namespace simrun
