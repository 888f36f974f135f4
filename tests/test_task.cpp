// Task<T>: creation, names, current_task/all_tasks, awaiting, reports, escaping exceptions; on both
// loops.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "support.hpp"

using namespace simrun;
using test_support::joined;
using test_support::TestLoop;

namespace {

using Events = std::vector<std::string>;

Coro<int> value_after(Duration delay, int value) {
    co_await sleep(delay);
    co_return value;
}

Coro<int> value_when_set(Event* event, int value) {
    co_await event->wait();
    co_return value;
}

Coro<int> mark_then_return(bool* ran, int value) {
    *ran = true;
    co_return value;
}

Coro<int> fail_after(Duration delay, std::string message) {
    co_await sleep(delay);
    throw ValueError(message);
}

Coro<void> wait_forever() {
    Future<void> never = get_running_loop().create_future<void>();
    co_await never;
}

Coro<void> record_current_task(const void** seen) {
    *seen = current_task().state().get();
    co_return;
}

Coro<std::vector<std::string>> names_of_all_tasks() {
    std::vector<std::string> names;
    for (const TaskRef& task : all_tasks())
        names.push_back(task.name());
    co_return names;
}

Coro<int> await_task(Task<int> task, Events* events, std::string who) {
    int value = co_await task;
    events->push_back(who + " got " + std::to_string(value));
    co_return value;
}

Coro<std::string> await_failing_task(Task<int> task) {
    try {
        co_await task;
    } catch (const ValueError& e) {
        co_return std::string("caught ") + e.what();
    }
    co_return "nothing";
}

Coro<void> raise_keyboard_interrupt(Duration delay) {
    co_await sleep(delay);
    throw KeyboardInterrupt();
}

Coro<void> raise_system_exit() {
    co_await yield_now();
    throw SystemExit(3);
}

Coro<std::string> await_foreign_task(Task<int> foreign) {
    try {
        co_await foreign;
    } catch (const RuntimeError& e) {
        co_return e.what();
    }
    co_return "no error";
}

Coro<std::string> await_foreign_future(Future<int> foreign) {
    try {
        co_await foreign;
    } catch (const RuntimeError& e) {
        co_return e.what();
    }
    co_return "no error";
}

Coro<std::string> await_self(std::shared_ptr<Task<std::string>> self) {
    co_await yield_now();
    try {
        co_await *self;
    } catch (const RuntimeError& e) {
        co_return e.what();
    }
    co_return "no error";
}

Coro<void> push_after(Duration delay, Events* events, std::string text) {
    co_await sleep(delay);
    events->push_back(std::move(text));
}

// ---- a task awaiting itself; await cycles ------------------------------------------------------

/// Awaits the task in `self` (itself) and records what that raised.
Coro<void> record_awaiting_self(std::shared_ptr<Task<void>> self, Events* events) {
    try {
        co_await *self;
    } catch (const RuntimeError& e) {
        events->push_back(std::string("t1: RuntimeError: ") + e.what());
    } catch (const CancelledError& e) {
        events->push_back(std::string("t1: CancelledError: ") + e.what());
        throw;
    }
}

/// The minimal case of the differential run against CPython: main spawns t1, t1 awaits t1, main
/// does sleep(0).
Coro<void> main_with_self_awaiting_task(Events* events) {
    auto self = std::make_shared<Task<void>>();
    *self = create_task(record_awaiting_self(self, events));
    co_await sleep(Duration::zero());
    events->push_back("main: sleep(0) returned");
    co_await sleep(Duration::zero());
    events->push_back("main: second sleep(0) returned");
    co_await *self;
}

/// Awaits a future of another loop and records the error.
Coro<void> record_awaiting_foreign(Future<int> foreign, Events* events) {
    try {
        co_await foreign;
    } catch (const RuntimeError& e) {
        events->push_back(std::string("t1: RuntimeError: ") + e.what());
    }
}

/// main spawns t1, which awaits a future of another loop; main does sleep(0).
Coro<void> main_with_foreign_awaiting_task(Future<int> foreign, Events* events) {
    Task<void> t1 = create_task(record_awaiting_foreign(foreign, events));
    co_await sleep(Duration::zero());
    events->push_back("main: sleep(0) returned");
    co_await t1;
}

/// main spawns t1, lets it await itself, then cancels it before the error is delivered.
Coro<void> main_cancelling_self_awaiting_task(Events* events) {
    auto self = std::make_shared<Task<void>>();
    *self = create_task(record_awaiting_self(self, events));
    co_await sleep(Duration::zero());  // t1 runs and awaits itself
    events->push_back("main: cancel() returned " +
                      std::string(self->cancel("bye") ? "true" : "false"));
    co_await sleep(Duration::zero());
    co_await sleep(Duration::zero());
    events->push_back(std::string("main: t1 done=") + (self->done() ? "true" : "false") +
                      " cancelled=" + (self->cancelled() ? "true" : "false"));
}

/// Awaits the task in `*other`, recording how the await ended.
Coro<void> await_other(std::shared_ptr<Task<void>> other, Events* events, std::string who) {
    co_await yield_now();  // let every task of the cycle be created
    try {
        co_await *other;
    } catch (const CancelledError& e) {
        events->push_back(who + ": CancelledError '" + e.what() + "'");
        throw;
    }
    events->push_back(who + ": returned");
}

struct Cycle {
    std::vector<std::shared_ptr<Task<void>>> tasks;
};

/// Creates n tasks, task i awaiting task i+1 (mod n), and lets them all suspend.
Coro<Cycle> make_cycle(std::size_t n, Events* events) {
    Cycle cycle;
    for (std::size_t i = 0; i < n; ++i)
        cycle.tasks.push_back(std::make_shared<Task<void>>());
    for (std::size_t i = 0; i < n; ++i) {
        *cycle.tasks[i] =
            create_task(await_other(cycle.tasks[(i + 1) % n], events, "t" + std::to_string(i + 1)));
    }
    co_await sleep(Duration::zero());
    co_await sleep(Duration::zero());
    co_return cycle;
}

/// Builds a cycle of n tasks, cancels task `which` with a message, waits for all of them.
Coro<void> cancel_in_cycle(std::size_t n, std::size_t which, Events* events) {
    Cycle cycle = co_await make_cycle(n, events);
    events->push_back(cycle.tasks[which]->describe().find("wait_for=") != std::string::npos
                          ? "described"
                          : "no wait_for");
    const bool cancelled = cycle.tasks[which]->cancel("stop");
    events->push_back("cancel() returned " + std::string(cancelled ? "true" : "false"));
    std::string counts = "cancelling():";
    for (auto& task : cycle.tasks)
        counts += " " + std::to_string(task->cancelling());
    events->push_back(counts);
    for (auto& task : cycle.tasks) {
        try {
            co_await *task;
        } catch (const CancelledError&) {
        }
    }
    std::string states = "cancelled():";
    for (auto& task : cycle.tasks)
        states += task->cancelled() ? " true" : " false";
    events->push_back(states);
}

/// A main task that leaves a two-task await cycle behind for the Runner's shutdown.
Coro<int> main_leaving_a_cycle(Events* events) {
    Cycle cycle = co_await make_cycle(2, events);
    co_return 5;
}

}  // namespace

