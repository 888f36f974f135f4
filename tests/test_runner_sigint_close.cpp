// The Runner's SIGINT rules while Runner::close() or run()'s final clean-up runs, in virtual time:
// KeyboardInterrupt, or the end of the process if a clean-up keeps the loop stuck.
#include <csignal>

#include "runner_sigint_support.hpp"
#include "support.hpp"

// Virtual time, fake signals and fake executors: these tests need the simulator.
TEST_SUITE_BEGIN("sim-only");

using namespace simrun;
using sigint_test::now;
using sigint_test::Seen;
using sigint_test::sigints_at;
using test_support::thrown;

// ---- SIGINT during close() ----------------------------------------------------------------

namespace {
Coro<void> leftover_with_slow_cleanup(Seen* seen) {
    bool cancelled = false;
    try {
        co_await sleep(100s);
    } catch (const CancelledError&) {
        cancelled = true;
        seen->cancelled = true;
        seen->cancelled_at = now();
    }
    if (cancelled)
        co_await sleep(5s);
    seen->cleanup_done = true;
}

Coro<int> main_leaves_a_task(Seen* seen) {
    Task<void> leftover = create_task(leftover_with_slow_cleanup(seen), {.name = "leftover"});
    seen->leftover = leftover.state();
    co_await sleep(1s);
    co_return 9;
}
}  // namespace

TEST_CASE(
    "Runner SIGINT: a SIGINT during close() interrupts it with KeyboardInterrupt and the loop is "
    "closed") {
    Seen seen;
    test_support::HandlerCapture handler;
    test_support::SimFactory loops;
    loops.on_new_loop = [&](sim::SimLoop& loop) {
        handler.attach(loop);
        loop.fake_signals().schedule_at(3s, SIGINT);
    };
    Runner runner({.loop_factory = loops.factory()});
    CHECK(runner.run(main_leaves_a_task(&seen)) == 9);
    CHECK(loops.last().fake_signals().disposition(SIGINT) == SignalDisposition::default_action);
    CHECK_THROWS_AS(runner.close(), KeyboardInterrupt);
    CHECK(seen.cancelled);
    CHECK(seen.cancelled_at == 1s);  // close() began at 1 s
    CHECK_FALSE(seen.cleanup_done);  // interrupted at 3 s, before its 5 s clean-up ended
    CHECK(loops.last().time() == 3s);
    CHECK(loops.last().is_closed());
    CHECK_FALSE(loops.last().terminated());
    CHECK_THROWS_WITH_AS(runner.get_loop(), "Runner is closed", RuntimeError);
    CHECK(handler.count("Task was destroyed but it is pending!") == 1);
    // The closed loop let go of the abandoned task (and of the gather close() was waiting on);
    // only the captured report still refers to it.
    handler.contexts.clear();
    CHECK(seen.leftover.expired());
}

TEST_CASE("run(): a SIGINT during the final clean-up comes out of run() as KeyboardInterrupt") {
    Seen seen;
    test_support::HandlerCapture handler;
    test_support::SimFactory loops;
    loops.on_new_loop = [&](sim::SimLoop& loop) {
        handler.attach(loop);
        loop.fake_signals().schedule_at(3s, SIGINT);
    };
    CHECK_THROWS_AS(run(main_leaves_a_task(&seen), {.loop_factory = loops.factory()}),
                    KeyboardInterrupt);
    CHECK(loops.last().is_closed());
    CHECK(loops.last().fake_signals().disposition(SIGINT) == SignalDisposition::default_action);
}

TEST_CASE("Runner SIGINT: close() restores the default disposition it installed for the shutdown") {
    Seen seen;
    test_support::HandlerCapture handler;
    test_support::SimFactory loops;
    loops.on_new_loop = [&](sim::SimLoop& loop) { handler.attach(loop); };
    Runner runner({.loop_factory = loops.factory()});
    CHECK(runner.run(main_leaves_a_task(&seen)) == 9);
    runner.close();
    CHECK(seen.cleanup_done);
    CHECK(loops.last().time() == 6s);
    CHECK(loops.last().fake_signals().disposition(SIGINT) == SignalDisposition::default_action);
}

// ---- a second SIGINT while close() is stuck in a clean-up ----------------------------------

