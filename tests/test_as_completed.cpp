// as_completed(): ports of CPython's test_as_completed* tests and the rules of asyncio's
// as_completed (3.13), on both loops (exact times on the sim).
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "loop_timing.hpp"
#include "support.hpp"

using namespace simrun;
using test_support::elapsed_is;
using test_support::joined;
using test_support::TestLoop;

namespace {

using Events = std::vector<std::string>;

Coro<std::string> text_after(Duration delay, std::string value) {
    co_await sleep(delay);
    co_return value;
}

Coro<int> int_now(int value) {
    co_return value;
}

Coro<int> fail_after(Duration delay, std::string message) {
    co_await sleep(delay);
    throw ValueError(message);
}

Coro<void> yields(int count) {
    for (int i = 0; i < count; ++i)
        co_await sleep(0s);
}

std::vector<Coro<std::string>> make_coros(std::vector<std::pair<Duration, std::string>> specs) {
    std::vector<Coro<std::string>> coros;
    for (auto& [delay, value] : specs)
        coros.push_back(text_after(delay, value));
    return coros;
}

/// `for f in as_completed(aws): values.append(await f)`
template <class Input>
Coro<std::vector<std::string>> try_iterator(std::vector<Input> inputs) {
    auto steps = as_completed(std::move(inputs));
    std::vector<std::string> values;
    while (steps.has_next())
        values.push_back(co_await steps.next());
    co_return values;
}

/// `async for f in as_completed(aws): values.append(await f)`
template <class Input>
Coro<std::vector<std::string>> try_async_iterator(std::vector<Input> inputs) {
    auto steps = as_completed(std::move(inputs));
    std::vector<std::string> values;
    while (steps.has_next()) {
        Task<std::string> finished = co_await steps.next_done();
        CHECK(finished.done());
        values.push_back(co_await finished);
    }
    co_return values;
}

/// "value" or "TimeoutError" for each step of `steps`, taken as values (or as tasks).
Coro<std::vector<std::string>> outcomes(AsCompleted<Task<std::string>> steps, bool as_tasks) {
    std::vector<std::string> results;
    while (steps.has_next()) {
        try {
            if (as_tasks)
                results.push_back("done " + (co_await steps.next_done()).result());
            else
                results.push_back("value " + co_await steps.next());
        } catch (const TimeoutError& e) {
            results.push_back(std::string("TimeoutError '") + e.what() + "'");
        }
    }
    co_return results;
}

template <class Arg>
concept as_completed_accepts = requires(Arg arg) {
    simrun::as_completed(std::move(arg));
};

}  // namespace

// test_as_completed_invalid_args: asyncio raises TypeError for a single future or coroutine;
// here they do not compile.
static_assert(as_completed_accepts<std::vector<Task<int>>>);
static_assert(as_completed_accepts<std::vector<Future<int>>>);
static_assert(as_completed_accepts<std::vector<Coro<int>>>);
static_assert(!as_completed_accepts<Task<int>>);
static_assert(!as_completed_accepts<Future<int>>);
static_assert(!as_completed_accepts<Coro<int>>);

LOOP_TEST_CASE("as_completed: test_as_completed") {
    for (bool async_variant : {false, true}) {
        CAPTURE(async_variant);
        TestLoop<LoopKind> s;
        const Duration start = s.loop.time();
        auto coros = make_coros({{10ms, "b"}, {30ms, "c"}, {10ms, "a"}});
        std::vector<std::string> res =
            async_variant ? s.loop.run_until_complete(try_async_iterator(std::move(coros)))
                          : s.loop.run_until_complete(try_iterator(std::move(coros)));
        CHECK(elapsed_is<LoopKind>(s.loop, start, 30ms));
        REQUIRE(res.size() == 3);
        std::vector<std::string> first_two{res[0], res[1]};
        std::sort(first_two.begin(), first_two.end());
        CHECK(joined(first_two) == "a | b");
        CHECK(res[2] == "c");
    }
}

