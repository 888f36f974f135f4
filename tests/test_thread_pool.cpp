// ThreadPool (the real loop's default executor) and to_thread. Every test synchronises with
// promises and atomics, never with sleeps; a test that leaves a job blocked releases it and
// waits for it before returning.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <simrun/core/to_thread.hpp>
#include <simrun/epoll/thread_pool.hpp>

#include "support.hpp"

#if __has_include(<simrun/epoll/epoll_loop.hpp>)
#include <simrun/epoll/epoll_loop.hpp>
#define SIMRUN_TEST_HAS_EPOLL_LOOP 1
#else
#define SIMRUN_TEST_HAS_EPOLL_LOOP 0
#endif

using namespace simrun;
using namespace std::chrono_literals;

namespace {

/// A one-shot signal that any number of jobs can wait on, and that outlives them all.
class Gate {
  public:
    Gate() : opened_(promise_->get_future().share()) {}
    void open() { promise_->set_value(); }
    /// A waiter to capture in a job (copies share the gate).
    std::shared_future<void> waiter() const { return opened_; }

  private:
    std::shared_ptr<std::promise<void>> promise_ = std::make_shared<std::promise<void>>();
    std::shared_future<void> opened_;
};

/// A job that reports its start, then blocks until `gate` opens.
ExecutorJob blocked_job(std::shared_ptr<std::promise<void>> started, const Gate& gate) {
    return ExecutorJob{"blocked", [started, opened = gate.waiter()] {
                           started->set_value();
                           opened.wait();
                       }};
}

/// Submits a job that blocks on `gate` and returns once it runs on a worker.
void occupy_worker(ThreadPool& pool, const Gate& gate) {
    auto started = std::make_shared<std::promise<void>>();
    std::future<void> running = started->get_future();
    pool.submit(blocked_job(started, gate));
    running.wait();
}

/// Waits until `count` workers of `pool` wait for a job (they get there on their own, promptly).
void wait_idle(const ThreadPool& pool, std::size_t count) {
    while (pool.idle_workers() < count)
        std::this_thread::yield();
}

/// Sets its flag when the thread owning it ends.
struct ThreadExitMarker {
    std::shared_ptr<std::atomic<bool>> exited;
    ~ThreadExitMarker() {
        if (exited)
            exited->store(true);
    }
};
thread_local ThreadExitMarker thread_exit_marker;

/// Waits for `flag` (set by another thread that is about to end, or ending).
void wait_until_set(const std::atomic<bool>& flag) {
    while (!flag.load())
        std::this_thread::yield();
}

bool signal_blocked_in_this_thread(int signum) {
    sigset_t mask;
    sigemptyset(&mask);
    pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    return sigismember(&mask, signum) == 1;
}

}  // namespace

// Real threads: the thread pool itself.
TEST_SUITE_BEGIN("real-only");

TEST_CASE("ThreadPool: a single worker runs jobs in submission order") {
    ThreadPool pool({.max_workers = 1});
    Gate gate;
    occupy_worker(pool, gate);  // so that every later job is queued before any runs
    auto order = std::make_shared<std::vector<int>>();
    auto order_mutex = std::make_shared<std::mutex>();
    for (int i = 0; i < 20; ++i) {
        pool.submit({"record", [order, order_mutex, i] {
                         std::lock_guard lock(*order_mutex);
                         order->push_back(i);
                     }});
    }
    CHECK(pool.pending_jobs() == 20);
    gate.open();
    REQUIRE(pool.shutdown(true, std::nullopt));
    std::vector<int> expected;
    for (int i = 0; i < 20; ++i)
        expected.push_back(i);
    std::lock_guard lock(*order_mutex);
    CHECK(*order == expected);
}