namespace {

/// Left behind by main_with_stuck_leftover(); close()'s cancellation makes it busy for `busy`.
Coro<void> leftover_busy_on_cancel(Seen* seen, Duration busy) {
    try {
        co_await sleep(1h);
    } catch (const CancelledError&) {
        seen->second_cancel = true;  // here: close() cancelled the leftover task
        seen->second_cancel_at = now();
        sim::busy(busy);
        seen->cleanup_done = true;
        seen->cleanup_done_at = now();
        throw;
    }
}

/// Leaves a task whose cancellation blocks the loop for `busy`, then waits for a SIGINT
/// (swallowing it and returning 42 if `swallow`).
Coro<int> main_with_stuck_leftover(Seen* seen, Duration busy, bool swallow) {
    create_task(leftover_busy_on_cancel(seen, busy), {.name = "leftover"});
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
        seen->cancelled = true;
        seen->cancelled_at = now();
        if (!swallow)
            throw;
    }
    co_return 42;
}

}  // namespace

TEST_CASE(
    "Runner SIGINT: after a SIGINT interrupted run(), a second one while close() is stuck in a "
    "clean-up ends the process after the grace period") {
    Seen seen;
    test_support::HandlerCapture handler;
    test_support::SimFactory loops;
    // 1 s: cancels the main task; run() throws KeyboardInterrupt, close() cancels the leftover
    // task, whose clean-up keeps the loop busy from 1 s to 11 s. 3 s: the user's second Ctrl-C.
    loops.on_new_loop = sigints_at({1s, 3s}, &handler);
    Runner runner({.loop_factory = loops.factory()});
    CHECK_THROWS_AS(runner.run(main_with_stuck_leftover(&seen, 10s, false)), KeyboardInterrupt);
    CHECK(seen.cancelled_at == 1s);
    auto ended = thrown<ProcessTerminated>([&] { runner.close(); });
    REQUIRE(ended);
    CHECK(ended->signal_number() == SIGINT);
    CHECK(seen.second_cancel_at == 1s);
    CHECK_FALSE(seen.cleanup_done);
    CHECK(loops.last().terminated());
    CHECK(loops.last().time() == 4s);  // the second SIGINT at 3 s + the default grace of 1 s
    CHECK(loops.last().is_closed());
}

TEST_CASE("run(): a second SIGINT while the final clean-up is stuck ends the process") {
    Seen seen;
    test_support::HandlerCapture handler;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s, 3s}, &handler);
    CHECK_THROWS_AS(run(main_with_stuck_leftover(&seen, 10s, false),
                        {.loop_factory = loops.factory(), .sigint_grace_period = 500ms}),
                    ProcessTerminated);
    CHECK(loops.last().time() == 3500ms);
    CHECK_FALSE(seen.cleanup_done);
}

TEST_CASE(
    "Runner SIGINT: a stuck close() that ends within the grace after the second SIGINT "
    "throws KeyboardInterrupt") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s, 3s});
    Runner runner({.loop_factory = loops.factory()});
    CHECK_THROWS_AS(runner.run(main_with_stuck_leftover(&seen, 2500ms, false)), KeyboardInterrupt);
    CHECK_THROWS_AS(runner.close(), KeyboardInterrupt);
    CHECK(seen.cleanup_done);
    CHECK(seen.cleanup_done_at == 3500ms);
    CHECK(loops.last().time() == 3500ms);
    CHECK_FALSE(loops.last().terminated());
}

TEST_CASE("Runner SIGINT: after a run() that swallowed its SIGINT, close() counts SIGINTs afresh") {
    Seen seen;
    test_support::SimFactory loops;
    // 1 s: swallowed, run() returns 42. 3 s: a first Ctrl-C for close(): no escalation; it is
    // handled once the clean-up lets the loop go, at 11 s.
    loops.on_new_loop = sigints_at({1s, 3s});
    Runner runner({.loop_factory = loops.factory()});
    CHECK(runner.run(main_with_stuck_leftover(&seen, 10s, true)) == 42);
    CHECK_THROWS_AS(runner.close(), KeyboardInterrupt);
    CHECK(seen.cleanup_done);
    CHECK(loops.last().time() == 11s);
    CHECK_FALSE(loops.last().terminated());
}

TEST_SUITE_END();
