#pragma once
// rapidcheck generators of Programs (see program.hpp). Everything is drawn through rapidcheck,
// the simulator's choices included, so a failing case shrinks to a small program and a short
// list of choices.

#include <rapidcheck.h>

#include "program.hpp"

namespace props {

/// A random program: a main task and up to `max_children` other tasks, SIGINTs, an external
/// cancel, executor settings and the simulator's choices.
rc::Gen<Program> programs(int max_children = 6);

}  // namespace props
