// SimLoop's reports: the trace of what ran and when, deadlocks, and livelocks at the run limits
// (docs/semantics.md, "The simulator").
#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "sim_loop_support.hpp"
#include "support.hpp"

// Virtual time, fake signals and fake executors: these tests need the simulator.
TEST_SUITE_BEGIN("sim-only");

using namespace simrun;
using sim_loop_test::sleep_for;
using test_support::contains;
using test_support::thrown;

namespace {

Coro<void> wait_forever(Event* event) {
    co_await event->wait();
}

}  // namespace

// ---- deadlocks ----------------------------------------------------------------------------

TEST_CASE("SimLoop: a main task awaiting an Event nobody sets is reported as a deadlock") {
    sim::SimLoop loop;
    Event never;
    auto error = thrown<sim::DeadlockError>([&] { loop.run_until_complete(wait_forever(&never)); });
    REQUIRE(error);
    CHECK(error->pending_tasks() == std::vector<std::string>{"Task-1 awaits Event.wait"});
    const std::string message = error->what();
    CHECK(contains(message, "deadlock at t=0.000s"));
    CHECK(contains(message, "Pending tasks:\n  Task-1 awaits Event.wait"));
    CHECK(loop.time() == Duration::zero());
    static_assert(
        std::is_base_of_v<RuntimeError, sim::DeadlockError>);  // catch (std::exception&) sees it
    loop.close();
}

namespace {
Coro<void> await_named_child(Event* event) {
    Task<void> child = create_task(wait_forever(event), {.name = "waiter"});
    co_await sleep(2s);
    co_await child;
}
}  // namespace

TEST_CASE("SimLoop: the deadlock report lists every pending task and what it awaits") {
    test_support::HandlerCapture handler;
    sim::SimLoop loop;
    handler.attach(loop);
    Event never;
    auto error =
        thrown<sim::DeadlockError>([&] { loop.run_until_complete(await_named_child(&never)); });
    REQUIRE(error);
    REQUIRE(error->pending_tasks().size() == 2);
    CHECK(error->pending_tasks()[0].rfind("Task-1 awaits ", 0) == 0);
    CHECK(contains(error->pending_tasks()[0], "waiter"));
    CHECK(error->pending_tasks()[1] == "waiter awaits Event.wait");
    const std::string message = error->what();
    CHECK(contains(message, "deadlock at t=2.000s"));
    CHECK(contains(message, "\n  " + error->pending_tasks()[0]));
    CHECK(contains(message, "\n  waiter awaits Event.wait"));
    loop.close();
    CHECK(handler.count("Task was destroyed but it is pending!") == 1);
}

namespace {
Coro<int> await_hung_job() {
    co_return co_await get_running_loop().run_in_executor([] { return 1; }, "hang");
}
}  // namespace

TEST_CASE(
    "SimLoop: a task awaiting an executor job that never finishes is a deadlock naming the job") {
    sim::SimLoop loop(
        {.executor = {.workers = 4,
                      .cost = sim::never_finishes_if_named("hang", sim::fixed_cost(1s))}});
    auto error = thrown<sim::DeadlockError>([&] { loop.run_until_complete(await_hung_job()); });
    REQUIRE(error);
    CHECK(error->pending_tasks() == std::vector<std::string>{"Task-1 awaits executor job hang"});
    CHECK(contains(error->what(), "1 executor job(s) never finish."));
    loop.close();
}

TEST_CASE("SimLoop: pending timers, executor jobs and scheduled signals are not deadlocks") {
    sim::SimLoop loop({.executor = {.workers = 1, .cost = sim::fixed_cost(4s)}});
    CHECK(loop.run_until_complete(await_hung_job()) == 1);  // not named "hang" here: it finishes
    CHECK(loop.time() == 4s);
    loop.close();
}

TEST_CASE(
    "SimLoop: waiting for a future nobody will complete, with no task at all, is a deadlock too") {
    sim::SimLoop loop;
    Future<int> never = loop.create_future<int>();
    auto error = thrown<sim::DeadlockError>([&] { loop.run_until_complete(never); });
    REQUIRE(error);
    CHECK(error->pending_tasks().empty());
    CHECK(contains(error->what(), "No task is pending."));
    loop.close();
}

// ---- the trace ----------------------------------------------------------------------------

