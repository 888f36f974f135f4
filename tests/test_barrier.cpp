// Barrier: the ports of CPython's BarrierTests (test_locks.py, 3.13) on both loops, then the
// 3.13 surprise (indices repeat after a cancel), messages, and destruction with waiters.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "locks_support.hpp"

using namespace simrun;
using namespace std::chrono_literals;
using locks_test::awaitable;
using locks_test::ended;
using locks_test::matches_repr;
using locks_test::outcome;
using locks_test::run_body;
using test_support::contains;
using test_support::TestLoop;

namespace {

constexpr std::size_t N = 5;  // CPython's self.N

/// What the tasks of one test share (CPython's closures).
struct Shared {
    explicit Shared(std::size_t parties) : barrier(parties) {}
    Barrier barrier;
    std::vector<std::string> results1, results2, results3;
    std::vector<std::size_t> indices;
    std::size_t count = 0;
    int rewait = 0;
};

/// Starts `n` tasks running `body(shared)` and waits for all of them (CPython's gather_tasks);
/// returns their results.
/// Starts `n` tasks running `body(shared)` and waits for all of them (CPython's gather_tasks);
/// returns their results.
Coro<std::vector<std::size_t>> gather_tasks(std::size_t n, Coro<std::size_t> (*body)(Shared*),
                                            Shared* shared) {
    std::vector<Task<std::size_t>> tasks;
    for (std::size_t i = 0; i < n; ++i)
        tasks.push_back(create_task(body(shared)));
    co_return co_await gather(tasks);
}
/// gather_tasks for bodies without a result.
Coro<void> gather_void(std::size_t n, Coro<void> (*body)(Shared*), Shared* shared) {
    std::vector<Task<void>> tasks;
    for (std::size_t i = 0; i < n; ++i)
        tasks.push_back(create_task(body(shared)));
    co_await gather(tasks);
}

Coro<void> just_wait(Shared* shared) {
    co_await shared->barrier.wait();
}

std::string sorted_indices(std::vector<std::size_t> indices) {
    std::sort(indices.begin(), indices.end());
    std::string text;
    for (std::size_t i : indices)
        text += (text.empty() ? "" : " ") + std::to_string(i);
    return text;
}

std::string range_text(std::size_t n) {
    std::vector<std::size_t> all(n);
    for (std::size_t i = 0; i < n; ++i)
        all[i] = i;
    return sorted_indices(all);
}

}  // namespace

TEST_SUITE_BEGIN("loop-free");

TEST_CASE("Barrier: test_barrier_parties") {
    CHECK_THROWS_WITH_AS(Barrier(0), "parties must be > 0", ValueError);
    // Barrier(-4) has no C++ counterpart: parties is unsigned.
    Barrier barrier(N);
    CHECK(barrier.parties() == N);
}

TEST_CASE("Barrier: test_barrier") {
    static_assert(!awaitable<Barrier>);  // `await barrier` is a TypeError in Python
    Barrier barrier(N);
    CHECK(contains(barrier.describe(), "filling"));
    CHECK(matches_repr(barrier.describe()));
}

TEST_SUITE_END();

LOOP_TEST_CASE("Barrier: test_repr") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Shared shared(N);
        Barrier& barrier = shared.barrier;
        CHECK(matches_repr(barrier.describe()));
        CHECK(contains(barrier.describe(), "filling"));
        std::vector<Task<void>> waiters;
        const std::size_t incr = 2;
        for (std::size_t i = 0; i < incr; ++i)
            waiters.push_back(create_task(just_wait(&shared)));
        co_await yield_now();
        CHECK(matches_repr(barrier.describe()));
        CHECK(contains(barrier.describe(), "waiters:2/5"));
        CHECK(contains(barrier.describe(), "filling"));
        // The missing waiters.
        for (std::size_t i = barrier.n_waiting(); i < barrier.parties(); ++i)
            waiters.push_back(create_task(just_wait(&shared)));
        co_await yield_now();
        CHECK(matches_repr(barrier.describe()));
        CHECK(contains(barrier.describe(), "draining"));
        // Some more waiters, then reset.
        for (std::size_t i = 0; i < incr; ++i)
            waiters.push_back(create_task(just_wait(&shared)));
        co_await yield_now();
        co_await barrier.reset();
        CHECK(matches_repr(barrier.describe()));
        CHECK(contains(barrier.describe(), "resetting"));
        // Some more again, then abort.
        for (std::size_t i = 0; i < incr; ++i)
            waiters.push_back(create_task(just_wait(&shared)));
        co_await yield_now();
        co_await barrier.abort();
        CHECK(matches_repr(barrier.describe()));
        CHECK(contains(barrier.describe(), "broken"));
        CHECK(barrier.broken());
        co_await gather(waiters, return_exceptions);
    }());
}

