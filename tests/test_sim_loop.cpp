// SimLoop: virtual time, deadlock reports, determinism, choice sources and the trace
// (docs/semantics.md, "The simulator").
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "support.hpp"

// Virtual time, fake signals and fake executors: these tests need the simulator.
TEST_SUITE_BEGIN("sim-only");

using namespace simrun;
using test_support::contains;
using test_support::thrown;

namespace {

Coro<void> sleep_for(Duration delay) {
    co_await sleep(delay);
}

Coro<void> wait_forever(Event* event) {
    co_await event->wait();
}

Coro<std::vector<Duration>> yield_and_record_times(int yields) {
    std::vector<Duration> times;
    for (int i = 0; i < yields; ++i) {
        times.push_back(get_running_loop().time());
        co_await yield_now();
    }
    co_return times;
}

Coro<std::vector<Duration>> sleeps_recording_wake_times(int count, Duration each) {
    std::vector<Duration> times;
    for (int i = 0; i < count; ++i) {
        co_await sleep(each);
        times.push_back(get_running_loop().time());
    }
    co_return times;
}

// A small program with equal-deadline timers, several tasks and executor jobs of random cost:
// every source of nondeterminism the simulator has.
Coro<void> worker(std::vector<int>* order, int id) {
    for (int round = 0; round < 3; ++round) {
        co_await sleep(std::chrono::milliseconds(100));  // equal deadlines: the ties are shuffled
        order->push_back(id);
    }
    int value = co_await get_running_loop().run_in_executor([id] { return id; }, "job");
    order->push_back(100 + value);
}

Coro<void> mixed_program(std::vector<int>* order) {
    std::vector<Task<void>> tasks;
    for (int id = 0; id < 6; ++id)
        tasks.push_back(create_task(worker(order, id)));
    co_await gather(tasks);
}

struct ProgramRun {
    std::uint64_t digest;
    std::uint64_t trace_size;
    std::vector<int> order;
    Duration end;
};

ProgramRun run_mixed_program(sim::SimOptions options) {
    options.executor.cost =
        sim::random_cost(std::chrono::milliseconds(1), std::chrono::milliseconds(50));
    sim::SimLoop loop(options);
    ProgramRun result{};
    loop.run_until_complete(mixed_program(&result.order));
    result.end = loop.time();
    loop.close();
    result.digest = loop.trace().digest();
    result.trace_size = loop.trace().size();
    return result;
}

// Eight timers due at the same instant; returns the order in which they fired.
std::vector<int> equal_deadline_order(sim::SimOptions options) {
    sim::SimLoop loop(options);
    std::vector<int> order;
    for (int i = 0; i < 8; ++i)
        loop.call_at(1s, [&order, i] { order.push_back(i); });
    loop.call_at(2s, [&loop] { loop.stop(); });
    loop.run_forever();
    loop.close();
    return order;
}

/// Wraps a seeded source and records every answer, so a run can be replayed from its choices.
class RecordingChoices final : public sim::ChoiceSource {
  public:
    explicit RecordingChoices(std::uint64_t seed) : inner_(seed) {}
    std::uint64_t choose(std::uint64_t bound) override {
        ++count_;
        std::uint64_t value = inner_.choose(bound);
        recorded.push_back(value);
        return value;
    }
    std::vector<std::uint64_t> recorded;

  private:
    sim::SeededChoices inner_;
};

}  // namespace

// ---- virtual time -------------------------------------------------------------------------

TEST_CASE("SimLoop: virtual time starts at zero") {
    sim::SimLoop loop;
    CHECK(loop.time() == Duration::zero());
    loop.close();
}

TEST_CASE("SimLoop: a 10-hour sleep advances virtual time by exactly 10 hours") {
    sim::SimLoop loop;
    loop.run_until_complete(sleep_for(std::chrono::hours(10)));
    CHECK(loop.time() == std::chrono::hours(10));
    loop.close();
}

