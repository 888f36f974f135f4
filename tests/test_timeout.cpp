// timeout(), timeout_at(), wait_for(): asyncio 3.13's rules, on both loops (exact times on the
// sim).
#include <optional>
#include <string>
#include <vector>

#include "loop_timing.hpp"
#include "support.hpp"

using namespace simrun;
using test_support::at_now;
using test_support::elapsed_is;
using test_support::joined;
using test_support::Sim;
using test_support::timed;

namespace {

using Events = std::vector<std::string>;

Coro<int> value_after(Duration delay, int value) {
    co_await sleep(delay);
    co_return value;
}

Coro<int> value_after_noting_cancel(Duration delay, int value, Events* events) {
    try {
        co_await sleep(delay);
    } catch (const CancelledError&) {
        events->push_back("body cancelled at " + at_now());
        throw;
    }
    co_return value;
}

Coro<int> slow_cleanup(Duration delay, Duration cleanup, Events* events) {
    bool cancelled = false;
    try {
        co_await sleep(delay);
    } catch (const CancelledError&) {
        cancelled = true;
    }
    if (cancelled) {
        co_await sleep(cleanup);
        events->push_back("cleanup done at " + at_now());
        throw CancelledError();
    }
    co_return 1;
}

Coro<int> swallow_cancellation(Duration delay) {
    try {
        co_await sleep(delay);
    } catch (const CancelledError&) {
        co_return -1;
    }
    co_return 1;
}

/// Awaits `body` and describes how it ended, with the loop time.
Coro<std::string> outcome(Coro<int> body) {
    try {
        int value = co_await std::move(body);
        co_return "value " + std::to_string(value) + " at " + at_now();
    } catch (const TimeoutError&) {
        co_return "TimeoutError at " + at_now();
    } catch (const CancelledError&) {
        co_return "CancelledError at " + at_now();
    }
}

/// outcome() of what `make` returns, made inside the running task (timeout() reads the loop's
/// clock when it is called).
template <class Make>
Coro<std::string> outcome_of(Make make) {
    co_return co_await outcome(make());
}

/// wait_for() made, then awaited `gap` later (as a coroutine in asyncio, it starts when awaited).
Coro<std::string> wait_for_awaited_later(Future<int> future, Duration limit, Duration gap) {
    Coro<int> limited = wait_for(future, limit);
    co_await sleep(gap);
    co_return co_await outcome(std::move(limited));
}

template <class Make>
Coro<std::string> outcome_then_sleep(Make make, Events* events) {
    std::string result = co_await outcome(make());
    events->push_back("cancelling after the scope: " + std::to_string(current_task().cancelling()));
    try {
        co_await sleep(10ms);
    } catch (const CancelledError&) {
        events->push_back("cancelled after the scope");
        throw;
    }
    events->push_back("slept past the deadline");
    co_return result;
}

Coro<int> inner_timeout_inside_outer(Duration inner, Duration outer_limit, Events* events) {
    co_return co_await timeout(outer_limit, [](Duration inner_limit, Events* log) -> Coro<int> {
        std::string inner_result =
            co_await outcome_of([&] { return timeout(inner_limit, value_after(3s, 1)); });
        log->push_back("inner: " + inner_result);
        co_await sleep(1ms);
        co_return 2;
    }(inner, events));
}

Coro<int> outer_expires_first(Events* events) {
    co_return co_await timeout(1ms, [](Events* log) -> Coro<int> {
        try {
            co_return co_await timeout(5s, value_after(10s, 1));
        } catch (const TimeoutError&) {
            log->push_back("inner scope raised TimeoutError");
            throw;
        } catch (const CancelledError&) {
            log->push_back("inner scope raised CancelledError");
            throw;
        }
    }(events));
}

Coro<void> wait_forever() {
    Future<void> never = get_running_loop().create_future<void>();
    co_await never;
}

Coro<int> immediately(int value) {
    co_return value;
}

Coro<int> mark_and_return(bool* ran) {
    *ran = true;
    co_return 5;
}

}  // namespace