LOOP_TEST_CASE("Barrier: test_context_manager") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        // `async with barrier as i` is `i = co_await barrier.wait()`.
        Shared shared(3);
        co_await gather_void(
            3,
            [](Shared* shared) -> Coro<void> {
                shared->indices.push_back(co_await shared->barrier.wait());
            },
            &shared);
        CHECK(sorted_indices(shared.indices) == range_text(3));
        CHECK(shared.barrier.n_waiting() == 0);
        CHECK_FALSE(shared.barrier.broken());
    }());
}

LOOP_TEST_CASE("Barrier: test_filling_one_task") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Barrier barrier(1);
        CHECK(co_await barrier.wait() == 0);
        CHECK(barrier.n_waiting() == 0);
        CHECK_FALSE(barrier.broken());
    }());
}

LOOP_TEST_CASE("Barrier: test_filling_one_task_twice") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Barrier barrier(1);
        Task<std::size_t> t1 = create_task(barrier.wait());
        co_await yield_now();
        CHECK(barrier.n_waiting() == 0);
        Task<std::size_t> t2 = create_task(barrier.wait());
        co_await yield_now();
        CHECK(t1.result() == t2.result());
        CHECK(t1.done() == t2.done());
        CHECK(barrier.n_waiting() == 0);
        CHECK_FALSE(barrier.broken());
    }());
}

LOOP_TEST_CASE("Barrier: test_filling_task_by_task") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Barrier barrier(3);
        Task<std::size_t> t1 = create_task(barrier.wait());
        co_await yield_now();
        CHECK(barrier.n_waiting() == 1);
        CHECK(contains(barrier.describe(), "filling"));
        Task<std::size_t> t2 = create_task(barrier.wait());
        co_await yield_now();
        CHECK(barrier.n_waiting() == 2);
        CHECK(contains(barrier.describe(), "filling"));
        Task<std::size_t> t3 = create_task(barrier.wait());
        co_await yield_now();
        std::vector<Task<std::size_t>> all{t1, t2, t3};
        co_await gather(all);
        CHECK(barrier.n_waiting() == 0);
        CHECK_FALSE(barrier.broken());
    }());
}

LOOP_TEST_CASE("Barrier: test_filling_tasks_wait_twice") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Shared shared(N);
        co_await gather_void(
            N,
            [](Shared* shared) -> Coro<void> {
                co_await shared->barrier.wait();
                shared->results1.push_back("True");
                co_await shared->barrier.wait();
                shared->results2.push_back("False");
            },
            &shared);
        CHECK(shared.results1.size() == N);
        CHECK(shared.results2.size() == N);
        CHECK(shared.barrier.n_waiting() == 0);
        CHECK_FALSE(shared.barrier.broken());
    }());
}

LOOP_TEST_CASE("Barrier: test_filling_tasks_check_return_value") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Shared shared(N);
        std::vector<std::size_t> res = co_await gather_tasks(
            N,
            [](Shared* shared) -> Coro<std::size_t> {
                co_await shared->barrier.wait();
                shared->results1.push_back("True");
                const std::size_t i = co_await shared->barrier.wait();
                shared->results2.push_back("True");
                co_return i;
            },
            &shared);
        CHECK(shared.results1.size() == N);
        CHECK(shared.results2.size() == N);
        CHECK(sorted_indices(res) == range_text(N));
        CHECK(shared.barrier.n_waiting() == 0);
        CHECK_FALSE(shared.barrier.broken());
    }());
}

LOOP_TEST_CASE("Barrier: test_draining_state") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Shared shared(N);
        co_await gather_void(
            N,
            [](Shared* shared) -> Coro<void> {
                co_await shared->barrier.wait();
                // The state is back to filling once the last task has left.
                const bool draining = contains(shared->barrier.describe(), "draining");
                shared->results1.push_back(draining ? "True" : "False");
            },
            &shared);
        REQUIRE(shared.results1.size() == N);
        CHECK(shared.results1.back() == "False");
        CHECK(std::count(shared.results1.begin(), shared.results1.end() - 1, "True") == N - 1);
        CHECK(shared.barrier.n_waiting() == 0);
        CHECK_FALSE(shared.barrier.broken());
    }());
}

