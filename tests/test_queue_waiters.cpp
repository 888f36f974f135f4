// The tasks waiting on a queue, on both loops: a wake-up is not a hand-off (Q11), cancelled waiters
// (Q10), loop binding (B2, B3), queues destroyed while tasks wait, and the deadlock report.
#include <memory>
#include <string>
#include <vector>

#include "queues_support.hpp"
#include "support.hpp"

using namespace simrun;
using queues_test::outcome_of;
using queues_test::run_on;
using queues_test::shown;
using queues_test::Strings;
using queues_test::yield;
using test_support::contains;
using test_support::joined;
using test_support::TestLoop;
using test_support::thrown;

namespace {

Coro<void> record_get(Queue<std::string>* q, std::string name, Strings* record) {
    const std::string item = co_await q->get();
    record->push_back(name + " got " + item);
}

Coro<void> record_put(Queue<std::string>* q, std::string item, Strings* record) {
    co_await q->put(item);
    record->push_back("put " + item);
}

// Q11, as CPython 3.13 does it (checked with a script): g1 is woken, a get_nowait() takes the
// item before g1 runs, g1 waits again at the back of the line, so g2 gets the next item.
Coro<void> no_hand_off() {
    Queue<std::string> q;
    Strings order;
    Task<void> g1 = create_task(record_get(&q, "g1", &order));
    co_await yield();
    Task<void> g2 = create_task(record_get(&q, "g2", &order));
    co_await yield();
    CHECK(shown(q) == "<Queue maxsize=0 _getters[2]>");
    q.put_nowait("a");  // wakes g1, which has not run yet
    CHECK(shown(q) == "<Queue maxsize=0 _queue=['a'] _getters[1] tasks=1>");
    order.push_back("main barged " + q.get_nowait());
    co_await yield();  // g1 runs, finds the queue empty and waits again, behind g2
    CHECK(shown(q) == "<Queue maxsize=0 _getters[2] tasks=1>");
    q.put_nowait("b");
    q.put_nowait("c");
    const std::vector<Task<void>> getters{g1, g2};
    co_await gather(getters);
    CHECK(joined(order) == joined({"main barged a", "g2 got b", "g1 got c"}));
}

// Q10: g0 is woken, then cancelled before it runs: its wake-up passes to g1.
Coro<void> woken_getter_cancelled() {
    Queue<std::string> q;
    Strings record;
    std::vector<Task<void>> getters;
    for (const char* name : {"g0", "g1", "g2"})
        getters.push_back(create_task(record_get(&q, name, &record)));
    co_await yield();
    q.put_nowait("x");
    getters[0].cancel();
    co_await yield();
    co_await yield();
    CHECK(joined(record) == "g1 got x");
    CHECK(getters[0].cancelled());
    CHECK(getters[1].done());
    CHECK_FALSE(getters[2].done());
    CHECK(shown(q) == "<Queue maxsize=0 _getters[1] tasks=1>");
    getters[2].cancel();
    co_await outcome_of(getters[2]);
    CHECK(shown(q) == "<Queue maxsize=0 tasks=1>");
}

// Q10 for putters: p0 is woken by a free slot, then cancelled before it runs: p1 takes the slot.
Coro<void> woken_putter_cancelled() {
    Queue<std::string> q(1);
    q.put_nowait("first");
    Strings record;
    std::vector<Task<void>> putters;
    for (const char* item : {"p0", "p1", "p2"})
        putters.push_back(create_task(record_put(&q, item, &record)));
    co_await yield();
    CHECK(q.get_nowait() == "first");
    putters[0].cancel();
    co_await yield();
    co_await yield();
    CHECK(joined(record) == "put p1");
    CHECK(putters[0].cancelled());
    CHECK(shown(q) == "<Queue maxsize=1 _queue=['p1'] _putters[1] tasks=2>");
    CHECK(q.get_nowait() == "p1");
    co_await putters[2];
    CHECK(q.get_nowait() == "p2");
}

// g0 is cancelled before any wake-up: the put wakes g1 only, and g2 keeps its place before g3
// (a cancelled waiter passes on only a wake-up it was given). CPython 3.13 gives the same.
Coro<void> cancelled_getter_passes_nothing() {
    Queue<std::string> q;
    Strings record;
    std::vector<Task<void>> getters;
    for (const char* name : {"g0", "g1", "g2", "g3"})
        getters.push_back(create_task(record_get(&q, name, &record)));
    co_await yield();
    getters[0].cancel();
    q.put_nowait("x");
    co_await yield();
    co_await yield();
    CHECK(shown(q) == "<Queue maxsize=0 _getters[2] tasks=1>");
    q.put_nowait("y");
    co_await yield();
    co_await yield();
    CHECK(joined(record) == joined({"g1 got x", "g2 got y"}));
    getters[3].cancel();
    co_await outcome_of(getters[3]);
}

Coro<void> wait_on_another_loop(Queue<int>* q) {
    // Operations that do not wait neither bind nor check.
    q->put_nowait(2);
    CHECK(q->get_nowait() == 2);
    std::string error;
    try {
        co_await q->get();
    } catch (const RuntimeError& e) {
        error = e.what();
    }
    CHECK(error == q->describe() + " is bound to a different event loop");
    CHECK(shown(error) == "<Queue maxsize=0 tasks=2> is bound to a different event loop");
    // join() binds on its own, as asyncio's internal Event does: it may wait on this loop.
    Task<void> joiner = create_task(q->join());
    co_await yield();
    q->task_done();
    q->task_done();
    co_await joiner;
}

Coro<void> destroyed_while_waiting() {
    auto empty = std::make_unique<Queue<int>>();
    auto full = std::make_unique<LifoQueue<int>>(1);
    full->put_nowait(7);
    auto waking = std::make_unique<Queue<int>>();
    auto finishing = std::make_unique<PriorityQueue<int>>();
    finishing->put_nowait(1);
    finishing->get_nowait();
    Task<std::string> getter = create_task(outcome_of(empty->get()));
    Task<std::string> putter = create_task(outcome_of(full->put(8)));
    Task<std::string> joiner = create_task(outcome_of(full->join()));
    Task<std::string> woken = create_task(outcome_of(waking->get()));
    Task<std::string> released = create_task(outcome_of(finishing->join()));
    co_await yield();
    waking->put_nowait(5);   // wakes `woken`, which has not run yet
    finishing->task_done();  // releases `released`, which has not run yet
    empty.reset();
    full.reset();
    waking.reset();
    finishing.reset();
    const std::vector<Task<std::string>> tasks{getter, putter, joiner, woken, released};
    const std::vector<std::string> outcomes = co_await gather(tasks);
    CHECK(joined(outcomes) ==
          joined({"CancelledError: Queue was destroyed while a task waited on it",
                  "CancelledError: LifoQueue was destroyed while a task waited on it",
                  "CancelledError: LifoQueue was destroyed while a task waited on it",
                  "CancelledError: Queue was destroyed while a task waited on it", "returned"}));
}

}  // namespace

