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

// ---- the argument form, and ports of CPython's GatherTestsBase, FutureGatherTests,
// ---- CoroutineGatherTests and test_cancel_gather_* ---------------------------------------------

namespace {

using Events = std::vector<std::string>;

Coro<void> yields(int count) {
    for (int i = 0; i < count; ++i)
        co_await sleep(0s);
}

/// asyncio's test_utils.run_briefly (and GatherTestsBase._run_loop): lets the callbacks queued so
/// far, and those they queue, run.
void run_briefly(EventLoop& loop) {
    loop.run_until_complete(yields(3));
}

Coro<int> await_future(Future<int> future) {
    co_return co_await future;
}

Coro<std::string> text_now(std::string value) {
    co_return value;
}

/// gather(...) called inside a task of `loop` (a coroutine argument needs a loop).
template <bool ReturnAll, class... C>
auto gather_in_task(EventLoop& loop, C... coros) {
    if constexpr (ReturnAll) {
        return loop.run_until_complete(
            [](C... inner) -> Coro<decltype(gather(return_exceptions, std::move(inner)...))> {
                co_return gather(return_exceptions, std::move(inner)...);
            }(std::move(coros)...));
    } else {
        return loop.run_until_complete(
            [](C... inner) -> Coro<decltype(gather(std::move(inner)...))> {
                co_return gather(std::move(inner)...);
            }(std::move(coros)...));
    }
}

/// FutureGatherTests gathers the futures themselves, CoroutineGatherTests coroutines that await
/// them (wrap_futures).
template <bool ReturnAll, class... F>
auto gather_wrapped(EventLoop& loop, bool coroutines, F... futures) {
    if (coroutines)
        return gather_in_task<ReturnAll>(loop, await_future(futures)...);
    if constexpr (ReturnAll)
        return gather(return_exceptions, futures...);
    else
        return gather(futures...);
}

template <class... Args>
concept gather_accepts = requires(Args... args) {
    simrun::gather(std::move(args)...);
};

}  // namespace

// test_issue46672: a child that is not awaitable is a TypeError in asyncio; here it does not
// compile.
static_assert(gather_accepts<Coro<int>, Task<int>, Future<int>>);
static_assert(!gather_accepts<Coro<int>, std::vector<int>>);
static_assert(!gather_accepts<Coro<int>, int>);

LOOP_TEST_CASE("gather: test_success, test_result_exception_success") {
    for (bool coroutines : {false, true}) {
        for (int mode = 0; mode < 2; ++mode) {
            CAPTURE(coroutines);
            CAPTURE(mode);
            test_support::TestLoop<LoopKind> s;
            auto a = s.loop.template create_future<int>();
            auto b = s.loop.template create_future<int>();
            auto c = s.loop.template create_future<int>();
            int calls = 0;
            auto check = [&](auto fut, auto values_of) {
                fut.add_done_callback([&calls] { ++calls; });
                b.set_result(1);
                a.set_result(2);
                run_briefly(s.loop);
                CHECK(calls == 0);
                CHECK_FALSE(fut.done());
                c.set_result(3);
                run_briefly(s.loop);
                CHECK(calls == 1);
                CHECK(values_of(fut.result()) == std::tuple{2, 1, 3});
            };
            if (mode == 0) {
                check(gather_wrapped<false>(s.loop, coroutines, a, b, c),
                      [](const auto& values) { return values; });
            } else {
                check(gather_wrapped<true>(s.loop, coroutines, a, b, c), [](const auto& outcomes) {
                    return std::tuple{*std::get<0>(outcomes).value, *std::get<1>(outcomes).value,
                                      *std::get<2>(outcomes).value};
                });
            }
        }
    }
}

LOOP_TEST_CASE("gather: test_one_exception") {
    for (bool coroutines : {false, true}) {
        CAPTURE(coroutines);
        test_support::TestLoop<LoopKind> s;
        auto a = s.loop.template create_future<int>();
        auto b = s.loop.template create_future<int>();
        auto c = s.loop.template create_future<int>();
        auto d = s.loop.template create_future<int>();
        auto e = s.loop.template create_future<int>();
        auto fut = gather_wrapped<false>(s.loop, coroutines, a, b, c, d, e);
        int calls = 0;
        fut.add_done_callback([&calls] { ++calls; });
        std::exception_ptr exc = std::make_exception_ptr(std::domain_error("zero division"));
        a.set_result(1);
        b.set_exception(exc);
        run_briefly(s.loop);
        CHECK(fut.done());
        CHECK(calls == 1);
        CHECK(fut.exception() == exc);
        // Does nothing.
        c.set_result(3);
        d.cancel();
        e.set_exception(std::make_exception_ptr(RuntimeError("")));
        (void)e.exception();
        run_briefly(s.loop);
        CHECK(calls == 1);
        CHECK(s.errors.contexts.empty());
    }
}

