// timeout(), timeout_at(), wait_for(): asyncio 3.13's rules, in virtual time.
#include <optional>
#include <string>
#include <vector>

#include "support.hpp"

using namespace simrun;
using test_support::at_now;
using test_support::joined;
using test_support::Sim;

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
        co_await sleep(10s);
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
        co_await sleep(1s);
        co_return 2;
    }(inner, events));
}

Coro<int> outer_expires_first(Events* events) {
    co_return co_await timeout(1s, [](Events* log) -> Coro<int> {
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

TEST_CASE("timeout: TimeoutError at exactly the virtual deadline") {
    Sim s;
    Events events;
    CHECK(s.loop.run_until_complete(outcome_of([&] {
        return timeout(1500ms, value_after_noting_cancel(5s, 1, &events));
    })) == "TimeoutError at 1500ms");
    CHECK(joined(events) == joined({"body cancelled at 1500ms"}));
    CHECK(s.loop.time() == 1500ms);
}

TEST_CASE("timeout_at: TimeoutError at the absolute deadline") {
    Sim s;
    s.loop.run_until_complete(sleep(2s));
    Events events;
    CHECK(s.loop.run_until_complete(outcome_of([&] {
        return timeout_at(3s, value_after_noting_cancel(5s, 1, &events));
    })) == "TimeoutError at 3000ms");
    CHECK(joined(events) == joined({"body cancelled at 3000ms"}));
}

TEST_CASE("wait_for: TimeoutError at the deadline; the coroutine sees its cancellation") {
    Sim s;
    Events events;
    CHECK(s.loop.run_until_complete(outcome_of([&] {
        return wait_for(value_after_noting_cancel(5s, 1, &events), 2s);
    })) == "TimeoutError at 2000ms");
    CHECK(joined(events) == joined({"body cancelled at 2000ms"}));
}

TEST_CASE(
    "timeout: a body that finishes in time returns its value and leaves no cancellation behind") {
    Sim s;
    Events events;
    Task<std::string> task = s.loop.create_task(
        outcome_then_sleep([] { return timeout(5s, value_after(1s, 7)); }, &events));
    CHECK(s.loop.run_until_complete(task) == "value 7 at 1000ms");
    CHECK(joined(events) == joined({"cancelling after the scope: 0", "slept past the deadline"}));
    CHECK(s.loop.time() == 11s);
}

TEST_CASE("wait_for / timeout_at: in time, the value comes back") {
    Sim s;
    CHECK(s.loop.run_until_complete(outcome_of([&] { return wait_for(value_after(1s, 3), 2s); })) ==
          "value 3 at 1000ms");
    CHECK(s.loop.run_until_complete(outcome_of(
              [&] { return timeout_at(10s, value_after(1s, 4)); })) == "value 4 at 2000ms");
}

TEST_CASE(
    "timeout: a body that cleans up (and awaits) after the cancellation ends in TimeoutError "
    "later") {
    Sim s;
    Events events;
    CHECK(s.loop.run_until_complete(outcome_of([&] {
        return timeout(1s, slow_cleanup(5s, 2s, &events));
    })) == "TimeoutError at 3000ms");
    CHECK(joined(events) == joined({"cleanup done at 3000ms"}));
}

TEST_CASE("timeout: a body that swallows the cancellation returns its value") {
    Sim s;
    CHECK(s.loop.run_until_complete(outcome_of(
              [&] { return timeout(1s, swallow_cancellation(5s)); })) == "value -1 at 1000ms");
}

TEST_CASE("timeout: a cancellation from outside stays a CancelledError") {
    Sim s;
    Events events;
    Task<std::string> task = s.loop.create_task(
        outcome_of([&] { return timeout(5s, value_after_noting_cancel(10s, 1, &events)); }));
    s.loop.call_later(1s, [task]() mutable { task.cancel(); });
    CHECK(s.loop.run_until_complete(task) == "CancelledError at 1000ms");
    CHECK(joined(events) == joined({"body cancelled at 1000ms"}));
}

TEST_CASE(
    "timeout: an outside cancel at the moment of expiry stays a CancelledError (uncancel rule)") {
    Sim s;
    Task<std::string> task =
        s.loop.create_task(outcome_of([&] { return timeout(1s, value_after(10s, 1)); }));
    s.loop.call_at(1s, [task]() mutable { task.cancel(); });
    CHECK(s.loop.run_until_complete(task) == "CancelledError at 1000ms");
    CHECK(task.cancelling() == 1);
}

TEST_CASE("timeout: an expired inner timeout inside a longer outer one is handled inside") {
    Sim s;
    Events events;
    CHECK(s.loop.run_until_complete(outcome(inner_timeout_inside_outer(1s, 5s, &events))) ==
          "value 2 at 2000ms");
    CHECK(joined(events) == joined({"inner: TimeoutError at 1000ms"}));
}

TEST_CASE(
    "timeout: when the outer timeout expires first, the inner scope passes CancelledError "
    "through") {
    Sim s;
    Events events;
    Task<std::string> task = s.loop.create_task(outcome(outer_expires_first(&events)));
    CHECK(s.loop.run_until_complete(task) == "TimeoutError at 1000ms");
    CHECK(joined(events) == joined({"inner scope raised CancelledError"}));
    CHECK(task.cancelling() == 0);
}

TEST_CASE("wait_for: on expiry an awaited future is cancelled") {
    Sim s;
    Future<int> future = s.loop.create_future<int>();
    CHECK(s.loop.run_until_complete(outcome_of([&] { return wait_for(future, 2s); })) ==
          "TimeoutError at 2000ms");
    CHECK(future.cancelled());
}

TEST_CASE("wait_for: a future resolved in time gives its value") {
    Sim s;
    Future<int> future = s.loop.create_future<int>();
    s.loop.call_later(1s, [future]() mutable { future.set_result(8); });
    CHECK(s.loop.run_until_complete(outcome_of([&] { return wait_for(future, 2s); })) ==
          "value 8 at 1000ms");
}

TEST_CASE("wait_for: on expiry an awaited task is cancelled") {
    Sim s;
    Events events;
    Task<int> task = s.loop.create_task(value_after_noting_cancel(10s, 1, &events));
    CHECK(s.loop.run_until_complete(outcome_of([&] { return wait_for(task, 3s); })) ==
          "TimeoutError at 3000ms");
    CHECK(task.cancelled());
    CHECK(joined(events) == joined({"body cancelled at 3000ms"}));
}

TEST_CASE("wait_for: a delay <= 0 never starts the coroutine and raises TimeoutError") {
    Sim s;
    bool ran = false;
    CHECK(s.loop.run_until_complete(outcome_of(
              [&] { return wait_for(mark_and_return(&ran), 0s); })) == "TimeoutError at 0ms");
    CHECK(s.loop.run_until_complete(outcome_of(
              [&] { return wait_for(mark_and_return(&ran), -1s); })) == "TimeoutError at 0ms");
    CHECK_FALSE(ran);
    CHECK_FALSE(s.log.contains("never awaited"));
}

TEST_CASE("wait_for: a delay <= 0 returns the value of a done future and cancels a pending one") {
    Sim s;
    Future<int> done = s.loop.create_future<int>();
    done.set_result(4);
    CHECK(s.loop.run_until_complete(outcome_of([&] { return wait_for(done, 0s); })) ==
          "value 4 at 0ms");
    Future<int> pending = s.loop.create_future<int>();
    CHECK(s.loop.run_until_complete(outcome_of([&] { return wait_for(pending, 0s); })) ==
          "TimeoutError at 0ms");
    CHECK(pending.cancelled());
}

TEST_CASE("timeout: a task stuck forever is released by its timeout") {
    Sim s;
    CHECK(s.loop.run_until_complete(outcome([]() -> Coro<int> {
        co_await timeout(4s, wait_forever());
        co_return 0;
    }())) == "TimeoutError at 4000ms");
}

TEST_CASE("wait_for: the time limit starts when the wait_for is awaited, as for a coroutine") {
    Sim s;
    Future<int> future = s.loop.create_future<int>();
    CHECK(s.loop.run_until_complete(wait_for_awaited_later(future, 2s, 1s)) ==
          "TimeoutError at 3000ms");
    CHECK(future.cancelled());
}

TEST_CASE("wait_for: a wait_for on a future can be made before the loop runs") {
    Sim s;
    Future<int> future = s.loop.create_future<int>();
    s.loop.call_later(1s, [future]() mutable { future.set_result(2); });
    std::optional<Coro<int>> limited;
    CHECK_NOTHROW(limited.emplace(wait_for(future, 5s)));
    if (limited)
        CHECK(s.loop.run_until_complete(outcome(std::move(*limited))) == "value 2 at 1000ms");
}

TEST_CASE("timeout: a zero limit around a body that never suspends returns its value") {
    Sim s;
    CHECK(s.loop.run_until_complete(outcome_of([] { return timeout(0s, immediately(9)); })) ==
          "value 9 at 0ms");
}
