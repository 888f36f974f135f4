// wait_for(), timeout(), timeout_at(): the rules of asyncio 3.13 (timeout T1-T7, wait_for
// F1-F3) that tests/test_timeout.cpp does not cover yet, on both loops (exact times on the sim).
#include <optional>
#include <string>
#include <vector>

#include "loop_timing.hpp"
#include "support.hpp"

using namespace simrun;
using test_support::at_now;
using test_support::elapsed_is;
using test_support::joined;
using test_support::TestLoop;
using test_support::timed;

namespace {

using Events = std::vector<std::string>;

Coro<int> value_after(Duration delay, int value) {
    co_await sleep(delay);
    co_return value;
}

/// Sleeps; on cancellation, records the message and cleans up for `cleanup` before it lets the
/// cancellation go on.
Coro<int> slow_to_cancel(Duration delay, Duration cleanup, Events* events) {
    std::optional<std::string> cancelled;
    try {
        co_await sleep(delay);
    } catch (const CancelledError& e) {
        cancelled = e.what();
    }
    if (cancelled) {
        events->push_back("cancelled with '" + *cancelled + "' at " + at_now());
        co_await sleep(cleanup);
        events->push_back("cleanup done at " + at_now());
        throw CancelledError(*cancelled);
    }
    co_return 1;
}

Coro<int> swallow_cancellation(Duration delay, int value) {
    try {
        co_await sleep(delay);
    } catch (const CancelledError&) {
        co_return value;
    }
    co_return 0;
}

Coro<int> fail_on_cancel(Duration delay) {
    try {
        co_await sleep(delay);
    } catch (const CancelledError&) {
        throw ValueError("cleanup failed");
    }
    co_return 0;
}

Coro<int> immediately(int value) {
    co_return value;
}

/// Awaits `body` and describes how it ended, with the loop time.
Coro<std::string> outcome(Coro<int> body) {
    try {
        int value = co_await std::move(body);
        co_return "value " + std::to_string(value) + " at " + at_now();
    } catch (const TimeoutError&) {
        co_return "TimeoutError at " + at_now();
    } catch (const CancelledError& e) {
        co_return "CancelledError '" + std::string(e.what()) + "' at " + at_now();
    } catch (const ValueError& e) {
        co_return "ValueError " + std::string(e.what()) + " at " + at_now();
    }
}

/// outcome() of what `make` returns, made inside the running task.
template <class Make>
Coro<std::string> outcome_of(Make make) {
    co_return co_await outcome(make());
}

/// outcome(), then what the task's cancellation count is, and whether it can still sleep.
template <class Make>
Coro<std::string> outcome_then_sleep(Make make, Events* events) {
    std::string result = co_await outcome(make());
    events->push_back("cancelling " + std::to_string(current_task().cancelling()));
    co_await sleep(2ms);
    events->push_back("slept after the scope");
    co_return result;
}

Coro<void> yields(int count) {
    for (int i = 0; i < count; ++i)
        co_await sleep(0s);
}

constexpr Duration forever = Duration::max();

}  // namespace

LOOP_TEST_CASE("timeout: the expiry cancels the body with no message (T4)") {
    TestLoop<LoopKind> s;
    Events events;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return timeout(1ms, slow_to_cancel(10s, 1ms, &events));
          }))) == timed<LoopKind>("TimeoutError at 2ms"));
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"cancelled with '' at 1ms", "cleanup done at 2ms"})));
}

LOOP_TEST_CASE(
    "timeout: another error raised while handling the expiry propagates as it is, and the task's "
    "cancellation count drops back (T5)") {
    TestLoop<LoopKind> s;
    Events events;
    Task<std::string> task = s.loop.create_task(
        outcome_then_sleep([] { return timeout(1ms, fail_on_cancel(10s)); }, &events));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(task)) ==
          timed<LoopKind>("ValueError cleanup failed at 1ms"));
    CHECK(joined(events) == joined({"cancelling 0", "slept after the scope"}));
}