TEST_CASE("SimLoop: time does not move while callbacks or tasks are ready") {
    sim::SimLoop loop;
    std::vector<Duration> times = loop.run_until_complete(yield_and_record_times(200));
    REQUIRE(times.size() == 200);
    for (Duration t : times)
        CHECK(t == Duration::zero());
    CHECK(loop.time() == Duration::zero());

    std::vector<Duration> callback_times;
    std::function<void(int)> chain = [&](int left) {
        callback_times.push_back(loop.time());
        if (left == 0) {
            loop.stop();
            return;
        }
        loop.call_soon([&chain, left] { chain(left - 1); });
    };
    loop.call_soon([&chain] { chain(100); });
    loop.run_forever();
    CHECK(callback_times.size() == 101);
    CHECK(loop.time() == Duration::zero());
    loop.close();
}

TEST_CASE("SimLoop: time jumps exactly to the next timer's deadline") {
    sim::SimLoop loop;
    std::vector<Duration> fired;
    loop.call_later(7s, [&] { fired.push_back(loop.time()); });
    loop.call_later(5s, [&] { fired.push_back(loop.time()); });
    loop.call_later(std::chrono::milliseconds(5250), [&] { fired.push_back(loop.time()); });
    loop.call_later(8s, [&] { loop.stop(); });
    loop.run_forever();
    CHECK(fired == std::vector<Duration>{5s, std::chrono::milliseconds(5250), 7s});
    CHECK(loop.time() == 8s);
    loop.close();
}

TEST_CASE(
    "SimLoop: a cancelled timer leaves the heap at once if it was the last one pushed, "
    "else when purged; either way it never fires and the others keep their order") {
    sim::SimLoop loop;
    std::vector<int> fired;
    TimerHandle first = loop.call_later(1s, [&] { fired.push_back(1); });
    TimerHandle middle = loop.call_later(3s, [&] { fired.push_back(3); });
    TimerHandle last = loop.call_later(2s, [&] { fired.push_back(2); });
    TimerHandle newest = loop.call_later(4s, [&] { fired.push_back(4); });
    last.cancel();  // not the last entry (newest was pushed after it): stays, purged later
    CHECK(last.state()->in_heap);
    newest.cancel();  // still the heap's last entry: removed at once
    CHECK_FALSE(newest.state()->in_heap);
    middle.cancel();  // inside the heap (the cancelled `last` is behind it): stays too
    CHECK(middle.state()->in_heap);
    loop.call_later(5s, [&] { loop.stop(); });
    loop.run_forever();
    CHECK(fired == std::vector<int>{1});
    CHECK_FALSE(middle.state()->in_heap);
    CHECK_FALSE(last.state()->in_heap);
    CHECK(loop.time() == 5s);
    CHECK_FALSE(first.cancelled());
    loop.close();
}

TEST_CASE("SimLoop: a timer whose deadline already passed fires without moving time") {
    sim::SimLoop loop;
    loop.run_until_complete(sleep_for(3s));
    std::optional<Duration> fired;
    loop.call_at(1s, [&] {
        fired = loop.time();
        loop.stop();
    });
    loop.run_forever();
    CHECK(fired == 3s);
    loop.close();
}

TEST_CASE("SimLoop: successive sleeps add up to the exact virtual time") {
    sim::SimLoop loop;
    std::vector<Duration> times = loop.run_until_complete(sleeps_recording_wake_times(5, 1500ms));
    CHECK(times == std::vector<Duration>{1500ms, 3000ms, 4500ms, 6000ms, 7500ms});
    loop.close();
}

TEST_CASE("SimLoop: time never goes backwards and no timer fires early, with or without lateness") {
    for (Duration lateness : {Duration::zero(), Duration(37ms)}) {
        for (std::uint64_t seed = 0; seed < 5; ++seed) {
            sim::SimLoop loop({.seed = seed, .max_timer_lateness = lateness});
            std::vector<Duration> seen;
            bool early = false;
            // Deadlines chosen out of order, with ties, some scheduled from inside callbacks.
            for (int i = 0; i < 30; ++i) {
                Duration when = std::chrono::milliseconds((i * 7919) % 1000);
                loop.call_at(when, [&, when] {
                    seen.push_back(loop.time());
                    early = early || loop.time() < when;
                    Duration again = when + std::chrono::milliseconds(13);
                    loop.call_at(again, [&, again] {
                        seen.push_back(loop.time());
                        early = early || loop.time() < again;
                    });
                });
            }
            loop.call_at(5s, [&] { loop.stop(); });
            loop.run_forever();
            CHECK_FALSE(early);
            REQUIRE(seen.size() == 60);
            for (std::size_t i = 1; i < seen.size(); ++i)
                CHECK(seen[i - 1] <= seen[i]);
            loop.close();
        }
    }
}

