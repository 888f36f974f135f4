// gather(): the ports of CPython 3.13's gather tests of test_tasks.py (GatherTestsBase,
// FutureGatherTests, CoroutineGatherTests, test_cancel_gather_*) on both loops.
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "gather_support.hpp"
#include "support.hpp"

using namespace simrun;
using gather_test::gather_in_task;
using gather_test::run_briefly;

// ---- the argument form, and ports of CPython's GatherTestsBase, FutureGatherTests,
// ---- CoroutineGatherTests and test_cancel_gather_* ---------------------------------------------

namespace {

Coro<int> await_future(Future<int> future) {
    co_return co_await future;
}

Coro<std::string> text_now(std::string value) {
    co_return value;
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