TEST_SUITE_BEGIN("sim-only");

// Sim-only: the subject is the exact virtual deadline (the shared tests below check the rest).
TEST_CASE("timeout: TimeoutError at exactly the virtual deadline") {
    Sim s;
    Events events;
    CHECK(s.loop.run_until_complete(outcome_of([&] {
        return timeout(1500ms, value_after_noting_cancel(5s, 1, &events));
    })) == "TimeoutError at 1500ms");
    CHECK(joined(events) == joined({"body cancelled at 1500ms"}));
    CHECK(s.loop.time() == 1500ms);
}

LOOP_TEST_CASE("timeout_at: TimeoutError at the absolute deadline") {
    test_support::TestLoop<LoopKind> s;
    s.loop.run_until_complete(sleep(2ms));
    const Duration deadline = s.loop.time() + 1ms;  // 3 ms on the sim
    Events events;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return timeout_at(deadline, value_after_noting_cancel(5s, 1, &events));
          }))) == timed<LoopKind>("TimeoutError at 3ms"));
    CHECK(timed<LoopKind>(joined(events)) == timed<LoopKind>(joined({"body cancelled at 3ms"})));
    CHECK(s.loop.time() >= deadline);
}

LOOP_TEST_CASE("wait_for: TimeoutError at the deadline; the coroutine sees its cancellation") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return wait_for(value_after_noting_cancel(5s, 1, &events), 2ms);
          }))) == timed<LoopKind>("TimeoutError at 2ms"));
    CHECK(timed<LoopKind>(joined(events)) == timed<LoopKind>(joined({"body cancelled at 2ms"})));
}

LOOP_TEST_CASE(
    "timeout: a body that finishes in time returns its value and leaves no cancellation behind") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Events events;
    // The body is done at its first step (no timer, so not even a late one can lose the race
    // with the deadline); the scope's 5 ms deadline passes during the 10 ms sleep after it.
    Task<std::string> task = s.loop.create_task(
        outcome_then_sleep([] { return timeout(5ms, value_after(0s, 7)); }, &events));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(task)) == timed<LoopKind>("value 7 at 0ms"));
    CHECK(joined(events) == joined({"cancelling after the scope: 0", "slept past the deadline"}));
    CHECK(elapsed_is<LoopKind>(s.loop, start, 10ms));
}

LOOP_TEST_CASE("wait_for / timeout_at: in time, the value comes back") {
    test_support::TestLoop<LoopKind> s;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return wait_for(value_after(1ms, 3), 2s);
          }))) == timed<LoopKind>("value 3 at 1ms"));
    const Duration deadline = s.loop.time() + 9s;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return timeout_at(deadline, value_after(1ms, 4));
          }))) == timed<LoopKind>("value 4 at 2ms"));
}

LOOP_TEST_CASE(
    "timeout: a body that cleans up (and awaits) after the cancellation ends in TimeoutError "
    "later") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return timeout(1ms, slow_cleanup(5s, 2ms, &events));
          }))) == timed<LoopKind>("TimeoutError at 3ms"));
    CHECK(timed<LoopKind>(joined(events)) == timed<LoopKind>(joined({"cleanup done at 3ms"})));
}

LOOP_TEST_CASE("timeout: a body that swallows the cancellation returns its value") {
    test_support::TestLoop<LoopKind> s;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return timeout(1ms, swallow_cancellation(5s));
          }))) == timed<LoopKind>("value -1 at 1ms"));
}

LOOP_TEST_CASE("timeout: a cancellation from outside stays a CancelledError") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    Task<std::string> task = s.loop.create_task(
        outcome_of([&] { return timeout(5s, value_after_noting_cancel(10s, 1, &events)); }));
    s.loop.call_later(1ms, [task]() mutable { task.cancel(); });
    CHECK(timed<LoopKind>(s.loop.run_until_complete(task)) ==
          timed<LoopKind>("CancelledError at 1ms"));
    CHECK(timed<LoopKind>(joined(events)) == timed<LoopKind>(joined({"body cancelled at 1ms"})));
}

