// task_group(): asyncio.TaskGroup's rules (3.13).
#include <memory>
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

Coro<int> record_after(Duration delay, int value, Events* events) {
    try {
        co_await sleep(delay);
    } catch (const CancelledError&) {
        events->push_back("child " + std::to_string(value) + " cancelled at " + at_now());
        throw;
    }
    events->push_back("child " + std::to_string(value) + " done at " + at_now());
    co_return value;
}

Coro<int> fail_after(Duration delay, std::string message) {
    co_await sleep(delay);
    throw ValueError(message);
}

Coro<void> interrupt_after(Duration delay) {
    co_await sleep(delay);
    throw KeyboardInterrupt();
}

/// Runs `body` and describes how it ended.
Coro<std::string> outcome(Coro<void> body) {
    try {
        co_await std::move(body);
        co_return "ok at " + at_now();
    } catch (const ExceptionGroup& group) {
        std::string text = "ExceptionGroup(" + std::string(group.what()) + ")";
        for (const std::exception_ptr& error : group.exceptions())
            text += " [" + describe_exception(error) + "]";
        co_return text + " at " + at_now();
    } catch (const CancelledError&) {
        co_return "CancelledError at " + at_now();
    }
}

Coro<void> all_children_awaited(Events* events, std::vector<Task<int>>* tasks) {
    co_await task_group([events, tasks](TaskGroup& group) -> Coro<void> {
        // 19 ms apart: the order holds on the real loop even if a step is preempted in between.
        tasks->push_back(group.create_task(record_after(20ms, 1, events)));
        tasks->push_back(group.create_task(record_after(1ms, 2, events)));
        events->push_back("body done at " + at_now());
        co_return;
    });
    events->push_back("group done at " + at_now());
}

Coro<void> failing_child_cancels_siblings_and_body(Events* events) {
    co_await task_group([events](TaskGroup& group) -> Coro<void> {
        group.create_task(record_after(10s, 1, events));
        group.create_task(fail_after(1ms, "child failed"));
        try {
            co_await sleep(20s);
        } catch (const CancelledError&) {
            events->push_back("body cancelled at " + at_now());
            throw;
        }
    });
}

Coro<void> two_failures(Events* events) {
    co_await task_group([events](TaskGroup& group) -> Coro<void> {
        group.create_task(fail_after(1s, "first"));
        group.create_task(fail_after(1s, "second"));
        group.create_task(record_after(5s, 3, events));
        co_return;
    });
}

Coro<void> body_throws(Events* events) {
    co_await task_group([events](TaskGroup& group) -> Coro<void> {
        group.create_task(record_after(5s, 1, events));
        co_await sleep(1ms);
        throw ValueError("body failed");
    });
}

Coro<std::string> group_then_continue(Events* events) {
    std::string result = co_await outcome(failing_child_cancels_siblings_and_body(events));
    co_await sleep(1ms);  // the task is usable afterwards: the group withdrew its own cancellation
    events->push_back("after the group: cancelling=" + std::to_string(current_task().cancelling()));
    co_return result;
}

Coro<void> create_task_after_finish(Events* events) {
    co_await task_group([events](TaskGroup& group) -> Coro<void> {
        Task<int> last = group.create_task(record_after(1ms, 1, events));
        // Runs after the group's own done callback, before the group's exit resumes.
        last.add_done_callback([&group, events] {
            try {
                group.create_task(record_after(1ms, 2, events));
                events->push_back("created a task in a finished group");
            } catch (const RuntimeError& e) {
                events->push_back(std::string("RuntimeError: ") + e.what());
            }
        });
        co_return;
    });
}

Coro<void> create_task_while_shutting_down(Events* events) {
    co_await task_group([events](TaskGroup& group) -> Coro<void> {
        group.create_task(fail_after(1ms, "boom"));
        bool cancelled = false;
        try {
            co_await sleep(10s);
        } catch (const CancelledError&) {
            cancelled = true;
        }
        if (cancelled) {
            try {
                group.create_task(record_after(1ms, 9, events));
                events->push_back("created a task while shutting down");
            } catch (const RuntimeError& e) {
                events->push_back(std::string("RuntimeError: ") + e.what());
            }
            throw CancelledError();
        }
    });
}

Coro<void> child_interrupts(Events* events) {
    co_await task_group([events](TaskGroup& group) -> Coro<void> {
        group.create_task(interrupt_after(1ms));
        group.create_task(record_after(10s, 1, events));
        co_await sleep(20s);
    });
}

Coro<void> parent_cancelled_from_outside(Events* events) {
    co_await task_group([events](TaskGroup& group) -> Coro<void> {
        group.create_task(record_after(10s, 1, events));
        group.create_task(record_after(10s, 2, events));
        co_await sleep(20s);
    });
}

Coro<void> empty_group() {
    co_await task_group([](TaskGroup&) -> Coro<void> { co_return; });
}

}  // namespace

TEST_SUITE_BEGIN("sim-only");

LOOP_TEST_CASE("task_group: waits for every task it started") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    std::vector<Task<int>> tasks;
    s.loop.run_until_complete(all_children_awaited(&events, &tasks));
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"body done at 0ms", "child 2 done at 1ms", "child 1 done at 20ms",
                                  "group done at 20ms"})));
    REQUIRE(tasks.size() == 2);
    CHECK(tasks[0].result() == 1);
    CHECK(tasks[1].result() == 2);
}

