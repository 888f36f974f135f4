#pragma once
// Everything of the simulator in one include.

#include "simrun/sim/fakes/fake_executor.hpp"
#include "simrun/sim/fakes/fake_signals.hpp"
#include "simrun/sim/loop/choice_source.hpp"
#include "simrun/sim/loop/sim_loop.hpp"
#include "simrun/sim/loop/trace.hpp"
#include "simrun/sim/network/fault_plan.hpp"
#include "simrun/sim/network/sim_network.hpp"
