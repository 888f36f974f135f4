#pragma once
// Helpers shared by the SimLoop tests (test_sim_loop.cpp, test_sim_time.cpp,
// test_sim_determinism.cpp).

#include <simrun/simrun.hpp>

namespace sim_loop_test {

inline simrun::Coro<void> sleep_for(simrun::Duration delay) {
    co_await simrun::sleep(delay);
}

}  // namespace sim_loop_test
