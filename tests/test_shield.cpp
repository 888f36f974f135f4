// shield(): ports of CPython's test_shield* tests and the rules of asyncio.shield (3.13), on
// both loops.
#include <string>
#include <tuple>
#include <vector>

#include "support.hpp"

using namespace simrun;
using test_support::joined;
using test_support::TestLoop;

namespace {

using Events = std::vector<std::string>;

Coro<void> yields(int count) {
    for (int i = 0; i < count; ++i)
        co_await sleep(0s);
}

/// asyncio's test_utils.run_briefly: lets the callbacks queued so far (and theirs) run.
void run_briefly(EventLoop& loop) {
    loop.run_until_complete(yields(3));
}

Coro<int> forty_two() {
    co_return 42;
}

Coro<void> inner_body(Future<void> waiter, int* proof) {
    co_await waiter;
    *proof += 1;
}

Coro<void> outer_body(Future<void> waiter, int* proof) {
    co_await shield(inner_body(waiter, proof));
    *proof += 100;
}

Coro<std::string> value_when_set(Event* release, std::string value, Events* events) {
    co_await release->wait();
    events->push_back("inner finished");
    co_return value;
}

Coro<void> await_shielded(Task<std::string> inner, Events* events) {
    try {
        std::string value = co_await shield(inner);
        events->push_back("awaiter got " + value);
    } catch (const CancelledError&) {
        events->push_back("awaiter cancelled");
        throw;
    }
}

Coro<Future<int>> shield_inside() {
    co_return shield(forty_two());
}

}  // namespace

LOOP_TEST_CASE("shield: test_shield_result") {
    TestLoop<LoopKind> s;
    Future<int> inner = s.loop.template create_future<int>();
    Future<int> outer = shield(inner);
    inner.set_result(42);
    CHECK(s.loop.run_until_complete(outer) == 42);
}

LOOP_TEST_CASE("shield: test_shield_exception") {
    TestLoop<LoopKind> s;
    Future<int> inner = s.loop.template create_future<int>();
    Future<int> outer = shield(inner);
    run_briefly(s.loop);
    std::exception_ptr error = std::make_exception_ptr(RuntimeError("expected"));
    inner.set_exception(error);
    run_briefly(s.loop);
    CHECK(outer.exception() == error);
}

LOOP_TEST_CASE("shield: test_shield_cancel_inner") {
    TestLoop<LoopKind> s;
    Future<int> inner = s.loop.template create_future<int>();
    Future<int> outer = shield(inner);
    run_briefly(s.loop);
    inner.cancel();
    run_briefly(s.loop);
    CHECK(outer.cancelled());
}

