// The Runner's SIGINT rules while the loop is stuck in a tight loop (sim::busy), in virtual time:
// a second SIGINT ends the process with SIGINT's default action after the grace period.
#include <csignal>
#include <utility>
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
using test_support::contains;
using test_support::thrown;

namespace {

/// On cancellation, the clean-up is a tight loop.
Coro<int> main_busy_cleanup(Seen* seen, Duration busy) {
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
        seen->cancelled = true;
        seen->cancelled_at = now();
        sim::busy(busy);
        seen->cleanup_done = true;
        throw;
    }
    co_return 1;
}

}  // namespace

// ---- SIGINT while the loop is stuck in a tight loop (sim::busy) ---------------------------

TEST_CASE(
    "Runner SIGINT: one SIGINT during a busy callback waits for it, then cancels at the next "
    "await") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s});
    Runner runner({.loop_factory = loops.factory()});
    CHECK_THROWS_AS(runner.run(main_busy(&seen, 10s, Duration::zero())), KeyboardInterrupt);
    CHECK(seen.after_busy);
    CHECK(seen.after_busy_at == 10s);
    CHECK(seen.cancelling_after_busy == 0);  // nothing happened inside the busy callback
    CHECK(seen.cancelled);
    CHECK(seen.cancelled_at == 10s);
    CHECK(runner.get_loop().time() == 10s);
    CHECK(loops.last().fake_signals().arrivals() ==
          std::vector<std::pair<Duration, int>>{{1s, SIGINT}});
    runner.close();
    CHECK_FALSE(loops.last().terminated());
}

TEST_CASE("Runner SIGINT: a single SIGINT never escalates, however long the loop stays stuck") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s});
    CHECK_THROWS_AS(
        run(main_busy(&seen, 1000s, Duration::zero()), {.loop_factory = loops.factory()}),
        KeyboardInterrupt);
    CHECK_FALSE(loops.last().terminated());
    CHECK(seen.after_busy_at == 1000s);
}

TEST_CASE(
    "Runner SIGINT: two SIGINTs during a long busy callback end the process after the grace "
    "period") {
    Seen seen;
    test_support::HandlerCapture handler;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s, 2s}, &handler);
    Runner runner({.loop_factory = loops.factory()});
    auto ended =
        thrown<ProcessTerminated>([&] { runner.run(main_busy(&seen, 10s, Duration::zero())); });
    REQUIRE(ended);
    CHECK(ended->signal_number() == SIGINT);
    CHECK(loops.last().terminated());
    CHECK(loops.last().time() == 3s);  // 2 s + the default grace of 1 s
    CHECK_FALSE(seen.after_busy);      // the busy callback never returned
    CHECK(loops.last().fake_signals().arrivals() ==
          std::vector<std::pair<Duration, int>>{{1s, SIGINT}, {2s, SIGINT}});
    bool announced = false;
    for (const sim::TraceEntry& entry : loops.last().trace().entries()) {
        announced = announced ||
                    (entry.kind == "signal" && contains(entry.text, "the process ends at 3.000s"));
    }
    CHECK(announced);
    try {
        runner.close();
    } catch (const ProcessTerminated&) {  // the process is gone: nothing more may run
    }
    CHECK(loops.last().is_closed());
}

TEST_CASE("Runner SIGINT: sigint_grace_period sets when a stuck loop is given up") {
    Seen seen;
    test_support::HandlerCapture handler;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s, 2s}, &handler);
    CHECK_THROWS_AS(run(main_busy(&seen, 10s, Duration::zero()),
                        {.loop_factory = loops.factory(), .sigint_grace_period = 5s}),
                    ProcessTerminated);
    CHECK(loops.last().time() == 7s);
    CHECK_FALSE(seen.after_busy);
}

TEST_CASE(
    "Runner SIGINT: two SIGINTs in a busy callback that returns within the grace: "
    "KeyboardInterrupt then") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s, 2s});
    Runner runner({.loop_factory = loops.factory()});
    CHECK_THROWS_AS(runner.run(main_busy(&seen, 2500ms, 10s)), KeyboardInterrupt);
    CHECK(runner.get_loop().time() == 2500ms);  // right when the busy callback returned
    CHECK(seen.after_busy_at == 2500ms);
    CHECK_FALSE(seen.cancelled);                       // the main task was not waited for
    CHECK(runner.get_loop().all_tasks().size() == 1);  // and is still pending
    CHECK_FALSE(loops.last().terminated());
    runner.close();  // close() cancels it; its 10 s clean-up runs there
    CHECK(seen.cancelled);
    CHECK(seen.cancelled_at == 2500ms);
    CHECK(seen.cancelling_when_cancelled == 2);  // SIGINT's request + close()'s
    CHECK(loops.last().time() == 12500ms);
    CHECK_FALSE(loops.last().terminated());
}

TEST_CASE(
    "Runner SIGINT: a SIGINT during a tight clean-up after the first was handled also escalates") {
    Seen seen;
    test_support::HandlerCapture handler;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s, 3s}, &handler);
    CHECK_THROWS_AS(run(main_busy_cleanup(&seen, 10s), {.loop_factory = loops.factory()}),
                    ProcessTerminated);
    CHECK(seen.cancelled);
    CHECK(seen.cancelled_at == 1s);
    CHECK_FALSE(seen.cleanup_done);
    CHECK(loops.last().terminated());
    CHECK(loops.last().time() == 4s);  // the second SIGINT at 3 s + 1 s of grace
}

TEST_CASE(
    "Runner SIGINT: a second SIGINT during a tight clean-up that ends within the grace "
    "interrupts") {
    Seen seen;
    test_support::SimFactory loops;
    loops.on_new_loop = sigints_at({1s, 3s});
    Runner runner({.loop_factory = loops.factory()});
    CHECK_THROWS_AS(runner.run(main_busy_cleanup(&seen, 2500ms)), KeyboardInterrupt);
    CHECK(seen.cleanup_done);  // the clean-up callback finished at 3.5 s, before the grace ran out
    CHECK(runner.get_loop().time() == 3500ms);
    CHECK_FALSE(loops.last().terminated());
    runner.close();
}

TEST_SUITE_END();
