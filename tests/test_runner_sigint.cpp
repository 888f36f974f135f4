// The Runner's SIGINT rules (docs/semantics.md, "SIGINT"), in virtual time: Ctrl-C cancels the main
// task, a second one gets you out, and SIGINT is the Runner's only while it runs and nobody else's.
#include <csignal>
#include <exception>
#include <string>
#include <vector>

#include "runner_sigint_support.hpp"
#include "support.hpp"

// Virtual time, fake signals and fake executors: these tests need the simulator.
TEST_SUITE_BEGIN("sim-only");

using namespace simrun;
using sigint_test::main_busy;
using sigint_test::now;
using sigint_test::Seen;
using sigint_test::sigints_at;
using test_support::thrown;

namespace {

/// Sleeps 10 s. On cancellation, spends `cleanup` awaiting (recording a second cancellation if
/// one comes), then lets the first CancelledError propagate.
Coro<int> main_with_cleanup(Seen* seen, Duration cleanup) {
    seen->disposition_during_run = sim::running_sim().fake_signals().disposition(SIGINT);
    std::exception_ptr cancelled;
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
        cancelled = std::current_exception();
        seen->cancelled = true;
        seen->cancelled_at = now();
        seen->cancelling_when_cancelled = current_task().cancelling();
    }
    if (!cancelled)
        co_return 1;
    if (cleanup > Duration::zero()) {
        try {
            co_await sleep(cleanup);
        } catch (const CancelledError&) {
            seen->second_cancel = true;
            seen->second_cancel_at = now();
            seen->cancelling_at_second_cancel = current_task().cancelling();
        }
    }
    seen->cleanup_done = true;
    seen->cleanup_done_at = now();
    std::rethrow_exception(cancelled);
}

Coro<int> main_swallows(Seen* seen) {
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
        seen->cancelled = true;
        seen->cancelled_at = now();
    }
    co_return 42;
}

Coro<int> main_converts_to_value_error(Seen* seen) {
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
        seen->cancelled = true;
        throw ValueError("converted");
    }
    co_return 1;
}

Coro<int> main_uncancels_then_reraises(Seen* seen) {
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
        seen->cancelled = true;
        seen->cancelling_when_cancelled = current_task().uncancel();
        throw;
    }
    co_return 1;
}

Coro<void> cancel_later(TaskRef task, Duration delay) {
    co_await sleep(delay);
    task.cancel();
}

/// Cancelled by another task at 0.5 s (ignored, not uncancelled), then again by SIGINT.
Coro<int> main_also_cancelled_by_another_task(Seen* seen) {
    Task<void> canceller = create_task(cancel_later(current_task(), 500ms));
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
        seen->cancelled = true;  // the first one: ignored
    }
    co_await canceller;
    co_await sleep(10s);  // the SIGINT's cancellation propagates from here
    co_return 1;
}

Coro<int> sleep_then_return(Duration delay, int value, Seen* seen) {
    if (seen != nullptr)
        seen->disposition_during_run = sim::running_sim().fake_signals().disposition(SIGINT);
    co_await sleep(delay);
    co_return value;
}

std::size_t trace_count(const sim::SimLoop& loop, const std::string& text) {
    std::size_t n = 0;
    for (const sim::TraceEntry& entry : loop.trace().entries())
        n += entry.text == text ? 1 : 0;
    return n;
}

}  // namespace

// ---- one SIGINT ---------------------------------------------------------------------------

TEST_CASE(
    "Runner SIGINT: one SIGINT cancels the main task, its clean-up runs, run() throws "
    "KeyboardInterrupt") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s});
    Runner runner({.loop_factory = loops.factory()});
    CHECK_THROWS_AS(runner.run(main_with_cleanup(&seen, 2s)), KeyboardInterrupt);
    CHECK(seen.cancelled);
    CHECK(seen.cancelled_at == 1s);
    CHECK(seen.cancelling_when_cancelled == 1);
    CHECK(seen.cleanup_done);
    CHECK(seen.cleanup_done_at == 3s);  // awaiting inside the clean-up is allowed
    CHECK_FALSE(seen.second_cancel);
    CHECK(runner.get_loop().time() == 3s);
    runner.close();
    CHECK_FALSE(loops.last().terminated());
}

