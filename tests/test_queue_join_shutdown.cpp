// task_done(), join() and shutdown() of Queue, LifoQueue and PriorityQueue: CPython 3.13's
// test_queues.py tests, run for each class on both loops, and a LifoQueue drained after shutdown().
#include <string>
#include <vector>

#include "queues_support.hpp"
#include "support.hpp"

using namespace simrun;
using queues_test::outcome_of;
using queues_test::run_on;
using queues_test::shown;
using queues_test::yield;

namespace {

// ---- task_done and join (all three classes) -------------------------------------------------

template <class Q>
struct Workload {
    Q q;
    int accumulator = 0;
    bool running = true;
};

template <class Q>
Coro<void> worker(Workload<Q>* work) {
    while (work->running) {
        const int item = co_await work->q.get();
        work->accumulator += item;
        work->q.task_done();
    }
}

template <class Q>
Coro<void> test_task_done() {
    Workload<Q> work;
    for (int i = 0; i < 100; ++i)
        work.q.put_nowait(i);
    // Two workers get items and call task_done() after each; join() waits for all of them.
    co_await task_group([work = &work](TaskGroup& group) -> Coro<void> {
        std::vector<Task<void>> tasks;
        for (int n = 0; n < 2; ++n)
            tasks.push_back(group.create_task(worker(work)));
        co_await work->q.join();
        CHECK(work->accumulator == 99 * 100 / 2);
        // Let the workers end.
        work->running = false;
        for (std::size_t n = 0; n < tasks.size(); ++n)
            work->q.put_nowait(0);
    });
}

template <class Q>
Coro<void> test_join_empty_queue() {
    Q q;
    // join() returns at once (twice, for insurance).
    co_await q.join();
    co_await q.join();
}

template <class Q>
void test_task_done_underflow() {
    Q q;
    CHECK_THROWS_WITH_AS(q.task_done(), "task_done() called too many times", ValueError);
}

template <class Q>
void test_format_join(const std::string& name) {
    Q q;
    CHECK(shown(q) == "<" + name + " maxsize=0>");
    q.put_nowait(1);
    q.put_nowait(2);
    q.get_nowait();
    q.get_nowait();
    CHECK(shown(q) == "<" + name + " maxsize=0 tasks=2>");
}

// ---- shutdown (all three classes) -----------------------------------------------------------

template <class Q>
void test_format_shutdown(const std::string& name) {
    Q q;
    q.shutdown();
    CHECK(shown(q) == "<" + name + " maxsize=0 shutdown>");
}

/// put(), put_nowait(), get() and get_nowait() all throw QueueShutDown.
template <class Q>
Coro<void> check_everything_shut(Q* q) {
    const auto put_outcome = co_await outcome_of(q->put("data"));
    CHECK(put_outcome == "QueueShutDown");
    CHECK_THROWS_AS(q->put_nowait("data"), QueueShutDown);
    const auto get_outcome = co_await outcome_of(q->get());
    CHECK(get_outcome == "QueueShutDown");
    CHECK_THROWS_AS(q->get_nowait(), QueueShutDown);
}

template <class Q>
Coro<void> test_shutdown_empty() {
    Q q;
    Task<std::string> get_task = create_task(q.get());
    co_await yield();   // the get task waits before the shutdown
    q.shutdown(false);  // unfinished tasks: 0 -> 0
    CHECK(q.qsize() == 0);
    co_await q.join();
    co_await yield();
    CHECK(get_task.done());
    const auto outcome = co_await outcome_of(get_task);
    CHECK(outcome == "QueueShutDown");
    co_await check_everything_shut(&q);
}

template <class Q>
Coro<void> test_shutdown_nonempty() {
    Q q(1);
    q.put_nowait("data");
    Task<void> join_task = create_task(q.join());
    Task<void> put_task = create_task(q.put("data2"));
    co_await yield();
    CHECK_FALSE(put_task.done());
    q.shutdown(false);  // unfinished tasks: 1 -> 1
    CHECK(q.qsize() == 1);
    co_await yield();
    CHECK(put_task.done());
    const auto put_outcome = co_await outcome_of(put_task);
    CHECK(put_outcome == "QueueShutDown");
    const auto stored = co_await q.get();  // the stored item can still be taken
    CHECK(stored == "data");
    co_await yield();
    CHECK_FALSE(join_task.done());
    co_await check_everything_shut(&q);
    q.task_done();  // the one unfinished task
    co_await yield();
    CHECK(join_task.done());
    co_await join_task;
    CHECK_THROWS_AS(q.task_done(), ValueError);
}

template <class Q>
Coro<void> test_shutdown_immediate() {
    Q q;
    q.put_nowait("data");
    Task<void> join_task = create_task(q.join());
    q.shutdown(true);  // unfinished tasks: 1 -> 0
    CHECK(q.qsize() == 0);
    co_await yield();
    CHECK(join_task.done());
    co_await join_task;
    co_await check_everything_shut(&q);
    CHECK_THROWS_AS(q.task_done(), ValueError);
}

template <class Q>
Coro<void> test_shutdown_immediate_with_unfinished() {
    Q q;
    q.put_nowait("data");
    q.put_nowait("data");
    Task<void> join_task = create_task(q.join());
    const auto got = co_await q.get();
    CHECK(got == "data");
    q.shutdown(true);  // unfinished tasks: 2 -> 1
    CHECK(q.qsize() == 0);
    co_await yield();
    CHECK_FALSE(join_task.done());
    co_await check_everything_shut(&q);
    q.task_done();  // the item taken before the shutdown
    CHECK_THROWS_AS(q.task_done(), ValueError);
    co_await yield();
    CHECK(join_task.done());
    co_await join_task;
}

}  // namespace