TEST_CASE("Trace: records task steps as 'run Task-N (...)' and time jumps, and formats them") {
    sim::SimLoop loop;
    loop.run_until_complete(sleep_for(1250ms));
    const std::string task =
        "Task-1 (sleep_for() from test_sim_loop.cpp:" + std::to_string(__LINE__ - 2) + ")";
    const auto& entries = loop.trace().entries();
    bool ran_task = false;
    bool jumped = false;
    for (const sim::TraceEntry& entry : entries) {
        ran_task = ran_task || (entry.kind == "run" && entry.text == task);
        if (entry.kind == "time" && entry.text == "advance to 1.250s") {
            jumped = true;
            CHECK(entry.time == 1250ms);
            CHECK(entry.step == 1);  // one callback (Task-1's first step) ran before the jump
        }
    }
    CHECK(ran_task);
    CHECK(jumped);
    const std::string text = loop.trace().format();
    CHECK(contains(text, "[t=0.000s #1] run " + task + "\n"));
    CHECK(contains(text, "[t=1.250s #1] time advance to 1.250s\n"));
    // The sleep's timer, then the task.
    CHECK(contains(text, "[t=1.250s #2] call sleep wake-up of " + task + "\n"));
    CHECK(contains(text, "[t=1.250s #3] run " + task + "\n"));
    loop.close();
}

TEST_CASE("Trace: format(first, count) shows only that window, one line per entry") {
    sim::Trace trace;
    for (int i = 0; i < 5; ++i)  // not "e" + ...: a g++ 12 -O3 false -Wstringop-overflow
        trace.add(static_cast<std::uint64_t>(i), std::chrono::seconds(i), "k",
                  std::string("e").append(std::to_string(i)));
    CHECK(trace.format(1, 2) == "[t=1.000s #1] k e1\n[t=2.000s #2] k e2\n");
    CHECK(trace.format(4, 50) == "[t=4.000s #4] k e4\n");
    CHECK(trace.format(9, 3).empty());
    CHECK(sim::format_time(1250ms) == "1.250s");
    CHECK(sim::format_time(std::chrono::hours(10)) == "36000.000s");
}

TEST_CASE("Trace: the digest covers entries beyond trace_limit; note() adds entries") {
    sim::Trace limited(3);
    sim::Trace full;
    for (int i = 0; i < 10; ++i) {
        limited.add(1, 1s, "k", std::to_string(i));
        full.add(1, 1s, "k", std::to_string(i));
    }
    CHECK(limited.entries().size() == 3);
    CHECK(limited.size() == 10);
    CHECK(limited.digest() == full.digest());
    sim::Trace changed;
    for (int i = 0; i < 10; ++i)
        changed.add(1, 1s, "k", std::to_string(i == 9 ? 99 : i));
    CHECK(changed.digest() != full.digest());

    sim::SimLoop loop({.trace_limit = 2});
    loop.note("mine", "hello");
    loop.note("mine", "again");
    loop.note("mine", "dropped");
    CHECK(loop.trace().entries().size() == 2);
    CHECK(loop.trace().size() >= 3);
    CHECK(loop.trace().entries()[0].kind == "mine");
    CHECK(loop.trace().entries()[0].text == "hello");
    loop.close();
}

TEST_CASE("Trace: a note may quote an earlier entry while the kept entries grow") {
    sim::SimLoop loop;
    loop.note("first", "short");   // kept inside the string object itself (no heap buffer)
    for (int i = 0; i < 100; ++i)  // the kept entries move several times meanwhile
        loop.note("quote", loop.trace().entries().front().text);
    const std::vector<sim::TraceEntry>& entries = loop.trace().entries();
    REQUIRE(entries.size() == 101);
    for (const sim::TraceEntry& entry : entries)
        CHECK(entry.text == entries.front().text);
    loop.close();
}

TEST_CASE("Trace: the step and time of an entry are the loop's at that moment") {
    sim::SimLoop loop;
    loop.call_later(3s, [&] { loop.note("user", "at three"); });
    loop.call_later(4s, [&] { loop.stop(); });
    loop.run_forever();
    bool found = false;
    for (const sim::TraceEntry& entry : loop.trace().entries()) {
        if (entry.kind == "user") {
            found = true;
            CHECK(entry.time == 3s);
            CHECK(entry.step == 1);
            CHECK(entry.text == "at three");
        }
    }
    CHECK(found);
    loop.close();
}

TEST_CASE("Trace: format(first, count) with a huge count shows everything from first") {
    sim::Trace trace;
    for (int i = 0; i < 5; ++i)
        trace.add(0, Duration::zero(), "k", std::to_string(i));
    const std::size_t all = static_cast<std::size_t>(-1);
    CHECK(trace.format(0, all) == trace.format(0, 5));
    CHECK(trace.format(3, all) == "[t=0.000s #0] k 3\n[t=0.000s #0] k 4\n");
}

// ---- run limits ---------------------------------------------------------------------------