LOOP_TEST_CASE("as_completed: test_as_completed_same_tasks_in_as_out") {
    TestLoop<LoopKind> s;
    // Coroutines come out as the tasks made from them.
    auto from_coros = s.loop.run_until_complete([]() -> Coro<std::vector<std::string>> {
        std::vector<Coro<int>> coros;
        for (int i = 0; i < 4; ++i)
            coros.push_back(int_now(i));
        auto steps = as_completed(std::move(coros));
        std::vector<std::string> seen;
        while (steps.has_next()) {
            Task<int> task = co_await steps.next_done();
            const auto& made = steps.handles();
            CHECK(std::find(made.begin(), made.end(), task) != made.end());
            seen.push_back(std::to_string(task.result()));
        }
        std::sort(seen.begin(), seen.end());
        co_return seen;
    }());
    CHECK(joined(from_coros) == "0 | 1 | 2 | 3");
    // Tasks come out as themselves.
    Task<int> task_b = s.loop.create_task(int_now(1));
    Task<int> task_d = s.loop.create_task(int_now(2));
    auto out =
        s.loop.run_until_complete([](std::vector<Task<int>> in) -> Coro<std::vector<Task<int>>> {
            auto steps = as_completed(in);
            std::vector<Task<int>> got;
            while (steps.has_next())
                got.push_back(co_await steps.next_done());
            co_return got;
        }(std::vector{task_b, task_d}));
    REQUIRE(out.size() == 2);
    CHECK(((out[0] == task_b && out[1] == task_d) || (out[0] == task_d && out[1] == task_b)));
}

LOOP_TEST_CASE("as_completed: test_as_completed_with_timeout") {
    for (bool as_tasks : {false, true}) {
        CAPTURE(as_tasks);
        TestLoop<LoopKind> s;
        const Duration start = s.loop.time();
        Task<std::string> a = s.loop.create_task(text_after(1ms, "a"));
        Task<std::string> b = s.loop.create_task(text_after(10s, "b"));
        std::vector<std::string> res =
            s.loop.run_until_complete([](std::vector<Task<std::string>> tasks,
                                         bool tasks_mode) -> Coro<std::vector<std::string>> {
                co_return co_await outcomes(as_completed(std::move(tasks), 60ms), tasks_mode);
            }(std::vector{a, b}, as_tasks));
        CHECK(joined(res) == joined({as_tasks ? "done a" : "value a", "TimeoutError ''"}));
        CHECK(elapsed_is<LoopKind>(s.loop, start, 60ms));
        // A6: nothing was cancelled.
        CHECK_FALSE(b.done());
        b.cancel();
        s.loop.run_until_complete(wait(std::vector{a, b}));
    }
}

LOOP_TEST_CASE("as_completed: test_as_completed_with_unused_timeout") {
    for (bool as_tasks : {false, true}) {
        CAPTURE(as_tasks);
        TestLoop<LoopKind> s;
        const Duration start = s.loop.time();
        std::vector<Coro<std::string>> coros;
        coros.push_back(text_after(10ms, "a"));
        // Kept alive after the iteration: destroying it would cancel its timer anyway.
        std::optional<AsCompleted<Task<std::string>>> steps;
        std::vector<std::string> res =
            s.loop.run_until_complete([](std::vector<Coro<std::string>> inputs, bool tasks_mode,
                                         std::optional<AsCompleted<Task<std::string>>>* keep)
                                          -> Coro<std::vector<std::string>> {
                keep->emplace(as_completed(std::move(inputs), 1s));
                co_return co_await outcomes(**keep, tasks_mode);
            }(std::move(coros), as_tasks, &steps));
        CHECK(joined(res) == (as_tasks ? "done a" : "value a"));
        CHECK(elapsed_is<LoopKind>(s.loop, start, 10ms));
        if constexpr (LoopKind::is_sim) {
            // The timer was cancelled when the last input finished: with nothing left to do, the
            // simulator finds a deadlock instead of jumping to it.
            Future<void> never = s.loop.template create_future<void>();
            CHECK_THROWS_AS(s.loop.run_until_complete(never), sim::DeadlockError);
            CHECK(s.loop.time() == 10ms);
        }
    }
}