// ---- timer lateness -----------------------------------------------------------------------

TEST_CASE(
    "SimLoop: max_timer_lateness makes timers late, never early, and never later than the bound") {
    bool some_late = false;
    for (std::uint64_t seed = 0; seed < 5; ++seed) {
        sim::SimLoop loop({.seed = seed, .max_timer_lateness = 50ms});
        std::vector<Duration> times =
            loop.run_until_complete(sleeps_recording_wake_times(20, 100ms));
        Duration previous = Duration::zero();
        for (Duration t : times) {
            Duration slept = t - previous;
            CHECK(slept >= 100ms);
            CHECK(slept <= 150ms);
            some_late = some_late || slept > 100ms;
            previous = t;
        }
        loop.close();
    }
    CHECK(some_late);
}

TEST_CASE("SimLoop: without max_timer_lateness every timer fires exactly on time") {
    for (std::uint64_t seed = 0; seed < 3; ++seed) {
        sim::SimLoop loop({.seed = seed});
        std::vector<Duration> times =
            loop.run_until_complete(sleeps_recording_wake_times(10, 100ms));
        for (std::size_t i = 0; i < times.size(); ++i)
            CHECK(times[i] == 100ms * static_cast<int>(i + 1));
        loop.close();
    }
}

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

// ---- determinism --------------------------------------------------------------------------

TEST_CASE("SimLoop: the same seed and program give the same trace digest and the same order") {
    for (std::uint64_t seed : {0ULL, 7ULL, 12345ULL}) {
        ProgramRun first = run_mixed_program({.seed = seed});
        ProgramRun second = run_mixed_program({.seed = seed});
        CHECK(first.digest == second.digest);
        CHECK(first.trace_size == second.trace_size);
        CHECK(first.order == second.order);
        CHECK(first.end == second.end);
        CHECK(first.order.size() == 24);
    }
}

TEST_CASE("SimLoop: different seeds give different traces of the same program") {
    std::set<std::uint64_t> digests;
    std::set<std::vector<int>> orders;
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        ProgramRun run = run_mixed_program({.seed = seed});
        digests.insert(run.digest);
        orders.insert(run.order);
    }
    CHECK(digests.size() > 1);
    CHECK(orders.size() > 1);
}

TEST_CASE("SimLoop: shuffle_timer_ties lets seeds reorder timers with equal deadlines") {
    std::set<std::vector<int>> orders;
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        std::vector<int> order = equal_deadline_order({.seed = seed});
        CHECK(order.size() == 8);
        CHECK(std::set<int>(order.begin(), order.end()).size() == 8);  // each fired exactly once
        CHECK(order == equal_deadline_order({.seed = seed}));          // and reproducibly
        orders.insert(order);
    }
    CHECK(orders.size() > 1);
}

TEST_CASE(
    "SimLoop: without shuffle_timer_ties equal deadlines fire in creation order for every seed") {
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        CHECK(equal_deadline_order({.seed = seed, .shuffle_timer_ties = false}) ==
              std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
    }
}

TEST_CASE("SimLoop: timers with distinct deadlines always fire in deadline order") {
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        sim::SimLoop loop({.seed = seed, .max_timer_lateness = 500ms});
        std::vector<int> order;
        for (int i = 9; i >= 0; --i)
            loop.call_at(std::chrono::milliseconds(100 * (i + 1)),
                         [&order, i] { order.push_back(i); });
        loop.call_at(10s, [&] { loop.stop(); });
        loop.run_forever();
        CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
        loop.close();
    }
}