// ---- beyond CPython's tests -----------------------------------------------------------------

LOOP_TEST_CASE("Queue: a wake-up is not a hand-off: a barging get_nowait() takes the item (Q11)") {
    run_on<LoopKind>(no_hand_off());
}
LOOP_TEST_CASE("Queue: a getter woken and cancelled before it runs passes the item on (Q10)") {
    run_on<LoopKind>(woken_getter_cancelled());
}
LOOP_TEST_CASE("Queue: a putter woken and cancelled before it runs passes the slot on (Q10)") {
    run_on<LoopKind>(woken_putter_cancelled());
}
LOOP_TEST_CASE("Queue: a getter cancelled before any wake-up passes nothing on") {
    run_on<LoopKind>(cancelled_getter_passes_nothing());
}

LOOP_TEST_CASE("Queue: a wait on another loop than the bound one throws RuntimeError (B2, B3)") {
    Queue<int> q;
    {
        TestLoop<LoopKind> first;
        Task<int> getter = first.loop.create_task(q.get());
        first.loop.run_until_complete(yield());  // the getter waits: q is bound to `first`
        q.put_nowait(1);
        CHECK(first.loop.run_until_complete(getter) == 1);
    }
    run_on<LoopKind>(wait_on_another_loop(&q));
}

LOOP_TEST_CASE("Queue: destroying queues with waiting tasks cancels their waits") {
    run_on<LoopKind>(destroyed_while_waiting());
}

LOOP_TEST_CASE("Queue: a getter destroyed with its closed loop leaves the line") {
    Queue<int> q;
    {
        TestLoop<LoopKind> s;
        Task<int> getter = s.loop.create_task(q.get());
        s.loop.run_until_complete(yield());
        CHECK(shown(q) == "<Queue maxsize=0 _getters[1]>");
        s.loop.close();  // destroys the pending task's frame
    }
    CHECK(shown(q) == "<Queue maxsize=0>");
    q.put_nowait(1);
    CHECK(q.get_nowait() == 1);
}

TEST_CASE("Queue: a deadlock report names the queue operation each task waits in" *
          doctest::test_suite("sim-only")) {
    test_support::Sim s;
    Queue<int> empty;
    LifoQueue<int> full(1);
    full.put_nowait(1);
    PriorityQueue<int> unfinished;
    unfinished.put_nowait(1);
    Task<int> getter = s.loop.create_task(empty.get());
    Task<void> putter = s.loop.create_task(full.put(2));
    auto error = thrown<sim::DeadlockError>([&] { s.loop.run_until_complete(unfinished.join()); });
    REQUIRE(error);
    const std::string report = joined(error->pending_tasks());
    CHECK(contains(report, "awaits Queue.get"));
    CHECK(contains(report, "awaits LifoQueue.put"));
    CHECK(contains(report, "awaits PriorityQueue.join"));
}