LOOP_TEST_CASE(
    "timeout: a body that swallows the expiry's cancellation leaves the task uncancelled (T7)") {
    TestLoop<LoopKind> s;
    Events events;
    Task<std::string> task = s.loop.create_task(
        outcome_then_sleep([] { return timeout(1ms, swallow_cancellation(10s, 5)); }, &events));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(task)) == timed<LoopKind>("value 5 at 1ms"));
    CHECK(joined(events) == joined({"cancelling 0", "slept after the scope"}));
    CHECK(task.cancelling() == 0);
}

LOOP_TEST_CASE(
    "timeout: a negative limit around a body that never suspends returns its value (T7)") {
    TestLoop<LoopKind> s;
    Events events;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(
              outcome_then_sleep([] { return timeout(-1s, immediately(9)); }, &events))) ==
          timed<LoopKind>("value 9 at 0ms"));
    // The timer was disarmed on the way out: the task is not cancelled later.
    CHECK(joined(events) == joined({"cancelling 0", "slept after the scope"}));
}

LOOP_TEST_CASE("timeout_at: a deadline already passed expires at the first suspension (T3)") {
    TestLoop<LoopKind> s;
    s.loop.run_until_complete(sleep(2ms));
    const Duration past = s.loop.time() - 1ms;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return timeout_at(past, value_after(5s, 1));
          }))) == timed<LoopKind>("TimeoutError at 2ms"));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return timeout_at(past, immediately(3));
          }))) == timed<LoopKind>("value 3 at 2ms"));
}

LOOP_TEST_CASE("timeout_at / timeout: a deadline at the end of time never expires") {
    TestLoop<LoopKind> s;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return timeout_at(forever, value_after(1ms, 1));
          }))) == timed<LoopKind>("value 1 at 1ms"));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return timeout(forever, value_after(1ms, 2));
          }))) == timed<LoopKind>("value 2 at 2ms"));
}

// ---- wait_for (F1-F3) ------------------------------------------------------------------------

LOOP_TEST_CASE("wait_for: a delay <= 0 on a done future that failed raises its exception (F1)") {
    TestLoop<LoopKind> s;
    Future<int> failed = s.loop.template create_future<int>();
    failed.set_exception(std::make_exception_ptr(ValueError("done-fail")));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return wait_for(failed, 0s);
          }))) == timed<LoopKind>("ValueError done-fail at 0ms"));
}

LOOP_TEST_CASE(
    "wait_for: a delay <= 0 cancels a pending task and waits until it has really finished (F1)") {
    TestLoop<LoopKind> s;
    Events events;
    Task<int> task = s.loop.create_task(slow_to_cancel(10s, 2ms, &events));
    s.loop.run_until_complete(yields(1));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of(
              [&] { return wait_for(task, 0s); }))) == timed<LoopKind>("TimeoutError at 2ms"));
    CHECK(task.cancelled());
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"cancelled with '' at 0ms", "cleanup done at 2ms"})));
}

LOOP_TEST_CASE(
    "wait_for: a delay <= 0 on a task that swallows the cancellation gives its value (F1)") {
    TestLoop<LoopKind> s;
    Task<int> task = s.loop.create_task(swallow_cancellation(10s, 7));
    s.loop.run_until_complete(yields(1));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of(
              [&] { return wait_for(task, 0s); }))) == timed<LoopKind>("value 7 at 0ms"));
}

LOOP_TEST_CASE(
    "wait_for: a delay <= 0 on a task that fails on cancellation raises that error (F1)") {
    TestLoop<LoopKind> s;
    Task<int> task = s.loop.create_task(fail_on_cancel(10s));
    s.loop.run_until_complete(yields(1));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return wait_for(task, -1s);
          }))) == timed<LoopKind>("ValueError cleanup failed at 0ms"));
}

