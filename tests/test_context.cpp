// Context, ContextVar, copy_context, tokens, and how tasks and callbacks inherit contexts (on both
// loops).
#include <string>
#include <vector>

#include "support.hpp"

using namespace simrun;
using test_support::joined;
using test_support::TestLoop;

namespace {

using Events = std::vector<std::string>;

ContextVar<std::string> request_id("request_id", "none");
ContextVar<int> counter("counter");

Coro<void> child_reads_and_sets(Events* events, Duration delay) {
    events->push_back("child sees " + request_id.get());
    request_id.set("child");
    co_await sleep(delay);
    events->push_back("child after sleep sees " + request_id.get());
}

Coro<void> parent_spawns_child(Events* events) {
    request_id.set("parent");
    Task<void> child = create_task(child_reads_and_sets(events, 2ms));
    request_id.set("parent-later");
    co_await sleep(1ms);
    events->push_back("parent sees " + request_id.get());
    co_await child;
    events->push_back("parent after child sees " + request_id.get());
}

Coro<void> wait_forever() {
    Future<void> never = get_running_loop().create_future<void>();
    co_await never;
}

Coro<int> read_counter_and_increment() {
    int value = counter.get(0);
    counter.set(value + 1);
    co_await yield_now();
    co_return counter.get();
}

Coro<void> schedule_callbacks(Events* events) {
    request_id.set("scheduled-1");
    get_running_loop().call_soon([events] {
        events->push_back("callback 1 sees " + request_id.get());
        request_id.set("set inside callback");
    });
    request_id.set("scheduled-2");
    get_running_loop().call_later(
        1ms, [events] { events->push_back("callback 2 sees " + request_id.get()); });
    request_id.set("after scheduling");
    co_await sleep(2ms);
    events->push_back("task sees " + request_id.get());
}

Coro<void> done_callback_context(Events* events) {
    Future<int> future = get_running_loop().create_future<int>();
    request_id.set("when added");
    future.add_done_callback(
        [events] { events->push_back("done callback sees " + request_id.get()); });
    request_id.set("when set");
    future.set_result(1);
    co_await sleep(1ms);
}

}  // namespace

// The first tests need no loop: in no suite.

// These need no loop at all.
TEST_SUITE_BEGIN("loop-free");

TEST_CASE("ContextVar: default, set, get and LookupError without a value") {
    Context context;
    context.run([] {
        CHECK(request_id.get() == "none");
        CHECK_THROWS_AS(counter.get(), LookupError);
        CHECK(counter.get(5) == 5);
        auto token = counter.set(1);
        CHECK(counter.get() == 1);
        CHECK_FALSE(token.old_value().has_value());
        counter.set(2);
        CHECK(counter.get() == 2);
    });
    CHECK(context.get(counter) == 2);
    CHECK_FALSE(context.get(request_id).has_value());
    CHECK(counter.name() == "counter");
}

TEST_CASE("ContextVar: reset() restores the previous value, or no value") {
    Context context;
    context.run([] {
        auto first = counter.set(1);
        auto second = counter.set(2);
        CHECK(second.old_value() == 1);
        counter.reset(second);
        CHECK(counter.get() == 1);
        counter.reset(first);
        CHECK_THROWS_AS(counter.get(), LookupError);
    });
}

TEST_CASE("ContextVar: a token can be used only once") {
    Context context;
    context.run([] {
        auto token = counter.set(1);
        counter.reset(token);
        CHECK_THROWS_WITH_AS(counter.reset(token), "Token has already been used once",
                             RuntimeError);
    });
}

TEST_CASE("ContextVar: a token of another variable or another context raises ValueError") {
    Context first;
    Context second;
    first.run([&second] {
        auto token = counter.set(1);
        ContextVar<int> other("other");
        CHECK_THROWS_AS(other.reset(token), ValueError);
        second.run([&token] { CHECK_THROWS_AS(counter.reset(token), ValueError); });
        counter.reset(token);  // still usable in its own context
        CHECK_THROWS_AS(counter.get(), LookupError);
    });
}

TEST_CASE(
    "Context: copy() and copy_context() are independent snapshots; copies of a handle share") {
    Context original;
    original.run([] { counter.set(1); });
    Context snapshot = original.copy();
    Context same = original;
    original.run([] { counter.set(2); });
    CHECK(snapshot.get(counter) == 1);
    CHECK(same.get(counter) == 2);
    CHECK(same == original);
    CHECK_FALSE(snapshot == original);
    snapshot.run([] {
        Context inner = copy_context();
        CHECK(inner.get(counter) == 1);
        counter.set(3);
        CHECK(inner.get(counter) == 1);
    });
    CHECK(snapshot.get(counter) == 3);
    CHECK(snapshot.size() == 1);
}

TEST_CASE("Context: entering a context that is already entered raises RuntimeError") {
    Context context;
    bool inner_ran = false;
    context.run([&] {
        CHECK_THROWS_AS(context.run([&inner_ran] { inner_ran = true; }), RuntimeError);
        counter.set(1);  // the outer run is still in its context
    });
    CHECK_FALSE(inner_ran);
    CHECK(context.get(counter) == 1);
    // After leaving it, the context can be entered again.
    context.run([] { CHECK(counter.get() == 1); });
}

TEST_SUITE_END();

TEST_SUITE_BEGIN("sim-only");

