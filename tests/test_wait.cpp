// wait(): ports of CPython's test_wait* tests and the rules of asyncio.wait (3.13), on both
// loops (exact times on the sim).
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

Coro<int> value_after(Duration delay, int value) {
    co_await sleep(delay);
    co_return value;
}

Coro<std::string> text_now(std::string value) {
    co_return value;
}

Coro<void> fail_after(Duration delay, std::string message) {
    co_await sleep(delay);
    throw ValueError(message);
}

Coro<void> yields(int count) {
    for (int i = 0; i < count; ++i)
        co_await sleep(0s);
}

/// The names of `handles`, "a | b".
template <class H>
std::string names(const std::vector<H>& handles) {
    std::vector<std::string> all;
    for (const H& handle : handles)
        all.push_back(handle.name());
    return joined(all);
}

template <class H>
Coro<int> wait_all_then_42(std::vector<H> tasks, std::string* done, std::string* pending) {
    auto [finished, late] = co_await wait(std::move(tasks));
    *done = names(finished);
    *pending = names(late);
    co_return 42;
}

Coro<std::string> wait_recording_order(std::vector<Task<int>> tasks, Events* events) {
    get_running_loop().call_soon([events] { events->push_back("callback queued before"); });
    auto result = co_await wait(std::move(tasks));
    events->push_back("wait returned");
    co_return names(result.done);
}

Coro<void> wait_and_note_cancel(std::vector<Task<int>> tasks, Events* events) {
    try {
        co_await wait(std::move(tasks));
    } catch (const CancelledError&) {
        events->push_back("wait cancelled");
        throw;
    }
}

template <class Arg>
concept wait_accepts = requires(Arg arg) {
    simrun::wait(std::move(arg));
};

}  // namespace

// test_wait_invalid_args: asyncio raises TypeError for a single future or coroutine and for a
// list of coroutines; here none of these compile.
static_assert(wait_accepts<std::vector<Task<int>>>);
static_assert(wait_accepts<std::vector<Future<int>>>);
static_assert(wait_accepts<std::vector<TaskRef>>);
static_assert(!wait_accepts<Task<int>>);
static_assert(!wait_accepts<Future<int>>);
static_assert(!wait_accepts<Coro<int>>);
static_assert(!wait_accepts<std::vector<Coro<int>>>);

LOOP_TEST_CASE("wait: test_wait") {
    TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Task<void> a = s.loop.create_task(sleep(10ms), {.name = "a"});
    Task<void> b = s.loop.create_task(sleep(15ms), {.name = "b"});
    std::string done;
    std::string pending;
    CHECK(s.loop.run_until_complete(wait_all_then_42(std::vector{b, a}, &done, &pending)) == 42);
    CHECK(done == "b | a");  // the input's order
    CHECK(pending.empty());
    CHECK(elapsed_is<LoopKind>(s.loop, start, 15ms));
    // Doing it again takes no time.
    const Duration again = s.loop.time();
    CHECK(s.loop.run_until_complete(wait_all_then_42(std::vector{b, a}, &done, &pending)) == 42);
    CHECK(done == "b | a");
    if constexpr (LoopKind::is_sim)
        CHECK(s.loop.time() == again);
}

LOOP_TEST_CASE("wait: test_wait_duplicate_coroutines") {
    TestLoop<LoopKind> s;
    Task<std::string> c = s.loop.create_task(text_now("test"));
    Task<std::string> spam = s.loop.create_task(text_now("spam"));
    auto [done, pending] = s.loop.run_until_complete(wait(std::vector{c, c, spam}));
    CHECK(pending.empty());
    REQUIRE(done.size() == 2);
    CHECK(done[0].result() == "test");
    CHECK(done[1].result() == "spam");
}

