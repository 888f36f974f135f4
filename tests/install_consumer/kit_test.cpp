// Built against an installed simrun by the `install_consumer` ctest test: the testing kit from a
// consumer project. The first test is the one docs/testing-your-code.md opens with. The skipped
// test fails on purpose; the ctest script runs it and then runs the replay line it prints.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <simrun/simrun.hpp>
#include <simrun/testing/doctest.hpp>
using namespace std::chrono_literals;

simrun::Coro<int> slow_backend() {
    co_await simrun::sleep(5s);
    co_return 42;
}

simrun::Coro<int> fetch() {  // the code under test: gives up after 2 s
    try {
        co_return co_await simrun::wait_for(slow_backend(), 2s);
    } catch (const simrun::TimeoutError&) {
        co_return -1;
    }
}

SIMRUN_SIM_TEST("fetch gives up after two seconds", .seeds = 50) {
    const simrun::Duration start = simrun::get_running_loop().time();
    const int answer = co_await fetch();
    CHECK(answer == -1);
    CHECK(simrun::get_running_loop().time() - start == 2s);  // exact: virtual time
}

SIMRUN_SIM_TEST("consumer: an hour passes in virtual time", .seeds = 20) {
    const simrun::Duration start = simrun::get_running_loop().time();
    co_await simrun::sleep(1h);
    CHECK(simrun::get_running_loop().time() - start == 1h);
}

SIMRUN_SIM_TEST("consumer: deliberately fails with seed 3" * doctest::skip(), .seeds = 10) {
    co_await simrun::sleep(1s);
    CHECK(simrun::sim::running_sim().options().seed != 3);
}
