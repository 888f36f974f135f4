// Future<T>: results, exceptions, cancellation, done callbacks and the "never retrieved" report; on
// both loops.
#include <memory>
#include <string>
#include <vector>

#include "support.hpp"

using namespace simrun;
using test_support::joined;
using test_support::TestLoop;

namespace {

using Events = std::vector<std::string>;

Coro<void> set_then_yield(Future<int> future, Events* events) {
    future.add_done_callback([events] { events->push_back("callback"); });
    future.set_result(1);
    events->push_back("after set_result");
    co_await yield_now();
    events->push_back("after yield");
}

Coro<void> run_callbacks_in_order(Future<void> future, Events* events) {
    for (int i = 1; i <= 4; ++i)
        future.add_done_callback([events, i] { events->push_back(std::to_string(i)); });
    future.set_result();
    co_await sleep(1ms);
}

Coro<void> add_callback_to_done_future(Future<int> future, Events* events) {
    future.set_result(5);
    future.add_done_callback([events] { events->push_back("callback"); });
    events->push_back("after add_done_callback");
    co_await sleep(1ms);
}

Coro<int> await_future(Future<int> future) {
    co_return co_await future;
}

Coro<void> await_and_record(Future<int> future, Events* events, std::string name) {
    co_await future;
    events->push_back(std::move(name));
}

Coro<std::string> await_and_describe_cancel(Future<int> future) {
    try {
        co_await future;
    } catch (const CancelledError& e) {
        co_return std::string("CancelledError: ") + e.what();
    }
    co_return "no cancellation";
}

Coro<void> yield_twice() {
    co_await yield_now();
    co_await yield_now();
}

Coro<void> drop_failed_future_inside_loop(Events* events) {
    {
        Future<int> future = get_running_loop().create_future<int>();
        future.set_exception(std::make_exception_ptr(ValueError("dropped")));
    }
    events->push_back("after drop");
    co_return;
}

}  // namespace

TEST_SUITE_BEGIN("sim-only");

LOOP_TEST_CASE("Future: done callbacks are scheduled with call_soon, never run synchronously") {
    TestLoop<LoopKind> s;
    Events events;
    auto future = s.loop.template create_future<int>();
    s.loop.run_until_complete(set_then_yield(future, &events));
    CHECK(joined(events) == joined({"after set_result", "callback", "after yield"}));
}

LOOP_TEST_CASE("Future: done callbacks run in the order they were added") {
    TestLoop<LoopKind> s;
    Events events;
    s.loop.run_until_complete(
        run_callbacks_in_order(s.loop.template create_future<void>(), &events));
    CHECK(joined(events) == joined({"1", "2", "3", "4"}));
}

LOOP_TEST_CASE("Future: a callback added to a done future is scheduled, not run at once") {
    TestLoop<LoopKind> s;
    Events events;
    s.loop.run_until_complete(
        add_callback_to_done_future(s.loop.template create_future<int>(), &events));
    CHECK(joined(events) == joined({"after add_done_callback", "callback"}));
}

LOOP_TEST_CASE("Future: remove_done_callback removes a callback before it is scheduled") {
    TestLoop<LoopKind> s;
    Events events;
    auto future = s.loop.template create_future<int>();
    auto first = future.add_done_callback([&events] { events.push_back("first"); });
    auto second = future.add_done_callback([&events] { events.push_back("second"); });
    CHECK(future.remove_done_callback(first) == 1);
    CHECK(future.remove_done_callback(first) == 0);
    future.set_result(3);
    s.loop.run_until_complete(future);
    s.loop.run_until_complete(yield_twice());
    CHECK(joined(events) == joined({"second"}));
    CHECK(future.remove_done_callback(second) == 0);
}

