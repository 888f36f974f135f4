// Task cancellation, asyncio 3.13 rules (docs/semantics.md, "Cancellation").
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "loop_timing.hpp"
#include "support.hpp"

using namespace simrun;
using test_support::elapsed_is;

namespace {

/// What a task saw of its cancellation.
struct Probe {
    int cancellations_seen = 0;
    std::string message;
    bool body_ran = false;
    bool finished = false;
    bool std_exception_caught = false;
};

Coro<int> sleep_catch_and_continue(Duration delay, Probe* probe) {
    probe->body_ran = true;
    try {
        co_await sleep(delay);
    } catch (const CancelledError& e) {
        ++probe->cancellations_seen;
        probe->message = e.what();
    }
    co_await sleep(1ms);
    probe->finished = true;
    co_return 10 + probe->cancellations_seen;
}

Coro<int> sleep_then_return(Duration delay, Probe* probe) {
    probe->body_ran = true;
    try {
        co_await sleep(delay);
    } catch (const CancelledError& e) {
        ++probe->cancellations_seen;
        probe->message = e.what();
        throw;
    }
    probe->finished = true;
    co_return 1;
}

Coro<int> yield_then_return(Probe* probe) {
    probe->body_ran = true;
    try {
        co_await yield_now();
        co_await yield_now();
    } catch (const CancelledError& e) {
        ++probe->cancellations_seen;
        probe->message = e.what();
        throw;
    }
    probe->finished = true;
    co_return 2;
}

Coro<int> cancel_self_then_return(Probe* probe) {
    probe->body_ran = true;
    current_task().cancel("self");
    probe->finished = true;
    co_return 3;
}

Coro<void> cancel_self_then_sleep(Probe* probe) {
    current_task().cancel("self then sleep");
    try {
        co_await sleep(10s);
    } catch (const CancelledError& e) {
        ++probe->cancellations_seen;
        probe->message = e.what();
        throw;
    }
    probe->finished = true;
}

Coro<void> raise_cancelled_error() {
    co_await yield_now();
    throw CancelledError("raised by hand");
}

Coro<int> await_inner(Task<int> inner, Probe* probe) {
    try {
        co_return co_await inner;
    } catch (const CancelledError& e) {
        ++probe->cancellations_seen;
        probe->message = e.what();
        throw;
    }
}

Coro<std::string> await_and_report(Task<int> task) {
    try {
        co_await task;
    } catch (const CancelledError&) {
        co_return "CancelledError";
    }
    co_return "value";
}

Coro<void> catch_std_exception_only(Probe* probe) {
    try {
        co_await sleep(10s);
    } catch (const std::exception&) {
        probe->std_exception_caught = true;
    }
    probe->finished = true;
}

}  // namespace

static_assert(!std::is_base_of_v<std::exception, CancelledError>);
static_assert(!std::is_base_of_v<std::exception, KeyboardInterrupt>);
static_assert(!std::is_base_of_v<std::exception, SystemExit>);
static_assert(!std::is_base_of_v<std::exception, GeneratorExit>);
static_assert(std::is_base_of_v<BaseException, CancelledError>);
static_assert(std::is_base_of_v<std::exception, TimeoutError>);

TEST_SUITE_BEGIN("sim-only");

LOOP_TEST_CASE("cancel: every request counts in cancelling(); the task sees one CancelledError") {
    test_support::TestLoop<LoopKind> s;
    Probe probe;
    Task<int> task = s.loop.create_task(sleep_catch_and_continue(10s, &probe));
    s.loop.run_until_complete(sleep(1ms));
    CHECK(task.cancelling() == 0);
    CHECK(task.cancel());
    CHECK(task.cancelling() == 1);
    CHECK(task.cancel());
    CHECK(task.cancel());
    CHECK(task.cancelling() == 3);
    CHECK_FALSE(task.cancelled());
    CHECK(s.loop.run_until_complete(task) == 11);
    CHECK(probe.cancellations_seen == 1);
    CHECK(task.cancelling() == 3);  // catching the error does not withdraw the requests
    CHECK_FALSE(task.cancelled());
}

LOOP_TEST_CASE("cancel: a done task cannot be cancelled") {
    test_support::TestLoop<LoopKind> s;
    Probe probe;
    Task<int> task = s.loop.create_task(sleep_then_return(1ms, &probe));
    CHECK(s.loop.run_until_complete(task) == 1);
    CHECK_FALSE(task.cancel());
    CHECK(task.cancelling() == 0);
    CHECK_FALSE(task.cancelled());
    CHECK(task.result() == 1);
}