TEST_CASE("ThreadPool: workers start lazily, only for a job no idle worker can take") {
    ThreadPool pool({.max_workers = 3});
    CHECK(pool.max_workers() == 3);
    CHECK(pool.worker_count() == 0);  // no thread before the first job

    Gate first;
    occupy_worker(pool, first);
    CHECK(pool.worker_count() == 1);
    occupy_worker(pool, first);  // the only worker is busy: a second one starts
    CHECK(pool.worker_count() == 2);

    first.open();
    wait_idle(pool, 2);
    Gate second;
    occupy_worker(pool, second);  // two idle workers: both jobs reuse them
    occupy_worker(pool, second);
    CHECK(pool.worker_count() == 2);

    occupy_worker(pool, second);  // none idle, below the maximum: a third starts
    CHECK(pool.worker_count() == 3);
    pool.submit({"queued", [] {}});  // none idle, at the maximum: the job waits
    pool.submit({"queued", [] {}});
    CHECK(pool.worker_count() == 3);
    CHECK(pool.pending_jobs() == 2);

    second.open();
    REQUIRE(pool.shutdown(true, std::nullopt));
    CHECK(pool.worker_count() == 0);
    CHECK(pool.pending_jobs() == 0);
}

TEST_CASE("ThreadPool: the default maximum is min(32, hardware threads + 4), as Python's") {
    ThreadPool pool;
    std::size_t cpus = std::max(1u, std::thread::hardware_concurrency());
    CHECK(pool.max_workers() == std::min<std::size_t>(32, cpus + 4));
}

TEST_CASE("ThreadPool: jobs submitted from several threads each run exactly once") {
    constexpr int submitters = 4;
    constexpr int jobs_each = 300;
    ThreadPool pool({.max_workers = 3});
    auto runs = std::make_shared<std::vector<std::atomic<int>>>(submitters * jobs_each);
    std::vector<std::thread> threads;
    for (int t = 0; t < submitters; ++t) {
        threads.emplace_back([&pool, runs, t] {
            for (int i = 0; i < jobs_each; ++i) {
                int index = t * jobs_each + i;
                pool.submit({"count", [runs, index] { (*runs)[index].fetch_add(1); }});
            }
        });
    }
    for (std::thread& thread : threads)
        thread.join();
    CHECK(pool.worker_count() <= 3);
    REQUIRE(pool.shutdown(true, std::nullopt));
    int wrong = 0;
    for (const std::atomic<int>& count : *runs)
        wrong += count.load() == 1 ? 0 : 1;
    CHECK(wrong == 0);
    CHECK(pool.worker_count() == 0);
}

TEST_CASE("ThreadPool: shutdown(wait) returns only after every job ended, queued ones included") {
    ThreadPool pool({.max_workers = 1});
    Gate gate;
    occupy_worker(pool, gate);
    auto ended = std::make_shared<std::atomic<int>>(0);
    for (int i = 0; i < 3; ++i)
        pool.submit({"queued", [ended] { ended->fetch_add(1); }});
    std::thread opener([&gate] { gate.open(); });
    pool.shutdown(true);
    CHECK(ended->load() == 3);
    CHECK(pool.worker_count() == 0);
    opener.join();
}

TEST_CASE("ThreadPool: shutdown(wait, timeout) gives up on a blocked job and succeeds later") {
    ThreadPool pool({.max_workers = 2});
    Gate gate;
    occupy_worker(pool, gate);
    CHECK_FALSE(pool.shutdown(true, std::chrono::milliseconds(20)));
    CHECK_FALSE(pool.shutdown(false, std::nullopt));  // without waiting: "not all ended yet"
    CHECK(pool.worker_count() == 1);
    gate.open();
    CHECK(pool.shutdown(true, std::chrono::hours(1)));
    CHECK(pool.shutdown(true, Duration::max()));  // idempotent; no overflow on a huge timeout
    CHECK(pool.worker_count() == 0);
}

TEST_CASE("ThreadPool: submit after shutdown or join_async throws RuntimeError") {
    SUBCASE("after shutdown") {
        ThreadPool pool;
        pool.shutdown(false);
        CHECK_THROWS_WITH_AS(pool.submit({"late", [] {}}),
                             "cannot schedule new futures after shutdown", RuntimeError);
    }
    SUBCASE("after join_async") {
        ThreadPool pool;
        pool.join_async([] {});
        CHECK_THROWS_WITH_AS(pool.submit({"late", [] {}}),
                             "cannot schedule new futures after shutdown", RuntimeError);
        CHECK(pool.worker_count() == 0);
    }
}