LOOP_TEST_CASE("wait: test_wait_errors") {
    TestLoop<LoopKind> s;
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(wait(std::vector<Task<int>>{})),
                         "Set of Tasks/Futures is empty.", ValueError);
    Task<int> task = s.loop.create_task(value_after(1ms, 1));
    CHECK_THROWS_WITH_AS(
        s.loop.run_until_complete(wait(std::vector{task}, std::nullopt, ReturnWhen(-1))),
        "Invalid return_when value: -1", ValueError);
    // The emptiness check comes first.
    CHECK_THROWS_WITH_AS(
        s.loop.run_until_complete(wait(std::vector<Task<int>>{}, std::nullopt, ReturnWhen(7))),
        "Set of Tasks/Futures is empty.", ValueError);
    CHECK(s.loop.run_until_complete(task) == 1);
}

LOOP_TEST_CASE("wait: test_wait_invalid_args") {
    TestLoop<LoopKind> s;
    // (the TypeError cases are the static_asserts above)
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(wait(std::vector<Future<int>>{})),
                         "Set of Tasks/Futures is empty.", ValueError);
}

LOOP_TEST_CASE("wait: test_wait_first_completed") {
    TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Task<void> a = s.loop.create_task(sleep(10s), {.name = "a"});
    Task<void> b = s.loop.create_task(sleep(10ms), {.name = "b"});
    auto [done, pending] = s.loop.run_until_complete(
        wait(std::vector{b, a}, std::nullopt, ReturnWhen::first_completed));
    CHECK(names(done) == "b");
    CHECK(names(pending) == "a");
    CHECK_FALSE(a.done());
    CHECK(b.done());
    CHECK_NOTHROW(b.result());
    CHECK(elapsed_is<LoopKind>(s.loop, start, 10ms));
    a.cancel();
    s.loop.run_until_complete(wait(std::vector{a, b}));
}

LOOP_TEST_CASE("wait: test_wait_really_done") {
    TestLoop<LoopKind> s;
    // Some tasks of the pending list may be done with their callbacks not yet run.
    Task<void> a = s.loop.create_task(yields(1), {.name = "a"});
    Task<void> b = s.loop.create_task(yields(2), {.name = "b"});
    auto [done, pending] = s.loop.run_until_complete(
        wait(std::vector{b, a}, std::nullopt, ReturnWhen::first_completed));
    CHECK(names(done) == "b | a");
    CHECK(pending.empty());
    CHECK(a.done());
    CHECK(b.done());
}

LOOP_TEST_CASE("wait: test_wait_first_exception") {
    TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Task<void> a = s.loop.create_task(sleep(10s), {.name = "a"});
    Task<void> b = s.loop.create_task(fail_after(0s, "err"), {.name = "b"});
    auto [done, pending] = s.loop.run_until_complete(
        wait(std::vector{b, a}, std::nullopt, ReturnWhen::first_exception));
    CHECK(names(done) == "b");
    CHECK(names(pending) == "a");
    CHECK(elapsed_is<LoopKind>(s.loop, start, 0s));
    a.cancel();
    s.loop.run_until_complete(wait(std::vector{a, b}));
}

LOOP_TEST_CASE("wait: test_wait_first_exception_in_wait") {
    TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Task<void> a = s.loop.create_task(sleep(10s), {.name = "a"});
    Task<void> b = s.loop.create_task(fail_after(10ms, "err"), {.name = "b"});
    auto [done, pending] = s.loop.run_until_complete(
        wait(std::vector{b, a}, std::nullopt, ReturnWhen::first_exception));
    CHECK(names(done) == "b");
    CHECK(names(pending) == "a");
    CHECK(elapsed_is<LoopKind>(s.loop, start, 10ms));
    a.cancel();
    s.loop.run_until_complete(wait(std::vector{a, b}));
}

LOOP_TEST_CASE("wait: test_wait_with_exception") {
    TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Task<void> a = s.loop.create_task(sleep(10ms), {.name = "a"});
    Task<void> b = s.loop.create_task(fail_after(15ms, "really"), {.name = "b"});
    for (int round = 0; round < 2; ++round) {
        auto [done, pending] = s.loop.run_until_complete(wait(std::vector{b, a}));
        CHECK(done.size() == 2);
        CHECK(pending.empty());
        int errors = 0;
        for (Task<void>& task : done)
            errors += task.exception() ? 1 : 0;
        CHECK(errors == 1);
        CHECK(elapsed_is<LoopKind>(s.loop, start, 15ms));  // the second round takes no time
    }
}

