// AsyncGen<T>: iteration, aclose(), registration with the loop, shutdown_asyncgens(), finalizer.
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

AsyncGen<int> count_to(int n, Duration step) {
    for (int i = 1; i <= n; ++i) {
        if (step > Duration::zero())
            co_await sleep(step);
        co_yield i;
    }
}

AsyncGen<int> fail_after_two() {
    co_yield 1;
    co_yield 2;
    throw ValueError("generator failed");
}

/// Yields forever; on aclose() it catches GeneratorExit, then awaits `cleanup` and records it.
AsyncGen<int> with_cleanup(Events* events, std::string name, Duration cleanup) {
    bool closing = false;
    try {
        for (int i = 0;; ++i)
            co_yield i;
    } catch (const GeneratorExit&) {
        closing = true;
    }
    if (closing) {
        if (cleanup > Duration::zero())
            co_await sleep(cleanup);
        events->push_back(name + " cleaned up at " + at_now());
    }
}

AsyncGen<int> cleanup_fails(Events* events) {
    bool closing = false;
    try {
        for (int i = 0;; ++i)
            co_yield i;
    } catch (const GeneratorExit&) {
        closing = true;
    }
    if (closing) {
        events->push_back("failing cleanup ran");
        throw ValueError("cleanup failed");
    }
}

AsyncGen<int> ignores_generator_exit() {
    for (int i = 0;; ++i) {
        try {
            co_yield i;
        } catch (const GeneratorExit&) {
            // keeps going: yields again
        }
    }
}

/// Destroyed with the generator's frame: shows that the frame's locals were cleaned up.
struct Guard {
    Events* events;
    ~Guard() { events->push_back("guard destroyed"); }
};

AsyncGen<int> raii_only(Events* events) {
    Guard guard{events};
    for (int i = 0;; ++i)
        co_yield i;
}

AsyncGen<int> slow_values(Events* events, Duration step) {
    for (int i = 0;; ++i) {
        co_await sleep(step);
        events->push_back("produced " + std::to_string(i));
        co_yield i;
    }
}

/// Yields 0, 1, ... each once `gate` is set (an Event: no timer, so the same on both loops).
AsyncGen<int> gated_values(Event* gate) {
    for (int i = 0;; ++i) {
        co_await gate->wait();
        co_yield i;
    }
}

Coro<std::vector<int>> drain(AsyncGen<int>* gen) {
    std::vector<int> values;
    while (std::optional<int> value = co_await gen->next())
        values.push_back(*value);
    co_return values;
}

Coro<std::vector<std::string>> drain_with_error() {
    std::vector<std::string> seen;
    AsyncGen<int> gen = fail_after_two();
    try {
        while (std::optional<int> value = co_await gen.next())
            seen.push_back(std::to_string(*value));
    } catch (const ValueError& e) {
        seen.push_back(std::string("error: ") + e.what());
    }
    seen.push_back(gen.finished() ? "finished" : "not finished");
    std::optional<int> after = co_await gen.next();
    seen.push_back(after ? "value after error" : "nullopt after error");
    co_return seen;
}

Coro<void> take_one_then_close(AsyncGen<int>* gen, Events* events) {
    std::optional<int> first = co_await gen->next();
    events->push_back("got " + std::to_string(first.value_or(-1)));
    co_await gen->aclose();
    events->push_back("aclose returned at " + at_now());
    std::optional<int> after = co_await gen->next();
    events->push_back(after ? "value after aclose" : "nullopt after aclose");
}

Coro<std::string> aclose_outcome(AsyncGen<int>* gen) {
    try {
        co_await gen->aclose();
    } catch (const RuntimeError& e) {
        co_return std::string("RuntimeError: ") + e.what();
    } catch (const ValueError& e) {
        co_return std::string("ValueError: ") + e.what();
    }
    co_return "closed";
}

Coro<std::string> next_outcome(AsyncGen<int>* gen) {
    try {
        std::optional<int> value = co_await gen->next();
        co_return value ? "value " + std::to_string(*value) : "nullopt";
    } catch (const RuntimeError& e) {
        co_return std::string("RuntimeError: ") + e.what();
    }
}

Coro<void> advance(AsyncGen<int>* gen, int times) {
    for (int i = 0; i < times; ++i)
        co_await gen->next();
}

Coro<void> shutdown_asyncgens() {
    co_await get_running_loop().shutdown_asyncgens();
}

Coro<void> drop_unfinished_generator(Events* events, Duration cleanup) {
    {
        AsyncGen<int> gen = with_cleanup(events, "dropped", cleanup);
        co_await gen.next();
    }
    events->push_back("dropped at " + at_now());
}

