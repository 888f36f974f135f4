#pragma once
// Everything of the simulator in one include.

#include "simrun/sim/choice_source.hpp"
#include "simrun/sim/fake_executor.hpp"
#include "simrun/sim/fake_signals.hpp"
#include "simrun/sim/network/fault_plan.hpp"
#include "simrun/sim/network/sim_network.hpp"
#include "simrun/sim/sim_loop.hpp"
#include "simrun/sim/trace.hpp"
