// gather(): results in order, first error, return_exceptions, cancellation, empty input.
#include <string>
#include <vector>

#include "loop_timing.hpp"
#include "support.hpp"

using namespace simrun;
using test_support::elapsed_is;

namespace {

Coro<int> value_after(Duration delay, int value) {
    co_await sleep(delay);
    co_return value;
}

/// `value` once `release` is set: a child that stays pending, however late the loop's timers fire.
Coro<int> value_when_set(Event* release, int value) {
    co_await release->wait();
    co_return value;
}

Coro<int> fail_after(Duration delay, std::string message) {
    co_await sleep(delay);
    throw ValueError(message);
}

Coro<void> nothing_after(Duration delay, int* finished) {
    co_await sleep(delay);
    ++*finished;
}

Coro<std::vector<int>> gather_values(std::vector<Task<int>> tasks) {
    co_return co_await gather(tasks);
}

Coro<std::vector<Outcome<int>>> gather_outcomes(std::vector<Task<int>> tasks) {
    co_return co_await gather(tasks, return_exceptions);
}

Coro<std::size_t> gather_nothing() {
    std::vector<int> values = co_await gather(std::vector<Task<int>>{});
    std::vector<Outcome<int>> outcomes =
        co_await gather(std::vector<Task<int>>{}, return_exceptions);
    co_await gather(std::vector<Task<void>>{});
    co_return values.size() + outcomes.size();
}

Coro<void> gather_voids(std::vector<Task<void>> tasks) {
    co_await gather(tasks);
}

Coro<std::string> message_of(Coro<std::vector<int>> body) {
    try {
        co_await std::move(body);
    } catch (const ValueError& e) {
        co_return std::string("ValueError: ") + e.what();
    } catch (const CancelledError&) {
        co_return "CancelledError";
    }
    co_return "no error";
}

Coro<int> sleep_counting_cancels(Duration delay, int value, int* cancelled) {
    try {
        co_await sleep(delay);
    } catch (const CancelledError&) {
        ++*cancelled;
        throw;
    }
    co_return value;
}

}  // namespace

TEST_SUITE_BEGIN("sim-only");

LOOP_TEST_CASE("gather: results come back in the order of the tasks, not of completion") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    std::vector<Task<int>> tasks{s.loop.create_task(value_after(3ms, 1)),
                                 s.loop.create_task(value_after(1ms, 2)),
                                 s.loop.create_task(value_after(2ms, 3))};
    CHECK(s.loop.run_until_complete(gather_values(tasks)) == std::vector<int>{1, 2, 3});
    CHECK(elapsed_is<LoopKind>(s.loop, start, 3ms));
}

LOOP_TEST_CASE("gather: a gather future can be run directly and is done once every child is") {
    test_support::TestLoop<LoopKind> s;
    std::vector<Task<int>> tasks{s.loop.create_task(value_after(2ms, 5)),
                                 s.loop.create_task(value_after(1ms, 6))};
    Future<std::vector<int>> all = gather(tasks);
    CHECK_FALSE(all.done());
    CHECK(s.loop.run_until_complete(all) == std::vector<int>{5, 6});
    CHECK(tasks[0].done());
    CHECK(tasks[1].done());
}

LOOP_TEST_CASE("gather: void tasks") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    int finished = 0;
    std::vector<Task<void>> tasks{s.loop.create_task(nothing_after(1ms, &finished)),
                                  s.loop.create_task(nothing_after(2ms, &finished))};
    s.loop.run_until_complete(gather_voids(tasks));
    CHECK(finished == 2);
    CHECK(elapsed_is<LoopKind>(s.loop, start, 2ms));
}

LOOP_TEST_CASE(
    "gather: the first error fails the gather at once while the other tasks keep running") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Event release;
    std::vector<Task<int>> tasks{s.loop.create_task(value_when_set(&release, 1)),
                                 s.loop.create_task(fail_after(1ms, "first")),
                                 s.loop.create_task(fail_after(2ms, "second"))};
    CHECK(s.loop.run_until_complete(message_of(gather_values(tasks))) == "ValueError: first");
    CHECK(elapsed_is<LoopKind>(s.loop, start, 1ms));
    CHECK_FALSE(tasks[0].done());
    CHECK_FALSE(tasks[0].cancelled());
    s.loop.call_later(19ms, [&release] { release.set(); });
    CHECK(s.loop.run_until_complete(tasks[0]) == 1);
    CHECK(elapsed_is<LoopKind>(s.loop, start, 20ms));
    CHECK(tasks[2].done());
    tasks.clear();
    // The second error was consumed by the gather: no "never retrieved" report.
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "gather: a cancelled child fails a gather without return_exceptions with CancelledError") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Event release;
    std::vector<Task<int>> tasks{s.loop.create_task(value_when_set(&release, 1)),
                                 s.loop.create_task(value_after(5s, 2))};
    s.loop.call_later(1ms, [task = tasks[1]]() mutable { task.cancel(); });
    CHECK(s.loop.run_until_complete(message_of(gather_values(tasks))) == "CancelledError");
    CHECK(elapsed_is<LoopKind>(s.loop, start, 1ms));
    CHECK_FALSE(tasks[0].done());
    release.set();
    CHECK(s.loop.run_until_complete(tasks[0]) == 1);
}