LOOP_TEST_CASE("Context: each task runs in a copy of its creator's context") {
    TestLoop<LoopKind> s;
    Events events;
    Context outer;
    outer.run([&] { s.loop.run_until_complete(parent_spawns_child(&events)); });
    CHECK(joined(events) ==
          joined({"child sees parent", "parent sees parent-later", "child after sleep sees child",
                  "parent after child sees parent-later"}));
    // The task ran in a copy of `outer`: nothing leaked back.
    CHECK_FALSE(outer.get(request_id).has_value());
}

LOOP_TEST_CASE("Context: tasks created from the same context do not see each other's changes") {
    TestLoop<LoopKind> s;
    Context context;
    context.run([] { counter.set(10); });
    std::vector<Task<int>> tasks;
    context.run([&] {
        tasks.push_back(s.loop.create_task(read_counter_and_increment()));
        tasks.push_back(s.loop.create_task(read_counter_and_increment()));
    });
    s.loop.run_until_complete(gather(tasks));
    CHECK(tasks[0].result() == 11);
    CHECK(tasks[1].result() == 11);
    CHECK(context.get(counter) == 10);
}

LOOP_TEST_CASE("Context: TaskOptions.context runs the task in exactly that context") {
    TestLoop<LoopKind> s;
    Context context;
    context.run([] { counter.set(41); });
    Task<int> task = s.loop.create_task(read_counter_and_increment(), {.context = context});
    CHECK(s.loop.run_until_complete(task) == 42);
    CHECK(context.get(counter) == 42);
    Task<int> again = s.loop.create_task(read_counter_and_increment(), {.context = context});
    CHECK(s.loop.run_until_complete(again) == 43);
}

LOOP_TEST_CASE(
    "Context: call_soon / call_later callbacks run in a copy of the scheduling context") {
    TestLoop<LoopKind> s;
    Events events;
    Context context;
    context.run([&] { s.loop.run_until_complete(schedule_callbacks(&events)); });
    CHECK(joined(events) == joined({"callback 1 sees scheduled-1", "callback 2 sees scheduled-2",
                                    "task sees after scheduling"}));
}

LOOP_TEST_CASE("Context: a callback scheduled from outside any task sees the caller's context") {
    TestLoop<LoopKind> s;
    Events events;
    Context context;
    context.run([&] {
        request_id.set("outside");
        s.loop.call_soon([&events] { events.push_back("callback sees " + request_id.get()); });
        request_id.set("changed");
    });
    s.loop.run_until_complete(sleep(1ms));
    CHECK(joined(events) == joined({"callback sees outside"}));
    CHECK(context.get(request_id) == "changed");
}

LOOP_TEST_CASE("Context: future done callbacks run in the context current when they were added") {
    TestLoop<LoopKind> s;
    Events events;
    Context context;
    context.run([&] { s.loop.run_until_complete(done_callback_context(&events)); });
    CHECK(joined(events) == joined({"done callback sees when added"}));
}

LOOP_TEST_CASE("Context: callbacks scheduled where no variable is set run in a copy of that") {
    // An empty context has no map at all (the cheap case): its callbacks must still run in a
    // context of their own, not in the loop's current one.
    TestLoop<LoopKind> s;
    Events events;
    std::vector<std::string> handler_saw;
    s.loop.set_exception_handler([&handler_saw](EventLoop&, const ExceptionContext&) {
        handler_saw.push_back("handler sees " + request_id.get());
    });
    Future<void> future = s.loop.create_future();
    Context empty;
    empty.run([&] {
        s.loop.call_soon([&events] {
            events.push_back("call_soon sees " + request_id.get());
            request_id.set("leaked");
        });
        s.loop.call_later(1ms, [&events] {
            events.push_back("call_later sees " + request_id.get());
            request_id.set("leaked");
        });
        future.add_done_callback([&events] {
            events.push_back("done callback sees " + request_id.get());
            request_id.set("leaked");
        });
        s.loop.call_soon([] { throw ValueError("failed"); });
    });
    // The context the loop runs in has a value: the callbacks must neither see nor change it.
    auto token = request_id.set("loop");
    future.set_result();
    s.loop.run_until_complete(sleep(2ms));
    const std::string after = request_id.get();
    request_id.reset(token);
    CHECK(joined(events) ==
          joined({"call_soon sees none", "done callback sees none", "call_later sees none"}));
    CHECK(joined(handler_saw) == "handler sees none");
    CHECK(after == "loop");
    CHECK(empty.size() == 0);
    CHECK(request_id.get() == "none");
}

LOOP_TEST_CASE(
    "Context: a custom exception handler runs in the context of the callback it reports (3.12+)") {
    TestLoop<LoopKind> s;
    std::vector<std::string> seen;
    s.loop.set_exception_handler([&seen](EventLoop&, const ExceptionContext&) {
        seen.push_back("handler sees " + request_id.get());
    });
    Context context;
    context.run([&] {
        request_id.set("callback context");
        s.loop.call_soon([] { throw ValueError("failed"); });
    });
    s.loop.run_until_complete(sleep(1ms));
    CHECK(joined(seen) == "handler sees callback context");
}

LOOP_TEST_CASE(
    "Context: a custom exception handler runs in the context of the task it reports (3.12+)") {
    TestLoop<LoopKind> s;
    std::vector<std::string> seen;
    s.loop.set_exception_handler([&seen](EventLoop&, const ExceptionContext&) {
        seen.push_back("handler sees " + request_id.get());
    });
    Context context;
    context.run([] { request_id.set("task context"); });
    Task<void> stuck = s.loop.create_task(wait_forever(), {.context = context});
    s.loop.run_until_complete(sleep(1ms));
    s.loop.close();
    CHECK(joined(seen) == "handler sees task context");
}

TEST_SUITE_END();