LOOP_TEST_CASE("as_completed: test_as_completed_resume_iterator") {
    for (bool as_tasks : {false, true}) {
        CAPTURE(as_tasks);
        TestLoop<LoopKind> s;
        auto collected = s.loop.run_until_complete([](bool tasks_mode) -> Coro<std::vector<int>> {
            std::vector<Coro<int>> coros;
            for (int i = 0; i < 4; ++i)
                coros.push_back(int_now(i));
            auto steps = as_completed(std::move(coros));
            std::vector<int> got;
            auto take = [&steps, tasks_mode]() -> Coro<int> {
                if (!tasks_mode)
                    return steps.next();
                return [](Coro<Task<int>> done) -> Coro<int> {
                    Task<int> task = co_await std::move(done);
                    co_return task.result();
                }(steps.next_done());
            };
            int iterations = 0;
            while (steps.has_next()) {
                got.push_back(co_await take());
                if (++iterations == 2)
                    break;
            }
            CHECK(got.size() == 2);
            while (steps.has_next())  // resume the same iteration
                got.push_back(co_await take());
            std::sort(got.begin(), got.end());
            co_return got;
        }(as_tasks));
        CHECK(collected == std::vector<int>{0, 1, 2, 3});
    }
}

LOOP_TEST_CASE("as_completed: test_as_completed_reverse_wait") {
    TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Events events;
    s.loop.run_until_complete([](Events* log) -> Coro<void> {
        auto steps = as_completed(make_coros({{5ms, "a"}, {10ms, "b"}}));
        Coro<std::string> first = steps.next();
        Coro<std::string> second = steps.next();
        CHECK_FALSE(steps.has_next());
        // The step awaited first gets the first result, whichever was taken first.
        log->push_back(co_await std::move(second) + " first");
        log->push_back(co_await std::move(first) + " second");
    }(&events));
    CHECK(joined(events) == "a first | b second");
    CHECK(elapsed_is<LoopKind>(s.loop, start, 10ms));
}

LOOP_TEST_CASE("as_completed: test_as_completed_concurrent") {
    for (bool as_tasks : {false, true}) {
        CAPTURE(as_tasks);
        TestLoop<LoopKind> s;
        const Duration start = s.loop.time();
        auto values =
            s.loop.run_until_complete([](bool tasks_mode) -> Coro<std::vector<std::string>> {
                auto steps = as_completed(make_coros({{5ms, "a"}, {5ms, "b"}}));
                std::vector<Task<std::string>> futs;
                if (tasks_mode) {
                    while (steps.has_next())
                        futs.push_back(co_await steps.next_done());
                } else {
                    // Two steps awaited at the same time, each in its own task.
                    while (steps.has_next())
                        futs.push_back(create_task(steps.next()));
                }
                CHECK(futs.size() == 2);
                auto [done, pending] = co_await wait(futs);
                CHECK(pending.empty());
                std::vector<std::string> results;
                for (Task<std::string>& task : done)
                    results.push_back(task.result());
                std::sort(results.begin(), results.end());
                co_return results;
            }(as_tasks));
        CHECK(joined(values) == "a | b");
        CHECK(elapsed_is<LoopKind>(s.loop, start, 5ms));
    }
}

// asyncio passes the same coroutine object twice; a Coro cannot be copied, so the same task is
// passed twice instead (the rule under test is the same: repeats count once).
LOOP_TEST_CASE("as_completed: test_as_completed_duplicate_coroutines") {
    for (bool as_tasks : {false, true}) {
        CAPTURE(as_tasks);
        TestLoop<LoopKind> s;
        Task<std::string> c = s.loop.create_task(text_after(0s, "ham"));
        Task<std::string> spam = s.loop.create_task(text_after(0s, "spam"));
        auto result =
            s.loop.run_until_complete([](std::vector<Task<std::string>> in,
                                         bool tasks_mode) -> Coro<std::vector<std::string>> {
                co_return co_await outcomes(as_completed(std::move(in)), tasks_mode);
            }(std::vector{c, c, spam}, as_tasks));
        std::sort(result.begin(), result.end());
        CHECK(joined(result) == (as_tasks ? "done ham | done spam" : "value ham | value spam"));
    }
}