// Sim-only: the outside cancel and the expiry are timers due at the same virtual instant (a tie
// that the real clock cannot arrange).
TEST_CASE(
    "timeout: an outside cancel at the moment of expiry stays a CancelledError (uncancel rule)") {
    Sim s;
    Task<std::string> task =
        s.loop.create_task(outcome_of([&] { return timeout(1s, value_after(10s, 1)); }));
    s.loop.call_at(1s, [task]() mutable { task.cancel(); });
    CHECK(s.loop.run_until_complete(task) == "CancelledError at 1000ms");
    CHECK(task.cancelling() == 1);
}

LOOP_TEST_CASE("timeout: an expired inner timeout inside a longer outer one is handled inside") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome(
              inner_timeout_inside_outer(1ms, 5s, &events)))) == timed<LoopKind>("value 2 at 2ms"));
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"inner: TimeoutError at 1ms"})));
}

LOOP_TEST_CASE(
    "timeout: when the outer timeout expires first, the inner scope passes CancelledError "
    "through") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    Task<std::string> task = s.loop.create_task(outcome(outer_expires_first(&events)));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(task)) ==
          timed<LoopKind>("TimeoutError at 1ms"));
    CHECK(joined(events) == joined({"inner scope raised CancelledError"}));
    CHECK(task.cancelling() == 0);
}

LOOP_TEST_CASE("wait_for: on expiry an awaited future is cancelled") {
    test_support::TestLoop<LoopKind> s;
    Future<int> future = s.loop.template create_future<int>();
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of(
              [&] { return wait_for(future, 2ms); }))) == timed<LoopKind>("TimeoutError at 2ms"));
    CHECK(future.cancelled());
}

LOOP_TEST_CASE("wait_for: a future resolved in time gives its value") {
    test_support::TestLoop<LoopKind> s;
    Future<int> future = s.loop.template create_future<int>();
    s.loop.call_later(1ms, [future]() mutable { future.set_result(8); });
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of(
              [&] { return wait_for(future, 2s); }))) == timed<LoopKind>("value 8 at 1ms"));
}

LOOP_TEST_CASE("wait_for: on expiry an awaited task is cancelled") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    Task<int> task = s.loop.create_task(value_after_noting_cancel(10s, 1, &events));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of(
              [&] { return wait_for(task, 3ms); }))) == timed<LoopKind>("TimeoutError at 3ms"));
    CHECK(task.cancelled());
    CHECK(timed<LoopKind>(joined(events)) == timed<LoopKind>(joined({"body cancelled at 3ms"})));
}

LOOP_TEST_CASE("wait_for: a delay <= 0 never starts the coroutine and raises TimeoutError") {
    test_support::TestLoop<LoopKind> s;
    bool ran = false;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return wait_for(mark_and_return(&ran), 0s);
          }))) == timed<LoopKind>("TimeoutError at 0ms"));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return wait_for(mark_and_return(&ran), -1s);
          }))) == timed<LoopKind>("TimeoutError at 0ms"));
    CHECK_FALSE(ran);
    CHECK_FALSE(s.log.contains("never awaited"));
}

LOOP_TEST_CASE(
    "wait_for: a delay <= 0 returns the value of a done future and cancels a pending one") {
    test_support::TestLoop<LoopKind> s;
    Future<int> done = s.loop.template create_future<int>();
    done.set_result(4);
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of(
              [&] { return wait_for(done, 0s); }))) == timed<LoopKind>("value 4 at 0ms"));
    Future<int> pending = s.loop.template create_future<int>();
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of(
              [&] { return wait_for(pending, 0s); }))) == timed<LoopKind>("TimeoutError at 0ms"));
    CHECK(pending.cancelled());
}

LOOP_TEST_CASE("timeout: a task stuck forever is released by its timeout") {
    test_support::TestLoop<LoopKind> s;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome([]() -> Coro<int> {
              co_await timeout(4ms, wait_forever());
              co_return 0;
          }()))) == timed<LoopKind>("TimeoutError at 4ms"));
}

