// Queue: CPython 3.13's test_queues.py basic, get and put tests on both loops (each keeps its name
// and asserts what the original asserts), and the calls that do not wait, without a loop.
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "queues_support.hpp"
#include "support.hpp"

using namespace simrun;
using queues_test::outcome_of;
using queues_test::run_on;
using queues_test::shown;
using queues_test::yield;
using test_support::contains;

namespace {

// ---- basics, repr, size ---------------------------------------------------------------------

Coro<void> test_repr() {
    Queue<int> q;
    CHECK(q.describe().rfind("<Queue", 0) == 0);
    std::ostringstream address;
    address << static_cast<const void*>(&q);
    CHECK(contains(q.describe(), address.str()));

    Queue<int> with_getter;
    Task<int> getter = create_task(with_getter.get());
    co_await yield();
    CHECK(contains(with_getter.describe(), "_getters[1]"));
    with_getter.put_nowait(0);
    const int got = co_await getter;
    CHECK(got == 0);

    Queue<int> with_putter(1);
    with_putter.put_nowait(1);
    Task<void> putter = create_task(with_putter.put(2));
    co_await yield();
    CHECK(contains(with_putter.describe(), "_putters[1]"));
    with_putter.get_nowait();
    co_await putter;
    CHECK(putter.done());

    Queue<int> with_item;
    with_item.put_nowait(1);
    CHECK(contains(with_item.describe(), "_queue=[1]"));
}

Coro<void> test_empty() {
    Queue<int> q;
    CHECK(q.empty());
    co_await q.put(1);
    CHECK_FALSE(q.empty());
    const int got = co_await q.get();
    CHECK(got == 1);
    CHECK(q.empty());
}

Coro<void> test_full() {
    Queue<int> unbounded;
    CHECK_FALSE(unbounded.full());
    Queue<int> q(1);
    co_await q.put(1);
    CHECK(q.full());
}

template <class Q>
Coro<void> test_order(std::vector<int> expected) {
    Q q;
    for (int i : {1, 3, 2})
        co_await q.put(i);
    std::vector<int> items;
    for (int n = 0; n < 3; ++n)
        items.push_back(co_await q.get());
    CHECK(items == expected);
}

Coro<bool> put_three(Queue<int>* q, std::vector<int>* have_been_put) {
    for (int i = 0; i < 3; ++i) {
        co_await q->put(i);
        have_been_put->push_back(i);
    }
    co_return true;
}

Coro<void> test_maxsize() {
    Queue<int> q(2);
    CHECK(q.maxsize() == 2);
    std::vector<int> have_been_put;
    Task<bool> t = create_task(put_three(&q, &have_been_put));
    for (int i = 0; i < 2; ++i)
        co_await yield();
    // The putter is blocked after putting two items.
    CHECK(have_been_put == std::vector<int>{0, 1});
    const auto first = co_await q.get();
    CHECK(first == 0);
    // Let the putter resume and put the last item.
    co_await yield();
    CHECK(have_been_put == std::vector<int>{0, 1, 2});
    const auto second = co_await q.get();
    CHECK(second == 1);
    const auto third = co_await q.get();
    CHECK(third == 2);
    CHECK(t.done());
    CHECK(t.result());
}

// ---- get ------------------------------------------------------------------------------------

Coro<void> test_blocking_get() {
    Queue<int> q;
    q.put_nowait(1);
    const int got = co_await q.get();
    CHECK(got == 1);
}

// The original appends a future of its own to the private `_putters` and checks that get()
// completes it; here a real putter waits, and its future leaves the line when get() wakes it.
Coro<void> test_get_with_putters() {
    Queue<int> q(1);
    co_await q.put(1);
    Task<void> putter = create_task(q.put(2));
    co_await yield();
    CHECK(shown(q) == "<Queue maxsize=1 _queue=[1] _putters[1] tasks=1>");
    const int got = co_await q.get();
    CHECK(got == 1);
    CHECK(shown(q) == "<Queue maxsize=1 tasks=1>");  // woken: the waiter was removed and done
    co_await putter;
    CHECK(q.get_nowait() == 2);
}

Coro<int> get_after_start(Queue<int>* q, Event* started, bool* finished) {
    started->set();
    const int got = co_await q->get();
    *finished = true;
    co_return got;
}

Coro<void> test_blocking_get_wait() {
    Queue<int> q;
    Event started;
    bool finished = false;
    Task<int> queue_get_task = create_task(get_after_start(&q, &started, &finished));
    co_await started.wait();
    CHECK_FALSE(finished);
    get_running_loop().call_later(2ms, [&q] { q.put_nowait(1); });
    const int got = co_await queue_get_task;
    CHECK(finished);
    CHECK(got == 1);
}

Coro<void> test_get_cancelled_race() {
    Queue<std::string> q;
    Task<std::string> t1 = create_task(q.get());
    Task<std::string> t2 = create_task(q.get());
    co_await yield();
    t1.cancel();
    co_await yield();
    CHECK(t1.done());
    co_await q.put("a");
    co_await yield();
    const std::string got = co_await t2;
    CHECK(got == "a");
}

Coro<void> test_get_with_waiting_putters() {
    Queue<std::string> q(1);
    Task<void> put_a = create_task(q.put("a"));
    Task<void> put_b = create_task(q.put("b"));
    const auto first = co_await q.get();
    CHECK(first == "a");
    const auto second = co_await q.get();
    CHECK(second == "b");
    CHECK(put_b.done());
}

Coro<void> consume(Queue<int>* q, int count) {
    for (int n = 0; n < count; ++n)
        co_await q->get();
}

Coro<void> produce(Queue<int>* q, int count) {
    for (int i = 0; i < count; ++i)
        co_await q->put(i);
}

Coro<void> test_why_are_getters_waiting() {
    Queue<int> q(1);
    co_await task_group([q = &q](TaskGroup& group) -> Coro<void> {
        group.create_task(produce(q, 5));
        group.create_task(consume(q, 5));
        co_return;
    });
    CHECK(q.empty());
}

Coro<void> test_cancelled_getters_not_being_held_in_self_getters() {
    Queue<int> queue(5);
    bool timed_out = false;
    try {
        co_await wait_for(queue.get(), 2ms);
    } catch (const TimeoutError&) {
        timed_out = true;
    }
    CHECK(timed_out);
    CHECK(shown(queue) == "<Queue maxsize=5>");  // no _getters left
}

// ---- put ------------------------------------------------------------------------------------

Coro<void> test_blocking_put() {
    Queue<int> q;
    co_await q.put(1);  // no maxsize: does not block
    const int got = co_await q.get();
    CHECK(got == 1);
}

Coro<void> put_two_after_start(Queue<int>* q, Event* started, bool* finished) {
    started->set();
    co_await q->put(1);
    co_await q->put(2);
    *finished = true;
}

Coro<void> test_blocking_put_wait() {
    Queue<int> q(1);
    Event started;
    bool finished = false;
    get_running_loop().call_later(2ms, [&q] { q.get_nowait(); });
    Task<void> queue_put_task = create_task(put_two_after_start(&q, &started, &finished));
    co_await started.wait();
    CHECK_FALSE(finished);
    co_await queue_put_task;
    CHECK(finished);
}

Coro<void> test_get_cancel_drop_one_pending_reader() {
    Queue<int> q;
    Task<int> reader = create_task(q.get());
    co_await yield();
    q.put_nowait(1);
    q.put_nowait(2);
    reader.cancel();
    bool cancelled = false;
    try {
        co_await reader;
    } catch (const CancelledError&) {
        cancelled = true;
    }
    if (cancelled) {  // try again
        reader = create_task(q.get());
        co_await reader;
    }
    // 2 would mean that 1 was dropped.
    CHECK(reader.result() == 1);
}

Coro<void> test_get_cancel_drop_many_pending_readers() {
    Queue<int> q;
    auto readers = std::make_shared<std::vector<Task<int>>>();
    // Named first: g++ 12 destroys twice the captures of a lambda written inside co_await.
    auto body = [q = &q, readers](TaskGroup& group) -> Coro<void> {
        for (int n = 0; n < 3; ++n)
            readers->push_back(group.create_task(q->get()));
        co_await yield();
        q->put_nowait(1);
        q->put_nowait(2);
        (*readers)[0].cancel();
        const std::string first = co_await outcome_of((*readers)[0]);
        CHECK(first == "CancelledError: ");
        co_await (*readers)[2];
    };
    co_await task_group(body);
    // Which reader gets which item is not specified.
    const int second = (*readers)[1].result();
    const int third = (*readers)[2].result();
    CHECK(second + third == 3);
    CHECK(second * third == 2);
}

Coro<void> test_put_cancel_drop() {
    Queue<int> q(1);
    q.put_nowait(1);
    // Putting a second item has to wait (qsize 1).
    Task<void> writer = create_task(q.put(2));
    co_await yield();
    CHECK(q.get_nowait() == 1);
    writer.cancel();
    bool cancelled = false;
    try {
        co_await writer;
    } catch (const CancelledError&) {
        cancelled = true;
    }
    if (cancelled) {  // try again
        writer = create_task(q.put(2));
        co_await writer;
    }
    CHECK(q.get_nowait() == 2);
    CHECK(q.qsize() == 0);
}

Coro<bool> put_one(Queue<int>* q) {
    co_await q->put(1);
    co_return true;
}

Coro<void> test_put_cancelled() {
    Queue<int> q;
    Task<bool> t = create_task(put_one(&q));
    const auto got = co_await q.get();
    CHECK(got == 1);
    CHECK(t.done());
    CHECK(t.result());
}

Coro<void> test_put_cancelled_race() {
    Queue<std::string> q(1);
    Task<void> put_a = create_task(q.put("a"));
    Task<void> put_b = create_task(q.put("b"));
    Task<void> put_c = create_task(q.put("X"));
    co_await yield();
    CHECK(put_a.done());
    CHECK_FALSE(put_b.done());
    put_c.cancel();
    co_await yield();
    CHECK(put_c.done());
    CHECK(q.get_nowait() == "a");
    co_await yield();
    CHECK(q.get_nowait() == "b");
    co_await put_b;
}

Coro<void> test_put_with_waiting_getters() {
    Queue<std::string> q;
    Task<std::string> t = create_task(q.get());
    co_await yield();
    co_await q.put("a");
    const std::string got = co_await t;
    CHECK(got == "a");
}

Coro<void> take_what_is_there(Queue<int>* q) {
    co_await yield();
    const std::size_t count = q->qsize();
    for (std::size_t n = 0; n < count; ++n)
        q->get_nowait();
}

Coro<void> test_why_are_putters_waiting() {
    Queue<int> queue(2);
    co_await task_group([q = &queue](TaskGroup& group) -> Coro<void> {
        group.create_task(take_what_is_there(q));
        for (int i = 0; i < 4; ++i)
            group.create_task(q->put(i));
        co_return;
    });
    CHECK(queue.qsize() == 2);
}

Coro<void> test_cancelled_puts_not_being_held_in_self_putters() {
    Queue<int> queue(1);  // full
    queue.put_nowait(1);
    Task<void> put_task = create_task(queue.put(1));  // waits for space
    co_await yield();
    CHECK(contains(queue.describe(), "_putters[1]"));
    put_task.cancel();
    const std::string outcome = co_await outcome_of(put_task);
    CHECK(outcome == "CancelledError: ");
    CHECK_FALSE(contains(queue.describe(), "_putters"));
}

Coro<void> test_cancelled_put_silence_value_error_exception() {
    Queue<int> queue(1);  // full
    queue.put_nowait(1);
    Task<void> put_task = create_task(queue.put(1));
    co_await yield();
    // get_nowait() removes the putter's future from the line; the cancelled put() must not
    // fail when it finds it gone.
    queue.get_nowait();
    put_task.cancel();
    const std::string outcome = co_await outcome_of(put_task);
    CHECK(outcome == "CancelledError: ");
}

}  // namespace