TEST_CASE("Runner SIGINT: the handler is installed during run() and the default restored after") {
    Seen seen;
    test_support::SimFactory loops;
    Runner runner({.loop_factory = loops.factory()});
    CHECK(runner.run(sleep_then_return(1s, 5, &seen)) == 5);
    CHECK(seen.disposition_during_run == SignalDisposition::handler);
    CHECK(loops.last().fake_signals().disposition(SIGINT) == SignalDisposition::default_action);
    CHECK(trace_count(loops.last(), "handler installed for SIGINT") == 1);
    runner.close();
}

TEST_CASE(
    "Runner SIGINT: a main task that swallows the cancellation and returns 42 makes run() return "
    "42") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s});
    CHECK(run(main_swallows(&seen), {.loop_factory = loops.factory()}) == 42);
    CHECK(seen.cancelled);
    CHECK(seen.cancelled_at == 1s);
    CHECK(loops.last().time() == 1s);
}

TEST_CASE(
    "Runner SIGINT: a main task that turns the cancellation into ValueError makes run() throw it") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s});
    CHECK_THROWS_WITH_AS(
        run(main_converts_to_value_error(&seen), {.loop_factory = loops.factory()}), "converted",
        ValueError);
    CHECK(seen.cancelled);
}

TEST_CASE("Runner SIGINT: main uncancels itself and re-raises: still KeyboardInterrupt") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s});
    CHECK_THROWS_AS(run(main_uncancels_then_reraises(&seen), {.loop_factory = loops.factory()}),
                    KeyboardInterrupt);
    CHECK(seen.cancelled);
    CHECK(seen.cancelling_when_cancelled == 0);  // what its own uncancel() returned
}

TEST_CASE(
    "Runner SIGINT: a main task also cancelled by another task (count 2) gives CancelledError") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s});
    CHECK_THROWS_AS(
        run(main_also_cancelled_by_another_task(&seen), {.loop_factory = loops.factory()}),
        CancelledError);
    CHECK(seen.cancelled);
    CHECK(loops.last().time() == 1s);
}

TEST_CASE(
    "Runner SIGINT: without any SIGINT a cancelled main task gives CancelledError, not "
    "KeyboardInterrupt") {
    Seen seen;
    test_support::SimFactory loops;
    auto result = thrown<CancelledError>([&] {
        run(main_also_cancelled_by_another_task(&seen), {.loop_factory = loops.factory()});
    });
    // No SIGINT: the first cancellation is ignored, the second sleep finishes normally.
    CHECK_FALSE(result);
    CHECK(seen.cancelled);
    CHECK(loops.last().time() == 10500ms);
}

// ---- a second SIGINT ----------------------------------------------------------------------

TEST_CASE(
    "Runner SIGINT: a second SIGINT during an awaiting clean-up throws KeyboardInterrupt at once") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s, 3s});
    Runner runner({.loop_factory = loops.factory()});
    CHECK_THROWS_AS(runner.run(main_with_cleanup(&seen, 5s)), KeyboardInterrupt);
    CHECK(runner.get_loop().time() ==
          3s);  // at the second SIGINT, not when the clean-up ends (6 s)
    CHECK(seen.cancelled);
    CHECK_FALSE(seen.cleanup_done);
    CHECK(runner.get_loop().all_tasks().size() == 1);  // the main task is still pending
    CHECK(loops.last().fake_signals().disposition(SIGINT) == SignalDisposition::default_action);
    runner.close();
    // close() cancels the main task again: its clean-up sees the second request.
    CHECK(seen.second_cancel);
    CHECK(seen.cancelling_at_second_cancel == 2);
    CHECK(seen.second_cancel_at == 3s);
    CHECK(seen.cleanup_done);
    CHECK(loops.last().is_closed());
    CHECK_FALSE(loops.last().terminated());
}