LOOP_TEST_CASE("wait_for: the time limit starts when the wait_for is awaited, as for a coroutine") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Future<int> future = s.loop.template create_future<int>();
    CHECK(timed<LoopKind>(s.loop.run_until_complete(wait_for_awaited_later(future, 2ms, 1ms))) ==
          timed<LoopKind>("TimeoutError at 3ms"));
    CHECK(future.cancelled());
    CHECK(elapsed_is<LoopKind>(s.loop, start, 3ms));
}

LOOP_TEST_CASE("wait_for: a wait_for on a future can be made before the loop runs") {
    test_support::TestLoop<LoopKind> s;
    Future<int> future = s.loop.template create_future<int>();
    s.loop.call_later(1ms, [future]() mutable { future.set_result(2); });
    std::optional<Coro<int>> limited;
    CHECK_NOTHROW(limited.emplace(wait_for(future, 5s)));
    if (limited)
        CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome(std::move(*limited)))) ==
              timed<LoopKind>("value 2 at 1ms"));
}

LOOP_TEST_CASE("timeout: a zero limit around a body that never suspends returns its value") {
    test_support::TestLoop<LoopKind> s;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of(
              [] { return timeout(0s, immediately(9)); }))) == timed<LoopKind>("value 9 at 0ms"));
}

// ---- huge limits: asyncio's timeout(math.inf) ---------------------------------------------------

LOOP_TEST_CASE("timeout / timeout_at / wait_for: a limit of Duration::max() never expires") {
    test_support::TestLoop<LoopKind> s;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([] {
              return timeout(Duration::max(), value_after(2ms, 1));
          }))) == timed<LoopKind>("value 1 at 2ms"));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([] {
              return timeout(Duration::max() - 1ns, value_after(1ms, 2));  // saturates: never
          }))) == timed<LoopKind>("value 2 at 3ms"));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([] {
              return timeout_at(Duration::max(), value_after(1ms, 3));
          }))) == timed<LoopKind>("value 3 at 4ms"));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([] {
              return wait_for(value_after(1ms, 4), Duration::max());
          }))) == timed<LoopKind>("value 4 at 5ms"));
    Future<int> future = s.loop.template create_future<int>();
    s.loop.call_later(1ms, [future]() mutable { future.set_result(5); });
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return wait_for(future, Duration::max());
          }))) == timed<LoopKind>("value 5 at 6ms"));
    Task<int> task = s.loop.create_task(value_after(1ms, 6));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return wait_for(task, Duration::max());
          }))) == timed<LoopKind>("value 6 at 7ms"));
}

LOOP_TEST_CASE("timeout / wait_for: a limit of Duration::min() expires at once, as 0 does") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return timeout(Duration::min(), value_after_noting_cancel(1s, 1, &events));
          }))) == timed<LoopKind>("TimeoutError at 0ms"));
    CHECK(timed<LoopKind>(joined(events)) == timed<LoopKind>("body cancelled at 0ms"));
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return timeout_at(Duration::min(), value_after(1s, 2));
          }))) == timed<LoopKind>("TimeoutError at 0ms"));
    bool ran = false;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome_of([&] {
              return wait_for(mark_and_return(&ran), Duration::min());
          }))) == timed<LoopKind>("TimeoutError at 0ms"));
    CHECK_FALSE(ran);
}

TEST_CASE(
    "timeout: a body that waits forever under a limit of Duration::max() is a deadlock, "
    "not a TimeoutError") {
    Sim s;
    std::string outcome_text;
    auto error = test_support::thrown<sim::DeadlockError>([&] {
        outcome_text = s.loop.run_until_complete(
            outcome_of([] { return timeout(Duration::max(), value_after(Duration::max(), 1)); }));
    });
    CHECK(outcome_text.empty());
    REQUIRE(error);
    CHECK(std::string(error->what()).find("deadlock at t=0") == 0);
    CHECK(s.loop.time() == Duration::zero());
}

TEST_SUITE_END();
