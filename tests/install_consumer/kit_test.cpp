// Built against an installed simrun by the `install_consumer` ctest test: the testing kit from a
// consumer project. The skipped test fails on purpose; the ctest script runs it and then runs
// the replay line it prints.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <chrono>

#include <doctest/doctest.h>

#include <simrun/simrun.hpp>
#include <simrun/testing/doctest.hpp>

using namespace std::chrono_literals;

SIMRUN_SIM_TEST("consumer: an hour passes in virtual time", .seeds = 20) {
    const simrun::Duration start = simrun::get_running_loop().time();
    co_await simrun::sleep(1h);
    CHECK(simrun::get_running_loop().time() - start == 1h);
}

SIMRUN_SIM_TEST("consumer: deliberately fails with seed 3" * doctest::skip(), .seeds = 10) {
    co_await simrun::sleep(1s);
    CHECK(simrun::sim::running_sim().options().seed != 3);
}
