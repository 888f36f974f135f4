// Misuse of the core gives a clear error, never a crash, a hang or undefined behaviour: reusing a
// Coro, huge and negative durations, the unqualified sleep(1) next to POSIX ::sleep, loop-only
// calls from other threads (debug mode). On both loops where the loop does not matter.
#include <unistd.h>  // POSIX ::sleep(unsigned): the unqualified sleep() checks need it visible

#include <algorithm>
#include <concepts>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "loop_timing.hpp"
#include "support.hpp"

using namespace simrun;
using test_support::at_now;
using test_support::elapsed_is;
using test_support::joined;
using test_support::LoopRecorder;
using test_support::Sim;
using test_support::TestLoop;
using test_support::thrown;

namespace {

using Events = std::vector<std::string>;

// ---- sleep(1) under `using namespace simrun;` with <unistd.h> included -----------------------

/// True if `sleep(a)`, written unqualified here (where both simrun::sleep and POSIX ::sleep are
/// visible), compiles.
template <class A>
concept unqualified_sleep_compiles = requires(A a) {
    sleep(a);
};
/// True if it compiles and is simrun's sleep (an awaitable Coro<void>, not POSIX's unsigned).
template <class A>
concept unqualified_sleep_is_simrun = requires(A a) {
    { sleep(a) } -> std::same_as<Coro<void>>;
};

static_assert(std::same_as<decltype(sleep(1)), Coro<void>>, "sleep(1) must be simrun::sleep");
static_assert(std::same_as<decltype(sleep(0.5)), Coro<void>>, "sleep(0.5) must be simrun::sleep");
static_assert(std::same_as<decltype(sleep(0)), Coro<void>>, "sleep(0) must be simrun::sleep");
static_assert(unqualified_sleep_is_simrun<int>);
static_assert(unqualified_sleep_is_simrun<long>);
static_assert(unqualified_sleep_is_simrun<long long>);
static_assert(unqualified_sleep_is_simrun<short>);
static_assert(unqualified_sleep_is_simrun<unsigned short>);
static_assert(unqualified_sleep_is_simrun<unsigned long>);
static_assert(unqualified_sleep_is_simrun<float>);
static_assert(unqualified_sleep_is_simrun<double>);
static_assert(unqualified_sleep_is_simrun<std::chrono::seconds>);
static_assert(unqualified_sleep_is_simrun<std::chrono::milliseconds>);
static_assert(unqualified_sleep_is_simrun<Duration>);
// `sleep(1u)` is an exact match for POSIX ::sleep(unsigned): it must not compile (ambiguous)
// rather than silently block the loop for a second.
static_assert(!unqualified_sleep_compiles<unsigned>);
// Qualified, it is simrun's.
static_assert(std::same_as<decltype(simrun::sleep(1u)), Coro<void>>);
static_assert(std::same_as<decltype(::sleep(1u)), unsigned>);  // POSIX is still reachable
// bool is not a number of seconds.
static_assert(!unqualified_sleep_is_simrun<bool>);

Coro<std::string> unqualified_sleeps() {
    const Duration start = get_running_loop().time();
    co_await sleep(1);  // simrun::sleep(int): one second of loop time
    std::string text = "after sleep(1): " + at_now();
    co_await sleep(0.25);
    text += ", after sleep(0.25): " + at_now();
    co_await sleep(0);
    text += ", after sleep(0): " + at_now();
    int value = co_await sleep(2, 7);
    text += ", sleep(2, 7) gave " + std::to_string(value) + " at " + at_now();
    (void)start;
    co_return text;
}

// ---- Coro reuse -----------------------------------------------------------------------------

Coro<int> forty_two() {
    co_await sleep(1ms);
    co_return 42;
}

Coro<std::string> await_twice() {
    Coro<int> child = forty_two();
    int first = co_await std::move(child);
    try {
        co_await std::move(child);
    } catch (const RuntimeError& e) {
        co_return std::to_string(first) + ", then: " + e.what();
    }
    co_return "second await did not throw";
}

Coro<void> await_held(std::shared_ptr<Coro<int>> held, std::shared_ptr<int> result) {
    *result = co_await std::move(*held);
}

Coro<std::string> await_held_describing(std::shared_ptr<Coro<int>> held) {
    try {
        co_await std::move(*held);
    } catch (const RuntimeError& e) {
        co_return e.what();
    }
    co_return "no error";
}

Coro<std::string> create_task_of_held(std::shared_ptr<Coro<int>> held) {
    try {
        create_task(std::move(*held));
    } catch (const RuntimeError& e) {
        co_return e.what();
    }
    co_return "no error";
}

Coro<int> value_when_set(Event* event, int value) {
    co_await event->wait();
    co_return value;
}

Coro<std::string> await_empty() {
    Coro<int> empty;
    try {
        co_await std::move(empty);
    } catch (const RuntimeError& e) {
        co_return e.what();
    }
    co_return "no error";
}

// ---- huge durations -------------------------------------------------------------------------

Coro<void> sleep_for(Duration delay, Events* events, std::string name) {
    try {
        co_await sleep(delay);
    } catch (const CancelledError&) {
        events->push_back(name + " cancelled at " + at_now());
        throw;
    }
    events->push_back(name + " woke at " + at_now());
}

Coro<void> sleep_seconds(double seconds, Events* events, std::string name) {
    try {
        co_await sleep(seconds);
    } catch (const CancelledError&) {
        events->push_back(name + " cancelled at " + at_now());
        throw;
    }
    events->push_back(name + " woke at " + at_now());
}

Coro<void> sleep_hours_max(Events* events) {
    try {
        co_await sleep(std::chrono::hours::max());
    } catch (const CancelledError&) {
        events->push_back("hours::max() cancelled at " + at_now());
        throw;
    }
    events->push_back("hours::max() woke at " + at_now());
}

/// Starts `sleeper`, lets a 3 ms timer fire, then cancels the sleeper.
template <class Sleeper>
Coro<void> cancel_after_a_timer(Sleeper sleeper, Events* events) {
    Task<void> task = create_task(std::move(sleeper));
    get_running_loop().call_later(1ms, [events] { events->push_back("timer at " + at_now()); });
    co_await sleep(3ms);
    events->push_back("main at " + at_now());
    task.cancel();
    try {
        co_await task;
    } catch (const CancelledError&) {
    }
}

Coro<std::string> yields_like_sleep_zero(Duration delay) {
    // sleep(delay) with delay <= 0 lets the other ready callbacks run once, as sleep(0).
    std::string order;
    get_running_loop().call_soon([&order] { order += "callback "; });
    co_await sleep(delay);
    order += "sleeper at " + at_now();
    co_return order;
}

Coro<std::string> seconds_nan() {
    try {
        co_await sleep(std::numeric_limits<double>::quiet_NaN());
    } catch (const ValueError& e) {
        co_return e.what();
    }
    co_return "no error";
}

}  // namespace

