// EventLoop (on both loops unless marked sim-only): callbacks, timers, running and closing, the
// exception handler, the executor after shutdown, and debug mode.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace simrun;
using test_support::joined;
using test_support::Sim;
using test_support::TestLoop;

namespace {

using Events = std::vector<std::string>;

std::string ms(Duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms";
}

Coro<int> value_after(Duration delay, int value) {
    co_await sleep(delay);
    co_return value;
}

Coro<std::string> run_nested(EventLoop* loop) {
    try {
        loop->run_until_complete(value_after(1s, 1));
    } catch (const RuntimeError& e) {
        co_return e.what();
    }
    co_return "no error";
}

Coro<std::string> close_while_running() {
    try {
        get_running_loop().close();
    } catch (const RuntimeError& e) {
        co_return e.what();
    }
    co_return "no error";
}

Coro<int> stop_then_sleep() {
    get_running_loop().stop();
    co_await sleep(1s);
    co_return 1;
}

Coro<void> record_cancellation(Events* events) {
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
        events->push_back("cancelled");
        throw;
    }
    events->push_back("finished");
}

Coro<int> run_job(EventLoop* loop) {
    co_return co_await loop->run_in_executor([] { return 6 * 7; }, "answer");
}

Coro<void> shutdown_executor(EventLoop* loop) {
    co_await loop->shutdown_default_executor();
}

Coro<void> busy_task(Duration how_long) {
    co_await yield_now();
    sim::busy(how_long);
}

ExceptionContext message_only(std::string message) {
    ExceptionContext context;
    context.message = std::move(message);
    return context;
}

struct EnvironmentVariable {
    explicit EnvironmentVariable(const char* name) : name_(name) {
        if (const char* value = std::getenv(name))
            saved_ = value;
    }
    ~EnvironmentVariable() {
        if (saved_) {
            setenv(name_, saved_->c_str(), 1);
        } else {
            unsetenv(name_);
        }
    }
    EnvironmentVariable(const EnvironmentVariable&) = delete;
    EnvironmentVariable& operator=(const EnvironmentVariable&) = delete;
    const char* name_;
    std::optional<std::string> saved_;
};

}  // namespace

TEST_SUITE_BEGIN("sim-only");

// ---- callbacks and timers ----------------------------------------------------------------------

LOOP_TEST_CASE("loop: call_soon callbacks run in FIFO order") {
    TestLoop<LoopKind> s;
    Events events;
    for (int i = 1; i <= 5; ++i)
        s.loop.call_soon([&events, i] { events.push_back(std::to_string(i)); });
    s.loop.call_soon([&s] { s.loop.stop(); });
    s.loop.run_forever();
    CHECK(joined(events) == joined({"1", "2", "3", "4", "5"}));
}

LOOP_TEST_CASE("loop: callbacks scheduled during a pass run in the next pass") {
    TestLoop<LoopKind> s;
    Events events;
    s.loop.call_soon([&] {
        events.push_back("a");
        s.loop.call_soon([&events] { events.push_back("scheduled by a"); });
        s.loop.stop();
    });
    s.loop.call_soon([&events] { events.push_back("b"); });
    s.loop.run_forever();
    CHECK(joined(events) == joined({"a", "b"}));
    s.loop.call_soon([&s] { s.loop.stop(); });
    s.loop.run_forever();
    CHECK(joined(events) == joined({"a", "b", "scheduled by a"}));
}

LOOP_TEST_CASE("loop: call_soon_threadsafe on the loop's own thread keeps its place in the queue") {
    // As asyncio: on the loop thread it appends to the ready queue at once, between the
    // call_soon()s made before and after it (found by the differential campaign against CPython:
    // the async-generator finalizer hook goes through it).
    TestLoop<LoopKind> s;
    Events events;
    s.loop.call_soon([&] {
        s.loop.call_soon([&events] { events.push_back("x"); });
        s.loop.call_soon_threadsafe([&events] { events.push_back("y"); });
        s.loop.call_soon([&events] { events.push_back("z"); });
        s.loop.call_soon([&s] { s.loop.stop(); });
    });
    s.loop.run_forever();
    CHECK(joined(events) == joined({"x", "y", "z"}));
}

