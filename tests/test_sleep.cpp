// A task's sleep: the task keeps one timer for its sleeps and plays the part of asyncio's sleep
// future (runner/src/core/sleep.cpp). These tests hold what that future would show: which
// CancelledError a cancelled sleep throws, what describe() says, that a cancelled timer never
// wakes a later sleep.
#include <string>
#include <vector>

#include "loop_timing.hpp"
#include "support.hpp"

using namespace simrun;

namespace {

struct SleepLog {
    std::vector<std::string> cancellations;  // the message of each CancelledError seen
    std::vector<Duration> woke_at;           // loop time after each sleep that ended normally
};

/// Sleeps `first`, catching a cancellation; then sleeps each of `then` in turn.
Coro<void> sleep_catch_then_sleep(Duration first, std::vector<Duration> then, SleepLog* log) {
    EventLoop& loop = get_running_loop();
    try {
        co_await sleep(first);
        log->woke_at.push_back(loop.time());
    } catch (const CancelledError& e) {
        log->cancellations.emplace_back(e.what());
    }
    for (Duration delay : then) {
        try {
            co_await sleep(delay);
            log->woke_at.push_back(loop.time());
        } catch (const CancelledError& e) {
            log->cancellations.emplace_back(e.what());
            throw;
        }
    }
}

Coro<void> sleep_only(Duration delay) {
    co_await sleep(delay);
}

}  // namespace

LOOP_TEST_CASE("sleep: cancelled twice while sleeping, the task sees the first message") {
    // As asyncio: the second cancel() finds the sleep's future cancelled already, so it only
    // marks the task; Task.__step keeps the future's own CancelledError ("one").
    test_support::TestLoop<LoopKind> s;
    SleepLog log;
    Task<void> task =
        s.loop.create_task(sleep_catch_then_sleep(10s, {1ms, 10s}, &log), {.name = "napper"});
    s.loop.run_until_complete(sleep_only(1ms));
    CHECK(task.cancel("one"));
    CHECK(task.cancel("two"));
    CHECK(task.cancelling() == 2);
    s.loop.run_until_complete(sleep_only(5ms));
    CHECK(log.cancellations == std::vector<std::string>{"one"});
    REQUIRE(log.woke_at.size() == 1);  // the 1 ms sleep after the catch, not the 10 s one
    CHECK(task.uncancel() == 1);
    CHECK(task.uncancel() == 0);
    CHECK(task.cancel("three"));
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(task), "three", CancelledError);
    CHECK(log.cancellations == std::vector<std::string>{"one", "three"});
}

TEST_SUITE_BEGIN("sim-only");

TEST_CASE("sleep: the timer of a cancelled sleep never wakes a later sleep of the task") {
    // The 10 s timer of the cancelled sleep stays in the heap (cancelled) while the task sleeps
    // again: the later sleeps must use another timer, and wake at their own times only.
    sim::SimLoop loop;
    SleepLog log;
    Task<void> task =
        loop.create_task(sleep_catch_then_sleep(10s, {1ms, 20s, 3s}, &log), {.name = "napper"});
    loop.call_later(1ms, [task]() mutable { task.cancel("early"); });
    // A timer behind the 10 s one in the heap, so that cancelling it leaves it there (the
    // heap's last entry would leave at once).
    loop.call_soon([&loop] { loop.call_later(1h, [] {}); });
    loop.run_until_complete(task);
    CHECK(log.cancellations == std::vector<std::string>{"early"});
    CHECK(log.woke_at == std::vector<Duration>{2ms, 20s + 2ms, 23s + 2ms});

    // A task that ends after its sleep was cancelled leaves no timer armed.
    Task<void> ended = loop.create_task(sleep_catch_then_sleep(10s, {}, &log), {.name = "ended"});
    loop.call_later(1ms, [ended]() mutable { ended.cancel("ends"); });
    loop.run_until_complete(ended);
    loop.run_until_complete(sleep_only(1min));
    for (const sim::TraceEntry& entry : loop.trace().entries())
        CHECK_MESSAGE(entry.text != "sleep wake-up of ended", entry.time);
    loop.close();
}

TEST_CASE("sleep: cancelled in the pass its timer fires, the wake-up runs and changes nothing") {
    // asyncio: the timer's callback finds the future cancelled and does nothing; the task runs
    // once, with CancelledError. The trace shows both steps.
    sim::SimLoop loop({.shuffle_timer_ties = false});
    SleepLog log;
    std::vector<std::string> steps;
    Task<void> task{};
    // Made before the sleep, so it comes first among the callbacks due at 10 ms.
    const int cancel_line = __LINE__ + 1;
    loop.call_at(10ms, [&] { task.cancel("at the deadline"); });
    task = loop.create_task(sleep_catch_then_sleep(10ms, {5ms}, &log), {.name = "napper"});
    loop.run_until_complete(task);
    for (const sim::TraceEntry& entry : loop.trace().entries()) {
        if (entry.time == 10ms && (entry.kind == "run" || entry.kind == "call"))
            steps.push_back(entry.kind + " " + entry.text);
    }
    loop.close();
    CHECK(log.cancellations == std::vector<std::string>{"at the deadline"});
    CHECK(log.woke_at == std::vector<Duration>{15ms});  // the next sleep, woken once
    CHECK(steps == std::vector<std::string>{"call test_sleep.cpp:" + std::to_string(cancel_line),
                                            "call sleep wake-up of napper", "run napper"});
}

TEST_CASE("sleep: a sleeping task describes the future asyncio's task would wait for") {
    sim::SimLoop loop({.shuffle_timer_ties = false});
    Task<void> task = loop.create_task(sleep_only(10s), {.name = "napper"});
    std::vector<std::string> seen;
    loop.call_later(1ms, [&] { seen.push_back(task.describe()); });
    loop.run_until_complete(sleep_only(2ms));
    // Same deadline, ties in creation order: the sleep's timer (made first) fires first, so the
    // task is woken but has not run yet when the second callback looks.
    loop.call_at(10s, [&] { seen.push_back(task.describe()); });
    loop.run_until_complete(task);
    Task<void> cancelled = loop.create_task(sleep_only(10s), {.name = "cancelled"});
    loop.run_until_complete(sleep_only(1ms));
    cancelled.cancel();
    const std::string cancelled_text = cancelled.describe();
    loop.set_debug(true);
    Task<void> debug = loop.create_task(sleep_only(10s), {.name = "debug"});
    loop.run_until_complete(sleep_only(1ms));
    const std::string debug_text = debug.describe();
    debug.cancel();
    CHECK_THROWS_AS(loop.run_until_complete(cancelled), CancelledError);
    CHECK_THROWS_AS(loop.run_until_complete(debug), CancelledError);
    loop.close();

    REQUIRE(seen.size() == 2);
    CHECK(seen[0] ==
          "<Task pending name='napper' coro=<sleep_only()> wait_for=<Future pending sleep>>");
    CHECK(seen[1] ==
          "<Task pending name='napper' coro=<sleep_only()> wait_for=<Future finished sleep>>");
    CHECK(cancelled_text ==
          "<Task pending name='cancelled' coro=<sleep_only()> wait_for=<Future cancelled sleep>>");
    CHECK(debug_text.find("wait_for=<Future pending sleep created at sleep.cpp:") !=
          std::string::npos);
}

TEST_SUITE_END();