LOOP_TEST_CASE("gather: test_return_exceptions") {
    for (bool coroutines : {false, true}) {
        CAPTURE(coroutines);
        test_support::TestLoop<LoopKind> s;
        auto a = s.loop.template create_future<int>();
        auto b = s.loop.template create_future<int>();
        auto c = s.loop.template create_future<int>();
        auto d = s.loop.template create_future<int>();
        auto fut = gather_wrapped<true>(s.loop, coroutines, a, b, c, d);
        int calls = 0;
        fut.add_done_callback([&calls] { ++calls; });
        std::exception_ptr exc = std::make_exception_ptr(std::domain_error("zero division"));
        std::exception_ptr exc2 = std::make_exception_ptr(RuntimeError(""));
        b.set_result(1);
        c.set_exception(exc);
        a.set_result(3);
        run_briefly(s.loop);
        CHECK_FALSE(fut.done());
        d.set_exception(exc2);
        run_briefly(s.loop);
        REQUIRE(fut.done());
        CHECK(calls == 1);
        const auto& [ra, rb, rc, rd] = fut.result();
        CHECK(ra.value == 3);
        CHECK(rb.value == 1);
        CHECK(rc.error == exc);
        CHECK_FALSE(rc.value.has_value());
        CHECK(rd.error == exc2);
    }
}

TEST_CASE("gather: test_constructor_empty_sequence_without_loop" *
          doctest::test_suite("loop-free")) {
    set_event_loop(nullptr);
    auto error = test_support::thrown<RuntimeError>([] { (void)gather(); });
    REQUIRE(error.has_value());
    CHECK(test_support::contains(error->what(), "no current event loop"));
}

LOOP_TEST_CASE("gather: test_constructor_empty_sequence_use_running_loop") {
    test_support::TestLoop<LoopKind> s;
    Future<std::tuple<>> fut =
        s.loop.run_until_complete([]() -> Coro<Future<std::tuple<>>> { co_return gather(); }());
    CHECK(&fut.get_loop() == &s.loop);
    run_briefly(s.loop);
    CHECK(fut.done());
    CHECK(fut.result() == std::tuple<>{});
}

LOOP_TEST_CASE("gather: test_constructor_empty_sequence_use_global_loop") {
    test_support::TestLoop<LoopKind> s;
    set_event_loop(s.owner);
    Future<std::tuple<>> fut = gather();
    Future<std::tuple<>> outcomes = gather(return_exceptions);
    Future<std::vector<int>> listed = gather(std::vector<Task<int>>{});
    set_event_loop(nullptr);
    CHECK(&fut.get_loop() == &s.loop);
    CHECK(&outcomes.get_loop() == &s.loop);
    CHECK(&listed.get_loop() == &s.loop);
    CHECK(fut.done());  // G1: finished at once
    CHECK(listed.result().empty());
}

LOOP_TEST_CASE("gather: test_constructor_heterogenous_futures") {
    test_support::TestLoop<LoopKind> one;
    test_support::TestLoop<LoopKind> two;
    auto fut1 = one.loop.template create_future<int>();
    auto fut2 = two.loop.template create_future<int>();
    CHECK_THROWS_WITH_AS((void)gather(fut1, fut2),
                         "The future belongs to a different loop than the one specified as the "
                         "loop argument",
                         ValueError);
}

LOOP_TEST_CASE("gather: test_constructor_homogenous_futures") {
    test_support::TestLoop<LoopKind> one;
    test_support::TestLoop<LoopKind> other;
    auto c0 = other.loop.template create_future<int>();
    auto c1 = other.loop.template create_future<int>();
    auto c2 = other.loop.template create_future<int>();
    for (int round = 0; round < 2; ++round) {
        auto fut = gather(c0, c1, c2);
        CHECK(&fut.get_loop() == &other.loop);
        run_briefly(other.loop);
        CHECK_FALSE(fut.done());
    }
}