LOOP_TEST_CASE("cancel: the message reaches the CancelledError in the task and from result()") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Probe probe;
    Task<int> task = s.loop.create_task(sleep_then_return(10s, &probe));
    s.loop.call_later(1ms, [task]() mutable { task.cancel("shutting down"); });
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(task), "shutting down", CancelledError);
    CHECK(probe.message == "shutting down");
    CHECK(task.cancelled());
    CHECK_THROWS_WITH_AS(task.result(), "shutting down", CancelledError);
    CHECK_THROWS_WITH_AS(task.exception(), "shutting down", CancelledError);
    CHECK(elapsed_is<LoopKind>(s.loop, start, 1ms));
}

LOOP_TEST_CASE(
    "cancel: a task cancelled at a yield (no future to cancel) gets the message at its next step") {
    test_support::TestLoop<LoopKind> s;
    Probe probe;
    Task<int> task = s.loop.create_task(yield_then_return(&probe));
    s.loop.call_soon([task]() mutable { task.cancel("at a yield"); });
    CHECK_THROWS_AS(s.loop.run_until_complete(task), CancelledError);
    CHECK(probe.cancellations_seen == 1);
    CHECK(probe.message == "at a yield");
    CHECK_FALSE(probe.finished);
    CHECK(task.cancelled());
}

LOOP_TEST_CASE("cancel: a task cancelled before its first step never runs its body") {
    test_support::TestLoop<LoopKind> s;
    Probe probe;
    Task<int> task = s.loop.create_task(sleep_then_return(1ms, &probe));
    CHECK(task.cancel("too early"));
    CHECK_FALSE(task.done());
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(task), "too early", CancelledError);
    CHECK_FALSE(probe.body_ran);
    CHECK(task.cancelled());
    CHECK_FALSE(s.log.contains("never awaited"));
}

LOOP_TEST_CASE("cancel: a task may catch CancelledError and go on to return a value") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Probe probe;
    Task<int> task = s.loop.create_task(sleep_catch_and_continue(10s, &probe));
    s.loop.call_later(2ms, [task]() mutable { task.cancel(); });
    CHECK(s.loop.run_until_complete(task) == 11);
    CHECK(probe.finished);
    CHECK(elapsed_is<LoopKind>(s.loop, start, 3ms));
    CHECK_FALSE(task.cancelled());
    CHECK(task.cancelling() == 1);
}

LOOP_TEST_CASE("uncancel: decrements the count, returns what remains, never goes below zero") {
    test_support::TestLoop<LoopKind> s;
    Probe probe;
    Task<int> task = s.loop.create_task(sleep_catch_and_continue(10s, &probe));
    CHECK(task.uncancel() == 0);
    CHECK(task.cancelling() == 0);
    s.loop.run_until_complete(sleep(1ms));
    task.cancel();
    task.cancel();
    CHECK(task.uncancel() == 1);
    CHECK(task.uncancel() == 0);
    CHECK(task.uncancel() == 0);
    CHECK(task.cancelling() == 0);
    // The sleep future was already cancelled by the first request: the task still sees it.
    CHECK(s.loop.run_until_complete(task) == 11);
}

LOOP_TEST_CASE("uncancel: reaching zero withdraws a cancellation not yet delivered (3.13)") {
    test_support::TestLoop<LoopKind> s;
    Probe yielding;
    Task<int> at_yield = s.loop.create_task(yield_then_return(&yielding));
    Probe unstarted;
    Task<int> before_first_step = s.loop.create_task(sleep_then_return(1ms, &unstarted));
    CHECK(before_first_step.cancel());
    CHECK(before_first_step.uncancel() == 0);
    s.loop.call_soon([at_yield]() mutable {
        at_yield.cancel();
        at_yield.uncancel();
    });
    CHECK(s.loop.run_until_complete(at_yield) == 2);
    CHECK(yielding.cancellations_seen == 0);
    CHECK(s.loop.run_until_complete(before_first_step) == 1);
    CHECK(unstarted.body_ran);
    CHECK_FALSE(before_first_step.cancelled());
}