TEST_CASE("loop: timers fire in deadline order at exactly their virtual time") {
    Sim s;
    Events events;
    auto record = [&events, &s](std::string name) {
        return [&events, &s, name] { events.push_back(name + " at " + ms(s.loop.time())); };
    };
    TimerHandle late = s.loop.call_later(3s, record("3s"));
    s.loop.call_later(1s, record("1s"));
    s.loop.call_at(1500ms, record("1.5s"));
    s.loop.call_later(2s, record("2s"));
    CHECK(late.when() == 3s);
    CHECK(s.loop.time() == 0s);
    s.loop.run_until_complete(sleep(5s));
    CHECK(joined(events) ==
          joined({"1s at 1000ms", "1.5s at 1500ms", "2s at 2000ms", "3s at 3000ms"}));
}

TEST_CASE("loop: call_later with a delay <= 0 runs at the next pass without moving time") {
    Sim s;
    Events events;
    s.loop.call_later(0s, [&] { events.push_back("zero at " + ms(s.loop.time())); });
    s.loop.call_later(-5s, [&] { events.push_back("negative at " + ms(s.loop.time())); });
    s.loop.run_until_complete(sleep(1ms));
    CHECK(events.size() == 2);
    CHECK(std::count(events.begin(), events.end(), "zero at 0ms") == 1);
    CHECK(std::count(events.begin(), events.end(), "negative at 0ms") == 1);
}

LOOP_TEST_CASE("loop: cancelled handles and timers never run") {
    TestLoop<LoopKind> s;
    Events events;
    Handle soon = s.loop.call_soon([&events] { events.push_back("soon"); });
    TimerHandle timer = s.loop.call_later(1ms, [&events] { events.push_back("timer"); });
    s.loop.call_later(2ms, [&events] { events.push_back("kept"); });
    CHECK_FALSE(soon.cancelled());
    soon.cancel();
    timer.cancel();
    timer.cancel();
    CHECK(soon.cancelled());
    CHECK(timer.cancelled());
    s.loop.run_until_complete(sleep(3ms));
    CHECK(joined(events) == joined({"kept"}));
}

LOOP_TEST_CASE("loop: a timer can be cancelled by a callback that runs just before it") {
    TestLoop<LoopKind> s;
    Events events;
    TimerHandle victim = s.loop.call_later(2ms, [&events] { events.push_back("victim"); });
    s.loop.call_later(1ms, [&events, victim]() mutable {
        events.push_back("canceller");
        victim.cancel();
    });
    s.loop.run_until_complete(sleep(3ms));
    CHECK(joined(events) == joined({"canceller"}));
}

LOOP_TEST_CASE("loop: call_soon_threadsafe from another thread schedules the callback") {
    TestLoop<LoopKind> s;
    Events events;
    s.loop.call_soon([&] {
        std::thread worker(
            [&] { s.loop.call_soon_threadsafe([&events] { events.push_back("from thread"); }); });
        worker.join();
        events.push_back("joined");
    });
    s.loop.run_until_complete(sleep(1ms));
    CHECK(joined(events) == joined({"joined", "from thread"}));
}

LOOP_TEST_CASE("loop: time starts at zero and get_running_loop() is the loop only while it runs") {
    TestLoop<LoopKind> s;
    if constexpr (LoopKind::is_sim)
        CHECK(s.loop.time() == 0s);  // the real loop's time is CLOCK_MONOTONIC
    CHECK_THROWS_WITH_AS(get_running_loop(), "no running event loop", RuntimeError);
    EventLoop* seen = nullptr;
    s.loop.call_soon([&seen] { seen = &get_running_loop(); });
    s.loop.run_until_complete(sleep(1ms));
    CHECK(seen == &s.loop);
    CHECK_FALSE(s.loop.is_running());
}