LOOP_TEST_CASE("wait: test_wait_with_timeout") {
    TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Task<void> a = s.loop.create_task(sleep(10ms), {.name = "a"});
    Task<void> b = s.loop.create_task(sleep(40ms), {.name = "b"});
    auto [done, pending] = s.loop.run_until_complete(wait(std::vector{b, a}, 11ms));
    CHECK(names(done) == "a");
    CHECK(names(pending) == "b");
    CHECK(elapsed_is<LoopKind>(s.loop, start, 11ms));
    // WT4: the timeout cancelled nothing.
    CHECK_FALSE(b.cancelled());
    CHECK_FALSE(b.done());
    s.loop.run_until_complete(wait(std::vector{a, b}));
    CHECK_FALSE(b.cancelled());
}

// Sim-only: the timeout and a's sleep are due at the same instant; asyncio's test loop fires
// them in creation order, which the simulator does with shuffle_timer_ties off.
TEST_CASE("wait: test_wait_concurrent_complete" * doctest::test_suite("sim-only")) {
    test_support::Sim s(sim::SimOptions{.shuffle_timer_ties = false});
    Task<void> a = s.loop.create_task(sleep(100ms), {.name = "a"});
    Task<void> b = s.loop.create_task(sleep(150ms), {.name = "b"});
    auto [done, pending] = s.loop.run_until_complete(wait(std::vector{b, a}, 100ms));
    CHECK(names(done) == "a");
    CHECK(names(pending) == "b");
    CHECK(s.loop.time() == 100ms);
    s.loop.run_until_complete(wait(std::vector{a, b}));
}

// ---- the rules (WT1-WT5) beyond the ports ----------------------------------------------------

LOOP_TEST_CASE("wait: always suspends at least once, even when everything is done (WT5)") {
    TestLoop<LoopKind> s;
    Task<int> task = s.loop.create_task(value_after(0s, 1), {.name = "t"});
    s.loop.run_until_complete(task);
    Events events;
    CHECK(s.loop.run_until_complete(wait_recording_order(std::vector{task}, &events)) == "t");
    CHECK(joined(events) == joined({"callback queued before", "wait returned"}));
}

LOOP_TEST_CASE("wait: a timeout of zero or less gives everything pending a loop turn later") {
    TestLoop<LoopKind> s;
    Task<int> slow = s.loop.create_task(value_after(5s, 1), {.name = "slow"});
    for (Duration limit : {Duration::zero(), Duration(-1s)}) {
        auto [done, pending] = s.loop.run_until_complete(wait(std::vector{slow}, limit));
        CHECK(done.empty());
        CHECK(names(pending) == "slow");
        CHECK_FALSE(slow.cancelled());
    }
    slow.cancel();
    s.loop.run_until_complete(wait(std::vector{slow}));
}

LOOP_TEST_CASE("wait: cancelling the waiting task cancels none of the tasks (WT4)") {
    TestLoop<LoopKind> s;
    Event release;
    Task<int> child = s.loop.create_task([](Event* event) -> Coro<int> {
        co_await event->wait();
        co_return 3;
    }(&release));
    Events events;
    Task<void> waiter = s.loop.create_task(wait_and_note_cancel(std::vector{child}, &events));
    s.loop.run_until_complete(yields(2));
    CHECK(waiter.cancel());
    CHECK_THROWS_AS(s.loop.run_until_complete(waiter), CancelledError);
    CHECK(joined(events) == "wait cancelled");
    CHECK_FALSE(child.done());
    CHECK(child.cancelling() == 0);
    release.set();
    CHECK(s.loop.run_until_complete(child) == 3);
}

