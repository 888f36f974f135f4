// Runner: CPython 3.13's test_runners.py RunnerTests, ported test by test (docs/conformance.md maps
// them; runners_support.hpp maps the harness), and the context the Runner's main task runs in.
#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "runners_support.hpp"
#include "support.hpp"

using namespace simrun;
using namespace std::chrono_literals;
using runners_test::DefaultLoopFactory;
using runners_test::EnvironmentVariable;
using runners_test::interrupt_self;
using runners_test::Teardown;
using runners_test::with_runner;

namespace {

// ---- compile-time checks: what asyncio rejects at run time with ValueError ------------------

/// True if Runner::run() accepts an argument of type Arg.
template <class Arg>
concept runner_run_accepts = requires(Runner& runner, Arg&& arg) {
    runner.run(std::forward<Arg>(arg));
};

}  // namespace

TEST_SUITE_BEGIN("sim-only");

// Positive controls: the concept is not vacuously false.
static_assert(runner_run_accepts<Coro<int>>);
static_assert(runner_run_accepts<Coro<std::string>>);

// RunnerTests.test_run_non_coro: runner.run(123) raises ValueError; Runner::run does not compile.
static_assert(!runner_run_accepts<int>);

// RunnerTests.test_run_future: runner.run(loop.create_future()) raises ValueError in 3.13;
// Runner::run does not compile with a Future (nor with a Task, which 3.13 rejects as well).
static_assert(!runner_run_accepts<Future<int>>);
static_assert(!runner_run_accepts<Future<int>&>);
static_assert(!runner_run_accepts<Future<void>>);
static_assert(!runner_run_accepts<Task<int>>);

// ================================================================================================
// class RunnerTests: asyncio.Runner
// ================================================================================================

LOOP_TEST_CASE("RunnerTests.test_non_debug") {
    Teardown teardown;
    EnvironmentVariable simrun_debug("SIMRUN_DEBUG");
    simrun_debug.set("1");         // the global default is on: debug=false must override it
    test_support::LogCapture log;  // debug loops log "Close <...>"
    test_support::LoopRecorder<LoopKind> loops;
    loops.on_new_loop = [&log](EventLoop& loop) { log.attach(loop); };
    Runner runner({.debug = false, .loop_factory = loops.factory()});
    with_runner(runner, [&] { CHECK_FALSE(runner.get_loop().get_debug()); });
    teardown.check(loops);
}

LOOP_TEST_CASE("RunnerTests.test_debug") {
    Teardown teardown;
    EnvironmentVariable simrun_debug("SIMRUN_DEBUG");
    simrun_debug.unset();          // the global default is off: debug=true must override it
    test_support::LogCapture log;  // debug loops log "Close <...>"
    test_support::LoopRecorder<LoopKind> loops;
    loops.on_new_loop = [&log](EventLoop& loop) { log.attach(loop); };
    Runner runner({.debug = true, .loop_factory = loops.factory()});
    with_runner(runner, [&] { CHECK(runner.get_loop().get_debug()); });
    teardown.check(loops);
}

namespace {
namespace custom_factory {
/// Signals that cannot be handled (like a thread that is not the main thread).
class NoSignals final : public SignalPort {
  public:
    bool on_main_thread() const override { return false; }
    SignalDisposition disposition(int) const override { return SignalDisposition::default_action; }
    std::uint64_t install(int, std::function<void()>, SignalHandlerOptions) override {
        throw ValueError("NoSignals: cannot install handlers");
    }
    bool is_installed(int, std::uint64_t) const override { return false; }
    void restore_default(int) override {}
    void dispatch_pending() override {}
};

/// A loop class the runner knows nothing about (CPython's test passes a mock.Mock()): time jumps
/// to the next timer; waiting with nothing to wait for is an error instead of a hang.
class OwnLoop final : public EventLoop {
  public:
    Duration time() const override { return now_; }
    SignalPort& signals() override { return signals_; }

  protected:
    void wait_for_events(std::optional<Duration> timeout) override {
        if (!timeout)
            throw RuntimeError("OwnLoop: the loop would wait forever");
        now_ += *timeout;
    }
    void wake_up() noexcept override {}
    std::shared_ptr<Executor> make_default_executor() override {
        throw RuntimeError("OwnLoop: no executor");
    }

  private:
    NoSignals signals_;
    Duration now_{};
};
}  // namespace custom_factory
}  // namespace