TEST_CASE("ThreadPool: join_async calls back at once on the caller when no job is left") {
    ThreadPool pool({.max_workers = 2});
    SUBCASE("never used") {}
    SUBCASE("after jobs ended") {
        pool.submit({"quick", [] {}});
        pool.shutdown(true);
    }
    int calls = 0;
    std::thread::id caller;
    pool.join_async([&] {
        ++calls;
        caller = std::this_thread::get_id();
    });
    CHECK(calls == 1);
    CHECK(caller == std::this_thread::get_id());
}

TEST_CASE("ThreadPool: join_async calls back once, from the last worker, after the last job") {
    ThreadPool pool({.max_workers = 2});
    Gate gate;
    occupy_worker(pool, gate);
    occupy_worker(pool, gate);
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto joined = std::make_shared<std::promise<std::thread::id>>();
    std::future<std::thread::id> joined_on = joined->get_future();
    pool.join_async([calls, joined] {
        if (calls->fetch_add(1) == 0)
            joined->set_value(std::this_thread::get_id());
    });
    CHECK(calls->load() == 0);  // both jobs are still blocked
    CHECK(pool.worker_count() == 2);
    gate.open();
    std::thread::id caller = joined_on.get();
    CHECK(caller != std::this_thread::get_id());
    REQUIRE(pool.shutdown(true, std::nullopt));  // joins the workers: no callback after this
    CHECK(calls->load() == 1);
}

TEST_CASE("ThreadPool: the destructor does not wait for a blocked job; queued jobs still run") {
    Gate gate;
    auto worker_exited = std::make_shared<std::atomic<bool>>(false);
    auto queued_ran = std::make_shared<std::atomic<bool>>(false);
    auto joined_calls = std::make_shared<std::atomic<int>>(0);
    {
        ThreadPool pool({.max_workers = 1});
        auto started = std::make_shared<std::promise<void>>();
        std::future<void> running = started->get_future();
        pool.submit({"stuck", [started, opened = gate.waiter(), worker_exited] {
                         thread_exit_marker.exited = worker_exited;
                         started->set_value();
                         opened.wait();
                     }});
        running.wait();
        pool.submit({"queued", [queued_ran] { queued_ran->store(true); }});
        pool.join_async([joined_calls] { joined_calls->fetch_add(1); });
    }  // returns although the job is stuck (a hang here is the failure)
    CHECK_FALSE(queued_ran->load());
    gate.open();  // the detached worker finishes the stuck job, then the queued one, then ends
    wait_until_set(*worker_exited);
    CHECK(queued_ran->load());
    // The pool's owner is gone: callbacks registered with join_async are dropped.
    CHECK(joined_calls->load() == 0);
}

TEST_CASE("ThreadPool: the destructor joins idle workers") {
    auto exited = std::make_shared<std::atomic<bool>>(false);
    {
        ThreadPool pool({.max_workers = 2});
        pool.submit({"mark", [exited] { thread_exit_marker.exited = exited; }});
        wait_idle(pool, 1);
    }
    // Joined, so the worker thread has ended (its thread_local destructors ran).
    CHECK(exited->load());
}

TEST_CASE("ThreadPool: a job may destroy its own pool") {
    auto pool = std::make_shared<ThreadPool>(ThreadPoolOptions{.max_workers = 1});
    auto owner = std::make_shared<std::shared_ptr<ThreadPool>>(pool);
    std::weak_ptr<ThreadPool> watch = pool;
    pool.reset();
    auto worker_exited = std::make_shared<std::atomic<bool>>(false);
    (*owner)->submit({"self-destruct", [owner, worker_exited] {
                          thread_exit_marker.exited = worker_exited;
                          owner->reset();  // ~ThreadPool on its own worker: must not join itself
                      }});
    wait_until_set(*worker_exited);
    CHECK(watch.expired());
}