TEST_CASE("Runner SIGINT: the interrupt count starts at 0 again in every run()") {
    Seen first;
    Seen second;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s, 5s});
    Runner runner({.loop_factory = loops.factory()});
    CHECK(runner.run(main_swallows(&first)) == 42);  // interrupt count 1 at the end
    CHECK(first.cancelled_at == 1s);
    // The SIGINT at 5 s is a first SIGINT for this run: it cancels instead of interrupting.
    CHECK(runner.run(main_swallows(&second)) == 42);
    CHECK(second.cancelled);
    CHECK(second.cancelled_at == 5s);
    runner.close();
}

// ---- who owns SIGINT ----------------------------------------------------------------------

TEST_CASE(
    "Runner SIGINT: a handler installed by other code is left alone and SIGINT does not "
    "interrupt") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = [](sim::SimLoop& loop) {
        loop.fake_signals().set_disposition(SIGINT, SignalDisposition::handler);
        loop.fake_signals().schedule_at(1s, SIGINT);
    };
    Runner runner({.loop_factory = loops.factory()});
    CHECK(runner.run(sleep_then_return(3s, 7, &seen)) == 7);
    CHECK(loops.last().fake_signals().arrivals().size() == 1);
    CHECK(loops.last().fake_signals().disposition(SIGINT) == SignalDisposition::handler);
    runner.close();
    CHECK(trace_count(loops.last(), "handler installed for SIGINT") == 0);
    CHECK(trace_count(loops.last(), "default disposition restored for SIGINT") == 0);
}

TEST_CASE("Runner SIGINT: an ignored SIGINT stays ignored") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = [](sim::SimLoop& loop) {
        loop.fake_signals().set_disposition(SIGINT, SignalDisposition::ignored);
        loop.fake_signals().schedule_at(1s, SIGINT);
    };
    CHECK(run(sleep_then_return(3s, 7, &seen), {.loop_factory = loops.factory()}) == 7);
    CHECK(seen.disposition_during_run == SignalDisposition::ignored);
    CHECK(loops.last().fake_signals().disposition(SIGINT) == SignalDisposition::ignored);
    CHECK_FALSE(loops.last().terminated());
}

TEST_CASE(
    "Runner SIGINT: off the main thread no handler is installed, so a SIGINT ends the process") {
    Seen seen;
    test_support::HandlerCapture handler;
    test_support::SimFactory loops;
    loops.on_new_loop = [&handler](sim::SimLoop& loop) {
        handler.attach(loop);
        loop.fake_signals().set_main_thread(false);
        loop.fake_signals().schedule_at(1s, SIGINT);
    };
    auto ended = thrown<ProcessTerminated>(
        [&] { run(sleep_then_return(3s, 7, &seen), {.loop_factory = loops.factory()}); });
    REQUIRE(ended);
    CHECK(ended->signal_number() == SIGINT);
    CHECK(seen.disposition_during_run == SignalDisposition::default_action);
    CHECK(loops.last().terminated());
    CHECK(loops.last().time() == 1s);
    CHECK(trace_count(loops.last(), "handler installed for SIGINT") == 0);
    CHECK(loops.last().is_closed());
    CHECK(handler.count("Task was destroyed but it is pending!") == 1);  // nothing could clean up
}

TEST_CASE("Runner SIGINT: if installing the handler fails, run() carries on without it") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = [](sim::SimLoop& loop) { loop.fake_signals().set_install_fails(true); };
    CHECK(run(sleep_then_return(3s, 7, &seen), {.loop_factory = loops.factory()}) == 7);
    CHECK(seen.disposition_during_run == SignalDisposition::default_action);
    CHECK(loops.last().fake_signals().disposition(SIGINT) == SignalDisposition::default_action);
}

namespace {
Coro<int> main_replaces_sigint_handler() {
    sim::running_sim().fake_signals().set_disposition(SIGINT, SignalDisposition::handler);
    co_await sleep(1s);
    co_return 3;
}
}  // namespace