TEST_SUITE_BEGIN("sim-only");

LOOP_TEST_CASE("Task: create_task schedules the body; it runs only when the loop runs") {
    TestLoop<LoopKind> s;
    bool ran = false;
    Task<int> task = s.loop.create_task(mark_then_return(&ran, 5));
    CHECK_FALSE(ran);
    CHECK_FALSE(task.done());
    CHECK(s.loop.run_until_complete(task) == 5);
    CHECK(ran);
    CHECK(task.done());
    CHECK_FALSE(task.cancelled());
    CHECK(task.result() == 5);
    CHECK(task.exception() == nullptr);
    CHECK(&task.get_loop() == &s.loop);
}

LOOP_TEST_CASE("Task: result() and exception() of a pending task raise InvalidStateError") {
    TestLoop<LoopKind> s;
    Task<int> task = s.loop.create_task(value_after(1ms, 1));
    CHECK_THROWS_WITH_AS(task.result(), "Result is not set.", InvalidStateError);
    CHECK_THROWS_WITH_AS(task.exception(), "Exception is not set.", InvalidStateError);
    CHECK(s.loop.run_until_complete(task) == 1);
}

LOOP_TEST_CASE("Task: a pending task keeps itself alive after its handle is dropped") {
    TestLoop<LoopKind> s;
    Events events;
    { (void)s.loop.create_task(push_after(1ms, &events, "fire and forget ran")); }
    s.loop.run_until_complete(sleep(2ms));
    CHECK(joined(events) == joined({"fire and forget ran"}));
}