TEST_CASE("as_completed: test_as_completed_coroutine_without_loop" *
          doctest::test_suite("loop-free")) {
    set_event_loop(nullptr);
    std::vector<std::string> lines;
    set_default_log_handler([&lines](LogLevel, const std::string& line) { lines.push_back(line); });
    std::vector<Coro<int>> coros;
    coros.push_back(int_now(42));
    auto error = test_support::thrown<RuntimeError>([&] { (void)as_completed(std::move(coros)); });
    set_default_log_handler({});
    REQUIRE(error.has_value());
    CHECK(test_support::contains(error->what(), "no current event loop"));
    // The coroutine was dropped unstarted, and says so.
    REQUIRE(lines.size() == 1);
    CHECK(test_support::contains(lines[0], "was never awaited"));
}

LOOP_TEST_CASE("as_completed: test_as_completed_coroutine_use_running_loop") {
    TestLoop<LoopKind> s;
    CHECK(s.loop.run_until_complete([]() -> Coro<int> {
        std::vector<Coro<int>> coros;
        coros.push_back(int_now(42));
        auto steps = as_completed(std::move(coros));
        CHECK(steps.remaining() == 1);
        co_return co_await steps.next();
    }()) == 42);
}

// ---- the rules (A1-A6) beyond the ports ------------------------------------------------------

LOOP_TEST_CASE(
    "as_completed: coroutines become tasks and the time limit starts when it is called (A2)") {
    TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Events events;
    auto result = s.loop.run_until_complete([](Events* log) -> Coro<std::vector<std::string>> {
        auto note_start = [](Events* into, std::string name, Duration delay) -> Coro<std::string> {
            into->push_back(name + " started");
            co_await sleep(delay);
            co_return name;
        };
        std::vector<Coro<std::string>> coros;
        coros.push_back(note_start(log, "slow", 10s));
        coros.push_back(note_start(log, "quick", 1ms));
        auto steps = as_completed(std::move(coros), 30ms);
        log->push_back("as_completed returned");
        co_await sleep(0s);
        co_await sleep(40ms);  // the time limit runs meanwhile
        std::vector<std::string> got = co_await outcomes(steps, false);  // a copy shares the steps
        for (const Task<std::string>& task : steps.handles())
            got.push_back(task.done() ? "done" : "still running");
        co_return got;
    }(&events));
    CHECK(joined(events) == "as_completed returned | slow started | quick started");
    CHECK(joined(result) == "value quick | TimeoutError '' | still running | done");
    CHECK(elapsed_is<LoopKind>(s.loop, start, 40ms));
    for (TaskRef& task : all_tasks(&s.loop))
        task.cancel();
    s.loop.run_until_complete(yields(2));
}

LOOP_TEST_CASE(
    "as_completed: results finished before the time limit are still given after it (A6)") {
    TestLoop<LoopKind> s;
    Task<std::string> a = s.loop.create_task(text_after(1ms, "a"));
    Task<std::string> b = s.loop.create_task(text_after(10s, "b"));
    Task<std::string> c = s.loop.create_task(text_after(10s, "c"));
    auto result = s.loop.run_until_complete(
        [](std::vector<Task<std::string>> in) -> Coro<std::vector<std::string>> {
            auto steps = as_completed(std::move(in), 20ms);
            co_await sleep(40ms);
            co_return co_await outcomes(std::move(steps), false);
        }(std::vector{a, b, c}));
    CHECK(joined(result) == "value a | TimeoutError '' | TimeoutError ''");
    CHECK_FALSE(b.cancelled());
    CHECK_FALSE(c.done());
    b.cancel();
    c.cancel();
    s.loop.run_until_complete(wait(std::vector{b, c}));
}

