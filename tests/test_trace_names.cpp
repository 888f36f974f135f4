// What the simulator's trace calls each step: a task by its name (and, for a name the loop gave,
// its coroutine and creation site), a user's callback by its creation site, and every callback
// the library schedules by what it is for; task steps and callbacks are distinct kinds ("run",
// "call"), which the Chrome trace export relies on.
#include <csignal>
#include <string>
#include <vector>

#include <simrun/testing/chrome_trace.hpp>

#include "support.hpp"

TEST_SUITE_BEGIN("sim-only");

using namespace simrun;
using namespace std::chrono_literals;
using test_support::contains;

namespace {

const std::string here = "test_trace_names.cpp:";

/// The trace's "kind text" lines ("run worker", "call main.cpp:3"), without time and step.
std::vector<std::string> steps_of(const sim::SimLoop& loop) {
    std::vector<std::string> lines;
    for (const sim::TraceEntry& entry : loop.trace().entries()) {
        if (entry.kind == "run" || entry.kind == "call")
            lines.push_back(entry.kind + " " + entry.text);
    }
    return lines;
}

bool has_step(const sim::SimLoop& loop, const std::string& line) {
    for (const std::string& step : steps_of(loop)) {
        if (step == line)
            return true;
    }
    return false;
}

std::string all_steps(const sim::SimLoop& loop) {
    std::string text;
    for (const std::string& step : steps_of(loop))
        text += step + "\n";
    return text;
}

Coro<void> nap(Duration delay) {
    co_await sleep(delay);
}

int unnamed_line = 0;
int lambda_line = 0;

Coro<void> two_naps() {
    Task<void> unnamed = create_task(nap(1s));
    unnamed_line = __LINE__ - 1;
    Task<void> named = create_task(nap(2s), {.name = "napper"});
    auto body = [](Duration delay) -> Coro<void> { co_await sleep(delay); };
    Task<void> lambda = create_task(body(3s));
    lambda_line = __LINE__ - 1;
    Task<void> renamed = create_task(nap(4s));
    renamed.set_name("renamed");
    co_await unnamed;
    co_await named;
    co_await lambda;
    co_await renamed;
    co_await gather(nap(5s));  // the library makes this task
}

}  // namespace

TEST_CASE("trace names: a task is named by its name, or by its coroutine and creation site") {
    sim::SimLoop loop;
    loop.run_until_complete(two_naps());
    const int main_line = __LINE__ - 1;
    const std::string main_task =
        "Task-1 (two_naps() from " + here + std::to_string(main_line) + ")";
    const std::string unnamed = "Task-2 (nap() from " + here + std::to_string(unnamed_line) + ")";
    INFO(all_steps(loop));
    CHECK(has_step(loop, "run " + main_task));
    CHECK(has_step(loop, "run " + unnamed));
    CHECK(has_step(loop, "call sleep wake-up of " + unnamed));
    CHECK(has_step(loop, "run napper"));  // a name of the user's is all the trace shows
    CHECK(has_step(loop, "call sleep wake-up of napper"));
    // A lambda's coroutine has no name worth showing ("operator()"): only the site.
    CHECK(has_step(loop, "run Task-3 (" + here + std::to_string(lambda_line) + ")"));
    // set_name() replaces the loop's name, site included.
    CHECK(has_step(loop, "run renamed"));
    CHECK(has_step(loop, "call sleep wake-up of renamed"));
    CHECK_FALSE(contains(all_steps(loop), "Task-4"));
    // A task the library made from the user's coroutine says what made it, not where.
    CHECK(has_step(loop, "run Task-5 (nap() in gather())"));
    loop.close();
}

TEST_CASE(
    "trace names: a task made without a site shows its coroutine alone; a new name shows "
    "from the next step on") {
    sim::SimLoop loop;
    Task<void> task = loop.create_task(nap(1s), {}, SourceLocation{});
    loop.call_later(500ms, [&task] { task.set_name("renamed-while-asleep"); });
    loop.run_until_complete(task);
    INFO(all_steps(loop));
    CHECK(steps_of(loop) == std::vector<std::string>{"run Task-1 (nap())",
                                                     "call " + here + std::to_string(__LINE__ - 4),
                                                     "call sleep wake-up of renamed-while-asleep",
                                                     "run renamed-while-asleep",
                                                     "call run_until_complete() stops the loop "
                                                     "at the end of renamed-while-asleep"});
    loop.close();
}

TEST_CASE("trace names: a user's callback is named by where it was scheduled, as a 'call'") {
    sim::SimLoop loop;
    loop.call_soon([] {});
    const int soon_line = __LINE__ - 1;
    loop.call_later(1s, [&loop] { loop.stop(); });
    const int later_line = __LINE__ - 1;
    loop.run_forever();
    INFO(all_steps(loop));
    CHECK(steps_of(loop) == std::vector<std::string>{"call " + here + std::to_string(soon_line),
                                                     "call " + here + std::to_string(later_line)});
    loop.close();
}

