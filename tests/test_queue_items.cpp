// What queues hold: move-only items in all three classes, describe()'s view of the stored items,
// PriorityQueue's order of items that compare equal (heapq's) and a comparison that throws.
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "queues_support.hpp"
#include "support.hpp"

using namespace simrun;
using queues_test::run_on;
using queues_test::shown;
using queues_test::Strings;
using queues_test::yield;
using test_support::joined;

namespace {

template <class Q>
Coro<void> get_into(Q* q, typename Q::value_type* out) {
    *out = co_await q->get();
}

struct ByPointee {
    bool operator()(const std::unique_ptr<int>& a, const std::unique_ptr<int>& b) const {
        return *a < *b;
    }
};

template <class Q>
Coro<void> move_only_items(std::vector<int> expected) {
    Q q(2);
    std::unique_ptr<int> received;
    Task<void> waiting = create_task(get_into(&q, &received));
    co_await yield();
    co_await q.put(std::make_unique<int>(1));
    co_await waiting;
    REQUIRE(received);
    CHECK(*received == 1);
    co_await q.put(std::make_unique<int>(2));
    q.put_nowait(std::make_unique<int>(3));
    Task<void> putter = create_task(q.put(std::make_unique<int>(4)));  // waits: full
    co_await yield();
    CHECK(q.full());
    std::vector<int> got;
    std::unique_ptr<int> item = co_await q.get();
    got.push_back(*item);
    co_await putter;
    while (!q.empty())
        got.push_back(*q.get_nowait());
    CHECK(got == expected);
    q.put_nowait(std::make_unique<int>(5));
    q.shutdown(true);
    CHECK(q.empty());
}

struct Opaque {
    int value;
};

struct Job {
    int priority;
    std::string name;
};
std::ostream& operator<<(std::ostream& out, const Job& job) {
    return out << job.name << job.priority;
}
struct ByPriority {
    bool operator()(const Job& a, const Job& b) const { return a.priority < b.priority; }
};

struct ThrowingLess {
    bool operator()(const Opaque&, const Opaque&) const { throw ValueError("not comparable"); }
};

}  // namespace

LOOP_TEST_CASE("Queue: move-only items") {
    run_on<LoopKind>(move_only_items<Queue<std::unique_ptr<int>>>({2, 3, 4}));
}
LOOP_TEST_CASE("LifoQueue: move-only items") {
    run_on<LoopKind>(move_only_items<LifoQueue<std::unique_ptr<int>>>({3, 4, 2}));
}
LOOP_TEST_CASE("PriorityQueue: move-only items") {
    run_on<LoopKind>(move_only_items<PriorityQueue<std::unique_ptr<int>, ByPointee>>({2, 3, 4}));
}

TEST_SUITE_BEGIN("loop-free");

TEST_CASE("Queue: describe() shows the stored items in asyncio's order") {
    const std::vector<int> items{5, 3, 4, 1, 2, 0, 6};
    Queue<int> fifo(7);
    LifoQueue<int> lifo(7);
    PriorityQueue<int> priority(7);
    for (int item : items) {
        fifo.put_nowait(item);
        lifo.put_nowait(item);
        priority.put_nowait(item);
    }
    // The lines CPython 3.13 prints for the same calls.
    CHECK(shown(fifo) == "<Queue maxsize=7 _queue=[5, 3, 4, 1, 2, 0, 6] tasks=7>");
    CHECK(shown(lifo) == "<LifoQueue maxsize=7 _queue=[5, 3, 4, 1, 2, 0, 6] tasks=7>");
    CHECK(shown(priority) == "<PriorityQueue maxsize=7 _queue=[0, 2, 1, 5, 3, 4, 6] tasks=7>");
    std::vector<int> taken;
    for (int n = 0; n < 3; ++n) {
        taken.push_back(fifo.get_nowait());
        taken.push_back(lifo.get_nowait());
        taken.push_back(priority.get_nowait());
    }
    CHECK(taken == std::vector<int>{5, 6, 0, 3, 0, 1, 4, 2, 2});
    CHECK(shown(fifo) == "<Queue maxsize=7 _queue=[1, 2, 0, 6] tasks=7>");
    CHECK(shown(lifo) == "<LifoQueue maxsize=7 _queue=[5, 3, 4, 1] tasks=7>");
    CHECK(shown(priority) == "<PriorityQueue maxsize=7 _queue=[3, 5, 4, 6] tasks=7>");

    Queue<std::string> strings(1);
    strings.put_nowait("s");
    strings.shutdown();
    CHECK(shown(strings) == "<Queue maxsize=1 _queue=['s'] tasks=1 shutdown>");

    Queue<Opaque> opaque;
    opaque.put_nowait({1});
    opaque.put_nowait({2});
    CHECK(shown(opaque) == "<Queue maxsize=0 _queue[2] tasks=2>");
}

TEST_CASE("PriorityQueue: items that compare equal come out in heapq's order") {
    PriorityQueue<Job, ByPriority> q;
    for (const Job& job : {Job{2, "a"}, Job{1, "b"}, Job{2, "c"}, Job{1, "d"}, Job{0, "e"},
                           Job{1, "f"}, Job{2, "g"}, Job{0, "h"}, Job{1, "i"}})
        q.put_nowait(job);
    // CPython 3.13, with a class whose __lt__ compares the priority only:
    CHECK(shown(q) ==
          "<PriorityQueue maxsize=0 _queue=[e0, h0, f1, b1, d1, c2, g2, a2, i1] tasks=9>");
    Strings order;
    while (!q.empty()) {
        std::ostringstream text;
        text << q.get_nowait();
        order.push_back(text.str());
    }
    CHECK(joined(order) == joined({"e0", "h0", "f1", "d1", "i1", "b1", "g2", "c2", "a2"}));
}

TEST_CASE("PriorityQueue: a comparison that throws leaves the item stored but uncounted") {
    PriorityQueue<Opaque, ThrowingLess> q;
    q.put_nowait({1});
    CHECK_THROWS_WITH_AS(q.put_nowait({2}), "not comparable", ValueError);
    // As in CPython 3.13: qsize() == 2, one unfinished task.
    CHECK(q.qsize() == 2);
    CHECK(shown(q) == "<PriorityQueue maxsize=0 _queue[2] tasks=1>");
}

TEST_SUITE_END();