LOOP_TEST_CASE("RunnerTests.test_custom_factory") {
    Teardown teardown;
    test_support::LoopRecorder<LoopKind> loops;  // only for the tearDown check
    const std::uint64_t before = set_event_loop_count();
    SUBCASE("a loop class of the program's own") {
        auto loop = std::make_shared<custom_factory::OwnLoop>();
        Runner runner({.loop_factory = [loop] { return std::shared_ptr<EventLoop>(loop); }});
        with_runner(runner, [&] { CHECK(&runner.get_loop() == loop.get()); });
        CHECK(loop->is_closed());
        CHECK(loop->asyncgens_shutdown_called());
    }
    SUBCASE("a loop made beforehand (of the test's kind)") {
        std::shared_ptr<EventLoop> loop = LoopKind::make();
        loops.loops.push_back(loop);
        Runner runner({.loop_factory = [loop] { return std::shared_ptr<EventLoop>(loop); }});
        with_runner(runner, [&] { CHECK(&runner.get_loop() == loop.get()); });
    }
    CHECK(set_event_loop_count() == before);  // a factory's loop is not made current
    teardown.check(loops);
}

namespace {
namespace runner_run {
Coro<std::string> f() {
    co_await sleep(0s);
    co_return "done";
}
}  // namespace runner_run
}  // namespace

LOOP_TEST_CASE("RunnerTests.test_run") {
    Teardown teardown;
    test_support::LoopRecorder<LoopKind> loops;
    Runner runner({.loop_factory = loops.factory()});
    std::shared_ptr<EventLoop> loop;
    with_runner(runner, [&] {
        CHECK(runner.run(runner_run::f()) == "done");
        runner.get_loop();
        loop = runner.loop_pointer();
    });
    CHECK_THROWS_WITH_AS(runner.get_loop(), "Runner is closed", RuntimeError);
    REQUIRE(loop);
    CHECK(loop->is_closed());
    teardown.check(loops);
}

// As test_asyncio_run_only_coro: run(123) does not compile (static_assert above); the runtime
// counterpart is an empty Coro, rejected with ValueError "a coroutine was expected".
LOOP_TEST_CASE("RunnerTests.test_run_non_coro") {
    Teardown teardown;
    test_support::LoopRecorder<LoopKind> loops;
    Runner runner({.loop_factory = loops.factory()});
    CHECK_THROWS_WITH_AS(with_runner(runner, [&] { (void)runner.run(Coro<int>()); }),
                         doctest::Contains("a coroutine was expected"), ValueError);
    teardown.check(loops);
}

// RunnerTests.test_run_future: no runtime form; Runner::run(Future) does not compile (see the
// static_asserts at the top of this file).

LOOP_TEST_CASE("RunnerTests.test_explicit_close") {
    Teardown teardown;
    test_support::LoopRecorder<LoopKind> loops;
    Runner runner({.loop_factory = loops.factory()});
    runner.get_loop();
    std::shared_ptr<EventLoop> loop = runner.loop_pointer();
    runner.close();
    CHECK_THROWS_WITH_AS(runner.get_loop(), "Runner is closed", RuntimeError);
    REQUIRE(loop);
    CHECK(loop->is_closed());
    teardown.check(loops);
}

LOOP_TEST_CASE("RunnerTests.test_double_close") {
    Teardown teardown;
    test_support::LoopRecorder<LoopKind> loops;
    Runner runner({.loop_factory = loops.factory()});
    runner.get_loop();
    std::shared_ptr<EventLoop> loop = runner.loop_pointer();
    REQUIRE(loop);

    runner.close();
    CHECK(loop->is_closed());

    // the second call is a no-op
    CHECK_NOTHROW(runner.close());
    CHECK(loop->is_closed());
    CHECK_THROWS_WITH_AS(runner.get_loop(), "Runner is closed", RuntimeError);
    CHECK(loops.loops.size() == 1);
    teardown.check(loops);
}

namespace {
namespace second_with_block {
Coro<void> f(std::vector<int>* ret, int arg) {
    ret->push_back(arg);
    co_return;
}
}  // namespace second_with_block
}  // namespace

LOOP_TEST_CASE("RunnerTests.test_second_with_block_raises") {
    Teardown teardown;
    test_support::LoopRecorder<LoopKind> loops;
    std::vector<int> ret;
    Runner runner({.loop_factory = loops.factory()});
    with_runner(runner, [&] { runner.run(second_with_block::f(&ret, 1)); });
    CHECK_THROWS_WITH_AS(with_runner(runner, [&] { runner.run(second_with_block::f(&ret, 2)); }),
                         "Runner is closed", RuntimeError);
    CHECK(ret == std::vector<int>{1});
    teardown.check(loops);
}

namespace {
namespace keeps_context {
Coro<int> f(ContextVar<int>* cvar, int val) {
    const int old = cvar->get();
    co_await sleep(0s);
    cvar->set(val);
    co_return old;
}
Coro<Context> get_context() {
    co_return copy_context();
}
}  // namespace keeps_context
}  // namespace

