// A program for the real-signal process tests (tests/test_real_signals.cpp): it runs a Runner on
// the epoll loop in one of several situations, says on stdout where it is, and ends as a real
// interrupted program does. Usage: simrun_sigint_child <scenario>
//
//   await         the main task awaits a long sleep; its clean-up awaits a little, then re-raises
//   slow-cleanup  the main task's clean-up awaits a long sleep (a second Ctrl-C cuts it short)
//   tight-loop    the main task spins without returning to the loop (grace period 200 ms)
//   stuck-worker  the main task awaits an executor job that never ends (executor timeout 200 ms)
//   uncaught      as `await`, but main() does not catch the KeyboardInterrupt
//   uncaught-error  a Runner exists, then main() lets a std::runtime_error escape (SIGABRT)
//   blocked-close   on Ctrl-C, close() cancels a leftover task whose clean-up blocks the loop
//                   thread in a sleep for 10 s (grace period 200 ms)
//   spinning-close  the same with a clean-up that spins without a system call
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include <simrun/simrun.hpp>

using namespace simrun;
using namespace std::chrono_literals;

namespace {

void say(const char* line) {
    std::printf("%s\n", line);
    std::fflush(stdout);
}

Coro<int> main_with_cleanup(Duration cleanup) {
    say("ready");
    bool cancelled = false;
    try {
        co_await sleep(30s);
    } catch (const CancelledError&) {
        cancelled = true;
    }
    if (cancelled) {
        say("cleanup started");
        co_await sleep(cleanup);  // clean-up may await; a slow one is cut short by a 2nd Ctrl-C
        say("cleanup done");
        throw CancelledError();
    }
    co_return 0;
}

Coro<int> tight_loop() {
    say("ready");
    volatile unsigned long spins = 0;
    for (;;)
        spins = spins + 1;  // never returns to the loop
    co_return 0;
}

Coro<int> stuck_worker() {
    co_await get_running_loop().run_in_executor(
        [] {
            say("ready");
            for (;;)
                std::this_thread::sleep_for(1h);
        },
        "stuck");
    co_return 0;
}

/// Blocks the calling thread (the loop thread) for `duration`, or spins without a system call.
void hold_the_thread(std::chrono::steady_clock::duration duration, bool spin) {
    const auto until = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < until) {
        if (!spin)
            std::this_thread::sleep_for(10ms);
    }
}

/// A task the main task leaves behind; its reaction to close()'s cancellation blocks the loop.
Coro<void> leftover(bool spin) {
    try {
        co_await sleep(30s);
    } catch (const CancelledError&) {
        say("leftover cleanup started");
        hold_the_thread(10s, spin);
        say("leftover cleanup done");
        throw;
    }
}

Coro<int> main_leaving_a_blocking_task(bool spin) {
    create_task(leftover(spin));
    co_await sleep(0s);  // the leftover task starts its sleep
    say("ready");
    co_await sleep(30s);
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr,
                     "usage: %s await|slow-cleanup|tight-loop|stuck-worker|uncaught|"
                     "uncaught-error|blocked-close|spinning-close\n",
                     argv[0]);
        return 2;
    }
    const std::string scenario = argv[1];
    if (scenario == "uncaught") {
        run(main_with_cleanup(1ms));  // its KeyboardInterrupt leaves main()
        say("returned");
        return 0;
    }
    if (scenario == "uncaught-error") {
        const rlimit no_core{0, 0};
        setrlimit(RLIMIT_CORE, &no_core);  // the abort below must not leave a core file
        Runner runner;                     // installs the terminate handler
        say("ready");
        throw std::runtime_error("not an interrupt");
    }
    try {
        if (scenario == "await") {
            run(main_with_cleanup(1ms));
        } else if (scenario == "slow-cleanup") {
            run(main_with_cleanup(30s));
        } else if (scenario == "tight-loop") {
            run(tight_loop(), {.sigint_grace_period = 200ms});
        } else if (scenario == "stuck-worker") {
            run(stuck_worker(), {.executor_shutdown_timeout = 200ms});
        } else if (scenario == "blocked-close" || scenario == "spinning-close") {
            run(main_leaving_a_blocking_task(scenario == "spinning-close"),
                {.sigint_grace_period = 200ms});
        } else {
            std::fprintf(stderr, "unknown scenario %s\n", scenario.c_str());
            return 2;
        }
    } catch (const KeyboardInterrupt&) {
        say("KeyboardInterrupt");
        exit_as_interrupted();
    }
    say("returned");
    return 0;
}