TEST_CASE("ThreadPool: worker threads block every asynchronous signal") {
    sigset_t before;
    pthread_sigmask(SIG_SETMASK, nullptr, &before);
    bool int_was_blocked = sigismember(&before, SIGINT) == 1;

    ThreadPool pool({.max_workers = 2});
    auto seen = std::make_shared<std::promise<std::vector<bool>>>();
    std::future<std::vector<bool>> blocked = seen->get_future();
    pool.submit({"mask", [seen] {
                     seen->set_value({signal_blocked_in_this_thread(SIGINT),
                                      signal_blocked_in_this_thread(SIGTERM),
                                      signal_blocked_in_this_thread(SIGUSR1),
                                      signal_blocked_in_this_thread(SIGCHLD)});
                 }});
    CHECK(blocked.get() == std::vector<bool>{true, true, true, true});
    // The submitting thread got its own mask back.
    CHECK(signal_blocked_in_this_thread(SIGINT) == int_was_blocked);
    pool.shutdown(true);
}

TEST_CASE("ThreadPool: a job that throws does not kill its worker") {
    ThreadPool pool({.max_workers = 1});
    pool.submit({"std", [] { throw std::runtime_error("job failed"); }});
    pool.submit({"base", [] { throw KeyboardInterrupt(); }});
    pool.submit({"int", [] { throw 42; }});
    pool.submit({"empty", {}});
    auto ran = std::make_shared<std::promise<void>>();
    std::future<void> after = ran->get_future();
    pool.submit({"after", [ran] { ran->set_value(); }});
    after.wait();
    CHECK(pool.worker_count() == 1);
    CHECK(pool.shutdown(true, std::nullopt));
}

TEST_CASE("ThreadPool: a job cannot wait for its own pool's shutdown") {
    ThreadPool pool({.max_workers = 1});
    auto outcome = std::make_shared<std::promise<std::string>>();
    std::future<std::string> result = outcome->get_future();
    pool.submit({"self-wait", [&pool, outcome] {
                     try {
                         pool.shutdown(true);
                         outcome->set_value("returned");
                     } catch (const RuntimeError& error) {
                         outcome->set_value(error.what());
                     }
                 }});
    CHECK(test_support::contains(result.get(), "cannot wait for its own pool"));
    CHECK(pool.shutdown(true, std::nullopt));
}

// ---- withdrawing a queued job (JobControl) ---------------------------------------------------

TEST_CASE(
    "ThreadPool: a job cancelled while queued leaves the queue at once, never runs, and "
    "shutdown does not wait for it") {
    ThreadPool pool({.max_workers = 1});
    Gate gate;
    occupy_worker(pool, gate);
    auto ran = std::make_shared<std::atomic<bool>>(false);
    auto alive = std::make_shared<int>(0);  // a capture of the withdrawn job
    std::weak_ptr<int> capture = alive;
    auto control = std::make_shared<JobControl>();
    pool.submit({"queued", [ran, alive = std::move(alive)] { ran->store(true); }, control});
    CHECK(pool.pending_jobs() == 1);
    CHECK(control->cancel());
    CHECK(control->cancelled());
    CHECK_FALSE(control->cancel());  // once only
    CHECK(pool.pending_jobs() == 0);
    CHECK(capture.expired());  // destroyed at once, on the cancelling thread
    gate.open();
    CHECK(pool.shutdown(true, std::nullopt));
    CHECK_FALSE(ran->load());
}

TEST_CASE("ThreadPool: a started job cannot be cancelled; it runs to its end") {
    ThreadPool pool({.max_workers = 1});
    Gate gate;
    auto started = std::make_shared<std::promise<void>>();
    std::future<void> running = started->get_future();
    auto finished = std::make_shared<std::atomic<bool>>(false);
    auto control = std::make_shared<JobControl>();
    pool.submit({"started",
                 [started, opened = gate.waiter(), finished] {
                     started->set_value();
                     opened.wait();
                     finished->store(true);
                 },
                 control});
    running.wait();
    CHECK(control->started());
    CHECK_FALSE(control->cancel());
    CHECK_FALSE(control->cancelled());
    gate.open();
    CHECK(pool.shutdown(true, std::nullopt));
    CHECK(finished->load());
}