LOOP_TEST_CASE("task_group: an empty group finishes at once") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    s.loop.run_until_complete(empty_group());
    CHECK(elapsed_is<LoopKind>(s.loop, start, 0s));
}

LOOP_TEST_CASE(
    "task_group: a failing task cancels its siblings and the body; errors come in an "
    "ExceptionGroup") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(
              outcome(failing_child_cancels_siblings_and_body(&events)))) ==
          timed<LoopKind>("ExceptionGroup(unhandled errors in a TaskGroup) [ValueError: child "
                          "failed] at 1ms"));
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"child 1 cancelled at 1ms", "body cancelled at 1ms"})));
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "task_group: the parent task is not left cancelled after the group handled a failure") {
    test_support::TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Events events;
    Task<std::string> task = s.loop.create_task(group_then_continue(&events));
    CHECK(s.loop.run_until_complete(task).find("ExceptionGroup") == 0);
    CHECK_FALSE(task.cancelled());
    CHECK(events.back() == "after the group: cancelling=0");
    CHECK(elapsed_is<LoopKind>(s.loop, start, 2ms));
}

// Sim-only: both children fail at the same virtual time; the order is the tie order.
TEST_CASE("task_group: several failures are all in the ExceptionGroup, in order") {
    Sim s({.shuffle_timer_ties = false});  // both fail at 1s: in creation order
    Events events;
    CHECK(s.loop.run_until_complete(outcome(two_failures(&events))) ==
          "ExceptionGroup(unhandled errors in a TaskGroup) [ValueError: first] [ValueError: "
          "second] at 1000ms");
    CHECK(joined(events) == joined({"child 3 cancelled at 1000ms"}));
}

LOOP_TEST_CASE(
    "task_group: an exception from the body cancels the tasks and joins the ExceptionGroup") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome(body_throws(&events)))) ==
          timed<LoopKind>(
              "ExceptionGroup(unhandled errors in a TaskGroup) [ValueError: body failed] at 1ms"));
    CHECK(timed<LoopKind>(joined(events)) == timed<LoopKind>(joined({"child 1 cancelled at 1ms"})));
}

LOOP_TEST_CASE("task_group: create_task on a finished group raises RuntimeError") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    CHECK(timed<LoopKind>(s.loop.run_until_complete(outcome(create_task_after_finish(&events)))) ==
          timed<LoopKind>("ok at 1ms"));
    REQUIRE(events.size() == 2);
    CHECK(timed<LoopKind>(events[0]) == timed<LoopKind>("child 1 done at 1ms"));
    CHECK(events[1].find("RuntimeError: ") == 0);
    CHECK(events[1].find("is finished") != std::string::npos);
}

LOOP_TEST_CASE("task_group: create_task while the group is shutting down raises RuntimeError") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    CHECK(timed<LoopKind>(
              s.loop.run_until_complete(outcome(create_task_while_shutting_down(&events)))) ==
          timed<LoopKind>(
              "ExceptionGroup(unhandled errors in a TaskGroup) [ValueError: boom] at 1ms"));
    REQUIRE(events.size() == 1);
    CHECK(events[0].find("RuntimeError: ") == 0);
    CHECK(events[0].find("is shutting down") != std::string::npos);
}

LOOP_TEST_CASE(
    "task_group: KeyboardInterrupt from a child is re-raised as itself, not in an ExceptionGroup") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    Task<void> main_task = s.loop.create_task(child_interrupts(&events));
    // As in asyncio, the child's KeyboardInterrupt first escapes the loop itself...
    CHECK_THROWS_AS(s.loop.run_until_complete(main_task), KeyboardInterrupt);
    CHECK_FALSE(main_task.done());
    // ... and once the loop runs again, the group cancels the rest and re-raises it as it is.
    CHECK_THROWS_AS(s.loop.run_until_complete(main_task), KeyboardInterrupt);
    CHECK(main_task.done());
    CHECK_THROWS_AS(std::rethrow_exception(main_task.exception()), KeyboardInterrupt);
    CHECK(timed<LoopKind>(joined(events)) == timed<LoopKind>(joined({"child 1 cancelled at 1ms"})));
}

LOOP_TEST_CASE(
    "task_group: cancelling the parent from outside cancels the tasks and propagates "
    "CancelledError") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    Task<std::string> task = s.loop.create_task(outcome(parent_cancelled_from_outside(&events)));
    s.loop.call_later(2ms, [task]() mutable { task.cancel(); });
    CHECK(timed<LoopKind>(s.loop.run_until_complete(task)) ==
          timed<LoopKind>("CancelledError at 2ms"));
    CHECK(timed<LoopKind>(joined(events)) ==
          timed<LoopKind>(joined({"child 1 cancelled at 2ms", "child 2 cancelled at 2ms"})));
    CHECK(task.cancelling() == 1);
}

LOOP_TEST_CASE("task_group: an outside cancellation of the parent task ends it cancelled") {
    test_support::TestLoop<LoopKind> s;
    Events events;
    Task<void> task = s.loop.create_task(parent_cancelled_from_outside(&events));
    s.loop.call_later(2ms, [task]() mutable { task.cancel(); });
    CHECK_THROWS_AS(s.loop.run_until_complete(task), CancelledError);
    CHECK(task.cancelled());
    CHECK(s.loop.all_tasks().empty());
}

TEST_SUITE_END();
