#pragma once
// worker_service.hpp: a small job-processing service, written only against simrun's generic API
// (tasks, AsyncGen, Event, gather, timeout, run_in_executor). Nothing here knows about the
// simulator, so the same code runs unchanged on the real loop; worker_service_demo.cpp runs it
// in the simulator under hundreds of seeded schedules, Ctrl-Cs included.
//
// The parts:
//   incoming_work()       an async generator standing in for a network connection
//   WorkQueue             a bounded queue: the reader waits when the workers fall behind
//   worker()              N tasks; each hands the blocking part of a job to the executor
//   heartbeat()           a background task reporting progress every second
//   service_main()        wires them together; ends by itself when the source runs dry, or
//                         shuts down gracefully when cancelled (the first Ctrl-C does that)
//
//     int done = simrun::run(worker_service::service_main(config, journal));

#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <simrun/simrun.hpp>

namespace worker_service {

using simrun::AsyncGen;
using simrun::Coro;
using simrun::Duration;
using simrun::Task;
using namespace std::chrono_literals;

/// One request. `job` names the kind of work; it is also the executor job's name, so traces
/// and cost models can tell jobs apart ("quick", "slow", "hang", "broken", "cpu").
struct WorkItem {
    int id = 0;
    std::string job;
    std::string payload;
};

struct ServiceConfig {
    std::vector<std::string> jobs;  ///< the requests that will arrive, in order
    Duration arrival_gap = 250ms;   ///< between two requests
    std::size_t workers = 3;
    std::size_t queue_capacity = 2;
    Duration job_timeout = 5s;  ///< per executor job: a hung job must not stall a worker
    Duration heartbeat_period = 1s;
    Duration drain_timeout = 2s;  ///< on shutdown: how long in-flight jobs may still take
    Duration flush_timeout = 500ms;
    /// Work for "cpu" jobs, done on the loop thread itself (a tight loop that blocks the loop:
    /// the case where only a second Ctrl-C gets you out). Empty: such jobs cost nothing.
    std::function<void(const WorkItem&)> cpu_work;
};

/// What the service did: the caller reads it after run(), whichever way run() ended.
struct Journal {
    std::vector<std::string> lines;
    std::function<void(const std::string&)> echo;  ///< optional: also send each line elsewhere
    int completed = 0, failed = 0, timed_out = 0, dropped = 0;
    bool source_closed = false, shutdown_started = false, drained = false, flushed = false;
    bool stopped = false;  ///< service_main reached its end (returned or re-raised)

    void record(const std::string& what) {
        char stamp[32] = "";
        if (simrun::EventLoop* loop = simrun::running_loop_or_null()) {
            std::snprintf(stamp, sizeof stamp, "[t=%.3fs] ", simrun::to_seconds(loop->time()));
        }
        lines.push_back(stamp + what);
        if (echo) {
            echo(what);
        }
    }
};

/// The blocking part of a job: fine on an executor thread, never on the loop thread.
inline std::uint32_t checksum(const std::string& payload) {
    if (payload.empty()) {
        throw simrun::ValueError("empty payload");
    }
    std::uint32_t hash = 2166136261U;  // FNV-1a
    for (unsigned char c : payload) {
        hash = (hash ^ c) * 16777619U;
    }
    return hash;
}

/// Requests from "the network", one every `gap`. Its clean-up runs however it ends (exhausted,
/// aclose(), or the reading task cancelled) and may await, like a Python `finally:` block.
inline AsyncGen<WorkItem> incoming_work(std::vector<std::string> jobs, Duration gap,
                                        std::shared_ptr<Journal> journal) {
    std::exception_ptr ending;  // GeneratorExit from aclose(), or CancelledError
    try {
        for (std::size_t i = 0; i < jobs.size(); ++i) {
            co_await simrun::sleep(gap);
            WorkItem item{static_cast<int>(i), jobs[i],
                          jobs[i] == "broken" ? "" : "request-" + std::to_string(i)};
            co_yield std::move(item);  // not `co_yield WorkItem{...}`: g++ 12 miscompiles that
        }
    } catch (...) {
        ending = std::current_exception();  // co_await is not allowed inside a catch block
    }
    journal->source_closed = true;  // nothing is read from here on
    journal->record(ending ? "source closed (" + simrun::describe_exception(ending) + ")"
                           : "source exhausted and closed");
    co_await simrun::sleep(30ms);  // a polite goodbye to the peer; a cancellation may cut it short
    if (ending) {
        std::rethrow_exception(ending);
    }
}

/// A bounded multi-consumer queue built from two Events. Shared through a shared_ptr: the worker
/// tasks may outlive the frame that made it (a second Ctrl-C ends service_main first).
class WorkQueue {
  public:
    WorkQueue(std::size_t capacity, std::size_t workers) : capacity_(capacity), workers_(workers) {}