// asyncio: "This wait can itself be cancelled": with a delay <= 0, wait_for cancels the task and
// waits for it through a separate future, so a cancellation of the caller ends the wait at once
// and does not reach the task a second time.
LOOP_TEST_CASE(
    "wait_for: a delay <= 0, the caller cancelled while the task cleans up leaves at once (F1)") {
    TestLoop<LoopKind> s;
    Events events;
    Task<int> task = s.loop.create_task(slow_to_cancel(10s, 20ms, &events));
    s.loop.run_until_complete(yields(1));
    Task<std::string> caller =
        s.loop.create_task(outcome_of([task] { return wait_for(task, 0s); }));
    s.loop.call_later(5ms, [caller]() mutable { caller.cancel(); });
    const Duration start = s.loop.time();
    CHECK(timed<LoopKind>(s.loop.run_until_complete(caller)) ==
          timed<LoopKind>("CancelledError '' at 5ms"));
    CHECK(elapsed_is<LoopKind>(s.loop, start, 5ms));
    if constexpr (!LoopKind::is_sim)
        CHECK(s.loop.time() - start < 20ms);
    CHECK_FALSE(task.done());
    CHECK(task.cancelling() == 1);
    CHECK_THROWS_AS(s.loop.run_until_complete(task), CancelledError);
}

LOOP_TEST_CASE("wait_for: a delay <= 0 on a coroutine lets the loop turn once (F1)") {
    TestLoop<LoopKind> s;
    Events events;
    s.loop.run_until_complete([](Events* log) -> Coro<void> {
        get_running_loop().call_soon([log] { log->push_back("callback"); });
        try {
            co_await wait_for(immediately(1), 0s);
            log->push_back("value");
        } catch (const TimeoutError&) {
            log->push_back("TimeoutError");
        }
    }(&events));
    CHECK(joined(events) == "callback | TimeoutError");
}

LOOP_TEST_CASE("wait_for: on expiry it waits until the cancelled task has really finished (F2)") {
    TestLoop<LoopKind> s;
    Events events;
    Task<int> task = s.loop.create_task(slow_to_cancel(10s, 2ms, &events));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of(
              [&] { return wait_for(task, 1ms); }))) == timed<LoopKind>("TimeoutError at 3ms"));
    CHECK(task.cancelled());
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"cancelled with '' at 1ms", "cleanup done at 3ms"})));
}

LOOP_TEST_CASE("wait_for: a task that swallows the expiry's cancellation gives its value (F2)") {
    TestLoop<LoopKind> s;
    Task<int> task = s.loop.create_task(swallow_cancellation(10s, 8));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of(
              [&] { return wait_for(task, 1ms); }))) == timed<LoopKind>("value 8 at 1ms"));
    CHECK_FALSE(task.cancelled());
}

LOOP_TEST_CASE("wait_for: cancelling the caller cancels the awaited task (F3)") {
    TestLoop<LoopKind> s;
    Events events;
    Task<int> task = s.loop.create_task(slow_to_cancel(10s, 0s, &events));
    Task<std::string> caller =
        s.loop.create_task(outcome_of([task] { return wait_for(task, 10s); }));
    s.loop.call_later(1ms, [caller]() mutable { caller.cancel("stop"); });
    CHECK(timed<LoopKind>(s.loop.run_until_complete(caller)) ==
          timed<LoopKind>("CancelledError 'stop' at 1ms"));
    CHECK(task.cancelled());
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"cancelled with 'stop' at 1ms", "cleanup done at 1ms"})));
}

LOOP_TEST_CASE("wait_for: the largest delay waits as long as it takes (asyncio's None, F3)") {
    TestLoop<LoopKind> s;
    Future<int> future = s.loop.template create_future<int>();
    s.loop.call_later(2ms, [future]() mutable { future.set_result(4); });
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return wait_for(value_after(1ms, 3), forever);
          }))) == timed<LoopKind>("value 3 at 1ms"));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of(
              [&] { return wait_for(future, forever); }))) == timed<LoopKind>("value 4 at 2ms"));
}