// ---- running and closing -------------------------------------------------------------------

LOOP_TEST_CASE(
    "loop: run_until_complete inside the running loop raises 'This event loop is already "
    "running'") {
    TestLoop<LoopKind> s;
    CHECK(s.loop.run_until_complete(run_nested(&s.loop)) == "This event loop is already running");
}

LOOP_TEST_CASE(
    "loop: running a second loop inside a running one raises 'Cannot run the event loop while "
    "another "
    "loop is running'") {
    TestLoop<LoopKind> outer;
    TestLoop<LoopKind> inner;
    CHECK(outer.loop.run_until_complete(run_nested(&inner.loop)) ==
          "Cannot run the event loop while another loop is running");
    CHECK(inner.loop.run_until_complete(value_after(1ms, 2)) == 2);
}

LOOP_TEST_CASE("loop: a closed loop refuses to run or schedule: 'Event loop is closed'") {
    TestLoop<LoopKind> s;
    auto future = s.loop.template create_future<int>();
    s.loop.close();
    CHECK(s.loop.is_closed());
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(value_after(1s, 1)), "Event loop is closed",
                         RuntimeError);
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(future), "Event loop is closed", RuntimeError);
    CHECK_THROWS_WITH_AS(s.loop.run_forever(), "Event loop is closed", RuntimeError);
    CHECK_THROWS_WITH_AS(s.loop.call_soon([] {}), "Event loop is closed", RuntimeError);
    CHECK_THROWS_WITH_AS(s.loop.call_later(1s, [] {}), "Event loop is closed", RuntimeError);
    CHECK_THROWS_WITH_AS(s.loop.call_soon_threadsafe([] {}), "Event loop is closed", RuntimeError);
    CHECK_THROWS_WITH_AS(s.loop.create_task(value_after(1s, 1)), "Event loop is closed",
                         RuntimeError);
}

LOOP_TEST_CASE(
    "loop: a main task stopped before it finished: 'Event loop stopped before Future completed.'") {
    TestLoop<LoopKind> s;
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(stop_then_sleep()),
                         "Event loop stopped before Future completed.", RuntimeError);
    CHECK_FALSE(s.loop.is_running());
    s.loop.close();
    // run_until_complete made that task itself: it is not reported as destroyed while pending.
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE("loop: run_until_complete of a future returns its value") {
    TestLoop<LoopKind> s;
    auto future = s.loop.template create_future<std::string>();
    s.loop.call_later(2ms, [future]() mutable { future.set_result("resolved"); });
    CHECK(s.loop.run_until_complete(future) == "resolved");
    if constexpr (LoopKind::is_sim)
        CHECK(s.loop.time() == 2ms);
}

LOOP_TEST_CASE("loop: close() of a running loop raises 'Cannot close a running event loop'") {
    TestLoop<LoopKind> s;
    CHECK(s.loop.run_until_complete(close_while_running()) == "Cannot close a running event loop");
    CHECK_FALSE(s.loop.is_closed());
}

LOOP_TEST_CASE("loop: a second close() does nothing") {
    TestLoop<LoopKind> s;
    Task<void> pending = s.loop.create_task(record_cancellation(nullptr));
    s.loop.close();
    CHECK(s.errors.count("Task was destroyed but it is pending!") == 1);
    s.loop.close();
    CHECK(s.loop.is_closed());
    CHECK(s.errors.contexts.size() == 1);
}

LOOP_TEST_CASE("loop: close() does not cancel pending tasks") {
    TestLoop<LoopKind> s;
    Events events;
    Task<void> task = s.loop.create_task(record_cancellation(&events));
    s.loop.run_until_complete(sleep(1ms));
    s.loop.close();
    CHECK(events.empty());
    CHECK_FALSE(task.done());
    CHECK_FALSE(task.cancelled());
    CHECK(task.cancelling() == 0);
}