LOOP_TEST_CASE(
    "Task: default names are Task-1, Task-2, ... counted per loop; explicit names are kept") {
    TestLoop<LoopKind> first;
    Task<int> a = first.loop.create_task(value_after(1ms, 1));
    Task<int> b = first.loop.create_task(value_after(1ms, 2), {.name = "worker"});
    Task<int> c = first.loop.create_task(value_after(1ms, 3));
    CHECK(a.name() == "Task-1");
    CHECK(b.name() == "worker");
    CHECK(c.name() == "Task-2");
    c.set_name("renamed");
    CHECK(c.name() == "renamed");
    CHECK(c.describe().find("name='renamed'") != std::string::npos);

    TestLoop<LoopKind> second;
    Task<int> d = second.loop.create_task(value_after(1ms, 4));
    CHECK(d.name() == "Task-1");

    first.loop.run_until_complete(sleep(2ms));
    second.loop.run_until_complete(sleep(2ms));
}

LOOP_TEST_CASE("Task: current_task() is the running task, and empty outside tasks") {
    TestLoop<LoopKind> s;
    CHECK_FALSE(static_cast<bool>(current_task()));
    const void* seen = nullptr;
    Task<void> task = s.loop.create_task(record_current_task(&seen));
    s.loop.run_until_complete(task);
    CHECK(seen == task.state().get());

    bool empty_in_callback = false;
    s.loop.call_soon([&empty_in_callback] { empty_in_callback = !current_task(); });
    s.loop.run_until_complete(sleep(1ms));
    CHECK(empty_in_callback);
    CHECK_FALSE(static_cast<bool>(current_task()));
}

LOOP_TEST_CASE("Task: all_tasks() lists the not-done tasks of the loop in creation order") {
    TestLoop<LoopKind> s;
    // slow and medium wait for `finish` rather than for timers: a late real timer could
    // otherwise finish them together with quick.
    Event finish;
    Task<int> slow = s.loop.create_task(value_when_set(&finish, 1), {.name = "slow"});
    Task<int> quick = s.loop.create_task(value_after(1ms, 2), {.name = "quick"});
    Task<int> medium = s.loop.create_task(value_when_set(&finish, 3), {.name = "medium"});
    std::vector<std::string> names;
    for (const TaskRef& task : s.loop.all_tasks())
        names.push_back(task.name());
    CHECK(names == std::vector<std::string>{"slow", "quick", "medium"});

    s.loop.run_until_complete(quick);
    names.clear();
    for (const TaskRef& task : all_tasks(&s.loop))
        names.push_back(task.name());
    CHECK(names == std::vector<std::string>{"slow", "medium"});

    // Inside a task: the running loop's tasks, the caller included.
    Task<std::vector<std::string>> lister =
        s.loop.create_task(names_of_all_tasks(), {.name = "lister"});
    CHECK(s.loop.run_until_complete(lister) ==
          std::vector<std::string>{"slow", "medium", "lister"});

    finish.set();
    s.loop.run_until_complete(slow);
    CHECK(s.loop.all_tasks().empty());
    CHECK(medium.done());
}