LOOP_TEST_CASE("shield: test_shield_cancel_outer") {
    TestLoop<LoopKind> s;
    Future<int> inner = s.loop.template create_future<int>();
    Future<int> outer = shield(inner);
    run_briefly(s.loop);
    outer.cancel();
    run_briefly(s.loop);
    CHECK(outer.cancelled());
    CHECK_FALSE(inner.cancelled());
    // (asyncio checks that outer has no callbacks left.) The link to the outer is gone: the
    // inner's later result is not forwarded, and nothing complains.
    inner.set_result(1);
    run_briefly(s.loop);
    CHECK(outer.cancelled());
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE("shield: test_shield_shortcut") {
    TestLoop<LoopKind> s;
    Future<int> fut = s.loop.template create_future<int>();
    fut.set_result(42);
    Future<int> shielded = shield(fut);
    CHECK(shielded.state() == fut.state());  // H1: the future itself
    CHECK(s.loop.run_until_complete(shielded) == 42);
}

LOOP_TEST_CASE("shield: test_shield_effect") {
    TestLoop<LoopKind> s;
    // Cancelling outer() does not affect inner().
    int proof = 0;
    Future<void> waiter = s.loop.template create_future<void>();
    Task<void> f = s.loop.create_task(outer_body(waiter, &proof));
    run_briefly(s.loop);
    f.cancel();
    CHECK_THROWS_AS(s.loop.run_until_complete(f), CancelledError);
    waiter.set_result();
    run_briefly(s.loop);
    CHECK(proof == 1);
}

LOOP_TEST_CASE("shield: test_shield_gather") {
    TestLoop<LoopKind> s;
    Future<int> child1 = s.loop.template create_future<int>();
    Future<int> child2 = s.loop.template create_future<int>();
    Future<std::tuple<int, int>> parent = gather(child1, child2);
    Future<std::tuple<int, int>> outer = shield(parent);
    run_briefly(s.loop);
    outer.cancel();
    run_briefly(s.loop);
    CHECK(outer.cancelled());
    child1.set_result(1);
    child2.set_result(2);
    run_briefly(s.loop);
    CHECK(parent.result() == std::tuple{1, 2});
}

LOOP_TEST_CASE("shield: test_gather_shield") {
    TestLoop<LoopKind> s;
    Future<int> child1 = s.loop.template create_future<int>();
    Future<int> child2 = s.loop.template create_future<int>();
    Future<int> inner1 = shield(child1);
    Future<int> inner2 = shield(child2);
    auto parent = gather(inner1, inner2);
    run_briefly(s.loop);
    parent.cancel();
    // This cancels inner1 and inner2 but not child1 and child2.
    run_briefly(s.loop);
    CHECK_THROWS_AS(std::rethrow_exception(parent.exception()), CancelledError);
    CHECK(inner1.cancelled());
    CHECK(inner2.cancelled());
    CHECK_FALSE(child1.cancelled());
    CHECK_FALSE(child2.cancelled());
    child1.set_result(1);
    child2.set_result(2);
    run_briefly(s.loop);
}

TEST_CASE("shield: test_shield_coroutine_without_loop" * doctest::test_suite("loop-free")) {
    set_event_loop(nullptr);
    std::vector<std::string> lines;
    set_default_log_handler([&lines](LogLevel, const std::string& line) { lines.push_back(line); });
    auto error = test_support::thrown<RuntimeError>([] { (void)shield(forty_two()); });
    set_default_log_handler({});
    REQUIRE(error.has_value());
    CHECK(test_support::contains(error->what(), "no current event loop"));
    REQUIRE(lines.size() == 1);  // the coroutine never ran, and says so
    CHECK(test_support::contains(lines[0], "was never awaited"));
}

LOOP_TEST_CASE("shield: test_shield_coroutine_use_running_loop") {
    TestLoop<LoopKind> s;
    Future<int> outer = s.loop.run_until_complete(shield_inside());
    CHECK(&outer.get_loop() == &s.loop);
    CHECK(s.loop.run_until_complete(outer) == 42);
}

LOOP_TEST_CASE("shield: test_shield_coroutine_use_global_loop") {
    TestLoop<LoopKind> s;
    set_event_loop(s.owner);
    Future<int> outer = shield(forty_two());
    set_event_loop(nullptr);
    CHECK(&outer.get_loop() == &s.loop);
    CHECK(s.loop.run_until_complete(outer) == 42);
}

// ---- the rules (H1-H3) beyond the ports ------------------------------------------------------

LOOP_TEST_CASE(
    "shield: cancelling the awaiter leaves the inner task running, its result available (H3)") {
    TestLoop<LoopKind> s;
    Events events;
    Event release;
    Task<std::string> inner = s.loop.create_task(value_when_set(&release, "inner", &events));
    Task<void> awaiter = s.loop.create_task(await_shielded(inner, &events));
    s.loop.call_later(1ms, [awaiter]() mutable { awaiter.cancel(); });
    CHECK_THROWS_AS(s.loop.run_until_complete(awaiter), CancelledError);
    CHECK_FALSE(inner.done());
    CHECK(inner.cancelling() == 0);
    release.set();
    CHECK(s.loop.run_until_complete(inner) == "inner");
    CHECK(joined(events) == "awaiter cancelled | inner finished");
}

LOOP_TEST_CASE("shield: an inner that finishes in time gives the awaiter its value") {
    TestLoop<LoopKind> s;
    Events events;
    Event release;
    Task<std::string> inner = s.loop.create_task(value_when_set(&release, "value", &events));
    s.loop.call_later(1ms, [&release] { release.set(); });
    s.loop.run_until_complete(await_shielded(inner, &events));
    CHECK(joined(events) == "inner finished | awaiter got value");
}

LOOP_TEST_CASE("shield: a task that is done already gives a future done the same way (H1)") {
    TestLoop<LoopKind> s;
    Task<int> returned = s.loop.create_task(forty_two());
    Task<int> failed = s.loop.create_task([]() -> Coro<int> {
        throw ValueError("broken");
        co_return 0;
    }());
    Task<int> cancelled = s.loop.create_task(forty_two());
    cancelled.cancel("stopped");
    run_briefly(s.loop);
    CHECK(s.loop.run_until_complete(shield(returned)) == 42);
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(shield(failed)), "broken", ValueError);
    Future<int> shielded_cancel = shield(cancelled);
    CHECK(shielded_cancel.cancelled());
    CHECK_THROWS_WITH_AS(shielded_cancel.result(), "stopped", CancelledError);
}

LOOP_TEST_CASE(
    "shield: an inner failing after the outer's cancellation went through is still reported") {
    TestLoop<LoopKind> s;
    {
        Future<int> inner = s.loop.template create_future<int>();
        Future<int> outer = shield(inner);
        outer.cancel();
        run_briefly(s.loop);  // the outer's callback unlinks the inner
        inner.set_exception(std::make_exception_ptr(ValueError("later")));
        run_briefly(s.loop);
    }
    CHECK(s.errors.count("Future exception was never retrieved") == 1);
}

LOOP_TEST_CASE(
    "shield: an inner failing in the same turn as the outer's cancellation is marked retrieved") {
    TestLoop<LoopKind> s;
    {
        Future<int> inner = s.loop.template create_future<int>();
        Future<int> outer = shield(inner);
        outer.cancel();
        inner.set_exception(std::make_exception_ptr(ValueError("same turn")));
        run_briefly(s.loop);
    }
    CHECK(s.errors.contexts.empty());
}

TEST_CASE("shield: an empty handle is rejected with ValueError" *
          doctest::test_suite("loop-free")) {
    CHECK_THROWS_WITH_AS((void)shield(Task<int>()), "an empty Task or Future handle was passed",
                         ValueError);
    CHECK_THROWS_AS((void)shield(Future<int>()), ValueError);
}