LOOP_TEST_CASE(
    "loop: stop() ends run_forever after the current pass; run_forever can be called again") {
    TestLoop<LoopKind> s;
    Events events;
    s.loop.call_later(1ms, [&] {
        events.push_back("stopping");
        s.loop.stop();
        // Scheduled from here (due 1ms later), so that even a late real timer cannot run it in
        // this pass.
        s.loop.call_later(1ms, [&] {
            events.push_back("second run");
            s.loop.stop();
        });
    });
    s.loop.run_forever();
    CHECK(joined(events) == joined({"stopping"}));
    if constexpr (LoopKind::is_sim)
        CHECK(s.loop.time() == 1ms);
    s.loop.run_forever();
    CHECK(joined(events) == joined({"stopping", "second run"}));
}

// ---- executor ----------------------------------------------------------------------------------

LOOP_TEST_CASE(
    "loop: run_in_executor after shutdown_default_executor raises 'Executor shutdown has been "
    "called'") {
    TestLoop<LoopKind> s;
    CHECK(s.loop.run_until_complete(run_job(&s.loop)) == 42);
    s.loop.run_until_complete(shutdown_executor(&s.loop));
    CHECK_THROWS_WITH_AS(s.loop.run_in_executor([] { return 1; }),
                         "Executor shutdown has been called", RuntimeError);
}

LOOP_TEST_CASE(
    "loop: run_in_executor is refused after shutdown_default_executor even if no job ever ran") {
    TestLoop<LoopKind> s;
    s.loop.run_until_complete(shutdown_executor(&s.loop));
    CHECK_THROWS_WITH_AS(s.loop.run_in_executor([] {}), "Executor shutdown has been called",
                         RuntimeError);
}

// ---- the exception handler -----------------------------------------------------------------

LOOP_TEST_CASE(
    "loop: an exception in a callback is reported as 'Exception in callback ...' and the loop goes "
    "on") {
    TestLoop<LoopKind> s;
    Events events;
    s.loop.call_soon([] { throw ValueError("callback failed"); });
    s.loop.call_soon([&events] { events.push_back("next callback ran"); });
    s.loop.run_until_complete(sleep(1ms));
    CHECK(joined(events) == joined({"next callback ran"}));
    REQUIRE(s.errors.contexts.size() == 1);
    const ExceptionContext& context = s.errors.contexts[0];
    CHECK(context.message.find("Exception in callback ") == 0);
    CHECK(context.message.find("test_event_loop.cpp:") != std::string::npos);
    CHECK(context.keys() == std::set<std::string>{"message", "exception", "handle"});
    CHECK_THROWS_WITH_AS(std::rethrow_exception(context.exception), "callback failed", ValueError);
}

LOOP_TEST_CASE(
    "debug: an exception in a callback is reported with where the callback was scheduled") {
    TestLoop<LoopKind> s;
    s.loop.set_debug(true);
    s.loop.call_soon([] { throw ValueError("callback failed"); });
    s.loop.run_until_complete(sleep(1ms));
    REQUIRE(s.errors.contexts.size() == 1);
    const ExceptionContext& context = s.errors.contexts[0];
    CHECK(context.keys() ==
          std::set<std::string>{"message", "exception", "handle", "source_traceback"});
    CHECK(context.format().find("Object created at (most recent call last):") != std::string::npos);
}

LOOP_TEST_CASE("loop: KeyboardInterrupt in a callback escapes the loop") {
    TestLoop<LoopKind> s;
    s.loop.call_later(1ms, [] { throw KeyboardInterrupt(); });
    CHECK_THROWS_AS(s.loop.run_until_complete(sleep(5s)), KeyboardInterrupt);
    if constexpr (LoopKind::is_sim)
        CHECK(s.loop.time() == 1ms);
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "loop: the default exception handler logs the message, the other fields sorted, then the "
    "exception") {
    TestLoop<LoopKind> s(false);
    ExceptionContext context;
    context.message = "Something broke";
    context.exception = std::make_exception_ptr(ValueError("bad value"));
    context.details["zeta"] = "last";
    context.details["alpha"] = "first";
    context.details["middle"] = "between";
    s.loop.call_exception_handler(context);
    REQUIRE(s.log.lines.size() == 1);
    CHECK(s.log.lines[0].first == LogLevel::error);
    CHECK(s.log.lines[0].second ==
          "Something broke\nalpha: first\nmiddle: between\nzeta: last\nValueError: bad value");
}