/// Yields 1, 2; its clean-up records what was thrown in, then `how`: "propagate" (rethrows),
/// "swallow" (returns), "yield" (yields again).
AsyncGen<int> reports_thrown_in(Events* events, std::string how) {
    std::string seen = "nothing";
    try {
        co_yield 1;
        co_yield 2;
    } catch (const CancelledError& error) {
        seen = std::string("CancelledError('") + error.what() + "')";
        if (how == "propagate") {
            events->push_back("clean-up sees " + seen);
            throw;
        }
    } catch (const GeneratorExit&) {
        seen = "GeneratorExit";
    }
    events->push_back("clean-up sees " + seen);
    if (how == "yield")
        co_yield 3;
}

/// asyncio: t = create_task(gen.aclose()); t.cancel("bye"); await t. `advance` values are taken
/// first (0: the generator never started; 3: it is finished).
Coro<Events> cancel_close_task_before_it_starts(std::string how, int advance) {
    Events events;
    AsyncGen<int> gen = reports_thrown_in(&events, how);
    for (int i = 0; i < advance; ++i)
        co_await gen.next();
    Task<void> closing = get_running_loop().create_task(gen.aclose());
    events.push_back(closing.cancel("bye") ? "cancel() true" : "cancel() false");
    try {
        co_await closing;
        events.push_back("close task returned");
    } catch (const CancelledError& error) {
        events.push_back(std::string("close task cancelled: '") + error.what() + "'");
    } catch (const RuntimeError& error) {
        events.push_back(std::string("close task raised RuntimeError: ") + error.what());
    }
    events.push_back(gen.finished() ? "generator finished" : "generator not finished");
    co_return events;
}
}  // namespace

TEST_SUITE_BEGIN("sim-only");

LOOP_TEST_CASE("AsyncGen: yields its values in order, then nullopt, and stays ended") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    AsyncGen<int> gen = count_to(3, 1ms);
    CHECK_FALSE(gen.finished());
    CHECK(s.loop.run_until_complete(drain(&gen)) == std::vector<int>{1, 2, 3});
    CHECK(elapsed_is<LoopKind>(s.loop, start, 3ms));
    CHECK(gen.finished());
    CHECK(s.loop.run_until_complete(drain(&gen)).empty());
}

LOOP_TEST_CASE("AsyncGen: the body does not run before the first next()") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Events events;
    AsyncGen<int> gen = slow_values(&events, 5ms);
    s.loop.run_until_complete(sleep(10ms));
    CHECK(events.empty());
    CHECK(s.loop.run_until_complete(next_outcome(&gen)) == "value 0");
    CHECK(joined(events) == joined({"produced 0"}));
    CHECK(elapsed_is<LoopKind>(s.loop, start, 15ms));
}

LOOP_TEST_CASE(
    "AsyncGen: an exception from the body comes out of next(); the generator is then finished") {
    test_support::TestLoop<LoopKind> s;
    CHECK(s.loop.run_until_complete(drain_with_error()) ==
          std::vector<std::string>{"1", "2", "error: generator failed", "finished",
                                   "nullopt after error"});
}

LOOP_TEST_CASE("AsyncGen: aclose() throws GeneratorExit at the co_yield; the clean-up may await") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    AsyncGen<int> gen = with_cleanup(&events, "gen", 2ms);
    s.loop.run_until_complete(take_one_then_close(&gen, &events));
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"got 0", "gen cleaned up at 2ms", "aclose returned at 2ms",
                                  "nullopt after aclose"})));
    CHECK(gen.finished());
}

LOOP_TEST_CASE(
    "AsyncGen: aclose() of a generator that does not catch GeneratorExit destroys its locals") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    AsyncGen<int> gen = raii_only(&events);
    s.loop.run_until_complete(advance(&gen, 2));
    CHECK(events.empty());
    CHECK(s.loop.run_until_complete(aclose_outcome(&gen)) == "closed");
    CHECK(joined(events) == joined({"guard destroyed"}));
    CHECK(gen.finished());
}

LOOP_TEST_CASE(
    "AsyncGen: a task running aclose() cancelled before its first step throws the "
    "CancelledError into the generator (asyncio's athrow)") {
    // Each expectation is what CPython 3.13 prints for the same program.
    test_support::TestLoop<LoopKind> s;
    CHECK(joined(s.loop.run_until_complete(cancel_close_task_before_it_starts("propagate", 1))) ==
          joined({"cancel() true", "clean-up sees CancelledError('bye')",
                  "close task cancelled: 'bye'", "generator finished"}));
    CHECK(joined(s.loop.run_until_complete(cancel_close_task_before_it_starts("swallow", 1))) ==
          joined({"cancel() true", "clean-up sees CancelledError('bye')", "close task returned",
                  "generator finished"}));
    CHECK(joined(s.loop.run_until_complete(cancel_close_task_before_it_starts("yield", 1))) ==
          joined({"cancel() true", "clean-up sees CancelledError('bye')",
                  "close task raised RuntimeError: async generator ignored GeneratorExit",
                  "generator not finished"}));
    CHECK(joined(s.loop.run_until_complete(cancel_close_task_before_it_starts("propagate", 0))) ==
          joined({"cancel() true", "close task cancelled: 'bye'", "generator finished"}));
    CHECK(joined(s.loop.run_until_complete(cancel_close_task_before_it_starts("propagate", 3))) ==
          joined({"clean-up sees nothing", "cancel() true", "close task cancelled: 'bye'",
                  "generator finished"}));
}

