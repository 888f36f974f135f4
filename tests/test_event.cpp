// Event: set / clear / wait, several waiters, cancelled waiters; on both loops. Then the ports
// of CPython's EventTests (test_locks.py, 3.13), loop binding and destruction with waiters.
#include <functional>
#include <string>
#include <vector>

#include "locks_support.hpp"
#include "support.hpp"

using namespace simrun;
using test_support::at_now;
using test_support::joined;
using test_support::TestLoop;

namespace {

using Events = std::vector<std::string>;

std::string ms(Duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms";
}

/// What happened, and when. On the simulator "when" is the exact virtual time. The real loop's
/// timers are late by varying amounts (but keep their order), so there "when" is the nominal time
/// of the last scheduled action that ran: a record says which action it came after.
class Timeline {
  public:
    explicit Timeline(bool virtual_time) : virtual_time_(virtual_time) {}
    /// Records `what` + " at " + the time.
    void record(const std::string& what) { events.push_back(what + " at " + now()); }
    /// Runs `action` at nominal time `when` (the loop's start is 0; when called from an action,
    /// `when` is reached from that action's nominal time).
    void at(EventLoop& loop, Duration when, std::function<void()> action) {
        loop.call_later(when - reached_, [this, when, action = std::move(action)] {
            reached_ = when;
            action();
        });
    }
    /// Notes that the nominal time `when` was reached without an action (after a sleep).
    void reached(Duration when) { reached_ = when; }
    Events events;

  private:
    std::string now() const { return virtual_time_ ? at_now() : ms(reached_); }
    bool virtual_time_;
    Duration reached_{0};
};

Coro<void> wait_and_record(Event* event, Timeline* timeline, std::string who) {
    try {
        co_await event->wait();
    } catch (const CancelledError&) {
        timeline->record(who + " cancelled");
        throw;
    }
    timeline->record(who + " woke");
}

Coro<void> wait_twice(Event* event, Timeline* timeline) {
    co_await event->wait();
    timeline->record("first wait returned");
    event->clear();
    co_await event->wait();
    timeline->record("second wait returned");
}

Coro<void> wait_on_set_event(Event* event, Timeline* timeline) {
    event->set();
    co_await event->wait();
    timeline->record("returned at once");
}

Coro<void> retry_after_cancel(Event* event, Timeline* timeline) {
    bool cancelled = false;
    try {
        co_await event->wait();
    } catch (const CancelledError&) {
        cancelled = true;
    }
    timeline->events.push_back(cancelled ? "cancelled, waiting again" : "woke without cancel");
    co_await event->wait();
    timeline->record("woke");
}

}  // namespace

// Needs no loop: in no suite.
// These need no loop at all.
TEST_SUITE_BEGIN("loop-free");

TEST_CASE("Event: starts unset; set() and clear() change is_set()") {
    Event event;
    CHECK_FALSE(event.is_set());
    event.set();
    CHECK(event.is_set());
    event.set();
    CHECK(event.is_set());
    event.clear();
    CHECK_FALSE(event.is_set());
}

TEST_SUITE_END();

TEST_SUITE_BEGIN("sim-only");

LOOP_TEST_CASE("Event: wait() on a set event returns without suspending") {
    TestLoop<LoopKind> s;
    Timeline timeline(LoopKind::is_sim);
    Event event;
    Task<void> task = s.loop.create_task(wait_on_set_event(&event, &timeline));
    s.loop.run_until_complete(task);
    CHECK(joined(timeline.events) == joined({"returned at once at 0ms"}));
}

LOOP_TEST_CASE("Event: wait() suspends until set(); after clear() it suspends again") {
    TestLoop<LoopKind> s;
    Timeline timeline(LoopKind::is_sim);
    Event event;
    Task<void> task = s.loop.create_task(wait_twice(&event, &timeline));
    timeline.at(s.loop, 1ms, [&] {
        event.set();
        // Scheduled from here, so that a late real timer cannot set the event a second time
        // before the waiter saw the first set().
        timeline.at(s.loop, 3ms, [&event] { event.set(); });
    });
    s.loop.run_until_complete(task);
    CHECK(joined(timeline.events) ==
          joined({"first wait returned at 1ms", "second wait returned at 3ms"}));
}

