#pragma once
// The harness of the ports of CPython 3.13's Lib/test/test_asyncio/test_runners.py
// (test_run.cpp: RunTests; test_runner.cpp: RunnerTests). How the CPython harness maps here:
// - its TestPolicy makes every loop; here a test_support::LoopRecorder makes the loops and keeps
//   them, either as RunnerOptions::loop_factory or, where the test is about the default factory
//   (set_event_loop), as the default factory (DefaultLoopFactory below). Most tests are
//   LOOP_TEST_CASEs and run twice, once on SimLoops and once on EpollLoops (suite "shared"); the
//   ones that need a simulated SIGINT (FakeSignals) or a FakeExecutor stay TEST_CASEs (suite
//   "sim-only"; the real-signal counterparts are process tests of their own);
// - its tearDown (every loop closed, shutdown_asyncgens ran) is Teardown::check at the end of each
//   test, which also checks that no coroutine frame outlived the test;
// - interrupt_self() (_thread.interrupt_main) is a simulated SIGINT raised from inside the loop
//   (sim-only tests);
// - `with runner:` is with_runner(): get_loop() as __enter__, close() as __exit__.

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "support.hpp"

namespace runners_test {

/// CPython's interrupt_self() (_thread.interrupt_main()): SIGINT arrives now. The Runner's handler
/// runs at the loop's next step (Python runs it at the next bytecode).
inline void interrupt_self() {
    simrun::sim::running_sim().fake_signals().raise(SIGINT);
}

/// Python's `with runner: body()`: __enter__ is the lazy init (get_loop(); "Runner is closed" on
/// a closed runner, and then the body never runs), __exit__ is close(), which does not swallow
/// the body's exception.
template <class Body>
void with_runner(simrun::Runner& runner, Body&& body) {
    runner.get_loop();
    try {
        body();
    } catch (...) {
        runner.close();
        throw;
    }
    runner.close();
}

/// Makes `factory` the default loop factory (new_event_loop()) for the scope of a test.
class DefaultLoopFactory {
  public:
    explicit DefaultLoopFactory(simrun::LoopFactory factory) {
        simrun::set_default_loop_factory(std::move(factory));
    }
    ~DefaultLoopFactory() { simrun::set_default_loop_factory({}); }
    DefaultLoopFactory(const DefaultLoopFactory&) = delete;
    DefaultLoopFactory& operator=(const DefaultLoopFactory&) = delete;
};

/// Sets or unsets an environment variable for the scope of a test; restores it afterwards.
/// (SIMRUN_DEBUG plays the part of asyncio.coroutines._is_debug_mode.)
class EnvironmentVariable {
  public:
    explicit EnvironmentVariable(const char* name) : name_(name) {
        if (const char* value = std::getenv(name))
            old_ = value;
    }
    ~EnvironmentVariable() {
        if (old_) {
            ::setenv(name_, old_->c_str(), 1);
        } else {
            ::unsetenv(name_);
        }
    }
    EnvironmentVariable(const EnvironmentVariable&) = delete;
    EnvironmentVariable& operator=(const EnvironmentVariable&) = delete;
    void set(const char* value) { ::setenv(name_, value, 1); }
    void unset() { ::unsetenv(name_); }

  private:
    const char* name_;
    std::optional<std::string> old_;
};

/// CPython's BaseTest.tearDown: every loop the test made is closed and its shutdown_asyncgens()
/// ran. C++ adds: no coroutine frame made during the test is still alive.
class Teardown {
  public:
    template <class Recorder>
    void check(const Recorder& loops) const {
        for (const auto& loop : loops.loops) {
            CHECK(loop->is_closed());
            CHECK(loop->asyncgens_shutdown_called());
        }
        CHECK(simrun::detail::live_coroutine_frames() == frames_);
    }

  private:
    std::int64_t frames_ = simrun::detail::live_coroutine_frames();
};

}  // namespace runners_test