TEST_CASE("SimLoop: call_soon callbacks run in FIFO order whatever the seed") {
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        sim::SimLoop loop({.seed = seed, .max_timer_lateness = 10ms});
        std::vector<int> order;
        loop.call_soon([&] {
            for (int i = 0; i < 50; ++i) {
                loop.call_soon([&order, i] { order.push_back(i); });
                loop.call_later(Duration::zero(), [] {});  // timers with ties between them
            }
        });
        loop.call_later(1s, [&] { loop.stop(); });
        loop.run_forever();
        std::vector<int> expected;
        for (int i = 0; i < 50; ++i)
            expected.push_back(i);
        CHECK(order == expected);
        loop.close();
    }
}

namespace {
Coro<void> yielder(std::vector<int>* order, int id) {
    for (int i = 0; i < 3; ++i) {
        order->push_back(id);
        co_await yield_now();
    }
}
Coro<void> three_yielders(std::vector<int>* order) {
    std::vector<Task<void>> tasks;
    for (int id = 0; id < 3; ++id)
        tasks.push_back(create_task(yielder(order, id)));
    co_await gather(tasks);
}
}  // namespace

TEST_CASE("SimLoop: ready tasks take turns in FIFO order whatever the seed") {
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        sim::SimLoop loop({.seed = seed});
        std::vector<int> order;
        loop.run_until_complete(three_yielders(&order));
        CHECK(order == std::vector<int>{0, 1, 2, 0, 1, 2, 0, 1, 2});
        loop.close();
    }
}

// ---- choice sources -----------------------------------------------------------------------

TEST_CASE("SeededChoices: same seed same answers, always below the bound, 0 for bounds 0 and 1") {
    sim::SeededChoices a(99);
    sim::SeededChoices b(99);
    sim::SeededChoices other(100);
    bool differs = false;
    for (std::uint64_t bound = 2; bound < 200; ++bound) {
        std::uint64_t x = a.choose(bound);
        CHECK(x == b.choose(bound));
        CHECK(x < bound);
        differs = differs || x != other.choose(bound);
    }
    CHECK(differs);
    CHECK(a.choose(0) == 0);
    CHECK(a.choose(1) == 0);
    CHECK(a.count() == 200);
}

TEST_CASE("ScriptedChoices: entries are taken modulo the bound, then every choice is 0") {
    sim::ScriptedChoices script({5, 7, 12});
    CHECK(script.choose(10) == 5);
    CHECK(script.choose(4) == 3);
    CHECK(script.used() == 2);
    CHECK(script.choose(1) == 0);  // consumes the 12
    CHECK(script.used() == 3);
    CHECK(script.choose(1000) == 0);
    CHECK(script.choose(1000) == 0);
    CHECK(script.used() == 3);
    CHECK(script.count() == 5);
}

TEST_CASE("SimLoop: the same script gives the same digest, and the script decides timer ties") {
    std::vector<std::uint64_t> reverse = {7, 6, 5, 4, 3, 2, 1, 0};
    auto run_script = [](std::vector<std::uint64_t> script) {
        auto choices = std::make_shared<sim::ScriptedChoices>(std::move(script));
        sim::SimLoop loop({.choices = choices});
        std::vector<int> order;
        for (int i = 0; i < 8; ++i) {
            loop.call_at(1s, [&order, &loop, i] {
                order.push_back(i);
                loop.note("fired", std::to_string(i));  // so that the digest sees the order
            });
        }
        loop.call_at(2s, [&loop] { loop.stop(); });
        loop.run_forever();
        loop.close();
        return std::make_pair(order, loop.trace().digest());
    };
    auto [reversed, digest1] = run_script(reverse);
    auto [reversed_again, digest2] = run_script(reverse);
    auto [in_order, digest3] = run_script({});
    CHECK(reversed == std::vector<int>{7, 6, 5, 4, 3, 2, 1, 0});
    CHECK(reversed_again == reversed);
    CHECK(digest1 == digest2);
    CHECK(in_order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});  // an empty script: all zeros
    CHECK(digest3 != digest1);
}

TEST_CASE(
    "SimLoop: replaying a seeded run's recorded choices through ScriptedChoices reproduces it") {
    auto recorder = std::make_shared<RecordingChoices>(2024);
    ProgramRun original = run_mixed_program({.choices = recorder});
    ProgramRun seeded = run_mixed_program({.seed = 2024});
    CHECK(original.digest == seeded.digest);  // the recorder changes nothing
    REQUIRE(!recorder->recorded.empty());

    auto script = std::make_shared<sim::ScriptedChoices>(recorder->recorded);
    ProgramRun replay = run_mixed_program({.choices = script});
    CHECK(replay.digest == original.digest);
    CHECK(replay.order == original.order);
    CHECK(replay.end == original.end);
    CHECK(script->used() == recorder->recorded.size());
}