LOOP_TEST_CASE("uncancel: a cancellation stays pending while requests remain") {
    test_support::TestLoop<LoopKind> s;
    Probe probe;
    Task<int> task = s.loop.create_task(yield_then_return(&probe));
    s.loop.call_soon([task]() mutable {
        task.cancel("first");
        task.cancel("second");
        CHECK(task.uncancel() == 1);
    });
    CHECK_THROWS_AS(s.loop.run_until_complete(task), CancelledError);
    CHECK(probe.cancellations_seen == 1);
    CHECK(task.cancelled());
}

LOOP_TEST_CASE("cancel: a coroutine that returns while marked for cancellation ends cancelled") {
    test_support::TestLoop<LoopKind> s;
    Probe probe;
    Task<int> task =
        s.loop.create_task(cancel_self_then_return(&probe), {.name = "self-cancelling"});
    Task<std::string> awaiter = s.loop.create_task(await_and_report(task));
    CHECK(s.loop.run_until_complete(awaiter) == "CancelledError");
    CHECK(probe.finished);
    CHECK(task.done());
    CHECK(task.cancelled());
    CHECK_THROWS_WITH_AS(task.result(), "self", CancelledError);
}

LOOP_TEST_CASE(
    "cancel: a task that cancelled itself gets CancelledError at its next await, without waiting") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Probe probe;
    Task<void> task = s.loop.create_task(cancel_self_then_sleep(&probe));
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(task), "self then sleep", CancelledError);
    CHECK(probe.cancellations_seen == 1);
    CHECK_FALSE(probe.finished);
    CHECK(elapsed_is<LoopKind>(s.loop, start, 0s));
}

LOOP_TEST_CASE("cancel: a coroutine that raises CancelledError itself ends its task cancelled") {
    test_support::TestLoop<LoopKind> s;
    Task<void> task = s.loop.create_task(raise_cancelled_error());
    CHECK_THROWS_AS(s.loop.run_until_complete(task), CancelledError);
    CHECK(task.cancelled());
    CHECK_THROWS_WITH_AS(task.result(), "raised by hand", CancelledError);
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE("cancel: cancelling a task that awaits another task cancels the inner one") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Probe inner_probe;
    Probe outer_probe;
    Task<int> inner = s.loop.create_task(sleep_then_return(10s, &inner_probe), {.name = "inner"});
    Task<int> outer = s.loop.create_task(await_inner(inner, &outer_probe), {.name = "outer"});
    s.loop.call_later(1ms, [outer]() mutable { outer.cancel("stop both"); });
    CHECK_THROWS_AS(s.loop.run_until_complete(outer), CancelledError);
    CHECK(inner.cancelled());
    CHECK(inner.cancelling() == 1);
    CHECK(inner_probe.message == "stop both");
    CHECK(outer.cancelled());
    CHECK(outer_probe.cancellations_seen == 1);
    CHECK(elapsed_is<LoopKind>(s.loop, start, 1ms));
}

LOOP_TEST_CASE("cancel: cancelled() is true only in the final cancelled state") {
    test_support::TestLoop<LoopKind> s;
    Probe probe;
    Task<int> task = s.loop.create_task(sleep_then_return(10s, &probe));
    s.loop.run_until_complete(sleep(1ms));
    task.cancel();
    CHECK_FALSE(task.cancelled());
    CHECK_FALSE(task.done());
    CHECK_THROWS_AS(s.loop.run_until_complete(task), CancelledError);
    CHECK(task.cancelled());
    CHECK(task.done());

    Probe survivor_probe;
    Task<int> survivor = s.loop.create_task(sleep_catch_and_continue(10s, &survivor_probe));
    s.loop.run_until_complete(sleep(1ms));
    survivor.cancel();
    CHECK(s.loop.run_until_complete(survivor) == 11);
    CHECK_FALSE(survivor.cancelled());
}

LOOP_TEST_CASE("cancel: CancelledError is not caught by catch (const std::exception&)") {
    test_support::TestLoop<LoopKind> s;
    Probe probe;
    Task<void> task = s.loop.create_task(catch_std_exception_only(&probe));
    s.loop.call_later(1ms, [task]() mutable { task.cancel(); });
    CHECK_THROWS_AS(s.loop.run_until_complete(task), CancelledError);
    CHECK_FALSE(probe.std_exception_caught);
    CHECK_FALSE(probe.finished);
    CHECK(task.cancelled());
    bool caught_as_base = false;
    try {
        throw CancelledError("x");
    } catch (const std::exception&) {
        caught_as_base = false;
    } catch (const BaseException& e) {
        caught_as_base = std::string(e.type_name()) == "CancelledError";
    }
    CHECK(caught_as_base);
}

TEST_SUITE_END();