TEST_CASE("Runner SIGINT: the previous disposition is restored only if the handler is still ours") {
    test_support::SimFactory loops;
    Runner runner({.loop_factory = loops.factory()});
    CHECK(runner.run(main_replaces_sigint_handler()) == 3);
    CHECK(loops.last().fake_signals().disposition(SIGINT) ==
          SignalDisposition::handler);  // left alone
    CHECK(trace_count(loops.last(), "default disposition restored for SIGINT") == 0);
    runner.close();
}

// ---- more corners -------------------------------------------------------------------------

namespace {
Coro<int> return_at_once() {
    co_return 5;
}
}  // namespace

TEST_CASE(
    "Runner SIGINT: a SIGINT after the main task is done (loop not yet stopped) interrupts at "
    "once") {
    test_support::SimFactory loops;
    // Step 1 is the main task's only step; step 2 is the callback that stops the loop.
    loops.on_new_loop = [](sim::SimLoop& loop) { loop.fake_signals().schedule_at_step(2, SIGINT); };
    Runner runner({.loop_factory = loops.factory()});
    CHECK_THROWS_AS(runner.run(return_at_once()), KeyboardInterrupt);
    CHECK(loops.last().fake_signals().arrivals().size() == 1);
    runner.close();
}

namespace {
Coro<void> wait_forever(Event* event) {
    co_await event->wait();
}
}  // namespace

TEST_CASE("Runner SIGINT: Ctrl-C gets a main task out of a wait that nothing else would end") {
    Event never;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({30s});
    CHECK_THROWS_AS(run(wait_forever(&never), {.loop_factory = loops.factory()}),
                    KeyboardInterrupt);
    CHECK(loops.last().time() == 30s);  // the scheduled SIGINT, not a deadlock report
    CHECK(loops.last().is_closed());
}

TEST_CASE("Runner SIGINT: after a deadlock report the SIGINT disposition is restored") {
    Event never;
    test_support::SimFactory loops;
    Runner runner({.loop_factory = loops.factory()});
    CHECK_THROWS_AS(runner.run(wait_forever(&never)), sim::DeadlockError);
    CHECK(loops.last().fake_signals().disposition(SIGINT) == SignalDisposition::default_action);
    runner.close();  // cancels the waiting main task
    CHECK(loops.last().is_closed());
    CHECK(loops.last().fake_signals().disposition(SIGINT) == SignalDisposition::default_action);
}

TEST_CASE("Runner SIGINT: a loop.add_signal_handler(SIGINT) callback is kept and runs instead") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s});
    Runner runner({.loop_factory = loops.factory()});
    std::vector<Duration> calls;
    EventLoop& loop = runner.get_loop();
    loop.add_signal_handler(SIGINT, [&] { calls.push_back(loop.time()); });
    CHECK(runner.run(sleep_then_return(3s, 7, &seen)) == 7);
    CHECK(calls == std::vector<Duration>{1s});
    CHECK(loops.last().fake_signals().disposition(SIGINT) == SignalDisposition::handler);
    CHECK(loop.remove_signal_handler(SIGINT));
    runner.close();
}

TEST_CASE("Runner SIGINT: the escalation count starts again in every run()") {
    Seen first;
    Seen second;
    test_support::SimFactory loops;
    // 1 s: first run, swallowed. 5 s: inside the second run's busy callback (1 s .. 11 s).
    loops.on_new_loop = sigints_at({1s, 5s});
    Runner runner({.loop_factory = loops.factory()});
    CHECK(runner.run(main_swallows(&first)) == 42);
    CHECK(runner.get_loop().time() == 1s);
    CHECK_THROWS_AS(runner.run(main_busy(&second, 10s, Duration::zero())), KeyboardInterrupt);
    CHECK_FALSE(loops.last().terminated());  // a first SIGINT for this run: no escalation
    CHECK(second.after_busy_at == 11s);
    CHECK(second.cancelled_at == 11s);
    runner.close();
}

TEST_SUITE_END();