TEST_CASE("trace names: callbacks from many lines of one file are each named by their own line") {
    // Many sites share the memo of site texts: each must still get its own text (and hash).
    sim::SimLoop loop;
    std::vector<std::string> expected;
    for (std::uint32_t line = 1; line <= 300; ++line) {
        loop.call_soon([] {}, SourceLocation{"f", "dir/sites.cpp", line});
        expected.push_back("call sites.cpp:" + std::to_string(line));
    }
    loop.call_soon([&loop] { loop.stop(); }, SourceLocation{"f", "dir/sites.cpp", 1});
    expected.push_back("call sites.cpp:1");
    loop.run_forever();
    CHECK(steps_of(loop) == expected);
    loop.close();
}

TEST_CASE("trace names: tasks from many sites each get their own text, and a hash made of it") {
    // The text after a task's loop-given name comes from a memo by coroutine and site: many sites
    // must not mix it up, and the kept hash is the name's combined with the rest's.
    sim::SimLoop loop;
    std::vector<TaskRef> tasks;
    for (std::uint32_t line = 1; line <= 300; ++line)
        tasks.push_back(loop.create_task(nap(1s), {}, SourceLocation{"f", "dir/sites.cpp", line}));
    loop.run_until_complete(nap(2s));
    std::vector<std::string> expected;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        const std::string name = tasks[i].name();
        const std::string rest = " (nap() from sites.cpp:" + std::to_string(i + 1) + ")";
        CHECK(tasks[i].state()->trace_name() == name + rest);
        // "Task-<n>" is hashed by its parts: the prefix's hash and the number.
        const std::uint64_t number = std::stoull(name.substr(5));
        CHECK(tasks[i].state()->trace_hash() ==
              detail::hash_combine(detail::hash_combine(detail::text_hash("Task-"), number),
                                   detail::text_hash(rest)));
        expected.push_back("run " + name + rest);
    }
    std::vector<std::string> first_steps = steps_of(loop);  // the tasks' first steps come first
    first_steps.resize(std::min(first_steps.size(), expected.size()));
    CHECK(first_steps == expected);
    loop.close();
}

TEST_CASE("trace names: a purpose's hash is its text's, whatever the memo holds") {
    static const char* const purposes[] = {"a",
                                           "bb",
                                           "sleep wake-up of",
                                           "timeout of",
                                           "done callback of",
                                           "gather() sees the end of",
                                           "x1",
                                           "x2",
                                           "x3",
                                           "x4",
                                           "x5",
                                           "x6",
                                           "x7",
                                           "x8",
                                           "x9",
                                           "x10",
                                           "x11",
                                           "x12",
                                           "x13",
                                           "x14",
                                           "x15",
                                           "x16",
                                           "x17",
                                           "x18"};
    for (int round = 0; round < 2; ++round) {
        for (const char* purpose : purposes) {
            CHECK(detail::HandleState::purpose_hash(purpose, 7) ==
                  detail::hash_combine(detail::text_hash(purpose), 7));
        }
    }
}

namespace {

Coro<int> slow_answer() {
    co_await sleep(10s);
    co_return 1;
}

Coro<int> quick_answer() {
    co_await sleep(1s);
    co_return 2;
}

Coro<void> uses_the_library(sim::SimLoop* loop) {
    Task<int> quick = create_task(quick_answer(), {.name = "quick"});
    Task<int> slow = create_task(slow_answer(), {.name = "slow"});
    quick.add_done_callback([] {});
    std::vector<Task<int>> both{quick, slow};
    co_await wait(both, 500ms);  // times out
    std::vector<Task<int>> first{quick};
    co_await wait(first);  // sees `quick` end
    try {
        co_await wait_for(slow, 2s);  // cancels `slow` after 2 s
    } catch (const TimeoutError&) {
    }
    std::vector<Task<int>> answers{quick};
    co_await gather(answers);
    co_await get_running_loop().run_in_executor([] { return 3; }, "load");
    co_await task_group([](TaskGroup& group) -> Coro<void> {
        group.create_task(quick_answer(), {.name = "member"});
        co_return;
    });
    Task<int> guarded = create_task(quick_answer(), {.name = "guarded"});
    co_await shield(guarded);
    std::vector<Task<int>> late;
    late.push_back(create_task(slow_answer(), {.name = "late"}));
    auto steps = as_completed(std::move(late), 1s);
    try {
        co_await steps.next();
    } catch (const TimeoutError&) {
    }
    loop->add_signal_handler(SIGUSR1, [] {});
    loop->fake_signals().schedule_at(loop->time() + 1s, SIGUSR1);
    co_await sleep(2s);
    loop->remove_signal_handler(SIGUSR1);
}

}  // namespace

