#pragma once
// simrun::testing, the testing kit: seed sweeps with replay lines, run limits, a determinism
// check, a guard against real time leaking into a simulation, and traces as pictures. This
// header is framework-neutral; simrun/testing/doctest.hpp adds doctest macros and
// simrun/testing/rapidcheck.hpp rapidcheck generators. docs/testing.md, "Testing your service
// with simrun::testing", is the guide.

#include "simrun/testing/chrome_trace.hpp"
#include "simrun/testing/html_timeline.hpp"
#include "simrun/testing/real_time_guard.hpp"
#include "simrun/testing/sweep.hpp"