LOOP_TEST_CASE("wait: a cancelled task does not count as an exception for first_exception") {
    TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Task<int> doomed = s.loop.create_task(value_after(10s, 1), {.name = "doomed"});
    Task<int> slow = s.loop.create_task(value_after(20ms, 2), {.name = "slow"});
    s.loop.call_later(1ms, [doomed]() mutable { doomed.cancel(); });
    auto [done, pending] = s.loop.run_until_complete(
        wait(std::vector{doomed, slow}, 10s, ReturnWhen::first_exception));
    CHECK(names(done) == "doomed | slow");  // it returned only once everything was done
    CHECK(pending.empty());
    CHECK(doomed.cancelled());
    CHECK(elapsed_is<LoopKind>(s.loop, start, 20ms));
}

// asyncio looks at the exception only when the future is not the last one to finish (its test
// is `counter <= 0 or ... or f.exception() is not None`): a second, slower task is needed.
LOOP_TEST_CASE("wait: first_exception marks the failure as retrieved, all_completed does not") {
    TestLoop<LoopKind> s;
    Task<int> slow = s.loop.create_task(value_after(10s, 1));
    {
        std::vector<Task<void>> tasks{s.loop.create_task(fail_after(0s, "seen"))};
        std::vector<TaskRef> both{tasks[0], slow};
        auto result = s.loop.run_until_complete(
            wait(std::move(both), std::nullopt, ReturnWhen::first_exception));
        CHECK(result.done.size() == 1);
    }
    CHECK(s.errors.contexts.empty());
    {
        std::vector<TaskRef> both{s.loop.create_task(fail_after(0s, "unseen")), slow};
        auto result = s.loop.run_until_complete(
            wait(std::move(both), std::nullopt, ReturnWhen::first_completed));
        CHECK(result.done.size() == 1);
    }
    CHECK(s.errors.count("Task exception was never retrieved") == 1);
    slow.cancel();
    s.loop.run_until_complete(wait(std::vector{slow}));
}

LOOP_TEST_CASE("wait: futures, and tasks of different types as TaskRefs") {
    TestLoop<LoopKind> s;
    Future<int> future = s.loop.template create_future<int>();
    Future<int> never = s.loop.template create_future<int>();
    s.loop.call_later(1ms, [future]() mutable { future.set_result(5); });
    auto [done, pending] = s.loop.run_until_complete(
        wait(std::vector{never, future}, std::nullopt, ReturnWhen::first_completed));
    REQUIRE(done.size() == 1);
    CHECK(done[0].result() == 5);
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].state() == never.state());

    std::vector<TaskRef> mixed{s.loop.create_task(value_after(1ms, 1), {.name = "int"}),
                               s.loop.create_task(text_now("text"), {.name = "text"}),
                               s.loop.create_task(sleep(2ms), {.name = "void"})};
    auto both = s.loop.run_until_complete(wait(mixed, std::nullopt, ReturnWhen::all_completed));
    CHECK(names(both.done) == "int | text | void");
    CHECK(both.pending.empty());
}

LOOP_TEST_CASE("wait: a future of another loop, or an empty handle, is rejected with ValueError") {
    TestLoop<LoopKind> one;
    TestLoop<LoopKind> two;
    Future<int> foreign = two.loop.template create_future<int>();
    CHECK_THROWS_WITH_AS(one.loop.run_until_complete(wait(std::vector{foreign})),
                         "The future belongs to a different loop than the one specified as the "
                         "loop argument",
                         ValueError);
    CHECK_THROWS_WITH_AS(one.loop.run_until_complete(wait(std::vector{Task<int>()})),
                         "an empty Task or Future handle was passed", ValueError);
}

LOOP_TEST_CASE("wait: the largest timeout is no limit") {
    TestLoop<LoopKind> s;
    const Duration start = s.loop.time();
    Task<int> task = s.loop.create_task(value_after(1ms, 1), {.name = "t"});
    auto [done, pending] = s.loop.run_until_complete(wait(std::vector{task}, Duration::max()));
    CHECK(names(done) == "t");
    CHECK(pending.empty());
    CHECK(elapsed_is<LoopKind>(s.loop, start, 1ms));
}