LOOP_TEST_CASE("Future: result() and exception() of a pending future raise InvalidStateError") {
    TestLoop<LoopKind> s;
    auto future = s.loop.template create_future<int>();
    CHECK_FALSE(future.done());
    CHECK_THROWS_WITH_AS(future.result(), "Result is not set.", InvalidStateError);
    CHECK_THROWS_WITH_AS(future.exception(), "Exception is not set.", InvalidStateError);
}

LOOP_TEST_CASE("Future: a result is set once; setting again raises InvalidStateError") {
    TestLoop<LoopKind> s;
    auto future = s.loop.template create_future<std::string>();
    future.set_result("value");
    CHECK(future.done());
    CHECK_FALSE(future.cancelled());
    CHECK(future.result() == "value");
    CHECK(future.exception() == nullptr);
    CHECK_THROWS_AS(future.set_result("again"), InvalidStateError);
    CHECK_THROWS_AS(future.set_exception(std::make_exception_ptr(ValueError("late"))),
                    InvalidStateError);
    CHECK_FALSE(future.cancel());
    CHECK(future.result() == "value");
}

LOOP_TEST_CASE("Future: an exception is returned by exception() and thrown by result()") {
    TestLoop<LoopKind> s;
    auto future = s.loop.template create_future<int>();
    future.set_exception(std::make_exception_ptr(ValueError("broken")));
    CHECK(future.done());
    std::exception_ptr error = future.exception();
    REQUIRE(error != nullptr);
    CHECK_THROWS_WITH_AS(std::rethrow_exception(error), "broken", ValueError);
    CHECK_THROWS_WITH_AS(future.result(), "broken", ValueError);
}

LOOP_TEST_CASE("Future: copies share one state") {
    TestLoop<LoopKind> s;
    auto future = s.loop.template create_future<int>();
    Future<int> copy = future;
    copy.set_result(9);
    CHECK(future.done());
    CHECK(future.result() == 9);
    CHECK(&future.get_loop() == &s.loop);
}

LOOP_TEST_CASE("Future: cancel() cancels a pending future once, with its message") {
    TestLoop<LoopKind> s;
    Events events;
    auto future = s.loop.template create_future<int>();
    future.add_done_callback([&events] { events.push_back("callback"); });
    CHECK(future.cancel("stop it"));
    CHECK(future.done());
    CHECK(future.cancelled());
    CHECK_FALSE(future.cancel("again"));
    CHECK_THROWS_WITH_AS(future.result(), "stop it", CancelledError);
    CHECK_THROWS_WITH_AS(future.exception(), "stop it", CancelledError);
    CHECK_THROWS_AS(future.set_result(1), InvalidStateError);
    CHECK(events.empty());
    s.loop.run_until_complete(yield_twice());
    CHECK(joined(events) == joined({"callback"}));
}

LOOP_TEST_CASE("Future: waiting tasks and done callbacks are woken in the order they came") {
    // asyncio 3.13 prints ['callback 1', 'task A', 'callback 2', 'task B', 'task C', 'callback 3'].
    TestLoop<LoopKind> s;
    Events events;
    auto future = s.loop.template create_future<int>();
    future.add_done_callback([&events] { events.push_back("callback 1"); });
    auto a = s.loop.create_task(await_and_record(future, &events, "task A"));
    s.loop.run_until_complete(yield_twice());
    future.add_done_callback([&events] { events.push_back("callback 2"); });
    auto b = s.loop.create_task(await_and_record(future, &events, "task B"));
    auto c = s.loop.create_task(await_and_record(future, &events, "task C"));
    s.loop.run_until_complete(yield_twice());
    future.add_done_callback([&events] { events.push_back("callback 3"); });
    future.set_result(1);
    s.loop.run_until_complete(yield_twice());
    CHECK(joined(events) ==
          joined({"callback 1", "task A", "callback 2", "task B", "task C", "callback 3"}));
    CHECK((a.done() && b.done() && c.done()));
}