TEST_CASE("ThreadPool: a job whose control was cancelled before submission never runs") {
    ThreadPool pool({.max_workers = 1});
    auto ran = std::make_shared<std::atomic<bool>>(false);
    auto control = std::make_shared<JobControl>();
    CHECK(control->cancel());
    pool.submit({"cancelled", [ran] { ran->store(true); }, control});
    CHECK(pool.pending_jobs() == 0);
    CHECK(pool.shutdown(true, std::nullopt));
    CHECK_FALSE(ran->load());
}

TEST_CASE(
    "ThreadPool: jobs cancelled from another thread while workers take them run at most once") {
    // Races cancel() against the workers taking jobs: each job either ran or was withdrawn,
    // never both, and cancel() says which (TSan checks the locking).
    ThreadPool pool({.max_workers = 2});
    constexpr int jobs = 200;
    std::vector<std::shared_ptr<JobControl>> controls;
    auto runs = std::make_shared<std::vector<std::atomic<int>>>(jobs);
    for (int i = 0; i < jobs; ++i) {
        controls.push_back(std::make_shared<JobControl>());
        pool.submit({"race", [runs, i] { (*runs)[static_cast<std::size_t>(i)].fetch_add(1); },
                     controls.back()});
    }
    std::vector<bool> withdrawn(jobs);
    std::thread canceller([&] {
        for (int i = jobs - 1; i >= 0; --i)
            withdrawn[static_cast<std::size_t>(i)] =
                controls[static_cast<std::size_t>(i)]->cancel();
    });
    canceller.join();
    CHECK(pool.shutdown(true, std::nullopt));
    for (std::size_t i = 0; i < jobs; ++i) {
        INFO("job " << i);
        CHECK((*runs)[i].load() == (withdrawn[i] ? 0 : 1));
    }
}

// ---- to_thread ------------------------------------------------------------------------------

namespace {

ContextVar<int> request_id("request_id", 0);

Coro<int> twice_on_a_thread(int value) {
    co_return co_await to_thread([value] { return value * 2; }, "double");
}

Coro<std::string> failure_on_a_thread() {
    try {
        co_await to_thread([]() -> int { throw ValueError("bad input"); });
    } catch (const ValueError& error) {
        co_return error.what();
    }
    co_return "no exception";
}

/// Sets request_id, reads it back from a thread that also sets it; returns (seen, after).
Coro<std::pair<int, int>> context_through_a_thread() {
    request_id.set(7);
    int seen = co_await to_thread([] {
        int value = request_id.get();
        request_id.set(99);  // stays in the thread's copy of the context
        return value;
    });
    co_return std::pair{seen, request_id.get()};
}

Coro<void> void_on_a_thread(std::shared_ptr<std::atomic<int>> calls) {
    // Named first: g++ 12 destroys twice the captures of a lambda written inside co_await.
    auto count = [calls] { calls->fetch_add(1); };
    co_await to_thread(count, "count");
}

}  // namespace

TEST_SUITE_END();

TEST_SUITE_BEGIN("sim-only");

TEST_CASE("to_thread returns the function's result (simulated executor)") {
    test_support::SimFactory loops;
    CHECK(run(twice_on_a_thread(21), {.loop_factory = loops.factory()}) == 42);
    CHECK(loops.last().time() == std::chrono::milliseconds(1));  // the fake job's cost
    CHECK(run(failure_on_a_thread(), {.loop_factory = loops.factory()}) == "bad input");
    auto calls = std::make_shared<std::atomic<int>>(0);
    run(void_on_a_thread(calls), {.loop_factory = loops.factory()});
    CHECK(calls->load() == 1);
}

TEST_CASE("to_thread runs the function in a copy of the caller's context (simulated executor)") {
    test_support::SimFactory loops;
    auto [seen, after] = run(context_through_a_thread(), {.loop_factory = loops.factory()});
    CHECK(seen == 7);
    CHECK(after == 7);
}

#if SIMRUN_TEST_HAS_EPOLL_LOOP