LOOP_TEST_CASE("Task: several awaiters share one result") {
    TestLoop<LoopKind> s;
    Events events;
    Task<int> shared = s.loop.create_task(value_after(2ms, 42));
    Task<int> first = s.loop.create_task(await_task(shared, &events, "first"));
    Task<int> second = s.loop.create_task(await_task(shared, &events, "second"));
    CHECK(s.loop.run_until_complete(second) == 42);
    CHECK(first.done());
    CHECK(first.result() == 42);
    CHECK(joined(events) == joined({"first got 42", "second got 42"}));
    // Awaiting a task that is already done returns at once.
    const Duration before = s.loop.time();
    CHECK(s.loop.run_until_complete(await_task(shared, &events, "late")) == 42);
    if constexpr (LoopKind::is_sim)
        CHECK(s.loop.time() == before);  // the real clock moves even when nothing waits
}

LOOP_TEST_CASE("Task: a task's exception reaches every awaiter") {
    TestLoop<LoopKind> s;
    Task<int> failing = s.loop.create_task(fail_after(1ms, "task failed"));
    Task<std::string> a = s.loop.create_task(await_failing_task(failing));
    Task<std::string> b = s.loop.create_task(await_failing_task(failing));
    CHECK(s.loop.run_until_complete(a) == "caught task failed");
    CHECK(s.loop.run_until_complete(b) == "caught task failed");
    CHECK_THROWS_WITH_AS(failing.result(), "task failed", ValueError);
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE("Task: done callbacks run after the task finished") {
    TestLoop<LoopKind> s;
    Events events;
    Task<int> task = s.loop.create_task(value_after(1ms, 7));
    task.add_done_callback(
        [&events, task] { events.push_back("done: " + std::to_string(task.result())); });
    s.loop.run_until_complete(task);
    s.loop.run_until_complete(sleep(1ms));
    CHECK(joined(events) == joined({"done: 7"}));
}

LOOP_TEST_CASE(
    "Task: a failed task dropped unretrieved reports 'Task exception was never retrieved'") {
    TestLoop<LoopKind> s;
    {
        Task<int> task = s.loop.create_task(fail_after(1ms, "lost error"));
        s.loop.run_until_complete(sleep(2ms));
        CHECK(task.done());
        CHECK(s.errors.contexts.empty());
    }
    REQUIRE(s.errors.contexts.size() == 1);
    const ExceptionContext& context = s.errors.contexts[0];
    CHECK(context.message == "Task exception was never retrieved");
    CHECK(context.keys() == std::set<std::string>{"message", "exception", "future"});
    CHECK_THROWS_WITH_AS(std::rethrow_exception(context.exception), "lost error", ValueError);
    REQUIRE(context.future.has_value());
    CHECK(context.future->description.find("<Task finished name='Task-1'") == 0);
}

LOOP_TEST_CASE("Task: no never-retrieved report once the exception was looked at") {
    TestLoop<LoopKind> s;
    {
        Task<int> awaited = s.loop.create_task(fail_after(1ms, "awaited"));
        Task<int> inspected = s.loop.create_task(fail_after(1ms, "inspected"));
        CHECK_THROWS_AS(s.loop.run_until_complete(awaited), ValueError);
        s.loop.run_until_complete(sleep(1ms));
        CHECK(inspected.exception() != nullptr);
        Task<int> cancelled_after_failing =
            s.loop.create_task(fail_after(1ms, "cancel() looks at it"));
        s.loop.run_until_complete(sleep(2ms));
        CHECK_FALSE(cancelled_after_failing.cancel());
    }
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "Task: in debug mode the never-retrieved and destroyed-pending reports say where the task was "
    "made") {
    TestLoop<LoopKind> s;
    s.loop.set_debug(true);
    {
        Task<int> failed = s.loop.create_task(fail_after(1ms, "lost in debug mode"));
        s.loop.run_until_complete(sleep(2ms));
    }
    Task<void> stuck = s.loop.create_task(wait_forever());
    s.loop.run_until_complete(sleep(1ms));
    s.loop.close();
    REQUIRE(s.errors.contexts.size() == 2);
    CHECK(s.errors.contexts[0].message == "Task exception was never retrieved");
    CHECK(s.errors.contexts[0].keys() ==
          std::set<std::string>{"message", "exception", "future", "source_traceback"});
    CHECK(s.errors.contexts[1].message == "Task was destroyed but it is pending!");
    CHECK(s.errors.contexts[1].keys() ==
          std::set<std::string>{"message", "task", "source_traceback"});
    for (const ExceptionContext& context : s.errors.contexts) {
        CHECK(context.details.count("source_traceback") == 1);
        if (context.details.count("source_traceback") == 1) {
            CHECK(context.details.at("source_traceback").find("test_task.cpp:") !=
                  std::string::npos);
        }
    }
}

LOOP_TEST_CASE(
    "Task: a pending task at loop close reports 'Task was destroyed but it is pending!'") {
    TestLoop<LoopKind> s;
    Task<void> stuck = s.loop.create_task(wait_forever(), {.name = "stuck"});
    s.loop.run_until_complete(sleep(1ms));
    CHECK(s.errors.contexts.empty());
    s.loop.close();
    REQUIRE(s.errors.contexts.size() == 1);
    const ExceptionContext& context = s.errors.contexts[0];
    CHECK(context.message == "Task was destroyed but it is pending!");
    CHECK(context.keys() == std::set<std::string>{"message", "task"});
    CHECK(context.task == stuck);
    CHECK(context.format().find("task: <Task pending name='stuck'") != std::string::npos);
    CHECK_FALSE(stuck.done());
    CHECK(s.loop.all_tasks().empty());
}

LOOP_TEST_CASE("Task: KeyboardInterrupt raised in a task escapes run_until_complete") {
    TestLoop<LoopKind> s;
    CHECK_THROWS_AS(s.loop.run_until_complete(raise_keyboard_interrupt(1ms)), KeyboardInterrupt);
    CHECK_FALSE(s.loop.is_running());
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "Task: KeyboardInterrupt from another task escapes the loop while the main task is pending") {
    TestLoop<LoopKind> s;
    Events events;
    Task<void> interrupter = s.loop.create_task(raise_keyboard_interrupt(1ms));
    CHECK_THROWS_AS(s.loop.run_until_complete(push_after(5s, &events, "main finished")),
                    KeyboardInterrupt);
    if constexpr (LoopKind::is_sim)
        CHECK(s.loop.time() == 1ms);
    CHECK(events.empty());
    CHECK(interrupter.done());
    CHECK_THROWS_AS(std::rethrow_exception(interrupter.exception()), KeyboardInterrupt);
}

LOOP_TEST_CASE("Task: SystemExit raised in a task escapes run_until_complete with its code") {
    TestLoop<LoopKind> s;
    int code = -1;
    try {
        s.loop.run_until_complete(raise_system_exit());
    } catch (const SystemExit& e) {
        code = e.code();
    }
    CHECK(code == 3);
}

LOOP_TEST_CASE("Task: awaiting a task or future of another loop raises RuntimeError") {
    TestLoop<LoopKind> here;
    TestLoop<LoopKind> there;
    Task<int> foreign_task = there.loop.create_task(value_after(1ms, 1));
    Future<int> foreign_future = there.loop.template create_future<int>();
    std::string task_error = here.loop.run_until_complete(await_foreign_task(foreign_task));
    std::string future_error = here.loop.run_until_complete(await_foreign_future(foreign_future));
    CHECK(task_error.find("attached to a different loop") != std::string::npos);
    CHECK(future_error.find("attached to a different loop") != std::string::npos);
    CHECK(there.loop.run_until_complete(foreign_task) == 1);
}

LOOP_TEST_CASE("Task: a task awaiting itself raises RuntimeError") {
    TestLoop<LoopKind> s;
    auto self = std::make_shared<Task<std::string>>();
    *self = s.loop.create_task(await_self(self));
    std::string error = s.loop.run_until_complete(*self);
    CHECK(error.find("Task cannot await on itself") == 0);
}

LOOP_TEST_CASE(
    "Task: a task awaiting itself gets the RuntimeError at its next step, after the "
    "callbacks already ready (as CPython 3.13)") {
    TestLoop<LoopKind> s;
    Events events;
    s.loop.run_until_complete(main_with_self_awaiting_task(&events));
    REQUIRE(events.size() == 3);
    CHECK(events[0] == "main: sleep(0) returned");
    CHECK(events[1].find("t1: RuntimeError: Task cannot await on itself: <Task pending "
                         "name='Task-2' coro=<record_awaiting_self()>") == 0);
    CHECK(events[2] == "main: second sleep(0) returned");
}

LOOP_TEST_CASE(
    "Task: a task awaiting a future of another loop gets the RuntimeError at its next "
    "step (as CPython 3.13)") {
    TestLoop<LoopKind> s;
    TestLoop<LoopKind> there;
    Future<int> foreign = there.loop.template create_future<int>();
    Events events;
    s.loop.run_until_complete(main_with_foreign_awaiting_task(foreign, &events));
    REQUIRE(events.size() == 2);
    CHECK(events[0] == "main: sleep(0) returned");
    CHECK(events[1].find("attached to a different loop") != std::string::npos);
}

LOOP_TEST_CASE("Task: a cancellation overtakes the error of a task awaiting itself") {
    TestLoop<LoopKind> s;
    Events events;
    s.loop.run_until_complete(main_cancelling_self_awaiting_task(&events));
    CHECK(joined(events) ==
          "main: cancel() returned true | t1: CancelledError: bye | main: t1 "
          "done=true cancelled=true");
}

LOOP_TEST_CASE("Task: cancelling a task in a two-task await cycle breaks the cycle") {
    TestLoop<LoopKind> s;
    Events events;
    s.loop.run_until_complete(cancel_in_cycle(2, 0, &events));
    // The request went t1 -> t2 -> back to t1: t1's await ends with CancelledError, t1 ends
    // cancelled, which ends t2's await of t1 with t1's CancelledError.
    CHECK(joined(events) ==
          "described | cancel() returned true | cancelling(): 1 1 | t1: "
          "CancelledError 'stop' | t2: CancelledError 'stop' | cancelled(): "
          "true true");
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE("Task: cancelling the second task of a two-task await cycle") {
    TestLoop<LoopKind> s;
    Events events;
    s.loop.run_until_complete(cancel_in_cycle(2, 1, &events));
    CHECK(joined(events) ==
          "described | cancel() returned true | cancelling(): 1 1 | t2: "
          "CancelledError 'stop' | t1: CancelledError 'stop' | cancelled(): "
          "true true");
}

LOOP_TEST_CASE("Task: cancelling a task in a three-task await cycle") {
    TestLoop<LoopKind> s;
    Events events;
    s.loop.run_until_complete(cancel_in_cycle(3, 0, &events));
    CHECK(joined(events) ==
          "described | cancel() returned true | cancelling(): 1 1 1 | t1: "
          "CancelledError 'stop' | t3: CancelledError 'stop' | t2: "
          "CancelledError 'stop' | cancelled(): true true true");
}

LOOP_TEST_CASE("Task: describe() of a task in an await cycle prints the repeated task as ...") {
    TestLoop<LoopKind> s;
    Events events;
    Cycle cycle = s.loop.run_until_complete(make_cycle(2, &events));
    CHECK(cycle.tasks[0]->describe() ==
          "<Task pending name='Task-2' coro=<await_other()> wait_for=<Task pending "
          "name='Task-3' coro=<await_other()> wait_for=...>>");
    for (auto& task : cycle.tasks)
        task->cancel();
    s.loop.run_until_complete(sleep(1ms));
    CHECK(cycle.tasks[0]->cancelled());
    CHECK(cycle.tasks[1]->cancelled());
}

LOOP_TEST_CASE("Task: run() with an await cycle left behind: the shutdown cancels it and returns") {
    test_support::LoopRecorder<LoopKind> loops;
    Events events;
    CHECK(simrun::run(main_leaving_a_cycle(&events), {.loop_factory = loops.factory()}) == 5);
    CHECK(loops.last().is_closed());
    std::sort(events.begin(), events.end());
    CHECK(joined(events) == "t1: CancelledError '' | t2: CancelledError ''");
}

TEST_SUITE_END();