LOOP_TEST_CASE("Event: set() wakes every waiter") {
    TestLoop<LoopKind> s;
    Timeline timeline(LoopKind::is_sim);
    Event event;
    std::vector<Task<void>> waiters;
    for (const char* who : {"a", "b", "c"})
        waiters.push_back(s.loop.create_task(wait_and_record(&event, &timeline, who)));
    timeline.at(s.loop, 2ms, [&event] { event.set(); });
    s.loop.run_until_complete(gather(waiters));
    CHECK(joined(timeline.events) == joined({"a woke at 2ms", "b woke at 2ms", "c woke at 2ms"}));
    CHECK(event.is_set());
}

LOOP_TEST_CASE("Event: a cancelled waiter leaves; the other waiters still wake") {
    TestLoop<LoopKind> s;
    Timeline timeline(LoopKind::is_sim);
    Event event;
    Task<void> a = s.loop.create_task(wait_and_record(&event, &timeline, "a"));
    Task<void> b = s.loop.create_task(wait_and_record(&event, &timeline, "b"));
    Task<void> c = s.loop.create_task(wait_and_record(&event, &timeline, "c"));
    timeline.at(s.loop, 1ms, [b]() mutable { b.cancel(); });
    CHECK_THROWS_AS(s.loop.run_until_complete(b), CancelledError);
    CHECK_FALSE(event.is_set());
    // Scheduled once b is done, so that a late real timer cannot set the event while b ends.
    timeline.at(s.loop, 2ms, [&event] { event.set(); });
    s.loop.run_until_complete(c);
    CHECK(a.done());
    CHECK(b.cancelled());
    CHECK(joined(timeline.events) ==
          joined({"b cancelled at 1ms", "a woke at 2ms", "c woke at 2ms"}));
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE("Event: a waiter whose wait was cancelled can wait again and is woken once") {
    TestLoop<LoopKind> s;
    Timeline timeline(LoopKind::is_sim);
    Event event;
    Task<void> task = s.loop.create_task(retry_after_cancel(&event, &timeline));
    timeline.at(s.loop, 1ms, [task]() mutable { task.cancel(); });
    timeline.at(s.loop, 2ms, [&event] { event.set(); });
    s.loop.run_until_complete(task);
    CHECK(joined(timeline.events) == joined({"cancelled, waiting again", "woke at 2ms"}));
}

LOOP_TEST_CASE("Event: a waiter cancelled before set() is not woken by it") {
    TestLoop<LoopKind> s;
    Timeline timeline(LoopKind::is_sim);
    Event event;
    Task<void> task = s.loop.create_task(wait_and_record(&event, &timeline, "w"));
    s.loop.run_until_complete(sleep(1ms));
    timeline.reached(1ms);
    task.cancel("gone");
    event.set();  // the cancelled waiter's future is skipped
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(task), "gone", CancelledError);
    CHECK(joined(timeline.events) == joined({"w cancelled at 1ms"}));
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE("Event: waiters woken by set() return even if clear() follows at once") {
    TestLoop<LoopKind> s;
    Timeline timeline(LoopKind::is_sim);
    Event event;
    Task<void> task = s.loop.create_task(wait_and_record(&event, &timeline, "w"));
    timeline.at(s.loop, 1ms, [&event] {
        event.set();
        event.clear();
    });
    s.loop.run_until_complete(task);
    CHECK(joined(timeline.events) == "w woke at 1ms");
    CHECK_FALSE(event.is_set());
}

TEST_SUITE_END();

// ---- the ports of CPython's EventTests ------------------------------------------------------

namespace {

Coro<void> wait_and_push(Event* event, std::vector<int>* result, int tag) {
    co_await event->wait();
    result->push_back(tag);
}

}  // namespace

TEST_CASE("Event: test_repr" * doctest::test_suite("loop-free")) {
    Event ev;
    CHECK(locks_test::ends_with(ev.describe(), "[unset]>"));
    CHECK(locks_test::matches_repr(ev.describe()));
    ev.set();
    CHECK(locks_test::ends_with(ev.describe(), "[set]>"));
    CHECK(locks_test::matches_repr(ev.describe()));
    // CPython appends a mock waiter; the waiter count is checked with real waiters below.
}

LOOP_TEST_CASE("Event: test_repr with waiters") {
    TestLoop<LoopKind> s;
    locks_test::run_body(s, []() -> Coro<void> {
        Event ev;
        Task<void> waiter = create_task(ev.wait());
        co_await yield_now();
        CHECK(locks_test::ends_with(ev.describe(), "[unset, waiters:1]>"));
        CHECK(locks_test::matches_repr(ev.describe()));
        ev.set();
        co_await waiter;
        CHECK(locks_test::ends_with(ev.describe(), "[set]>"));
    }());
}

LOOP_TEST_CASE("Event: test_wait") {
    TestLoop<LoopKind> s;
    locks_test::run_body(s, []() -> Coro<void> {
        Event ev;
        CHECK_FALSE(ev.is_set());
        std::vector<int> result;
        Task<void> t1 = create_task(wait_and_push(&ev, &result, 1));
        Task<void> t2 = create_task(wait_and_push(&ev, &result, 2));
        co_await yield_now();
        CHECK(locks_test::str(result) == "[]");
        Task<void> t3 = create_task(wait_and_push(&ev, &result, 3));
        ev.set();
        co_await yield_now();
        CHECK(locks_test::str(result) == "[3, 1, 2]");
        CHECK(t1.done());
        CHECK(t2.done());
        CHECK(t3.done());
    }());
}

LOOP_TEST_CASE("Event: test_wait_on_set") {
    TestLoop<LoopKind> s;
    locks_test::run_body(s, []() -> Coro<void> {
        Event ev;
        ev.set();
        co_await ev.wait();
        CHECK(ev.is_set());
    }());
}

LOOP_TEST_CASE("Event: test_wait_cancel") {
    TestLoop<LoopKind> s;
    locks_test::run_body(s, []() -> Coro<void> {
        Event ev;
        Task<void> wait = create_task(ev.wait());
        get_running_loop().call_soon([wait]() mutable { wait.cancel(); });
        CHECK(co_await locks_test::outcome(wait) == "CancelledError");
        CHECK(locks_test::ends_with(ev.describe(), "[unset]>"));  // no waiters left
    }());
}

TEST_CASE("Event: test_clear" * doctest::test_suite("loop-free")) {
    Event ev;
    CHECK_FALSE(ev.is_set());
    ev.set();
    CHECK(ev.is_set());
    ev.clear();
    CHECK_FALSE(ev.is_set());
}

LOOP_TEST_CASE("Event: test_clear_with_waiters") {
    TestLoop<LoopKind> s;
    locks_test::run_body(s, []() -> Coro<void> {
        Event ev;
        std::vector<int> result;
        Task<void> t = create_task(wait_and_push(&ev, &result, 1));
        co_await yield_now();
        CHECK(locks_test::str(result) == "[]");
        ev.set();
        ev.clear();
        CHECK_FALSE(ev.is_set());
        ev.set();
        ev.set();
        CHECK(test_support::contains(ev.describe(), "waiters:1"));
        co_await yield_now();
        CHECK(locks_test::str(result) == "[1]");
        CHECK_FALSE(test_support::contains(ev.describe(), "waiters"));
        CHECK(t.done());
    }());
}

// ---- beyond CPython's tests -----------------------------------------------------------------

LOOP_TEST_CASE("Event: bound to the loop of its first wait; waiting on another loop throws") {
    Event event;
    {
        TestLoop<LoopKind> first;
        locks_test::run_body(first, [](Event* event) -> Coro<void> {
            Task<void> waiter = create_task(event->wait());  // binds
            co_await yield_now();
            event->set();
            co_await waiter;
        }(&event));
    }
    TestLoop<LoopKind> second;
    locks_test::run_body(second, [](Event* event) -> Coro<void> {
        co_await event->wait();  // set: no check
        event->clear();
        Task<void> waiter = create_task(event->wait());
        CHECK(co_await locks_test::outcome(waiter) ==
              "RuntimeError: " + event->describe() + " is bound to a different event loop");
    }(&event));
}

LOOP_TEST_CASE("Event: destroyed while tasks wait: they get CancelledError; woken ones return") {
    TestLoop<LoopKind> s;
    locks_test::run_body(s, []() -> Coro<void> {
        auto event = std::make_unique<Event>();
        Task<void> waiter = create_task(event->wait());
        co_await yield_now();
        event.reset();
        CHECK(co_await locks_test::outcome(waiter) ==
              "CancelledError: Event was destroyed while a task waited on it");
        event = std::make_unique<Event>();
        Task<void> woken = create_task(event->wait());
        co_await yield_now();
        event->set();
        event.reset();
        CHECK(co_await locks_test::outcome(woken) == "ok");
    }());
    CHECK(s.errors.contexts.empty());
}

TEST_CASE("Event: a deadlock report names the waiter Event.wait" *
          doctest::test_suite("sim-only")) {
    test_support::Sim s;
    Event event;
    const auto error =
        test_support::thrown<sim::DeadlockError>([&] { s.loop.run_until_complete(event.wait()); });
    REQUIRE(error.has_value());
    CHECK(test_support::contains(error->what(), "Event.wait"));
}