// ---- sleep() overloads ----------------------------------------------------------------------

TEST_CASE(
    "misuse: unqualified sleep(1), sleep(0.25), sleep(2, value) are simrun's sleep in "
    "seconds" *
    doctest::test_suite("sim-only")) {
    Sim s;
    CHECK(s.loop.run_until_complete(unqualified_sleeps()) ==
          "after sleep(1): 1000ms, after sleep(0.25): 1250ms, after sleep(0): 1250ms, sleep(2, "
          "7) gave 7 at 3250ms");
}

LOOP_TEST_CASE("misuse: sleep(NaN seconds) raises ValueError") {
    TestLoop<LoopKind> s;
    CHECK(s.loop.run_until_complete(seconds_nan()) == "Invalid delay: NaN (not a number)");
}

TEST_CASE("misuse: saturating time arithmetic" * doctest::test_suite("loop-free")) {
    constexpr Duration max = Duration::max();
    constexpr Duration min = Duration::min();
    static_assert(saturating_add(max - 1s, 2s) == max);
    static_assert(saturating_add(5s, max) == max);
    static_assert(saturating_add(-5s, min) == min);
    static_assert(saturating_add(min + 1s, -2s) == min);
    static_assert(saturating_add(5s, -2s) == 3s);
    static_assert(saturating_add(max, min) == Duration(-1));
    static_assert(saturating_duration(std::chrono::hours::max()) == max);
    static_assert(saturating_duration(std::chrono::hours::min()) == min);
    static_assert(saturating_duration(std::chrono::seconds(3)) == 3s);
    static_assert(saturating_duration(std::chrono::duration<double>(0.5)) == 500ms);
    static_assert(saturating_duration(std::chrono::duration<double>(1e300)) == max);
    static_assert(saturating_duration(std::chrono::duration<double>(-1e300)) == min);
    static_assert(saturating_duration(std::chrono::duration<long, std::ratio<1, 3>>(3)) == 1s);
    static_assert(seconds_to_duration(std::numeric_limits<unsigned long long>::max()) == max);
    static_assert(seconds_to_duration(std::numeric_limits<long long>::min()) == min);
    static_assert(seconds_to_duration(2) == 2s);
    static_assert(seconds_to_duration(9'223'372'036LL) == 9'223'372'036s);
    static_assert(seconds_to_duration(9'223'372'037LL) == max);
    CHECK(seconds_to_duration(std::numeric_limits<double>::infinity()) == max);
    CHECK(seconds_to_duration(-std::numeric_limits<double>::infinity()) == min);
    CHECK(seconds_to_duration(std::numeric_limits<double>::quiet_NaN()) == Duration::zero());
}

// ---- Coro reuse -----------------------------------------------------------------------------

LOOP_TEST_CASE(
    "misuse: awaiting a Coro a second time raises 'cannot reuse already awaited "
    "coroutine'") {
    TestLoop<LoopKind> s;
    const std::int64_t frames = detail::live_coroutine_frames();
    CHECK(s.loop.run_until_complete(await_twice()) ==
          "42, then: cannot reuse already awaited coroutine");
    CHECK(detail::live_coroutine_frames() == frames);
}

LOOP_TEST_CASE(
    "misuse: create_task, run_until_complete and run() of an awaited Coro raise "
    "RuntimeError") {
    const std::int64_t frames = detail::live_coroutine_frames();
    {
        TestLoop<LoopKind> s;
        auto held = std::make_shared<Coro<int>>(forty_two());
        auto result = std::make_shared<int>(0);
        s.loop.run_until_complete(await_held(held, result));
        CHECK(*result == 42);
        CHECK(held->done());
        CHECK(s.loop.run_until_complete(await_held_describing(held)) ==
              "cannot reuse already awaited coroutine");
        CHECK(s.loop.run_until_complete(create_task_of_held(held)) ==
              "cannot reuse already awaited coroutine");
        // create_task() took it (its Coro parameter) and refused it: the finished frame is gone.
        CHECK_FALSE(static_cast<bool>(*held));

        auto again = std::make_shared<Coro<int>>(forty_two());
        s.loop.run_until_complete(await_held(again, result));
        auto error = thrown<RuntimeError>([&] { s.loop.run_until_complete(std::move(*again)); });
        REQUIRE(error);
        CHECK(std::string(error->what()) == "cannot reuse already awaited coroutine");
        CHECK(s.loop.all_tasks().empty());

        auto third = std::make_shared<Coro<int>>(forty_two());
        s.loop.run_until_complete(await_held(third, result));
        LoopRecorder<LoopKind> loops;
        auto run_error = thrown<RuntimeError>(
            [&] { simrun::run(std::move(*third), {.loop_factory = loops.factory()}); });
        REQUIRE(run_error);
        CHECK(std::string(run_error->what()) == "cannot reuse already awaited coroutine");
        CHECK(loops.last().is_closed());
    }
    CHECK(detail::live_coroutine_frames() == frames);
}

LOOP_TEST_CASE(
    "misuse: a Coro suspended in another task's await cannot be awaited or scheduled "
    "again, and keeps running there") {
    const std::int64_t frames = detail::live_coroutine_frames();
    {
        TestLoop<LoopKind> s;
        Event event;
        auto held = std::make_shared<Coro<int>>(value_when_set(&event, 7));
        auto result = std::make_shared<int>(0);
        Task<void> first = s.loop.create_task(await_held(held, result));
        s.loop.run_until_complete(sleep(Duration::zero()));  // `first` is inside the Coro now
        CHECK(s.loop.run_until_complete(await_held_describing(held)) ==
              "coroutine is being awaited already");
        // create_task() takes the Coro out of `held` and refuses it; the frame is still in use by
        // `first`, so it is not destroyed: `first`'s await destroys it when it ends.
        CHECK(s.loop.run_until_complete(create_task_of_held(held)) ==
              "coroutine is being awaited already");
        CHECK_FALSE(static_cast<bool>(*held));
        CHECK(detail::live_coroutine_frames() > frames);
        event.set();
        s.loop.run_until_complete(first);
        CHECK(*result == 7);
        CHECK(s.errors.contexts.empty());
    }
    CHECK(detail::live_coroutine_frames() == frames);
}

LOOP_TEST_CASE(
    "misuse: a Coro whose owner is destroyed while another task runs it finishes "
    "there") {
    const std::int64_t frames = detail::live_coroutine_frames();
    {
        TestLoop<LoopKind> s;
        Event event;
        auto held = std::make_shared<Coro<int>>(value_when_set(&event, 9));
        auto result = std::make_shared<int>(0);
        Task<void> first = s.loop.create_task(await_held(held, result));
        s.loop.run_until_complete(sleep(Duration::zero()));
        *held = Coro<int>();  // the owner lets go while `first` is suspended inside
        event.set();
        s.loop.run_until_complete(first);
        CHECK(*result == 9);
    }
    CHECK(detail::live_coroutine_frames() == frames);
}

LOOP_TEST_CASE("misuse: awaiting an empty Coro raises RuntimeError") {
    TestLoop<LoopKind> s;
    CHECK(s.loop.run_until_complete(await_empty()) ==
          "cannot await an empty Coro (it was moved from, e.g. into create_task(), or "
          "default-constructed)");
}

// ---- huge and negative durations ------------------------------------------------------------

LOOP_TEST_CASE("misuse: sleep(Duration::max()) waits until cancelled; other timers still fire") {
    TestLoop<LoopKind> s;
    Events events;
    const Duration start = s.loop.time();
    s.loop.run_until_complete(
        cancel_after_a_timer(sleep_for(Duration::max(), &events, "sleeper"), &events));
    CHECK(test_support::timed<LoopKind>(joined(events)) ==
          test_support::timed<LoopKind>("timer at 1ms | main at 3ms | sleeper cancelled at 3ms"));
    CHECK(elapsed_is<LoopKind>(s.loop, start, 3ms));
}

LOOP_TEST_CASE("misuse: sleep of infinite, 1e300 seconds or hours::max() waits until cancelled") {
    TestLoop<LoopKind> s;
    Events events;
    s.loop.run_until_complete(cancel_after_a_timer(
        sleep_seconds(std::numeric_limits<double>::infinity(), &events, "inf"), &events));
    s.loop.run_until_complete(
        cancel_after_a_timer(sleep_seconds(1e300, &events, "1e300"), &events));
    s.loop.run_until_complete(cancel_after_a_timer(sleep_hours_max(&events), &events));
    CHECK(events.size() == 9);
    CHECK(events[2].find("inf cancelled") == 0);
    CHECK(events[5].find("1e300 cancelled") == 0);
    CHECK(events[8].find("hours::max() cancelled") == 0);
}

LOOP_TEST_CASE("misuse: a sleep of Duration::min() or -1e300 seconds is sleep(0)") {
    TestLoop<LoopKind> s;
    const std::string expected = LoopKind::is_sim ? "callback sleeper at 0ms" : "callback sleeper";
    auto strip = [](std::string text) { return test_support::timed<LoopKind>(text); };
    CHECK(strip(s.loop.run_until_complete(yields_like_sleep_zero(Duration::min()))) == expected);
    CHECK(strip(s.loop.run_until_complete(yields_like_sleep_zero(-1h))) == expected);
}

LOOP_TEST_CASE(
    "misuse: call_later(Duration::max()) and call_at(Duration::max()) never fire; "
    "huge negative ones are due at once") {
    TestLoop<LoopKind> s;
    s.loop.run_until_complete(sleep(1ms));  // time() > 0 on both loops
    Events events;
    TimerHandle later =
        s.loop.call_later(Duration::max(), [&events] { events.push_back("later max"); });
    TimerHandle at = s.loop.call_at(Duration::max(), [&events] { events.push_back("at max"); });
    TimerHandle almost =
        s.loop.call_later(Duration::max() - 1ns, [&events] { events.push_back("later max-1"); });
    s.loop.call_later(Duration::min(), [&events] { events.push_back("later min"); });
    s.loop.call_at(Duration::min(), [&events] { events.push_back("at min"); });
    s.loop.call_later(-1h, [&events] { events.push_back("later -1h"); });
    CHECK(later.when() == Duration::max());
    CHECK(at.when() == Duration::max());
    CHECK(almost.when() == Duration::max());  // time() + max - 1 saturates: never too
    // A long-past deadline as the only timer while nothing is ready (the wait's timeout is
    // computed from it).
    s.loop.call_later(1ms, [&] {
        s.loop.call_at(Duration::min(), [&events] { events.push_back("at min, from a callback"); });
    });
    s.loop.run_until_complete(sleep(2ms));
    std::sort(events.begin(), events.end());
    CHECK(joined(events) == "at min | at min, from a callback | later -1h | later min");
    later.cancel();
    at.cancel();
    CHECK(later.cancelled());
}

TEST_CASE("misuse: with only a never-firing timer left, the simulator reports a deadlock at once" *
          doctest::test_suite("sim-only")) {
    Sim s;
    s.loop.call_later(Duration::max(), [] {});
    Events events;
    auto error = thrown<sim::DeadlockError>(
        [&] { s.loop.run_until_complete(sleep_for(Duration::max(), &events, "sleeper")); });
    REQUIRE(error);
    CHECK(s.loop.time() == Duration::zero());  // no jump to the end of time
    CHECK(std::string(error->what()).find("deadlock at t=0") == 0);
    CHECK(std::string(error->what()).find("Task-1 awaits sleep") != std::string::npos);
    CHECK(events.empty());
}

TEST_CASE("misuse: a timer due just before the end of time, fired late, saturates the clock" *
          doctest::test_suite("sim-only")) {
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
        Sim s(sim::SimOptions{
            .seed = seed, .max_timer_lateness = 1s, .time_limit = sim::no_time_limit});
        bool fired = false;
        s.loop.call_at(Duration::max() - 1ns, [&s, &fired] {
            fired = true;
            s.loop.stop();
        });
        s.loop.run_forever();
        CHECK(fired);
        CHECK(s.loop.time() >= Duration::max() - 1ns);
        // From there on, every delay saturates to never.
        CHECK(s.loop.call_later(1ns, [] {}).when() == Duration::max());
    }
}

// ---- loop-only operations from another thread, in debug mode --------------------------------

namespace {

Coro<void> forever() {
    co_await sleep(Duration::max());
}

/// From a thread of its own, while the loop runs in debug mode, calls each operation and records
/// what it threw.
Coro<Events> from_another_thread() {
    EventLoop& loop = get_running_loop();
    loop.set_debug(true);
    Task<void> task = loop.create_task(forever());
    Future<int> future = loop.create_future<int>();
    Future<int> failing = loop.create_future<int>();
    Future<int> cancelled = loop.create_future<int>();
    co_await sleep(Duration::zero());
    Task<void> fresh = loop.create_task(forever());  // not started: waits on no future
    Events errors;
    auto attempt = [&errors](const std::string& name, auto operation) {
        try {
            operation();
            errors.push_back(name + ": no error");
        } catch (const RuntimeError& e) {
            errors.push_back(name + ": " + e.what());
        }
    };
    std::thread other([&] {
        attempt("cancel", [&] { task.cancel(); });
        attempt("cancel before the first step", [&] { fresh.cancel(); });
        attempt("create_task", [&] { loop.create_task(forever()); });
        attempt("set_result", [&] { future.set_result(1); });
        attempt("set_exception",
                [&] { failing.set_exception(std::make_exception_ptr(ValueError("x"))); });
        attempt("future cancel", [&] { cancelled.cancel(); });
        attempt("call_at", [&] { loop.call_at(loop.time() + 1s, [] {}); });
    });
    other.join();  // the loop waits for it: nothing runs concurrently
    loop.set_debug(false);
    task.cancel();
    fresh.cancel();
    if (!future.done())
        future.cancel();
    if (!failing.done())
        failing.cancel();
    cancelled.cancel();
    co_return errors;
}

Coro<Events> cancel_through_call_soon_threadsafe() {
    EventLoop& loop = get_running_loop();
    loop.set_debug(true);
    Task<void> task = loop.create_task(forever());
    co_await sleep(Duration::zero());
    std::thread other(
        [&loop, task] { loop.call_soon_threadsafe([task]() mutable { task.cancel(); }); });
    other.join();
    Events events;
    try {
        co_await task;
    } catch (const CancelledError&) {
        events.push_back("cancelled through call_soon_threadsafe");
    }
    co_return events;
}

}  // namespace

LOOP_TEST_CASE(
    "misuse: in debug mode, loop-only operations from another thread raise "
    "RuntimeError") {
    TestLoop<LoopKind> s;
    const std::string message =
        "Non-thread-safe operation invoked on an event loop other than the current one";
    // The refused create_task() destroys its Coro unstarted, on the other thread (no running
    // loop there): its "never awaited" report goes to the default log handler.
    Events reports;
    std::mutex reports_mutex;
    set_default_log_handler([&](LogLevel, const std::string& line) {
        std::lock_guard lock(reports_mutex);
        reports.push_back(line);
    });
    Events errors = s.loop.run_until_complete(from_another_thread());
    set_default_log_handler({});
    CHECK(joined(errors) ==
          joined({"cancel: " + message, "cancel before the first step: " + message,
                  "create_task: " + message, "set_result: " + message, "set_exception: " + message,
                  "future cancel: " + message, "call_at: " + message}));
    REQUIRE(reports.size() == 1);
    CHECK(reports[0].find("coroutine 'forever' was never awaited") != std::string::npos);
}

TEST_CASE("misuse: without a running loop, another thread may schedule (as asyncio)" *
          doctest::test_suite("sim-only")) {
    Sim s;
    s.loop.set_debug(true);
    bool ran = false;
    std::string error;
    std::thread other([&] {
        try {
            s.loop.call_soon([&ran] { ran = true; });
        } catch (const RuntimeError& e) {
            error = e.what();
        }
    });
    other.join();
    s.loop.run_until_complete(sleep(Duration::zero()));
    CHECK(error.empty());
    CHECK(ran);
}

LOOP_TEST_CASE("misuse: cancelling a task through call_soon_threadsafe is the thread-safe way") {
    TestLoop<LoopKind> s;
    CHECK(joined(s.loop.run_until_complete(cancel_through_call_soon_threadsafe())) ==
          "cancelled through call_soon_threadsafe");
}