LOOP_TEST_CASE(
    "as_completed: next() throws a failed task's exception and the next steps go on (A4, A5)") {
    TestLoop<LoopKind> s;
    Task<int> broken = s.loop.create_task(fail_after(1ms, "broken"), {.name = "broken"});
    Task<int> fine = s.loop.create_task(
        []() -> Coro<int> {
            co_await sleep(2ms);
            co_return 7;
        }(),
        {.name = "fine"});
    Task<int> cancelled = s.loop.create_task(int_now(0), {.name = "cancelled"});
    cancelled.cancel("stop");
    auto result = s.loop.run_until_complete([](std::vector<Task<int>> in) -> Coro<Events> {
        auto steps = as_completed(in);
        Events got;
        while (steps.has_next()) {
            try {
                got.push_back("value " + std::to_string(co_await steps.next()));
            } catch (const ValueError& e) {
                got.push_back(std::string("ValueError ") + e.what());
            } catch (const CancelledError& e) {
                got.push_back(std::string("CancelledError ") + e.what());
            }
        }
        // As tasks: the failed one is given without throwing (A5).
        auto again = as_completed(in);
        while (again.has_next()) {
            Task<int> task = co_await again.next_done();
            got.push_back(task.name() + (task.cancelled()   ? " cancelled"
                                         : task.exception() ? " failed"
                                                            : " returned"));
        }
        co_return got;
    }(std::vector{broken, fine, cancelled}));
    CHECK(joined(result) == joined({"CancelledError stop", "ValueError broken", "value 7",
                                    "broken failed", "fine returned", "cancelled cancelled"}));
}

LOOP_TEST_CASE("as_completed: no steps for an empty list; a step past the end is an error") {
    TestLoop<LoopKind> s;
    s.loop.run_until_complete([]() -> Coro<void> {
        auto none = as_completed(std::vector<Task<int>>{}, 1ms);
        CHECK_FALSE(none.has_next());
        CHECK_THROWS_WITH_AS((void)none.next(), "as_completed(): no results left to take",
                             RuntimeError);
        std::vector<Coro<int>> one;
        one.push_back(int_now(1));
        auto steps = as_completed(std::move(one));
        CHECK(co_await steps.next() == 1);
        CHECK_FALSE(steps.has_next());
        CHECK_THROWS_AS((void)steps.next_done(), RuntimeError);
    }());
}

LOOP_TEST_CASE("as_completed: futures; a step cancelled after its wake-up passes it on") {
    TestLoop<LoopKind> s;
    Future<int> first = s.loop.template create_future<int>();
    Future<int> second = s.loop.template create_future<int>();
    std::optional<AsCompleted<Future<int>>> steps;
    s.loop.run_until_complete([](std::optional<AsCompleted<Future<int>>>* out,
                                 std::vector<Future<int>> in) -> Coro<void> {
        out->emplace(as_completed(std::move(in)));
        co_return;
    }(&steps, std::vector{first, second}));
    Task<int> woken = s.loop.create_task(steps->next());
    Task<int> other = s.loop.create_task(steps->next());
    s.loop.run_until_complete(yields(2));  // both steps wait
    first.set_result(1);                   // its callback wakes `woken`'s step...
    s.loop.call_soon([woken]() mutable { woken.cancel(); });  // ...which is cancelled first
    s.loop.run_until_complete(wait(std::vector<TaskRef>{woken, other}, 1s));
    CHECK(woken.cancelled());
    REQUIRE(other.done());
    CHECK(other.result() == 1);
    second.set_result(2);
    steps.reset();
}

LOOP_TEST_CASE("as_completed: a task of another loop is rejected with ValueError") {
    TestLoop<LoopKind> one;
    TestLoop<LoopKind> two;
    Task<int> foreign = two.loop.create_task(int_now(1));
    one.loop.run_until_complete([](Task<int> task) -> Coro<void> {
        CHECK_THROWS_AS((void)as_completed(std::vector{task}), ValueError);
        co_return;
    }(foreign));
    two.loop.run_until_complete(foreign);
}

LOOP_TEST_CASE("as_completed: the object may outlive its loop") {
    std::optional<AsCompleted<Task<std::string>>> steps;
    {
        TestLoop<LoopKind> s;
        Task<std::string> slow = s.loop.create_task(text_after(10s, "slow"));
        s.loop.run_until_complete([](std::optional<AsCompleted<Task<std::string>>>* out,
                                     std::vector<Task<std::string>> in) -> Coro<void> {
            out->emplace(as_completed(std::move(in), 1s));  // a timer on the loop
            co_return;
        }(&steps, std::vector{slow}));
    }  // the loop is closed (the task abandoned) and destroyed
    REQUIRE(steps.has_value());
    CHECK(steps->has_next());
    steps.reset();  // must not touch the dead loop
}