namespace {
Coro<void> health_check(Duration period) {
    for (;;)
        co_await sleep(period);
}

// The main task of a service that never finishes: a periodic health check keeps the loop busy
// while the main task waits for an Event nobody sets.
Coro<void> ticking_service(Event* never) {
    create_task(health_check(60s), {.name = "health-check"});
    co_await never->wait();
}

// A callback that schedules itself again, forever.
constexpr int spin_forever_line = __LINE__ + 2;  // its call_soon, which the trace names
void spin_forever(EventLoop* loop) {
    loop->call_soon([loop] { spin_forever(loop); });
}

// Swallows every cancellation: only the limits end it.
Coro<void> ignores_cancellation() {
    for (;;) {
        try {
            co_await sleep(1s);
        } catch (const CancelledError&) {
        }
    }
}

Coro<void> stubborn_service(Event* never) {
    create_task(ignores_cancellation(), {.name = "stubborn"});
    co_await never->wait();
}
}  // namespace

TEST_CASE(
    "SimLoop: a periodic task plus a main task awaiting an Event nobody sets hits the time limit") {
    test_support::HandlerCapture handler;
    sim::SimLoop loop({.time_limit = 1h});
    handler.attach(loop);
    Event never;
    auto error =
        thrown<sim::LivelockError>([&] { loop.run_until_complete(ticking_service(&never)); });
    REQUIRE(error);
    CHECK(error->limit() == sim::LivelockError::Limit::time);
    CHECK(error->pending_tasks() ==
          std::vector<std::string>{"Task-1 awaits Event.wait", "health-check awaits sleep"});
    const std::string message = error->what();
    CHECK(contains(message, "livelock at t=3600.000s after "));
    CHECK(contains(message,
                   "the virtual-time limit 3600.000s (SimOptions::time_limit) was "
                   "reached; the next event is due at t=3660.000s."));
    CHECK(contains(message,
                   "Pending tasks:\n  Task-1 awaits Event.wait\n  health-check awaits sleep\n"));
    CHECK(loop.time() == 1h);  // the tick due exactly at the limit ran; the next one did not
    static_assert(std::is_base_of_v<RuntimeError, sim::LivelockError>);
    static_assert(!std::is_base_of_v<sim::DeadlockError, sim::LivelockError>);
    loop.close();  // the health check is still pending (the main task is not reported)
    CHECK(handler.count("Task was destroyed but it is pending!") == 1);
}

TEST_CASE("SimLoop: a callback that reschedules itself forever hits the step limit exactly") {
    sim::SimLoop loop({.step_limit = 1000});
    Event never;
    spin_forever(&loop);
    auto error = thrown<sim::LivelockError>([&] { loop.run_until_complete(wait_forever(&never)); });
    REQUIRE(error);
    CHECK(error->limit() == sim::LivelockError::Limit::steps);
    CHECK(loop.steps() == 1000);
    CHECK(loop.time() == Duration::zero());
    CHECK(error->pending_tasks() == std::vector<std::string>{"Task-1 awaits Event.wait"});
    CHECK(contains(error->what(),
                   "livelock at t=0.000s after 1000 callbacks: the step limit of 1000 callbacks "
                   "(SimOptions::step_limit) was reached with more to run."));
    loop.close();
}

TEST_CASE("SimLoop: the livelock message ends with the last trace lines, past trace_limit too") {
    sim::SimLoop loop({.trace_limit = 10, .step_limit = 500});
    Event never;
    spin_forever(&loop);
    auto error = thrown<sim::LivelockError>([&] { loop.run_until_complete(wait_forever(&never)); });
    REQUIRE(error);
    // The trace's own last entry is the livelock, recorded after the message was made.
    std::vector<sim::TraceEntry> latest = loop.trace().last(21);
    REQUIRE(latest.size() == 21);
    CHECK(latest.back().kind == "livelock");
    CHECK(latest.back().text == std::string(error->what()).substr(0, latest.back().text.size()));
    latest.pop_back();
    std::string tail = "\nLast trace lines:";
    for (const sim::TraceEntry& entry : latest)
        tail += "\n  " + sim::Trace::format_entry(entry);
    const std::string message = error->what();
    CHECK(message.size() >= tail.size());
    CHECK(message.substr(message.size() - std::min(message.size(), tail.size())) == tail);
    // The last callback before the limit: spin_forever's call_soon, named by its line.
    CHECK(contains(tail,
                   "[t=0.000s #500] call test_sim_loop.cpp:" + std::to_string(spin_forever_line)));
    CHECK(loop.trace().entries().size() == 10);
    loop.close();
}