LOOP_TEST_CASE(
    "loop: the default handler names a missing message and sorts 'task' among the fields") {
    TestLoop<LoopKind> s(false);
    Task<int> task = s.loop.create_task(value_after(1ms, 1), {.name = "reported"});
    ExceptionContext context;
    context.task = task;
    context.details["zzz"] = "z";
    context.details["aaa"] = "a";
    s.loop.call_exception_handler(context);
    REQUIRE(s.log.lines.size() == 1);
    const std::string& line = s.log.lines[0].second;
    CHECK(line.find(
              "Unhandled exception in event loop\naaa: a\ntask: <Task pending name='reported'") ==
          0);
    CHECK(line.find(">\nzzz: z") != std::string::npos);
    CHECK(line.rfind("zzz: z") == line.size() - 6);
    CHECK(s.loop.run_until_complete(task) == 1);
}

LOOP_TEST_CASE(
    "loop: a custom exception handler receives the context; an empty handler restores the "
    "default") {
    TestLoop<LoopKind> s(false);
    std::vector<std::string> seen;
    EventLoop* loop_seen = nullptr;
    s.loop.set_exception_handler([&](EventLoop& loop, const ExceptionContext& context) {
        loop_seen = &loop;
        seen.push_back(context.message);
    });
    s.loop.call_exception_handler(message_only("to the custom handler"));
    CHECK(seen == std::vector<std::string>{"to the custom handler"});
    CHECK(loop_seen == &s.loop);
    CHECK(s.log.lines.empty());
    s.loop.set_exception_handler({});
    s.loop.call_exception_handler(message_only("to the default handler"));
    CHECK(seen.size() == 1);
    CHECK(s.log.count("to the default handler") == 1);
}

LOOP_TEST_CASE(
    "loop: a custom handler that throws is reported as 'Unhandled error in exception handler'") {
    TestLoop<LoopKind> s(false);
    s.loop.set_exception_handler([](EventLoop&, const ExceptionContext&) {
        throw RuntimeError("the handler itself failed");
    });
    s.loop.call_exception_handler(message_only("original problem"));
    REQUIRE(s.log.lines.size() == 1);
    const std::string& line = s.log.lines[0].second;
    CHECK(line.find("Unhandled error in exception handler\n") == 0);
    CHECK(line.find("context: ") != std::string::npos);
    CHECK(line.find("original problem") != std::string::npos);
    CHECK(line.find("RuntimeError: the handler itself failed") != std::string::npos);
}

LOOP_TEST_CASE("loop: KeyboardInterrupt from a custom handler propagates") {
    TestLoop<LoopKind> s(false);
    s.loop.set_exception_handler(
        [](EventLoop&, const ExceptionContext&) { throw KeyboardInterrupt(); });
    CHECK_THROWS_AS(s.loop.call_exception_handler(message_only("x")), KeyboardInterrupt);
}

// ---- debug mode ----------------------------------------------------------------------------

TEST_CASE("debug: a slow callback is logged as 'Executing <Handle ...> took 0.151 seconds'") {
    Sim s;
    s.loop.set_debug(true);
    s.loop.call_soon([] { sim::busy(151ms); });
    s.loop.run_until_complete(sleep(1s));
    CHECK(s.log.count("Executing <Handle test_event_loop.cpp:") == 1);
    CHECK(s.log.count(" took 0.151 seconds") == 1);
    bool warning = false;
    for (const auto& [level, line] : s.log.lines) {
        if (line.find("took 0.151 seconds") != std::string::npos)
            warning = level == LogLevel::warning;
    }
    CHECK(warning);
}