// task_done/join and shutdown: CPython runs these for each class.
#define SIMRUN_QUEUE_CLASS_TESTS(Class)                                                  \
    LOOP_TEST_CASE(#Class ": test_task_done") {                                          \
        run_on<LoopKind>(test_task_done<Class<int>>());                                  \
    }                                                                                    \
    LOOP_TEST_CASE(#Class ": test_join_empty_queue") {                                   \
        run_on<LoopKind>(test_join_empty_queue<Class<int>>());                           \
    }                                                                                    \
    LOOP_TEST_CASE(#Class ": test_shutdown_empty") {                                     \
        run_on<LoopKind>(test_shutdown_empty<Class<std::string>>());                     \
    }                                                                                    \
    LOOP_TEST_CASE(#Class ": test_shutdown_nonempty") {                                  \
        run_on<LoopKind>(test_shutdown_nonempty<Class<std::string>>());                  \
    }                                                                                    \
    LOOP_TEST_CASE(#Class ": test_shutdown_immediate") {                                 \
        run_on<LoopKind>(test_shutdown_immediate<Class<std::string>>());                 \
    }                                                                                    \
    LOOP_TEST_CASE(#Class ": test_shutdown_immediate_with_unfinished") {                 \
        run_on<LoopKind>(test_shutdown_immediate_with_unfinished<Class<std::string>>()); \
    }                                                                                    \
    TEST_CASE(#Class ": test_task_done_underflow" * doctest::test_suite("loop-free")) {  \
        test_task_done_underflow<Class<int>>();                                          \
    }                                                                                    \
    TEST_CASE(#Class ": test_format (join)" * doctest::test_suite("loop-free")) {        \
        test_format_join<Class<int>>(#Class);                                            \
    }                                                                                    \
    TEST_CASE(#Class ": test_format (shutdown)" * doctest::test_suite("loop-free")) {    \
        test_format_shutdown<Class<int>>(#Class);                                        \
    }

SIMRUN_QUEUE_CLASS_TESTS(Queue)
SIMRUN_QUEUE_CLASS_TESTS(LifoQueue)
SIMRUN_QUEUE_CLASS_TESTS(PriorityQueue)

TEST_SUITE_BEGIN("loop-free");

TEST_CASE("LifoQueue: after shutdown() gets drain in order, then throw; puts always throw") {
    LifoQueue<int> q;
    for (int i : {1, 2, 3})
        q.put_nowait(i);
    q.shutdown();
    q.shutdown();  // again: allowed
    CHECK(q.is_shut_down());
    CHECK_THROWS_AS(q.put_nowait(4), QueueShutDown);  // unbounded, yet refused
    CHECK(q.get_nowait() == 3);
    CHECK(q.get_nowait() == 2);
    CHECK(q.get_nowait() == 1);
    CHECK_THROWS_AS(q.get_nowait(), QueueShutDown);
    CHECK(shown(q) == "<LifoQueue maxsize=0 tasks=3 shutdown>");
}

TEST_SUITE_END();