LOOP_TEST_CASE("Barrier: test_blocking_tasks_while_draining") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        // Succeeds if barrier_nowaiting is waited for by exactly N - rewait tasks.
        struct Blocking {
            Barrier barrier{N};
            Barrier barrier_nowaiting{N - 2};
            int rewait_n = 2;
        } blocking;
        std::vector<Task<void>> tasks;
        for (std::size_t i = 0; i < N; ++i) {
            tasks.push_back(create_task([](Blocking* b) -> Coro<void> {
                co_await b->barrier.wait();  // the first time
                if (b->rewait_n > 0) {
                    --b->rewait_n;
                    co_await b->barrier.wait();  // again, only the rewait tasks
                } else {
                    co_await b->barrier_nowaiting.wait();  // the end of draining
                    co_await b->barrier.wait();            // the other waiting tasks
                }
            }(&blocking)));
        }
        co_await gather(tasks);
    }());
}

LOOP_TEST_CASE("Barrier: test_filling_tasks_cancel_one") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Shared shared(3);
        auto coro = [](Shared* shared) -> Coro<void> {
            co_await shared->barrier.wait();
            shared->results1.push_back("True");
        };
        Task<void> t1 = create_task(coro(&shared));
        co_await yield_now();
        CHECK(shared.barrier.n_waiting() == 1);
        Task<void> t2 = create_task(coro(&shared));
        co_await yield_now();
        CHECK(shared.barrier.n_waiting() == 2);
        t1.cancel();
        co_await yield_now();
        CHECK(shared.barrier.n_waiting() == 1);
        CHECK(co_await outcome(t1) == "CancelledError");
        CHECK(t1.cancelled());
        Task<void> t3 = create_task(coro(&shared));
        co_await yield_now();
        CHECK(shared.barrier.n_waiting() == 2);
        Task<void> t4 = create_task(coro(&shared));
        std::vector<Task<void>> rest{t2, t3, t4};
        co_await gather(rest);
        CHECK(shared.results1.size() == 3);
        CHECK(shared.barrier.n_waiting() == 0);
        CHECK_FALSE(shared.barrier.broken());
    }());
}

LOOP_TEST_CASE("Barrier: test_reset_barrier") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Barrier barrier(1);
        create_task(barrier.reset());
        co_await yield_now();
        CHECK(barrier.n_waiting() == 0);
        CHECK_FALSE(barrier.broken());
    }());
}

LOOP_TEST_CASE("Barrier: test_reset_barrier_while_tasks_waiting") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Shared shared(N);
        std::vector<Task<void>> tasks;
        for (std::size_t i = 0; i < N - 1; ++i) {
            tasks.push_back(create_task([](Shared* shared) -> Coro<void> {
                try {
                    co_await shared->barrier.wait();
                } catch (const BrokenBarrierError&) {
                    shared->results1.push_back("True");
                }
            }(&shared)));
        }
        co_await yield_now();
        create_task(shared.barrier.reset());
        co_await gather(tasks);
        CHECK(shared.results1.size() == N - 1);
        CHECK(shared.barrier.n_waiting() == 0);
        CHECK_FALSE(contains(shared.barrier.describe(), "resetting"));
        CHECK_FALSE(shared.barrier.broken());
    }());
}

LOOP_TEST_CASE("Barrier: test_reset_barrier_when_tasks_half_draining") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        // CPython compares the private _count (tasks still inside the barrier) with N//2; here
        // the tasks count themselves out: _count == N - (tasks that have left).
        Shared shared(N);
        co_await gather_void(
            N,
            [](Shared* shared) -> Coro<void> {
                const std::size_t rest_of_tasks = N / 2;
                bool broke = false;
                try {
                    co_await shared->barrier.wait();
                } catch (const BrokenBarrierError&) {
                    shared->results1.push_back("True");  // the waiting tasks
                    broke = true;
                }
                if (!broke && N - ++shared->count == rest_of_tasks)
                    co_await shared->barrier.reset();  // a drained task, outside the barrier
            },
            &shared);
        CHECK(shared.results1.size() == N / 2);
        CHECK(shared.barrier.n_waiting() == 0);
        CHECK_FALSE(contains(shared.barrier.describe(), "resetting"));
        CHECK_FALSE(shared.barrier.broken());
    }());
}

