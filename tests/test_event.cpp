// Event: set / clear / wait, several waiters, cancelled waiters.
#include <string>
#include <vector>

#include "support.hpp"

using namespace simrun;
using test_support::at_now;
using test_support::joined;
using test_support::Sim;

namespace {

using Events = std::vector<std::string>;

Coro<void> wait_and_record(Event* event, Events* events, std::string who) {
    try {
        co_await event->wait();
    } catch (const CancelledError&) {
        events->push_back(who + " cancelled at " + at_now());
        throw;
    }
    events->push_back(who + " woke at " + at_now());
}

Coro<void> wait_twice(Event* event, Events* events) {
    co_await event->wait();
    events->push_back("first wait returned at " + at_now());
    event->clear();
    co_await event->wait();
    events->push_back("second wait returned at " + at_now());
}

Coro<void> wait_on_set_event(Event* event, Events* events) {
    event->set();
    co_await event->wait();
    events->push_back("returned at once at " + at_now());
}

Coro<void> retry_after_cancel(Event* event, Events* events) {
    bool cancelled = false;
    try {
        co_await event->wait();
    } catch (const CancelledError&) {
        cancelled = true;
    }
    events->push_back(cancelled ? "cancelled, waiting again" : "woke without cancel");
    co_await event->wait();
    events->push_back("woke at " + at_now());
}

}  // namespace

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

TEST_CASE("Event: wait() on a set event returns without suspending") {
    Sim s;
    Event event;
    Events events;
    Task<void> task = s.loop.create_task(wait_on_set_event(&event, &events));
    s.loop.run_until_complete(task);
    CHECK(joined(events) == joined({"returned at once at 0ms"}));
}

TEST_CASE("Event: wait() suspends until set(); after clear() it suspends again") {
    Sim s;
    Event event;
    Events events;
    Task<void> task = s.loop.create_task(wait_twice(&event, &events));
    s.loop.call_later(1s, [&event] { event.set(); });
    s.loop.call_later(3s, [&event] { event.set(); });
    s.loop.run_until_complete(task);
    CHECK(joined(events) ==
          joined({"first wait returned at 1000ms", "second wait returned at 3000ms"}));
}

TEST_CASE("Event: set() wakes every waiter") {
    Sim s;
    Event event;
    Events events;
    std::vector<Task<void>> waiters;
    for (const char* who : {"a", "b", "c"})
        waiters.push_back(s.loop.create_task(wait_and_record(&event, &events, who)));
    s.loop.call_later(2s, [&event] { event.set(); });
    s.loop.run_until_complete(gather(waiters));
    CHECK(joined(events) == joined({"a woke at 2000ms", "b woke at 2000ms", "c woke at 2000ms"}));
    CHECK(event.is_set());
}

TEST_CASE("Event: a cancelled waiter leaves; the other waiters still wake") {
    Sim s;
    Event event;
    Events events;
    Task<void> a = s.loop.create_task(wait_and_record(&event, &events, "a"));
    Task<void> b = s.loop.create_task(wait_and_record(&event, &events, "b"));
    Task<void> c = s.loop.create_task(wait_and_record(&event, &events, "c"));
    s.loop.call_later(1s, [b]() mutable { b.cancel(); });
    s.loop.call_later(2s, [&event] { event.set(); });
    CHECK_THROWS_AS(s.loop.run_until_complete(b), CancelledError);
    CHECK_FALSE(event.is_set());
    s.loop.run_until_complete(c);
    CHECK(a.done());
    CHECK(b.cancelled());
    CHECK(joined(events) ==
          joined({"b cancelled at 1000ms", "a woke at 2000ms", "c woke at 2000ms"}));
    CHECK(s.errors.contexts.empty());
}

TEST_CASE("Event: a waiter whose wait was cancelled can wait again and is woken once") {
    Sim s;
    Event event;
    Events events;
    Task<void> task = s.loop.create_task(retry_after_cancel(&event, &events));
    s.loop.call_later(1s, [task]() mutable { task.cancel(); });
    s.loop.call_later(2s, [&event] { event.set(); });
    s.loop.run_until_complete(task);
    CHECK(joined(events) == joined({"cancelled, waiting again", "woke at 2000ms"}));
}

TEST_CASE("Event: a waiter cancelled before set() is not woken by it") {
    Sim s;
    Event event;
    Events events;
    Task<void> task = s.loop.create_task(wait_and_record(&event, &events, "w"));
    s.loop.run_until_complete(sleep(1s));
    task.cancel("gone");
    event.set();  // the cancelled waiter's future is skipped
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(task), "gone", CancelledError);
    CHECK(joined(events) == joined({"w cancelled at 1000ms"}));
    CHECK(s.errors.contexts.empty());
}

TEST_CASE("Event: waiters woken by set() return even if clear() follows at once") {
    Sim s;
    Event event;
    Events events;
    Task<void> task = s.loop.create_task(wait_and_record(&event, &events, "w"));
    s.loop.call_later(1s, [&event] {
        event.set();
        event.clear();
    });
    s.loop.run_until_complete(task);
    CHECK(joined(events) == "w woke at 1000ms");
    CHECK_FALSE(event.is_set());
}
