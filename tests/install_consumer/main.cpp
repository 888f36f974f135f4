// Built against an installed simrun by the `install_consumer` ctest test.
#include <chrono>

#include <simrun/sim/sim.hpp>
#include <simrun/simrun.hpp>

simrun::Coro<int> main_coro() {
    co_await simrun::sleep(std::chrono::seconds(1));
    co_return 42;
}

int main() {
    return simrun::run(main_coro(), {.loop_factory = simrun::sim::factory({.seed = 7})}) == 42 ? 0
                                                                                               : 1;
}