LOOP_TEST_CASE("gather: return_exceptions collects values, errors and CancelledError in order") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    std::vector<Task<int>> tasks{
        s.loop.create_task(value_after(3ms, 1)), s.loop.create_task(fail_after(1ms, "broken")),
        s.loop.create_task(value_after(5s, 3)), s.loop.create_task(value_after(2ms, 4))};
    s.loop.call_later(1ms, [task = tasks[2]]() mutable { task.cancel("child cancelled"); });
    std::vector<Outcome<int>> outcomes = s.loop.run_until_complete(gather_outcomes(tasks));
    CHECK(elapsed_is<LoopKind>(s.loop, start, 3ms));
    REQUIRE(outcomes.size() == 4);
    CHECK(outcomes[0].ok());
    CHECK(outcomes[0].value == 1);
    CHECK_FALSE(outcomes[1].ok());
    CHECK_FALSE(outcomes[1].value.has_value());
    CHECK_THROWS_WITH_AS(std::rethrow_exception(outcomes[1].error), "broken", ValueError);
    CHECK_FALSE(outcomes[2].ok());
    CHECK_THROWS_WITH_AS(std::rethrow_exception(outcomes[2].error), "child cancelled",
                         CancelledError);
    CHECK(outcomes[3].ok());
    CHECK(outcomes[3].value == 4);
    tasks.clear();
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE("gather: return_exceptions over tasks of different result types") {
    test_support::TestLoop<LoopKind> s;
    int finished = 0;
    std::vector<TaskRef> tasks{s.loop.create_task(value_after(1ms, 1)),
                               s.loop.create_task(nothing_after(2ms, &finished)),
                               s.loop.create_task(fail_after(1ms, "mixed"))};
    auto all = gather(tasks, return_exceptions);
    std::vector<Outcome<void>> outcomes = s.loop.run_until_complete(all);
    REQUIRE(outcomes.size() == 3);
    CHECK(outcomes[0].ok());
    CHECK(outcomes[1].ok());
    CHECK_THROWS_WITH_AS(std::rethrow_exception(outcomes[2].error), "mixed", ValueError);
    CHECK(finished == 1);
}

LOOP_TEST_CASE("gather: cancelling the gather cancels every child") {
    test_support::TestLoop<LoopKind> s;
    int cancelled = 0;
    std::vector<Task<int>> tasks{s.loop.create_task(sleep_counting_cancels(5s, 1, &cancelled)),
                                 s.loop.create_task(sleep_counting_cancels(5s, 2, &cancelled)),
                                 s.loop.create_task(value_after(0s, 3))};
    s.loop.run_until_complete(sleep(1ms));  // the third child is done by now
    Future<std::vector<int>> all = gather(tasks);
    CHECK(all.cancel("gather cancelled"));
    CHECK_THROWS_AS(s.loop.run_until_complete(all), CancelledError);
    CHECK(cancelled == 2);
    CHECK(tasks[0].cancelled());
    CHECK(tasks[1].cancelled());
    CHECK_FALSE(tasks[2].cancelled());
    CHECK_THROWS_WITH_AS(tasks[0].result(), "gather cancelled", CancelledError);
}

LOOP_TEST_CASE(
    "gather: cancelling the gather with return_exceptions still ends in CancelledError") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    int cancelled = 0;
    std::vector<Task<int>> tasks{s.loop.create_task(sleep_counting_cancels(5s, 1, &cancelled)),
                                 s.loop.create_task(sleep_counting_cancels(5s, 2, &cancelled))};
    auto all = gather(tasks, return_exceptions);
    s.loop.call_later(1ms, [all]() mutable { all.cancel(); });
    CHECK_THROWS_AS(s.loop.run_until_complete(all), CancelledError);
    CHECK(cancelled == 2);
    CHECK(elapsed_is<LoopKind>(s.loop, start, 1ms));
}

LOOP_TEST_CASE("gather: cancelling the task that awaits a gather cancels the children") {
    test_support::TestLoop<LoopKind> s;
    int cancelled = 0;
    std::vector<Task<int>> tasks{s.loop.create_task(sleep_counting_cancels(5s, 1, &cancelled)),
                                 s.loop.create_task(sleep_counting_cancels(5s, 2, &cancelled))};
    Task<std::vector<int>> waiter = s.loop.create_task(gather_values(tasks));
    s.loop.call_later(1ms, [waiter]() mutable { waiter.cancel(); });
    CHECK_THROWS_AS(s.loop.run_until_complete(waiter), CancelledError);
    CHECK(waiter.cancelled());
    CHECK(cancelled == 2);
    CHECK(tasks[0].cancelled());
    CHECK(tasks[1].cancelled());
}

LOOP_TEST_CASE("gather: an empty gather is done at once with an empty result") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    CHECK(s.loop.run_until_complete(gather_nothing()) == 0);
    CHECK(elapsed_is<LoopKind>(s.loop, start, 0s));
}

LOOP_TEST_CASE("gather: tasks of different loops are rejected with ValueError") {
    test_support::TestLoop<LoopKind> one;
    test_support::TestLoop<LoopKind> two;
    std::vector<Task<int>> tasks{one.loop.create_task(value_after(1ms, 1)),
                                 two.loop.create_task(value_after(1ms, 2))};
    CHECK_THROWS_AS(gather(tasks), ValueError);
    one.loop.run_until_complete(tasks[0]);
    two.loop.run_until_complete(tasks[1]);
}

TEST_SUITE_END();