// ---- the ports ------------------------------------------------------------------------------

LOOP_TEST_CASE("Queue: test_repr") {
    run_on<LoopKind>(test_repr());
}
LOOP_TEST_CASE("Queue: test_empty") {
    run_on<LoopKind>(test_empty());
}
LOOP_TEST_CASE("Queue: test_full") {
    run_on<LoopKind>(test_full());
}
LOOP_TEST_CASE("Queue: test_order") {
    run_on<LoopKind>(test_order<Queue<int>>({1, 3, 2}));
}
LOOP_TEST_CASE("LifoQueue: test_order") {
    run_on<LoopKind>(test_order<LifoQueue<int>>({2, 3, 1}));
}
LOOP_TEST_CASE("PriorityQueue: test_order") {
    run_on<LoopKind>(test_order<PriorityQueue<int>>({1, 2, 3}));
}
LOOP_TEST_CASE("Queue: test_maxsize") {
    run_on<LoopKind>(test_maxsize());
}
LOOP_TEST_CASE("Queue: test_blocking_get") {
    run_on<LoopKind>(test_blocking_get());
}
LOOP_TEST_CASE("Queue: test_get_with_putters") {
    run_on<LoopKind>(test_get_with_putters());
}
LOOP_TEST_CASE("Queue: test_blocking_get_wait") {
    run_on<LoopKind>(test_blocking_get_wait());
}
LOOP_TEST_CASE("Queue: test_get_cancelled_race") {
    run_on<LoopKind>(test_get_cancelled_race());
}
LOOP_TEST_CASE("Queue: test_get_with_waiting_putters") {
    run_on<LoopKind>(test_get_with_waiting_putters());
}
LOOP_TEST_CASE("Queue: test_why_are_getters_waiting") {
    run_on<LoopKind>(test_why_are_getters_waiting());
}
LOOP_TEST_CASE("Queue: test_cancelled_getters_not_being_held_in_self_getters") {
    run_on<LoopKind>(test_cancelled_getters_not_being_held_in_self_getters());
}
LOOP_TEST_CASE("Queue: test_blocking_put") {
    run_on<LoopKind>(test_blocking_put());
}
LOOP_TEST_CASE("Queue: test_blocking_put_wait") {
    run_on<LoopKind>(test_blocking_put_wait());
}
LOOP_TEST_CASE("Queue: test_get_cancel_drop_one_pending_reader") {
    run_on<LoopKind>(test_get_cancel_drop_one_pending_reader());
}
LOOP_TEST_CASE("Queue: test_get_cancel_drop_many_pending_readers") {
    run_on<LoopKind>(test_get_cancel_drop_many_pending_readers());
}
LOOP_TEST_CASE("Queue: test_put_cancel_drop") {
    run_on<LoopKind>(test_put_cancel_drop());
}
LOOP_TEST_CASE("Queue: test_put_cancelled") {
    run_on<LoopKind>(test_put_cancelled());
}
LOOP_TEST_CASE("Queue: test_put_cancelled_race") {
    run_on<LoopKind>(test_put_cancelled_race());
}
LOOP_TEST_CASE("Queue: test_put_with_waiting_getters") {
    run_on<LoopKind>(test_put_with_waiting_getters());
}
LOOP_TEST_CASE("Queue: test_why_are_putters_waiting") {
    run_on<LoopKind>(test_why_are_putters_waiting());
}
LOOP_TEST_CASE("Queue: test_cancelled_puts_not_being_held_in_self_putters") {
    run_on<LoopKind>(test_cancelled_puts_not_being_held_in_self_putters());
}
LOOP_TEST_CASE("Queue: test_cancelled_put_silence_value_error_exception") {
    run_on<LoopKind>(test_cancelled_put_silence_value_error_exception());
}

TEST_SUITE_BEGIN("loop-free");

TEST_CASE("Queue: test_nonblocking_get") {
    Queue<int> q;
    q.put_nowait(1);
    CHECK(q.get_nowait() == 1);
}

TEST_CASE("Queue: test_nonblocking_get_exception") {
    Queue<int> q;
    CHECK_THROWS_AS(q.get_nowait(), QueueEmpty);
}

TEST_CASE("Queue: test_nonblocking_put") {
    Queue<int> q;
    q.put_nowait(1);
    CHECK(q.get_nowait() == 1);
}

TEST_CASE("Queue: test_nonblocking_put_exception") {
    Queue<int> q(1);
    q.put_nowait(1);
    CHECK_THROWS_AS(q.put_nowait(2), QueueFull);
}

TEST_SUITE_END();