LOOP_TEST_CASE("RunnerTests.test_run_keeps_context") {
    Teardown teardown;
    test_support::LoopRecorder<LoopKind> loops;
    ContextVar<int> cvar("cvar", -1);
    Runner runner({.loop_factory = loops.factory()});
    with_runner(runner, [&] {
        CHECK(runner.run(keeps_context::f(&cvar, 1)) == -1);
        CHECK(runner.run(keeps_context::f(&cvar, 2)) == 1);
        CHECK(runner.run(keeps_context::get_context()).get(cvar).value_or(-2) == 2);
    });
    teardown.check(loops);
}

namespace {
namespace recursive_run {
Coro<void> g() {
    co_return;
}
Coro<void> f(Runner* runner) {
    runner->run(g());
    co_return;
}
}  // namespace recursive_run
}  // namespace

LOOP_TEST_CASE("RunnerTests.test_recursive_run") {
    Teardown teardown;
    test_support::LogCapture log;
    test_support::LoopRecorder<LoopKind> loops;
    loops.on_new_loop = [&log](EventLoop& loop) { log.attach(loop); };
    Runner runner({.loop_factory = loops.factory()});
    with_runner(runner, [&] {
        CHECK_THROWS_WITH_AS(runner.run(recursive_run::f(&runner)),
                             "Runner.run() cannot be called from a running event loop",
                             RuntimeError);
        // assertWarnsRegex(RuntimeWarning, "coroutine .+ was never awaited"): g was not started
        CHECK(log.contains("RuntimeWarning: coroutine 'g' was never awaited"));
    });
    teardown.check(loops);
}

namespace {
namespace interrupt_call_soon {
Coro<void> coro(bool* got_cancelled) {
    try {
        for (;;) {
            // Spinning costs CPU time in CPython; in virtual time it must be said: 1 ms a turn.
            sim::busy(1ms);
            co_await sleep(
                0s);  // no future to cancel: the cancellation is delivered at the next step
        }
    } catch (const CancelledError&) {
        *got_cancelled = true;
    }
    throw CancelledError();
}
}  // namespace interrupt_call_soon
}  // namespace

TEST_CASE("RunnerTests.test_interrupt_call_soon") {
    Teardown teardown;
    test_support::SimFactory loops;
    Runner runner({.loop_factory = loops.factory()});
    bool got_cancelled = false;
    with_runner(runner, [&] {
        runner.get_loop().call_later(100ms, interrupt_self);
        CHECK_THROWS_AS(runner.run(interrupt_call_soon::coro(&got_cancelled)), KeyboardInterrupt);
        CHECK(runner.get_loop().time() >= 100ms);
    });
    CHECK(got_cancelled);
    teardown.check(loops);
}

namespace {
namespace interrupt_wait {
Coro<void> coro(Future<void> fut, bool* got_cancelled) {
    try {
        co_await fut;
    } catch (const CancelledError&) {
        *got_cancelled = true;
    }
    throw CancelledError();
}
}  // namespace interrupt_wait
}  // namespace

TEST_CASE("RunnerTests.test_interrupt_wait") {
    Teardown teardown;
    test_support::SimFactory loops;
    Runner runner({.loop_factory = loops.factory()});
    bool got_cancelled = false;
    with_runner(runner, [&] {
        Future<void> fut = runner.get_loop().create_future<void>();
        runner.get_loop().call_later(100ms, interrupt_self);
        CHECK_THROWS_AS(runner.run(interrupt_wait::coro(fut, &got_cancelled)), KeyboardInterrupt);
        CHECK(fut.cancelled());
        CHECK(runner.get_loop().time() == 100ms);
    });
    CHECK(got_cancelled);
    teardown.check(loops);
}

namespace {
namespace interrupt_cancelled_task {
Coro<void> subtask(TaskRef task) {
    co_await sleep(0s);
    task.cancel();
    interrupt_self();
}
Coro<void> coro() {
    create_task(subtask(current_task()));
    co_await sleep(10s);
}
}  // namespace interrupt_cancelled_task
}  // namespace

TEST_CASE("RunnerTests.test_interrupt_cancelled_task") {
    Teardown teardown;
    test_support::SimFactory loops;
    Runner runner({.loop_factory = loops.factory()});
    with_runner(runner, [&] {
        CHECK_THROWS_AS(runner.run(interrupt_cancelled_task::coro()), CancelledError);
        CHECK(runner.get_loop().time() == 0s);  // the 10 s sleep was cut short
    });
    teardown.check(loops);
}

namespace {
namespace signal_install_not_supported {
Coro<SignalDisposition> coro() {
    co_return get_running_loop().signals().disposition(SIGINT);
}
}  // namespace signal_install_not_supported
}  // namespace