LOOP_TEST_CASE("Future: a task awaiting a future gets its value or its exception") {
    TestLoop<LoopKind> s;
    auto ok = s.loop.template create_future<int>();
    s.loop.call_later(2ms, [ok]() mutable { ok.set_result(11); });
    CHECK(s.loop.run_until_complete(await_future(ok)) == 11);
    if constexpr (LoopKind::is_sim)
        CHECK(s.loop.time() == 2ms);

    auto bad = s.loop.template create_future<int>();
    s.loop.call_later(1ms, [bad]() mutable {
        bad.set_exception(std::make_exception_ptr(ValueError("bad value")));
    });
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(await_future(bad)), "bad value", ValueError);
}

LOOP_TEST_CASE(
    "Future: cancelling a task that awaits a future cancels the future with the message") {
    TestLoop<LoopKind> s;
    auto future = s.loop.template create_future<int>();
    Task<std::string> task = s.loop.create_task(await_and_describe_cancel(future));
    s.loop.call_later(1ms, [task]() mutable { task.cancel("from outside"); });
    CHECK(s.loop.run_until_complete(task) == "CancelledError: from outside");
    CHECK(future.cancelled());
    CHECK_THROWS_WITH_AS(future.result(), "from outside", CancelledError);
}

LOOP_TEST_CASE("Future: a failed future dropped unretrieved is reported with a 'future' field") {
    TestLoop<LoopKind> s;
    {
        auto future = s.loop.template create_future<int>();
        future.set_exception(std::make_exception_ptr(ValueError("nobody looked")));
    }
    REQUIRE(s.errors.contexts.size() == 1);
    const ExceptionContext& context = s.errors.contexts[0];
    CHECK(context.message == "Future exception was never retrieved");
    CHECK(context.keys() == std::set<std::string>{"message", "exception", "future"});
    REQUIRE(context.exception != nullptr);
    CHECK_THROWS_WITH_AS(std::rethrow_exception(context.exception), "nobody looked", ValueError);
    REQUIRE(context.future.has_value());
    CHECK(context.future->description.find("<Future finished") == 0);
    CHECK(context.future->description.find("ValueError: nobody looked") != std::string::npos);
}

LOOP_TEST_CASE("Future: the never-retrieved report also happens while the loop runs") {
    TestLoop<LoopKind> s;
    Events events;
    s.loop.run_until_complete(drop_failed_future_inside_loop(&events));
    CHECK(joined(events) == joined({"after drop"}));
    CHECK(s.errors.count("Future exception was never retrieved") == 1);
}

LOOP_TEST_CASE("Future: no never-retrieved report once exception() or result() was called") {
    TestLoop<LoopKind> s;
    {
        auto future = s.loop.template create_future<int>();
        future.set_exception(std::make_exception_ptr(ValueError("seen by exception()")));
        CHECK(future.exception() != nullptr);
    }
    {
        auto future = s.loop.template create_future<int>();
        future.set_exception(std::make_exception_ptr(ValueError("seen by result()")));
        CHECK_THROWS_AS(future.result(), ValueError);
    }
    {
        auto future = s.loop.template create_future<int>();
        future.set_exception(std::make_exception_ptr(ValueError("awaited")));
        CHECK_THROWS_AS(s.loop.run_until_complete(await_future(future)), ValueError);
    }
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE("Future: cancel() of a failed future marks the exception retrieved") {
    TestLoop<LoopKind> s;
    {
        auto future = s.loop.template create_future<int>();
        future.set_exception(std::make_exception_ptr(ValueError("x")));
        CHECK_FALSE(future.cancel());
    }
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE("Future: pending, cancelled or successful futures are never reported when dropped") {
    TestLoop<LoopKind> s;
    {
        auto pending = s.loop.template create_future<int>();
        auto cancelled = s.loop.template create_future<int>();
        cancelled.cancel();
        auto ok = s.loop.template create_future<int>();
        ok.set_result(1);
    }
    CHECK(s.errors.contexts.empty());
}

TEST_SUITE_END();
