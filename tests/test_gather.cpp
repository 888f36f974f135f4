// gather(): results in order, first error, return_exceptions, cancellation, empty input, and the
// rules G1-G6 (tasks, futures and coroutines in one call, children done already, coroutine lists).
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "gather_support.hpp"
#include "loop_timing.hpp"
#include "support.hpp"

using namespace simrun;
using gather_test::gather_in_task;
using gather_test::run_briefly;
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

// ---- the rules (G1-G6) beyond the ports ------------------------------------------------------

namespace {

using Events = std::vector<std::string>;

Coro<int> note_and_return(Events* events, std::string name, int value) {
    events->push_back(name);
    co_return value;
}

Coro<void> note_only(Events* events, std::string name) {
    events->push_back(name);
    co_return;
}

Coro<int> fail_now(std::string message) {
    throw ValueError(message);
    co_return 0;
}

}  // namespace

LOOP_TEST_CASE("gather: tasks, futures and coroutines in one call; void gives std::monostate") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    Task<int> task = s.loop.create_task(value_after(1ms, 1));
    Future<std::string> future = s.loop.template create_future<std::string>();
    s.loop.call_later(2ms, [future]() mutable { future.set_result("two"); });
    auto [one, two, three, nothing] = s.loop.run_until_complete(
        [](Task<int> t, Future<std::string> f,
           Events* log) -> Coro<std::tuple<int, std::string, int, std::monostate>> {
            co_return co_await gather(t, f, note_and_return(log, "third", 3),
                                      note_only(log, "fourth"));
        }(task, future, &events));
    CHECK(one == 1);
    CHECK(two == "two");
    CHECK(three == 3);
    CHECK(nothing == std::monostate{});
    // G2: the coroutines became tasks in argument order.
    CHECK(test_support::joined(events) == "third | fourth");
}

LOOP_TEST_CASE("gather: return_exceptions in the argument form gives one Outcome per argument") {
    test_support::TestLoop<LoopKind> s;
    Task<int> cancelled = s.loop.create_task(value_after(5s, 0));
    cancelled.cancel();
    auto [ok, failed, stopped, nothing] = s.loop.run_until_complete(
        [](Task<int> c)
            -> Coro<std::tuple<Outcome<int>, Outcome<int>, Outcome<int>, Outcome<void>>> {
            co_return co_await gather(return_exceptions, value_after(0s, 1), fail_now("x"), c,
                                      sleep(0s));
        }(cancelled));
    CHECK(ok.value == 1);
    CHECK_THROWS_WITH_AS(std::rethrow_exception(failed.error), "x", ValueError);
    CHECK_THROWS_WITH_AS(std::rethrow_exception(stopped.error), "", CancelledError);
    CHECK(nothing.ok());
}

LOOP_TEST_CASE("gather: children that are done already finish the gather when it is made") {
    test_support::TestLoop<LoopKind> s;
    Future<int> a = s.loop.template create_future<int>();
    Future<int> b = s.loop.template create_future<int>();
    a.set_result(1);
    b.set_result(2);
    auto both = gather(a, b);
    CHECK(both.done());
    CHECK(both.result() == std::tuple{1, 2});
    Future<int> failed = s.loop.template create_future<int>();
    failed.set_exception(std::make_exception_ptr(ValueError("e")));
    auto broken = gather(a, failed);
    CHECK(broken.done());
    CHECK_THROWS_WITH_AS(broken.result(), "e", ValueError);
    std::vector<Task<int>> tasks{s.loop.create_task(value_after(0s, 5))};
    s.loop.run_until_complete(tasks[0]);
    Future<std::vector<int>> listed = gather(tasks);
    CHECK(listed.done());
    CHECK(listed.result() == std::vector<int>{5});
}

LOOP_TEST_CASE("gather: a cancelled gather fails with CancelledError but is not cancelled() (G5)") {
    test_support::TestLoop<LoopKind> s;
    Task<int> child = s.loop.create_task(value_after(5s, 1));
    auto all = gather(child);
    CHECK(all.cancel("m"));
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(all), "m", CancelledError);
    CHECK_FALSE(all.cancelled());
    CHECK(child.cancelled());
    // Once done (here by a child's error), cancel() is refused and touches nothing.
    Task<int> sibling = s.loop.create_task(value_after(2ms, 2));
    auto failing = gather_in_task<false>(s.loop, fail_now("first"), sibling);
    CHECK_THROWS_AS(s.loop.run_until_complete(failing), ValueError);
    CHECK_FALSE(failing.cancel());
    CHECK_FALSE(sibling.cancelled());
    CHECK(s.loop.run_until_complete(sibling) == 2);
}

LOOP_TEST_CASE("gather: a list of coroutines") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    auto values = s.loop.run_until_complete([](Events* log) -> Coro<std::vector<int>> {
        std::vector<Coro<int>> coros;
        coros.push_back(note_and_return(log, "first", 1));
        coros.push_back(note_and_return(log, "second", 2));
        co_return co_await gather(std::move(coros));
    }(&events));
    CHECK(values == std::vector<int>{1, 2});
    CHECK(test_support::joined(events) == "first | second");
    auto outcomes = s.loop.run_until_complete([]() -> Coro<std::vector<Outcome<int>>> {
        std::vector<Coro<int>> coros;
        coros.push_back(fail_now("bad"));
        coros.push_back(value_after(0s, 4));
        co_return co_await gather(std::move(coros), return_exceptions);
    }());
    REQUIRE(outcomes.size() == 2);
    CHECK_FALSE(outcomes[0].ok());
    CHECK(outcomes[1].value == 4);
    s.loop.run_until_complete([](Events* log) -> Coro<void> {
        std::vector<Coro<void>> coros;
        coros.push_back(note_only(log, "void"));
        co_await gather(std::move(coros));
    }(&events));
    CHECK(test_support::joined(events) == "first | second | void");
}

LOOP_TEST_CASE(
    "gather: a task made from a coroutine and left pending at close is not reported (G2)") {
    test_support::TestLoop<LoopKind> s;
    Event never;
    auto all = gather_in_task<false>(s.loop, value_when_set(&never, 1));
    run_briefly(s.loop);
    CHECK_FALSE(all.done());
    s.loop.close();
    CHECK_FALSE(s.log.contains("Task was destroyed but it is pending!"));
    CHECK(s.errors.count("Task was destroyed but it is pending!") == 0);
}
