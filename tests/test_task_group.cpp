// task_group(): asyncio.TaskGroup's rules (3.13).
#include <memory>
#include <string>
#include <vector>

#include "support.hpp"

using namespace simrun;
using test_support::at_now;
using test_support::joined;
using test_support::Sim;

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
        tasks->push_back(group.create_task(record_after(3s, 1, events)));
        tasks->push_back(group.create_task(record_after(1s, 2, events)));
        events->push_back("body done at " + at_now());
        co_return;
    });
    events->push_back("group done at " + at_now());
}

Coro<void> failing_child_cancels_siblings_and_body(Events* events) {
    co_await task_group([events](TaskGroup& group) -> Coro<void> {
        group.create_task(record_after(10s, 1, events));
        group.create_task(fail_after(1s, "child failed"));
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
        co_await sleep(1s);
        throw ValueError("body failed");
    });
}

Coro<std::string> group_then_continue(Events* events) {
    std::string result = co_await outcome(failing_child_cancels_siblings_and_body(events));
    co_await sleep(1s);  // the task is usable afterwards: the group withdrew its own cancellation
    events->push_back("after the group: cancelling=" + std::to_string(current_task().cancelling()));
    co_return result;
}

Coro<void> create_task_after_finish(Events* events) {
    co_await task_group([events](TaskGroup& group) -> Coro<void> {
        Task<int> last = group.create_task(record_after(1s, 1, events));
        // Runs after the group's own done callback, before the group's exit resumes.
        last.add_done_callback([&group, events] {
            try {
                group.create_task(record_after(1s, 2, events));
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
        group.create_task(fail_after(1s, "boom"));
        bool cancelled = false;
        try {
            co_await sleep(10s);
        } catch (const CancelledError&) {
            cancelled = true;
        }
        if (cancelled) {
            try {
                group.create_task(record_after(1s, 9, events));
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
        group.create_task(interrupt_after(1s));
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

TEST_CASE("task_group: waits for every task it started") {
    Sim s;
    Events events;
    std::vector<Task<int>> tasks;
    s.loop.run_until_complete(all_children_awaited(&events, &tasks));
    CHECK(joined(events) == joined({"body done at 0ms", "child 2 done at 1000ms",
                                    "child 1 done at 3000ms", "group done at 3000ms"}));
    REQUIRE(tasks.size() == 2);
    CHECK(tasks[0].result() == 1);
    CHECK(tasks[1].result() == 2);
}

TEST_CASE("task_group: an empty group finishes at once") {
    Sim s;
    s.loop.run_until_complete(empty_group());
    CHECK(s.loop.time() == 0s);
}

TEST_CASE(
    "task_group: a failing task cancels its siblings and the body; errors come in an "
    "ExceptionGroup") {
    Sim s;
    Events events;
    CHECK(s.loop.run_until_complete(outcome(failing_child_cancels_siblings_and_body(&events))) ==
          "ExceptionGroup(unhandled errors in a TaskGroup) [ValueError: child failed] at 1000ms");
    CHECK(joined(events) == joined({"child 1 cancelled at 1000ms", "body cancelled at 1000ms"}));
    CHECK(s.errors.contexts.empty());
}

TEST_CASE("task_group: the parent task is not left cancelled after the group handled a failure") {
    Sim s;
    Events events;
    Task<std::string> task = s.loop.create_task(group_then_continue(&events));
    CHECK(s.loop.run_until_complete(task).find("ExceptionGroup") == 0);
    CHECK_FALSE(task.cancelled());
    CHECK(events.back() == "after the group: cancelling=0");
    CHECK(s.loop.time() == 2s);
}

TEST_CASE("task_group: several failures are all in the ExceptionGroup, in order") {
    Sim s({.shuffle_timer_ties = false});  // both fail at 1s: in creation order
    Events events;
    CHECK(s.loop.run_until_complete(outcome(two_failures(&events))) ==
          "ExceptionGroup(unhandled errors in a TaskGroup) [ValueError: first] [ValueError: "
          "second] at 1000ms");
    CHECK(joined(events) == joined({"child 3 cancelled at 1000ms"}));
}

TEST_CASE("task_group: an exception from the body cancels the tasks and joins the ExceptionGroup") {
    Sim s;
    Events events;
    CHECK(s.loop.run_until_complete(outcome(body_throws(&events))) ==
          "ExceptionGroup(unhandled errors in a TaskGroup) [ValueError: body failed] at 1000ms");
    CHECK(joined(events) == joined({"child 1 cancelled at 1000ms"}));
}

TEST_CASE("task_group: create_task on a finished group raises RuntimeError") {
    Sim s;
    Events events;
    CHECK(s.loop.run_until_complete(outcome(create_task_after_finish(&events))) == "ok at 1000ms");
    REQUIRE(events.size() == 2);
    CHECK(events[0] == "child 1 done at 1000ms");
    CHECK(events[1].find("RuntimeError: ") == 0);
    CHECK(events[1].find("is finished") != std::string::npos);
}

TEST_CASE("task_group: create_task while the group is shutting down raises RuntimeError") {
    Sim s;
    Events events;
    CHECK(s.loop.run_until_complete(outcome(create_task_while_shutting_down(&events))) ==
          "ExceptionGroup(unhandled errors in a TaskGroup) [ValueError: boom] at 1000ms");
    REQUIRE(events.size() == 1);
    CHECK(events[0].find("RuntimeError: ") == 0);
    CHECK(events[0].find("is shutting down") != std::string::npos);
}

TEST_CASE(
    "task_group: KeyboardInterrupt from a child is re-raised as itself, not in an ExceptionGroup") {
    Sim s;
    Events events;
    Task<void> main_task = s.loop.create_task(child_interrupts(&events));
    // As in asyncio, the child's KeyboardInterrupt first escapes the loop itself...
    CHECK_THROWS_AS(s.loop.run_until_complete(main_task), KeyboardInterrupt);
    CHECK_FALSE(main_task.done());
    // ... and once the loop runs again, the group cancels the rest and re-raises it as it is.
    CHECK_THROWS_AS(s.loop.run_until_complete(main_task), KeyboardInterrupt);
    CHECK(main_task.done());
    CHECK_THROWS_AS(std::rethrow_exception(main_task.exception()), KeyboardInterrupt);
    CHECK(joined(events) == joined({"child 1 cancelled at 1000ms"}));
}

TEST_CASE(
    "task_group: cancelling the parent from outside cancels the tasks and propagates "
    "CancelledError") {
    Sim s;
    Events events;
    Task<std::string> task = s.loop.create_task(outcome(parent_cancelled_from_outside(&events)));
    s.loop.call_later(2s, [task]() mutable { task.cancel(); });
    CHECK(s.loop.run_until_complete(task) == "CancelledError at 2000ms");
    CHECK(joined(events) == joined({"child 1 cancelled at 2000ms", "child 2 cancelled at 2000ms"}));
    CHECK(task.cancelling() == 1);
}

TEST_CASE("task_group: an outside cancellation of the parent task ends it cancelled") {
    Sim s;
    Events events;
    Task<void> task = s.loop.create_task(parent_cancelled_from_outside(&events));
    s.loop.call_later(2s, [task]() mutable { task.cancel(); });
    CHECK_THROWS_AS(s.loop.run_until_complete(task), CancelledError);
    CHECK(task.cancelled());
    CHECK(s.loop.all_tasks().empty());
}