LOOP_TEST_CASE("Barrier: test_reset_barrier_when_tasks_half_draining_half_blocking") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Shared shared(N);
        co_await gather_void(
            N,
            [](Shared* shared) -> Coro<void> {
                const std::size_t blocking_tasks = N / 2;
                bool broke = false;
                try {
                    co_await shared->barrier.wait();
                } catch (const BrokenBarrierError&) {
                    shared->results1.push_back("True");  // the tasks still waiting
                    broke = true;
                }
                if (broke) {
                    co_await shared->barrier.wait();  // wait again to reach the parties
                    co_return;
                }
                if (++shared->count > blocking_tasks) {
                    co_await shared->barrier.reset();  // the waiting tasks fail
                    co_await shared->barrier.wait();
                } else {
                    try {
                        co_await shared->barrier.wait();
                    } catch (const BrokenBarrierError&) {
                        shared->results2.push_back("True");  // never: blocked tasks go on
                    }
                }
            },
            &shared);
        CHECK(shared.results1.size() == N / 2);
        CHECK(shared.results2.empty());
        CHECK(shared.barrier.n_waiting() == 0);
        CHECK_FALSE(contains(shared.barrier.describe(), "resetting"));
        CHECK_FALSE(shared.barrier.broken());
    }());
}

LOOP_TEST_CASE("Barrier: test_reset_barrier_while_tasks_waiting_and_waiting_again") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Shared shared(N);
        std::vector<Task<void>> tasks;
        for (std::size_t i = 0; i < N - 1; ++i) {
            tasks.push_back(create_task([](Shared* shared) -> Coro<void> {
                try {
                    co_await shared->barrier.wait();
                } catch (const BrokenBarrierError&) {
                    shared->results1.push_back("True");
                }
                // CPython's `finally:` (an await cannot be in a C++ catch block).
                co_await shared->barrier.wait();
                shared->results2.push_back("True");
            }(&shared)));
        }
        // Reset: the N-1 waiting tasks get BrokenBarrierError.
        create_task(shared.barrier.reset());
        co_await yield_now();
        // Completes the waiting tasks' second wait.
        create_task([](Shared* shared) -> Coro<void> {
            co_await shared->barrier.wait();
            shared->results2.push_back("True");
        }(&shared));
        co_await gather(tasks);
        CHECK_FALSE(shared.barrier.broken());
        CHECK(shared.results1.size() == N - 1);
        CHECK(shared.results2.size() == N);
        CHECK(shared.barrier.n_waiting() == 0);
    }());
}

LOOP_TEST_CASE("Barrier: test_reset_barrier_while_tasks_draining") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Shared shared(N);
        co_await gather_void(
            N,
            [](Shared* shared) -> Coro<void> {
                co_await shared->barrier.wait();
                if (++shared->count == N) {
                    co_await shared->barrier.reset();  // the last task out of the barrier
                    co_await shared->barrier.wait();   // to reach the parties
                } else {
                    try {
                        co_await shared->barrier.wait();     // the second wait
                        shared->results1.push_back("True");  // N-1 tasks here
                    } catch (const std::exception&) {
                        shared->results2.push_back("True");  // never
                    }
                }
                co_await shared->barrier.wait();  // pass the barrier once more
                shared->results3.push_back("True");
            },
            &shared);
        CHECK_FALSE(shared.barrier.broken());
        CHECK(shared.results1.size() == N - 1);
        CHECK(shared.results2.empty());
        CHECK(shared.results3.size() == N);
        CHECK(shared.barrier.n_waiting() == 0);
    }());
}

LOOP_TEST_CASE("Barrier: test_abort_barrier") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Barrier barrier(1);
        create_task(barrier.abort());
        co_await yield_now();
        CHECK(barrier.n_waiting() == 0);
        CHECK(barrier.broken());
    }());
}

LOOP_TEST_CASE("Barrier: test_abort_barrier_when_tasks_half_draining_half_blocking") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Shared shared(N);
        co_await gather_void(
            N,
            [](Shared* shared) -> Coro<void> {
                const std::size_t blocking_tasks = N / 2;
                try {
                    co_await shared->barrier.wait();
                } catch (const BrokenBarrierError&) {
                    shared->results1.push_back("True");  // tasks waiting to drain
                    co_return;
                }
                if (++shared->count > blocking_tasks) {
                    co_await shared->barrier.abort();  // every task fails
                } else {
                    try {
                        co_await shared->barrier.wait();
                    } catch (const BrokenBarrierError&) {
                        shared->results2.push_back("True");  // blocked tasks, already drained
                    }
                }
            },
            &shared);
        CHECK(shared.barrier.broken());
        CHECK(shared.results1.size() == N / 2);
        CHECK(shared.results2.size() == N - N / 2 - 1);
        CHECK(shared.barrier.n_waiting() == 0);
        CHECK_FALSE(contains(shared.barrier.describe(), "resetting"));
    }());
}