TEST_CASE("SimLoop: options.choices replaces the seeded source and every choice goes through it") {
    auto recorder = std::make_shared<RecordingChoices>(1);
    sim::SimLoop loop({.seed = 1, .choices = recorder});
    CHECK(&loop.choices() == recorder.get());
    loop.call_later(1s, [] {});
    loop.call_later(1s, [&loop] { loop.stop(); });
    loop.run_forever();
    CHECK(recorder->count() >= 2);  // one tie-break per timer at least
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

// ---- busy ---------------------------------------------------------------------------------

namespace {
Coro<Duration> busy_then_report(Duration how_long) {
    sim::busy(how_long);
    co_return get_running_loop().time();
}
}  // namespace

TEST_CASE(
    "SimLoop::busy: virtual time passes inside the callback; only valid inside one, never "
    "negative") {
    sim::SimLoop loop;
    CHECK(loop.run_until_complete(busy_then_report(10s)) == 10s);
    CHECK(loop.time() == 10s);
    CHECK_THROWS_AS(loop.busy(1s), RuntimeError);
    CHECK_THROWS_AS(sim::busy(1s), RuntimeError);  // no running loop
    CHECK_THROWS_AS(sim::running_sim(), RuntimeError);
    bool value_error = false;
    loop.call_soon([&] {
        try {
            loop.busy(-1s);
        } catch (const ValueError&) {
            value_error = true;
        }
        loop.stop();
    });
    loop.run_forever();
    CHECK(value_error);  // a negative duration
    CHECK(loop.time() == 10s);
    loop.close();
}

TEST_CASE("SimLoop: run() with sim::factory() runs on a simulated loop") {
    test_support::SimFactory loops({.seed = 3});
    CHECK(run(busy_then_report(2s), {.loop_factory = loops.factory()}) == 2s);
    REQUIRE(loops.loops.size() == 1);
    CHECK(loops.last().options().seed == 3);
    CHECK(loops.last().is_closed());
    CHECK(run(busy_then_report(1s), {.loop_factory = sim::factory()}) == 1s);
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

TEST_CASE("Trace: format(first, count) with a huge count shows everything from first") {
    sim::Trace trace;
    for (int i = 0; i < 5; ++i)
        trace.add(0, Duration::zero(), "k", std::to_string(i));
    const std::size_t all = static_cast<std::size_t>(-1);
    CHECK(trace.format(0, all) == trace.format(0, 5));
    CHECK(trace.format(3, all) == "[t=0.000s #0] k 3\n[t=0.000s #0] k 4\n");
}

namespace {
Coro<int> interrupted_program() {
    std::vector<Task<void>> tasks;
    for (int i = 0; i < 4; ++i)
        tasks.push_back(create_task(sleep_for(std::chrono::milliseconds(300 * i))));
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
        sim::running_sim().note("main", "cancelled");
    }
    co_await gather(tasks);
    co_return 1;
}
}  // namespace

TEST_CASE(
    "SimLoop: a Runner program with signals and executor shutdown is deterministic per seed") {
    auto digest_of = [](std::uint64_t seed) {
        test_support::SimFactory loops({.seed = seed, .max_timer_lateness = 20ms});
        loops.on_new_loop = [](sim::SimLoop& loop) {
            loop.fake_signals().schedule_at(500ms, SIGINT);
        };
        int result = run(interrupted_program(), {.loop_factory = loops.factory()});
        CHECK(result == 1);
        return std::make_pair(loops.last().trace().digest(), loops.last().trace().format(0, 1000));
    };
    auto first = digest_of(11);
    auto second = digest_of(11);
    CHECK(first.first == second.first);
    CHECK(first.second == second.second);
    CHECK(contains(first.second, "main cancelled"));
    CHECK(contains(first.second, "SIGINT arrived"));
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