LOOP_TEST_CASE("gather: test_one_cancellation") {
    test_support::TestLoop<LoopKind> s;
    auto a = s.loop.template create_future<int>();
    auto b = s.loop.template create_future<int>();
    auto c = s.loop.template create_future<int>();
    auto d = s.loop.template create_future<int>();
    auto e = s.loop.template create_future<int>();
    auto fut = gather(a, b, c, d, e);
    int calls = 0;
    fut.add_done_callback([&calls] { ++calls; });
    a.set_result(1);
    b.cancel();
    run_briefly(s.loop);
    CHECK(fut.done());
    CHECK(calls == 1);
    CHECK_FALSE(fut.cancelled());
    CHECK_THROWS_AS(std::rethrow_exception(fut.exception()), CancelledError);
    // Does nothing.
    c.set_result(3);
    d.cancel();
    e.set_exception(std::make_exception_ptr(RuntimeError("")));
    (void)e.exception();
    run_briefly(s.loop);
    CHECK(calls == 1);
}

LOOP_TEST_CASE("gather: test_result_exception_one_cancellation") {
    test_support::TestLoop<LoopKind> s;
    auto a = s.loop.template create_future<int>();
    auto b = s.loop.template create_future<int>();
    auto c = s.loop.template create_future<int>();
    auto d = s.loop.template create_future<int>();
    auto e = s.loop.template create_future<int>();
    auto f = s.loop.template create_future<int>();
    auto fut = gather(return_exceptions, a, b, c, d, e, f);
    int calls = 0;
    fut.add_done_callback([&calls] { ++calls; });
    a.set_result(1);
    std::exception_ptr zde = std::make_exception_ptr(std::domain_error("zero division"));
    b.set_exception(zde);
    c.cancel();
    run_briefly(s.loop);
    CHECK_FALSE(fut.done());
    d.set_result(3);
    e.cancel();
    std::exception_ptr rte = std::make_exception_ptr(RuntimeError(""));
    f.set_exception(rte);
    auto res = s.loop.run_until_complete(fut);
    CHECK(std::get<0>(res).value == 1);
    CHECK(std::get<1>(res).error == zde);
    CHECK_THROWS_AS(std::rethrow_exception(std::get<2>(res).error), CancelledError);
    CHECK(std::get<3>(res).value == 3);
    CHECK_THROWS_AS(std::rethrow_exception(std::get<4>(res).error), CancelledError);
    CHECK(std::get<5>(res).error == rte);
    CHECK(calls == 1);
}

TEST_CASE("gather: test_constructor_without_loop" * doctest::test_suite("loop-free")) {
    set_event_loop(nullptr);
    std::vector<std::string> lines;
    set_default_log_handler([&lines](LogLevel, const std::string& line) { lines.push_back(line); });
    auto error =
        test_support::thrown<RuntimeError>([] { (void)gather(text_now("abc"), text_now("abc")); });
    set_default_log_handler({});
    REQUIRE(error.has_value());
    CHECK(test_support::contains(error->what(), "no current event loop"));
    CHECK(lines.size() == 2);  // neither coroutine ran, and each says so
}

LOOP_TEST_CASE("gather: test_constructor_use_running_loop") {
    test_support::TestLoop<LoopKind> s;
    auto fut = gather_in_task<false>(s.loop, text_now("abc"), text_now("abc"));
    CHECK(&fut.get_loop() == &s.loop);
    CHECK(s.loop.run_until_complete(fut) == std::tuple{"abc", "abc"});
}

LOOP_TEST_CASE("gather: test_constructor_use_global_loop") {
    test_support::TestLoop<LoopKind> s;
    test_support::TestLoop<LoopKind> other;
    set_event_loop(other.owner);
    auto fut = gather(text_now("abc"), text_now("abc"));
    set_event_loop(nullptr);
    CHECK(&fut.get_loop() == &other.loop);
    CHECK(other.loop.run_until_complete(fut) == std::tuple{"abc", "abc"});
}

// asyncio passes the same coroutine object several times; a Coro cannot be copied, so the same
// task is passed instead (duplicates share one child, G2).
LOOP_TEST_CASE("gather: test_duplicate_coroutines") {
    test_support::TestLoop<LoopKind> s;
    Task<std::string> c = s.loop.create_task(text_now("abc"));
    auto fut = gather_in_task<false>(s.loop, c, text_now("def"), c);
    run_briefly(s.loop);
    CHECK(fut.result() == std::tuple{"abc", "def", "abc"});
    auto again = gather(c, c, c);
    CHECK(again.done());  // every child was done already
    CHECK(again.result() == std::tuple{"abc", "abc", "abc"});
}