namespace {

Coro<bool> runs_off_the_loop_thread() {
    std::thread::id loop_thread = std::this_thread::get_id();
    std::thread::id worker = co_await to_thread([] { return std::this_thread::get_id(); });
    co_return worker != loop_thread;
}

Coro<bool> sigint_blocked_on_the_thread() {
    co_return co_await to_thread([] { return signal_blocked_in_this_thread(SIGINT); });
}

/// What the jobs of cancel_real_jobs() did; shared with the worker threads.
struct RealJobs {
    std::atomic<bool> a_finished{false};
    std::atomic<bool> b_ran{false};
    std::vector<std::string> outcomes;  // loop thread only
};

Coro<void> await_real_job(std::function<int()> job, std::string name,
                          std::shared_ptr<RealJobs> jobs) {
    try {
        co_await to_thread(job, name);
        jobs->outcomes.push_back(name + ": result");
    } catch (const CancelledError&) {
        jobs->outcomes.push_back(name + ": CancelledError");
        throw;
    }
}

/// One worker: job a blocks until `a_gate` opens, job b (which would block until `b_gate`
/// opens) waits behind it. Both tasks are cancelled, b's while its job is queued, a's while its
/// job runs; then a's gate opens.
Coro<void> cancel_real_jobs(std::shared_ptr<RealJobs> jobs, Gate a_gate, Gate b_gate) {
    get_running_loop().set_default_executor(
        std::make_shared<ThreadPool>(ThreadPoolOptions{.max_workers = 1}));
    auto started = std::make_shared<std::promise<void>>();
    std::future<void> a_running = started->get_future();
    std::function<int()> a_job = [jobs, started, opened = a_gate.waiter()] {
        started->set_value();
        opened.wait();
        jobs->a_finished.store(true);
        return 1;
    };
    std::function<int()> b_job = [jobs, opened = b_gate.waiter()] {
        jobs->b_ran.store(true);
        opened.wait();
        return 2;
    };
    Task<void> a = create_task(await_real_job(a_job, "a", jobs));
    Task<void> b = create_task(await_real_job(b_job, "b", jobs));
    co_await sleep(0s);  // both jobs submitted
    a_running.wait();    // a's job is on the only worker (blocks this loop for an instant)
    b.cancel();
    a.cancel();
    std::vector<TaskRef> tasks{b, a};
    co_await gather(tasks, return_exceptions);
    a_gate.open();
}

}  // namespace

TEST_SUITE_END();

TEST_SUITE_BEGIN("real-only");

TEST_CASE("to_thread runs the function on a worker thread of the real loop") {
    CHECK(run(runs_off_the_loop_thread()));
    CHECK(run(twice_on_a_thread(21)) == 42);
    CHECK(run(failure_on_a_thread()) == "bad input");
    auto calls = std::make_shared<std::atomic<int>>(0);
    run(void_on_a_thread(calls));
    CHECK(calls->load() == 1);
}

TEST_CASE("to_thread carries the caller's context to the real worker thread") {
    auto [seen, after] = run(context_through_a_thread());
    CHECK(seen == 7);
    CHECK(after == 7);
}

TEST_CASE("to_thread's worker thread on the real loop blocks SIGINT") {
    CHECK(run(sigint_blocked_on_the_thread()));
}

TEST_CASE(
    "to_thread on the real loop: cancelling the task withdraws a queued job (it never runs and "
    "close() does not wait for it); a running job runs to its end") {
    auto jobs = std::make_shared<RealJobs>();
    Gate a_gate;
    Gate b_gate;  // opened only after run(): had b's job started, close() would wait for it
    const auto start = std::chrono::steady_clock::now();
    run(cancel_real_jobs(jobs, a_gate, b_gate), {.executor_shutdown_timeout = 5s});
    const auto took = std::chrono::steady_clock::now() - start;
    b_gate.open();
    CHECK(jobs->outcomes == std::vector<std::string>{"b: CancelledError", "a: CancelledError"});
    CHECK(jobs->a_finished.load());  // close() waited for the running job
    CHECK_FALSE(jobs->b_ran.load());
    CHECK(took < 5s);  // not the executor timeout
}

#endif

TEST_SUITE_END();