TEST_CASE("RunnerTests.test_signal_install_not_supported_ok") {
    Teardown teardown;
    test_support::SimFactory loops;
    // patch.object(signal, "signal", side_effect=ValueError(...)): installing throws ValueError
    loops.on_new_loop = [](sim::SimLoop& loop) { loop.fake_signals().set_install_fails(true); };
    Runner runner({.loop_factory = loops.factory()});
    with_runner(runner, [&] {
        CHECK(runner.run(signal_install_not_supported::coro()) ==
              SignalDisposition::default_action);
    });
    teardown.check(loops);
}

namespace {
namespace set_event_loop_called_once {
Coro<void> coro() {
    co_return;
}
}  // namespace set_event_loop_called_once
}  // namespace

LOOP_TEST_CASE("RunnerTests.test_set_event_loop_called_once") {
    Teardown teardown;
    test_support::LoopRecorder<LoopKind> loops;
    DefaultLoopFactory default_factory(loops.factory());
    const std::uint64_t before = set_event_loop_count();
    Runner runner;
    runner.run(set_event_loop_called_once::coro());
    CHECK(&get_event_loop() == &runner.get_loop());  // the runner's loop is the current loop
    runner.run(set_event_loop_called_once::coro());

    CHECK(set_event_loop_count() - before == 1);
    runner.close();
    CHECK_THROWS_AS(get_event_loop(), RuntimeError);  // unset by close()
    CHECK(loops.loops.size() == 1);
    teardown.check(loops);
}

// gh-112559: CPython's signal.getsignal() called repr() on the task's result. C++ has no implicit
// repr; the counterpart is formatting the result with operator<<, which nothing in the runner or
// the loop may do (even in debug mode, with the trace and log on).
namespace {
namespace no_repr {
struct MyResult {
    int* repr_count;
    int value;
};
[[maybe_unused]] std::ostream& operator<<(std::ostream& out, const MyResult& result) {
    ++*result.repr_count;
    return out << "MyResult(" << result.value << ")";
}
Coro<MyResult> coro(int* repr_count) {
    co_return MyResult{repr_count, 7};
}
}  // namespace no_repr
}  // namespace

LOOP_TEST_CASE("RunnerTests.test_no_repr_is_call_on_the_task_result") {
    Teardown teardown;
    test_support::LogCapture log;
    test_support::LoopRecorder<LoopKind> loops;
    loops.on_new_loop = [&log](EventLoop& loop) { log.attach(loop); };
    int repr_count = 0;
    std::optional<no_repr::MyResult> result;
    Runner runner({.debug = true, .loop_factory = loops.factory()});
    with_runner(runner, [&] { result = runner.run(no_repr::coro(&repr_count)); });
    REQUIRE(result.has_value());
    CHECK(result->value == 7);
    CHECK(repr_count == 0);
    teardown.check(loops);
}

// ================================================================================================
// Beyond the CPython tests: the Runner's context
// ================================================================================================

namespace {
namespace runner_context {
/// "before,between" as the main task sees them; then sets `before` to `set_to`.
Coro<std::string> read_then_set(ContextVar<int>* before, ContextVar<int>* between, int set_to) {
    std::string seen = std::to_string(before->get()) + "," + std::to_string(between->get());
    before->set(set_to);
    co_return seen;
}
}  // namespace runner_context
}  // namespace

LOOP_TEST_CASE(
    "Runner: the main task runs in a copy of the context that was current at the runner's "
    "first use, shared by every run()") {
    Teardown teardown;
    test_support::LoopRecorder<LoopKind> loops;
    ContextVar<int> before("before", -1);
    ContextVar<int> between("between", -1);
    {
        Runner runner({.loop_factory = loops.factory()});
        // Set after the runner was made but before its first use: the lazy init copies it.
        auto before_token = before.set(1);
        CHECK(runner.run(runner_context::read_then_set(&before, &between, 10)) == "1,-1");
        // Set between two runs: the runner's context was copied already.
        auto between_token = between.set(2);
        auto before_again = before.set(3);
        // What the first run set (10) is what the second sees.
        CHECK(runner.run(runner_context::read_then_set(&before, &between, 20)) == "10,-1");
        CHECK(runner.run(runner_context::read_then_set(&before, &between, 30)) == "20,-1");
        // And none of it leaked into the caller's context.
        CHECK(before.get() == 3);
        CHECK(between.get() == 2);
        runner.close();
        before.reset(before_again);
        between.reset(between_token);
        before.reset(before_token);
    }
    CHECK(before.get() == -1);
    CHECK(between.get() == -1);
    teardown.check(loops);
}

TEST_SUITE_END();
