// The Runner off the main thread, on the real epoll loop: as CPython's asyncio.Runner, run()
// takes SIGINT over only on the main thread; on another thread it installs nothing, leaves the
// process's disposition alone, and runs as usual. (The simulator's version of the rule, with
// FakeSignals' main-thread flag, is a property: properties/test_sigint_properties.cpp.)
#include <csignal>
#include <cstdint>
#include <optional>
#include <thread>

#include "support.hpp"

TEST_SUITE_BEGIN("real-only");

using namespace simrun;
using namespace std::chrono_literals;

namespace {

/// SIGINT's current handler (SIG_DFL, SIG_IGN or a function), as a number doctest can print.
std::uintptr_t current_sigint_handler() {
    struct sigaction current {};
    ::sigaction(SIGINT, nullptr, &current);
    return reinterpret_cast<std::uintptr_t>(current.sa_handler);
}

struct SeenOffMain {
    std::optional<bool> on_main_thread;
    std::optional<std::uintptr_t> handler_during_run;
};

Coro<int> note_and_return(SeenOffMain* seen) {
    seen->on_main_thread = get_running_loop().signals().on_main_thread();
    co_await sleep(10ms);
    seen->handler_during_run = current_sigint_handler();
    co_return 42;
}

}  // namespace

TEST_CASE("Runner off the main thread: run() installs no SIGINT handler and works") {
    const std::uintptr_t before = current_sigint_handler();
    SeenOffMain seen;
    std::optional<int> result;
    std::string error;
    std::thread other([&seen, &result, &error] {
        try {
            result = run(note_and_return(&seen));
        } catch (const std::exception& e) {
            error = e.what();
        } catch (const BaseException& e) {
            error = e.type_name();
        }
    });
    other.join();
    CHECK(error.empty());
    REQUIRE(result.has_value());
    CHECK(*result == 42);
    CHECK(seen.on_main_thread == false);
    CHECK(seen.handler_during_run == before);  // not the Runner's
    CHECK(current_sigint_handler() == before);
}

TEST_CASE("Runner off the main thread: a Runner serves several run() calls there") {
    const std::uintptr_t before = current_sigint_handler();
    int sum = 0;
    std::string error;
    std::thread other([&sum, &error] {
        try {
            Runner runner;
            SeenOffMain first;
            SeenOffMain second;
            sum = runner.run(note_and_return(&first));
            sum += runner.run(note_and_return(&second));
            runner.close();
        } catch (const std::exception& e) {
            error = e.what();
        } catch (const BaseException& e) {
            error = e.type_name();
        }
    });
    other.join();
    CHECK(error.empty());
    CHECK(sum == 84);
    CHECK(current_sigint_handler() == before);
}

TEST_SUITE_END();