TEST_CASE("Trace: last(count) gives the latest entries in order, kept past the limit") {
    sim::Trace trace(3);
    CHECK(trace.last(5).empty());
    for (int i = 0; i < 2; ++i)
        trace.add(0, Duration::zero(), "k", std::to_string(i));
    auto texts = [&](std::size_t count) {
        std::vector<std::string> result;
        for (const sim::TraceEntry& entry : trace.last(count))
            result.push_back(entry.text);
        return test_support::joined(result);
    };
    CHECK(texts(5) == test_support::joined({"0", "1"}));
    for (int i = 2; i < 6; ++i)
        trace.add(0, Duration::zero(), "k", std::to_string(i));
    CHECK(texts(4) == test_support::joined({"2", "3", "4", "5"}));  // entries and ring, no gap
    CHECK(texts(100) == test_support::joined({"0", "1", "2", "3", "4", "5"}));
    for (int i = 6; i < 200; ++i)
        trace.add(0, Duration::zero(), "k", std::to_string(i));
    CHECK(trace.last(100).size() == sim::Trace::recent_capacity);  // dropped ones leave a gap
    CHECK(texts(2) == test_support::joined({"198", "199"}));
    CHECK(trace.last(100).front().text == std::to_string(200 - sim::Trace::recent_capacity));
    CHECK(trace.entries().size() == 3);
    CHECK(sim::Trace::format_entry(trace.last(1).front()) == "[t=0.000s #0] k 199");
}

TEST_CASE("SimLoop: run() through a Runner ends with LivelockError and its close() ends") {
    test_support::SimFactory loops({.time_limit = 10min});
    Event never;
    auto error = thrown<sim::LivelockError>(
        [&] { run(ticking_service(&never), {.loop_factory = loops.factory()}); });
    REQUIRE(error);
    CHECK(contains(error->what(), "livelock at t=600.000s"));
    sim::SimLoop& loop = loops.last();
    CHECK(loop.is_closed());  // run() closed the runner: its clean-up cancelled both tasks
    CHECK(loop.time() == 10min);
    CHECK(loop.time_limit() == 10min + 1h);  // the clean-up budget, unused
    CHECK(contains(loop.trace().format(0, 1000), "loop closed"));
}

TEST_CASE("SimLoop: Runner::close() after a LivelockError cancels the leftover tasks and ends") {
    test_support::SimFactory loops({.step_limit = 300});
    Runner runner({.loop_factory = loops.factory()});
    Event never;
    auto& loop = static_cast<sim::SimLoop&>(runner.get_loop());
    spin_forever(&loop);
    CHECK_THROWS_AS(runner.run(wait_forever(&never)), sim::LivelockError);
    CHECK(loop.step_limit() == 300 + 1'000'000);
    runner.close();  // the spinning callback is dropped with the loop; the main task cancelled
    CHECK(loop.is_closed());
}

TEST_CASE("SimLoop: a task that ignores cancellation makes close() hit the clean-up budget") {
    test_support::SimFactory loops({.time_limit = 10s, .cleanup_time = 1min});
    test_support::HandlerCapture handler;
    loops.on_new_loop = [&handler](sim::SimLoop& loop) { handler.attach(loop); };
    Event never;
    auto first = thrown<sim::LivelockError>([&] {
        Runner runner({.loop_factory = loops.factory()});
        CHECK_THROWS_AS(runner.run(stubborn_service(&never)), sim::LivelockError);
        runner.close();
    });
    REQUIRE(first);
    sim::SimLoop& loop = loops.last();
    CHECK(loop.is_closed());
    CHECK(loop.time() == 70s);
    CHECK(contains(first->what(), "livelock at t=70.000s after "));
    CHECK(contains(first->what(),
                   "the virtual-time limit 70.000s (the clean-up budget after an "
                   "earlier LivelockError, SimOptions::cleanup_time) was reached"));
    CHECK(contains(first->what(), "stubborn awaits sleep"));
    CHECK(handler.count("Task was destroyed but it is pending!") == 1);  // closed in any case
}

TEST_CASE(
    "SimLoop: the default limits are one year and 100 million callbacks; both can be lifted") {
    sim::SimOptions defaults;
    CHECK(defaults.time_limit == std::chrono::hours(24 * 365));
    CHECK(defaults.step_limit == 100'000'000);
    sim::SimLoop loop({.time_limit = sim::no_time_limit, .step_limit = sim::no_step_limit});
    loop.run_until_complete(sleep_for(std::chrono::hours(24 * 365 * 2)));
    CHECK(loop.time() == std::chrono::hours(24 * 365 * 2));
    loop.close();
    sim::SimLoop limited;
    CHECK_THROWS_AS(limited.run_until_complete(sleep_for(std::chrono::hours(24 * 366))),
                    sim::LivelockError);
    CHECK(limited.time() == Duration::zero());
    limited.close();
}

TEST_SUITE_END();