namespace {

Coro<void> broadcast_inner(Future<void> waiter, int* proof) {
    co_await waiter;
    *proof += 1;
}

using PairOfNothing = Future<std::tuple<std::monostate, std::monostate>>;

Coro<void> broadcast_outer(Task<void> child1, Task<void> child2,
                           std::optional<PairOfNothing>* gatherer, int* proof) {
    gatherer->emplace(gather(child1, child2));
    co_await **gatherer;
    *proof += 100;
}

Coro<void> raise_after(Future<int> future) {
    co_await future;
    throw RuntimeError("should not be ignored");
}

Coro<void> gather_two_raisers(Future<int> a, Future<int> b) {
    co_await gather(raise_after(a), raise_after(b));
}

}  // namespace

LOOP_TEST_CASE("gather: test_cancellation_broadcast") {
    test_support::TestLoop<LoopKind> s;
    // Cancelling outer() cancels all children.
    int proof = 0;
    Future<void> waiter = s.loop.template create_future<void>();
    Task<void> child1 = s.loop.create_task(broadcast_inner(waiter, &proof));
    Task<void> child2 = s.loop.create_task(broadcast_inner(waiter, &proof));
    std::optional<PairOfNothing> gatherer;
    Task<void> f = s.loop.create_task(broadcast_outer(child1, child2, &gatherer, &proof));
    run_briefly(s.loop);
    CHECK(f.cancel());
    CHECK_THROWS_AS(s.loop.run_until_complete(f), CancelledError);
    REQUIRE(gatherer.has_value());
    CHECK_FALSE(gatherer->cancel());
    CHECK(waiter.cancelled());
    CHECK(child1.cancelled());
    CHECK(child2.cancelled());
    run_briefly(s.loop);
    CHECK(proof == 0);
}

LOOP_TEST_CASE("gather: test_exception_marking") {
    test_support::TestLoop<LoopKind> s;
    {
        auto a = s.loop.template create_future<int>();
        auto b = s.loop.template create_future<int>();
        Task<void> f = s.loop.create_task(gather_two_raisers(a, b));
        run_briefly(s.loop);
        a.set_result(0);
        run_briefly(s.loop);
        b.set_result(0);
        run_briefly(s.loop);
        CHECK_THROWS_WITH_AS(std::rethrow_exception(f.exception()), "should not be ignored",
                             RuntimeError);
    }
    // The second child's error was marked retrieved by the gather.
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE("gather: test_cancel_gather_1") {
    test_support::TestLoop<LoopKind> s;
    // A gathering future refuses to be cancelled once all children are done (bpo-26923).
    Future<int> fut = s.loop.template create_future<int>();
    auto gather_future = gather_in_task<false>(s.loop, await_future(fut));
    run_briefly(s.loop);  // the child awaits fut before the callback below is added
    std::optional<bool> cancel_result;
    fut.add_done_callback(
        [&cancel_result, gather_future]() mutable { cancel_result = gather_future.cancel(); });
    fut.set_result(42);
    s.loop.run_until_complete(gather_future);
    CHECK(cancel_result == false);
    CHECK_FALSE(gather_future.cancelled());
    CHECK(gather_future.result() == std::tuple{42});
}

namespace {

Coro<void> gather_sleeps_until(Duration limit) {
    Duration time{};
    for (;;) {
        time += 5ms;
        co_await gather(return_exceptions, sleep(5ms));
        if (time > limit)
            co_return;
    }
}

Coro<void> cancel_gathering_task(std::optional<std::string> message) {
    Task<void> qwe = create_task(gather_sleeps_until(1s));
    co_await sleep(20ms);
    if (message)
        qwe.cancel(*message);
    else
        qwe.cancel();
    co_await qwe;
}

}  // namespace

LOOP_TEST_CASE("gather: test_cancel_gather_2") {
    for (std::optional<std::string> message :
         {std::optional<std::string>(), std::optional<std::string>("my message")}) {
        CAPTURE(message.value_or("(none)"));
        test_support::TestLoop<LoopKind> s;
        auto error = test_support::thrown<CancelledError>(
            [&] { s.loop.run_until_complete(cancel_gathering_task(message)); });
        REQUIRE_MESSAGE(error.has_value(),
                        "gather() does not propagate CancelledError raised by inner task to the "
                        "gather() caller.");
        CHECK(std::string(error->what()) == message.value_or(""));
    }
}

// ---- the rules (G1-G6) beyond the ports ------------------------------------------------------

namespace {

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