TEST_CASE("debug: a slow task step is logged with the task") {
    Sim s;
    s.loop.set_debug(true);
    Task<void> task = s.loop.create_task(busy_task(250ms), {.name = "slow-task"});
    s.loop.run_until_complete(task);
    CHECK(s.log.count("Executing <Task ") == 1);
    CHECK(s.log.count("name='slow-task'") == 1);
    CHECK(s.log.count("took 0.250 seconds") == 1);
}

TEST_CASE(
    "debug: callbacks under the threshold, or any callback without debug mode, are not logged") {
    Sim quick;
    quick.loop.set_debug(true);
    quick.loop.call_soon([] { sim::busy(99ms); });
    quick.loop.run_until_complete(sleep(1s));
    CHECK_FALSE(quick.log.contains("Executing"));

    Sim normal;
    normal.loop.set_debug(false);
    normal.loop.call_soon([] { sim::busy(500ms); });
    normal.loop.run_until_complete(sleep(1s));
    CHECK_FALSE(normal.log.contains("Executing"));
}

TEST_CASE("debug: the slow-callback threshold is adjustable") {
    Sim s;
    s.loop.set_debug(true);
    CHECK(s.loop.slow_callback_duration() == 100ms);
    s.loop.set_slow_callback_duration(50ms);
    s.loop.call_soon([] { sim::busy(60ms); });
    s.loop.run_until_complete(sleep(1s));
    CHECK(s.log.count("took 0.060 seconds") == 1);
}

LOOP_TEST_CASE(
    "debug: call_soon / call_later from another thread while the loop runs raise RuntimeError") {
    TestLoop<LoopKind> s;
    s.loop.set_debug(true);
    std::string soon_error;
    std::string later_error;
    bool threadsafe_ok = false;
    s.loop.call_soon([&] {
        std::thread other([&] {
            try {
                s.loop.call_soon([] {});
            } catch (const RuntimeError& e) {
                soon_error = e.what();
            }
            try {
                s.loop.call_later(1s, [] {});
            } catch (const RuntimeError& e) {
                later_error = e.what();
            }
            s.loop.call_soon_threadsafe([&threadsafe_ok] { threadsafe_ok = true; });
        });
        other.join();
    });
    s.loop.run_until_complete(sleep(1ms));
    CHECK(soon_error ==
          "Non-thread-safe operation invoked on an event loop other than the current one");
    CHECK(later_error ==
          "Non-thread-safe operation invoked on an event loop other than the current one");
    CHECK(threadsafe_ok);
}

LOOP_TEST_CASE("debug: set_debug switches debug mode; SIMRUN_DEBUG (non-empty) gives the default") {
    EnvironmentVariable guard("SIMRUN_DEBUG");
    auto new_loop_debug = [] {
        std::shared_ptr<EventLoop> loop = LoopKind::make();
        loop->set_log_handler([](LogLevel, const std::string&) {});
        bool debug = loop->get_debug();
        loop->close();
        return debug;
    };
    unsetenv("SIMRUN_DEBUG");
    CHECK_FALSE(debug_mode_from_environment());
    CHECK_FALSE(new_loop_debug());
    setenv("SIMRUN_DEBUG", "", 1);
    CHECK_FALSE(new_loop_debug());
    setenv("SIMRUN_DEBUG", "1", 1);
    CHECK(debug_mode_from_environment());
    CHECK(new_loop_debug());
    setenv("SIMRUN_DEBUG", "0", 1);  // any non-empty value, as PYTHONASYNCIODEBUG
    std::shared_ptr<EventLoop> loop = LoopKind::make();
    loop->set_log_handler([](LogLevel, const std::string&) {});
    CHECK(loop->get_debug());
    loop->set_debug(false);
    CHECK_FALSE(loop->get_debug());
    loop->close();
}

TEST_SUITE_END();