LOOP_TEST_CASE("Barrier: test_abort_barrier_when_exception") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        // From threading.Barrier's lock_tests.test_reset.
        Shared shared(N);
        co_await gather_void(
            N,
            [](Shared* shared) -> Coro<void> {
                bool abort = false;
                try {
                    const std::size_t i = co_await shared->barrier.wait();
                    if (i == N / 2)
                        throw RuntimeError("");
                    co_await shared->barrier.wait();
                    shared->results1.push_back("True");
                } catch (const BrokenBarrierError&) {
                    shared->results2.push_back("True");
                } catch (const RuntimeError&) {
                    abort = true;
                }
                if (abort)
                    co_await shared->barrier.abort();
            },
            &shared);
        CHECK(shared.barrier.broken());
        CHECK(shared.results1.empty());
        CHECK(shared.results2.size() == N - 1);
        CHECK(shared.barrier.n_waiting() == 0);
    }());
}

namespace {
struct AbortThenReset {
    Barrier barrier1{N};
    Barrier barrier2{N};
    std::vector<std::string> results1, results2, results3;
};
}  // namespace

LOOP_TEST_CASE("Barrier: test_abort_barrier_when_exception_then_resetting") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        // From threading.Barrier's lock_tests.test_abort_and_reset.
        AbortThenReset shared;
        std::vector<Task<void>> tasks;
        for (std::size_t n = 0; n < N; ++n) {
            tasks.push_back(create_task([](AbortThenReset* shared) -> Coro<void> {
                bool abort = false;
                try {
                    const std::size_t i = co_await shared->barrier1.wait();
                    if (i == N / 2)
                        throw RuntimeError("");
                    co_await shared->barrier1.wait();
                    shared->results1.push_back("True");
                } catch (const BrokenBarrierError&) {
                    shared->results2.push_back("True");
                } catch (const RuntimeError&) {
                    abort = true;
                }
                if (abort)
                    co_await shared->barrier1.abort();
                // Synchronize and reset barrier1: everyone has left it, and nobody enters it
                // before the reset.
                const std::size_t i = co_await shared->barrier2.wait();
                if (i == N / 2)
                    co_await shared->barrier1.reset();
                co_await shared->barrier2.wait();
                co_await shared->barrier1.wait();
                shared->results3.push_back("True");
            }(&shared)));
        }
        co_await gather(tasks);
        CHECK_FALSE(shared.barrier1.broken());
        CHECK(shared.results1.empty());
        CHECK(shared.results2.size() == N - 1);
        CHECK(shared.results3.size() == N);
        CHECK(shared.barrier1.n_waiting() == 0);
    }());
}

// ---- beyond CPython's tests -----------------------------------------------------------------

LOOP_TEST_CASE("Barrier: 3.13: a cancelled waiter does not break it, and indices repeat") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Barrier barrier(3);
        std::vector<Task<std::size_t>> tasks;
        tasks.push_back(create_task(barrier.wait()));
        tasks.push_back(create_task(barrier.wait()));
        co_await yield_now();
        tasks[0].cancel();
        co_await yield_now();
        tasks.push_back(create_task(barrier.wait()));
        tasks.push_back(create_task(barrier.wait()));
        auto results = co_await gather(tasks, return_exceptions);
        CHECK(describe_exception(results[0].error) == "CancelledError");
        CHECK(*results[1].value == 1);
        CHECK(*results[2].value == 1);
        CHECK(*results[3].value == 2);
        CHECK_FALSE(barrier.broken());
    }());
}

LOOP_TEST_CASE(
    "Barrier: messages: waiters get 'Abort or reset', later arrivals 'Barrier aborted'") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Barrier barrier(3);
        Task<std::size_t> waiter = create_task(barrier.wait());
        co_await yield_now();
        co_await barrier.abort();
        CHECK(co_await outcome(waiter) == "BrokenBarrierError: Abort or reset of barrier");
        CHECK(barrier.describe().find("[broken]>") != std::string::npos);
        Task<std::size_t> late = create_task(barrier.wait());
        CHECK(co_await outcome(late) == "BrokenBarrierError: Barrier aborted");
        co_await barrier.reset();  // nobody inside: filling again, no longer broken
        CHECK_FALSE(barrier.broken());
        CHECK(contains(barrier.describe(), "[filling, waiters:0/3]"));
    }());
}

LOOP_TEST_CASE("Barrier: destroyed while tasks wait: they get CancelledError") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        auto barrier = std::make_unique<Barrier>(3);
        Task<std::size_t> first = create_task(barrier->wait());
        Task<std::size_t> second = create_task(barrier->wait());
        co_await yield_now();
        CHECK(barrier->n_waiting() == 2);
        barrier.reset();
        CHECK(co_await outcome(first) ==
              "CancelledError: Condition was destroyed while a task waited on it");
        CHECK(co_await outcome(second) ==
              "CancelledError: Condition was destroyed while a task waited on it");
    }());
    CHECK(s.errors.contexts.empty());
}