TEST_CASE("trace names: every callback the library schedules says what it is for") {
    sim::SimLoop loop;
    test_support::LogCapture log;
    log.attach(loop);
    loop.run_until_complete(uses_the_library(&loop));
    const int main_line = __LINE__ - 1;
    INFO(all_steps(loop));
    CHECK(has_step(loop, "call sleep wake-up of quick"));
    CHECK(has_step(loop, "call done callback of quick"));
    CHECK(has_step(loop, "call wait() sees the end of quick"));
    CHECK(has_step(loop, "call wait() timeout"));
    CHECK(has_step(loop, "call timeout of Task-1 (uses_the_library() from " + here +
                             std::to_string(main_line) + ")"));
    CHECK(has_step(loop, "call executor job done: load"));
    CHECK(has_step(loop, "call TaskGroup sees the end of member"));
    CHECK(has_step(loop, "call shield() passes on the end of guarded"));
    CHECK(has_step(loop, "call as_completed() timeout"));
    CHECK(has_step(loop, "call signal handler for SIGUSR1"));
    CHECK(has_step(loop,
                   "call run_until_complete() stops the loop at the end of Task-1 "
                   "(uses_the_library() from " +
                       here + std::to_string(main_line) + ")"));
    // No step is named after a place in the library's own sources.
    for (const std::string& step : steps_of(loop)) {
        const std::size_t colon =
            step.find(".cpp:") != std::string::npos ? step.find(".cpp:") : step.find(".hpp:");
        if (colon != std::string::npos)
            CHECK_MESSAGE(contains(step, here), step);
    }
    loop.close();
}

namespace {

Coro<void> sleepy_main() {
    co_await sleep(5s);
}

}  // namespace

TEST_CASE("trace names: run() names the main task after its caller; the Runner's SIGINT wake-up") {
    test_support::SimFactory loops;
    loops.on_new_loop = [](sim::SimLoop& loop) { loop.fake_signals().schedule_at(1s, SIGINT); };
    CHECK_THROWS_AS(run(sleepy_main(), {.loop_factory = loops.factory()}), KeyboardInterrupt);
    const int run_line = __LINE__ - 1;
    const sim::SimLoop& loop = loops.last();
    INFO(all_steps(loop));
    CHECK(
        has_step(loop, "run Task-1 (sleepy_main() from " + here + std::to_string(run_line) + ")"));
    CHECK(has_step(loop, "call Runner: SIGINT cancelled the main task"));
    CHECK(has_step(loop, "run Task-2 (shutdown_asyncgens() in Runner.close())"));
    CHECK(has_step(loop, "run Task-3 (shutdown_default_executor() in Runner.close())"));

    Runner runner({.loop_factory = sim::factory({})});
    runner.run(nap(1s));
    const int runner_line = __LINE__ - 1;
    auto& second = dynamic_cast<sim::SimLoop&>(runner.get_loop());
    CHECK(has_step(second, "run Task-1 (nap() from " + here + std::to_string(runner_line) + ")"));
    runner.close();
}

namespace {

Coro<void> oddly_named() {
    Task<void> task = create_task(nap(1s), {.name = "db.cpp:12"});
    co_await task;
    get_running_loop().call_soon([] {});
}

}  // namespace

TEST_CASE("trace names: steps and callbacks are told apart by kind, not by their text") {
    sim::SimLoop loop;
    loop.run_until_complete(oddly_named());
    // A task named like a source location is still a task step.
    bool task_step = false;
    bool callback = false;
    for (const sim::TraceEntry& entry : loop.trace().entries()) {
        task_step = task_step || (entry.kind == "run" && entry.text == "db.cpp:12");
        callback = callback || (entry.kind == "call" && contains(entry.text, here));
    }
    CHECK(task_step);
    CHECK(callback);
    // So the Chrome trace gives it a track of its own, and puts the callbacks on theirs (tid 2).
    const std::string json = testing::chrome_trace_json(loop.trace());
    CHECK(contains(json, "\"name\":\"thread_name\",\"args\":{\"name\":\"db.cpp:12\"}"));
    CHECK(contains(json, "\"tid\":2,\"name\":\"sleep wake-up of db.cpp:12\",\"cat\":\"step\""));
    CHECK(contains(json, "\"tid\":2,\"name\":\"" + here));
    CHECK_FALSE(contains(json, "\"args\":{\"name\":\"sleep wake-up of db.cpp:12\"}"));
    loop.close();
}

TEST_CASE("task names: the loop's number is spelled out when asked; set_name keeps name()") {
    sim::SimLoop loop;
    Task<void> first = loop.create_task(nap(1s));
    Task<void> given = loop.create_task(nap(1s), {.name = "given"});
    Task<void> third = loop.create_task(nap(1s));
    // The trace spells the numbers without the name being asked for...
    loop.run_until_complete(third);
    CHECK(has_step(loop, "run Task-1 (nap() from " + here + std::to_string(__LINE__ - 5) + ")"));
    // ...and asking gives the same number: a named task takes none.
    CHECK(first.name() == "Task-1");
    CHECK(given.name() == "given");
    CHECK(third.name() == "Task-2");
    const std::string& name = third.name();
    third.set_name("renamed");
    CHECK(name == "renamed");  // the reference name() gave is still the task's name
    third.set_name("");
    CHECK(third.name().empty());
    CHECK(detail::TaskBase::numbered_name(18446744073709551615ULL) == "Task-18446744073709551615");
    loop.run_until_complete(gather(first, given));
    loop.close();
}

TEST_SUITE_END();