LOOP_TEST_CASE("AsyncGen: aclose() of a never-started generator does not run its body") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    AsyncGen<int> gen = with_cleanup(&events, "unstarted", 0s);
    CHECK(s.loop.run_until_complete(aclose_outcome(&gen)) == "closed");
    CHECK(events.empty());
    CHECK(gen.finished());
    CHECK(s.loop.run_until_complete(next_outcome(&gen)) == "nullopt");
}

LOOP_TEST_CASE("AsyncGen: aclose() of an exhausted or already closed generator does nothing") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    AsyncGen<int> exhausted = count_to(2, 0s);
    s.loop.run_until_complete(drain(&exhausted));
    CHECK(s.loop.run_until_complete(aclose_outcome(&exhausted)) == "closed");
    AsyncGen<int> closed = with_cleanup(&events, "closed", 0s);
    s.loop.run_until_complete(advance(&closed, 1));
    CHECK(s.loop.run_until_complete(aclose_outcome(&closed)) == "closed");
    CHECK(s.loop.run_until_complete(aclose_outcome(&closed)) == "closed");
    CHECK(timed<LoopKind>(joined(events)) == timed<LoopKind>(joined({"closed cleaned up at 0ms"})));
}

LOOP_TEST_CASE("AsyncGen: an exception from the clean-up comes out of aclose()") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    AsyncGen<int> gen = cleanup_fails(&events);
    s.loop.run_until_complete(advance(&gen, 1));
    CHECK(s.loop.run_until_complete(aclose_outcome(&gen)) == "ValueError: cleanup failed");
    CHECK(joined(events) == joined({"failing cleanup ran"}));
    CHECK(gen.finished());
}

LOOP_TEST_CASE("AsyncGen: a generator that yields after GeneratorExit makes aclose() fail") {
    test_support::TestLoop<LoopKind> s;
    AsyncGen<int> gen = ignores_generator_exit();
    s.loop.run_until_complete(advance(&gen, 1));
    CHECK(s.loop.run_until_complete(aclose_outcome(&gen)) ==
          "RuntimeError: async generator ignored GeneratorExit");
}

LOOP_TEST_CASE("AsyncGen: aclose() or next() of a generator that is running raises RuntimeError") {
    test_support::TestLoop<LoopKind> s;
    Event gate;
    AsyncGen<int> gen = gated_values(&gate);
    Task<std::string> consumer = s.loop.create_task(next_outcome(&gen));
    // The consumer is inside next(), the body waits for the gate.
    s.loop.run_until_complete(sleep(1ms));
    CHECK(s.loop.run_until_complete(aclose_outcome(&gen)) ==
          "RuntimeError: aclose(): asynchronous generator is already running");
    CHECK(s.loop.run_until_complete(next_outcome(&gen)) ==
          "RuntimeError: anext(): asynchronous generator is already running");
    gate.set();
    CHECK(s.loop.run_until_complete(consumer) == "value 0");
    CHECK(s.loop.run_until_complete(aclose_outcome(&gen)) == "closed");
}

LOOP_TEST_CASE(
    "AsyncGen: the first iteration registers the generator; shutdown_asyncgens() closes it once") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    AsyncGen<int> started = with_cleanup(&events, "started", 0s);
    AsyncGen<int> never_started = with_cleanup(&events, "never started", 0s);
    AsyncGen<int> exhausted = count_to(1, 0s);
    s.loop.run_until_complete(advance(&started, 2));
    s.loop.run_until_complete(drain(&exhausted));
    CHECK_FALSE(s.loop.asyncgens_shutdown_called());
    s.loop.run_until_complete(shutdown_asyncgens());
    CHECK(s.loop.asyncgens_shutdown_called());
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"started cleaned up at 0ms"})));
    CHECK(started.finished());
    CHECK_FALSE(never_started.finished());
    s.loop.run_until_complete(shutdown_asyncgens());
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"started cleaned up at 0ms"})));
    CHECK(s.errors.contexts.empty());
}