    /// Waits while the queue is full: back-pressure on the reader, not an unbounded backlog.
    Coro<void> put(WorkItem item) {
        while (items_.size() >= capacity_) {
            has_space_.clear();
            co_await has_space_.wait();
        }
        items_.push_back(std::move(item));
        has_items_.set();
    }
    /// The next item, or nothing once the queue is closed and empty.
    Coro<std::optional<WorkItem>> get() {
        while (items_.empty()) {
            if (closed_) {
                co_return std::nullopt;
            }
            has_items_.clear();
            co_await has_items_.wait();  // set() wakes every waiter; the loop re-checks
        }
        WorkItem item = std::move(items_.front());
        items_.pop_front();
        has_space_.set();
        co_return item;
    }
    /// No more items will come; returns how many queued ones were dropped (if `drop`).
    std::size_t close(bool drop) {
        closed_ = true;
        std::size_t dropped = drop ? items_.size() : 0;
        if (drop) {
            items_.clear();
        }
        has_items_.set();
        return dropped;
    }
    void worker_exited() {
        if (--workers_ == 0) {
            all_exited_.set();
        }
    }
    Coro<void> all_workers_exited() { return all_exited_.wait(); }
    std::size_t size() const noexcept { return items_.size(); }

  private:
    std::deque<WorkItem> items_;
    simrun::Event has_items_, has_space_, all_exited_;
    std::size_t capacity_, workers_;
    bool closed_ = false;
};

inline Coro<void> worker(std::shared_ptr<WorkQueue> queue, Duration job_timeout,
                         std::function<void(const WorkItem&)> cpu_work,
                         std::shared_ptr<Journal> journal) {
    simrun::EventLoop& loop = simrun::get_running_loop();
    while (std::optional<WorkItem> item = co_await queue->get()) {
        std::string what = "job " + std::to_string(item->id) + " (" + item->job + ")";
        if (item->job == "cpu") {
            if (cpu_work) {
                cpu_work(*item);  // blocks the loop: nothing else runs meanwhile
            }
            ++journal->completed;
            continue;
        }
        try {
            // The executor job keeps running if we stop waiting: threads cannot be cancelled.
            auto job = loop.run_in_executor([payload = item->payload] { return checksum(payload); },
                                            item->job);
            co_await simrun::wait_for(job, job_timeout);
            ++journal->completed;
        } catch (const simrun::TimeoutError&) {
            ++journal->timed_out;
            journal->record(what + " timed out; its executor thread is still busy");
        } catch (const std::exception& error) {
            // A job's own error. CancelledError is not a std::exception: it is never caught here.
            ++journal->failed;
            journal->record(what + " failed: " + error.what());
        }
    }
    queue->worker_exited();
}

inline Coro<void> heartbeat(std::shared_ptr<const WorkQueue> queue, Duration period,
                            std::shared_ptr<Journal> journal) {
    for (int beat = 1;; ++beat) {
        co_await simrun::sleep(period);
        journal->record("heartbeat " + std::to_string(beat) + ": " +
                        std::to_string(journal->completed) + " done, " +
                        std::to_string(queue->size()) + " queued");
    }
}

/// The graceful part of Ctrl-C: stop reading, let in-flight jobs finish for a while, flush.
/// `source` belongs to service_main, whose frame outlives this call.
inline Coro<void> shut_down(std::shared_ptr<WorkQueue> queue, std::vector<Task<void>> workers,
                            AsyncGen<WorkItem>& source, const ServiceConfig& config,
                            std::shared_ptr<Journal> journal) {
    journal->shutdown_started = true;
    journal->dropped = static_cast<int>(queue->close(/*drop=*/true));
    journal->record("shutdown: accepting no more work; dropped " +
                    std::to_string(journal->dropped) + " queued request(s)");
    if (!source.finished()) {
        co_await source.aclose();  // GeneratorExit at its co_yield
    }

    bool drained = true;
    try {
        // If time runs out, wait_for cancels the gather, which cancels the workers still busy and
        // returns once they have all ended: no worker outlives the shutdown.
        co_await simrun::wait_for(simrun::gather(workers, simrun::return_exceptions),
                                  config.drain_timeout);
    } catch (const simrun::TimeoutError&) {
        drained = false;
    } catch (const simrun::CancelledError&) {
        // Cancelled again (a second Ctrl-C: Runner.close() cancels every task): give up at once.
        journal->record("shutdown: cancelled again while draining; giving up");
        throw;  // recording needs no co_await, so it may stay inside the catch block
    }
    journal->drained = drained;
    journal->record(drained ? "shutdown: in-flight jobs drained"
                            : "shutdown: drain timed out, busy workers cancelled");

    try {
        co_await simrun::timeout(config.flush_timeout, simrun::sleep(20ms));  // write results out
        journal->flushed = true;
        journal->record("shutdown: flushed " + std::to_string(journal->completed) + " result(s)");
    } catch (const simrun::TimeoutError&) {
        journal->record("shutdown: flush timed out");
    }
}

/// The service. Returns how many jobs completed. Cancelled (Ctrl-C), it shuts down gracefully
/// and then re-raises the cancellation, so run() reports KeyboardInterrupt as it should.
inline Coro<int> service_main(ServiceConfig config, std::shared_ptr<Journal> journal) {
    auto queue = std::make_shared<WorkQueue>(config.queue_capacity, config.workers);
    std::vector<Task<void>> workers;
    for (std::size_t i = 0; i < config.workers; ++i) {
        workers.push_back(
            simrun::create_task(worker(queue, config.job_timeout, config.cpu_work, journal),
                                {.name = "worker-" + std::to_string(i + 1)}));
    }
    std::vector<Task<void>> background{simrun::create_task(
        heartbeat(queue, config.heartbeat_period, journal), {.name = "heartbeat"})};
    AsyncGen<WorkItem> source = incoming_work(config.jobs, config.arrival_gap, journal);

    std::exception_ptr cancelled;
    try {
        while (std::optional<WorkItem> item = co_await source.next()) {
            co_await queue->put(std::move(*item));
        }
        queue->close(/*drop=*/false);  // the workers finish what is queued, then exit
        // An Event rather than gather(workers): cancelling a task that awaits a gather cancels
        // the gathered tasks too, and a Ctrl-C now must let in-flight jobs drain first.
        co_await queue->all_workers_exited();
        journal->record("all work done");
    } catch (const simrun::CancelledError&) {
        cancelled = std::current_exception();  // co_await is not allowed inside a catch block
    }
    if (cancelled) {
        co_await shut_down(queue, workers, source, config, journal);
    }

    for (Task<void>& task : background) {
        task.cancel();
    }
    co_await simrun::gather(background, simrun::return_exceptions);  // gather never throws here
    journal->stopped = true;
    journal->record(cancelled ? "service stopped; re-raising the cancellation" : "service stopped");
    if (cancelled) {
        std::rethrow_exception(cancelled);  // swallowing it would make run() return normally
    }
    co_return journal->completed;
}

}  // namespace worker_service