// Sim-only: both clean-ups end at the same virtual time; the order is the tie order.
TEST_CASE("AsyncGen: shutdown_asyncgens() closes the open generators concurrently") {
    Sim s({.shuffle_timer_ties = false});  // both clean-ups end at 2s: in creation order
    Events events;
    AsyncGen<int> a = with_cleanup(&events, "a", 2s);
    AsyncGen<int> b = with_cleanup(&events, "b", 2s);
    s.loop.run_until_complete(advance(&a, 1));
    s.loop.run_until_complete(advance(&b, 1));
    s.loop.run_until_complete(shutdown_asyncgens());
    CHECK(joined(events) == joined({"a cleaned up at 2000ms", "b cleaned up at 2000ms"}));
    CHECK(s.loop.time() == 2s);
}

LOOP_TEST_CASE(
    "AsyncGen: shutdown_asyncgens() reports a failing clean-up to the exception handler") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    AsyncGen<int> failing = cleanup_fails(&events);
    AsyncGen<int> fine = with_cleanup(&events, "fine", 0s);
    s.loop.run_until_complete(advance(&failing, 1));
    s.loop.run_until_complete(advance(&fine, 1));
    s.loop.run_until_complete(shutdown_asyncgens());
    CHECK(events.size() == 2);
    REQUIRE(s.errors.contexts.size() == 1);
    const ExceptionContext& context = s.errors.contexts[0];
    CHECK(context.message.find("an error occurred during closing of asynchronous generator") == 0);
    CHECK(context.message.find(failing.describe()) != std::string::npos);
    CHECK(context.keys() == std::set<std::string>{"message", "exception", "asyncgen"});
    CHECK(context.details.at("asyncgen") == failing.describe());
    CHECK_THROWS_WITH_AS(std::rethrow_exception(context.exception), "cleanup failed", ValueError);
}

LOOP_TEST_CASE(
    "AsyncGen: a generator first iterated after shutdown_asyncgens() is reported, and still "
    "works") {
    test_support::TestLoop<LoopKind> s;
    s.loop.run_until_complete(shutdown_asyncgens());
    CHECK(s.log.lines.empty());
    AsyncGen<int> late = count_to(2, 0s);
    CHECK(s.loop.run_until_complete(drain(&late)) == std::vector<int>{1, 2});
    CHECK(s.log.count("ResourceWarning: asynchronous generator " + late.describe() +
                      " was scheduled after shutdown_asyncgens() call") == 1);
}

LOOP_TEST_CASE(
    "AsyncGen: dropping an unfinished generator schedules its aclose(); the clean-up runs once") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    s.loop.run_until_complete(drop_unfinished_generator(&events, 1ms));
    s.loop.run_until_complete(sleep(10ms));
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"dropped at 0ms", "dropped cleaned up at 1ms"})));
    s.loop.run_until_complete(shutdown_asyncgens());
    s.loop.close();
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"dropped at 0ms", "dropped cleaned up at 1ms"})));
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "AsyncGen: shutdown_asyncgens() right after a drop neither repeats nor cuts off the clean-up") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    s.loop.run_until_complete(drop_unfinished_generator(&events, 1ms));
    s.loop.run_until_complete(shutdown_asyncgens());
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"dropped at 0ms", "dropped cleaned up at 1ms"})));
    s.loop.run_until_complete(sleep(5ms));
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"dropped at 0ms", "dropped cleaned up at 1ms"})));
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "AsyncGen: shutdown_asyncgens() while a finalizer's clean-up is in progress waits for it") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Events events;
    s.loop.run_until_complete(drop_unfinished_generator(&events, 10ms));
    s.loop.run_until_complete(
        sleep(2ms));  // the finalizer's aclose is part-way through the clean-up
    s.loop.run_until_complete(shutdown_asyncgens());
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"dropped at 0ms", "dropped cleaned up at 10ms"})));
    CHECK(elapsed_is<LoopKind>(s.loop, start, 10ms));
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "AsyncGen: live coroutine frames return to the baseline after generators end or close") {
    const std::int64_t baseline = detail::live_coroutine_frames();
    {
        test_support::TestLoop<LoopKind> s;
        Events events;
        AsyncGen<int> exhausted = count_to(3, 1ms);
        AsyncGen<int> closed = with_cleanup(&events, "closed", 1ms);
        AsyncGen<int> open = with_cleanup(&events, "open", 0s);
        s.loop.run_until_complete(drain(&exhausted));
        s.loop.run_until_complete(advance(&closed, 1));
        s.loop.run_until_complete(aclose_outcome(&closed));
        s.loop.run_until_complete(advance(&open, 1));
        s.loop.run_until_complete(shutdown_asyncgens());
        s.loop.run_until_complete(drop_unfinished_generator(&events, 0s));
        s.loop.run_until_complete(sleep(1ms));
        CHECK(events.size() == 4);
    }
    CHECK(detail::live_coroutine_frames() == baseline);
}

TEST_SUITE_END();
