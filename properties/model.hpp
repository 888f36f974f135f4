#pragma once
// The reference model: what run() must do with a Program, derived from the Runner's rules in
// docs/semantics.md (the Runner, SIGINT, cancellation), not from the code. It only
// follows the main task, whose timeline is known in advance (children never block it); the
// children's behaviour is covered by the invariants instead.

#include <optional>
#include <string>

#include "program.hpp"

namespace props {

struct Prediction {
    /// False when the program falls in a case the model does not decide (e.g. two events at
    /// the same instant); the outcome property then checks nothing for it.
    bool decided = true;
    Observation::Outcome outcome = Observation::Outcome::other;
    int value = 0;
    /// For a KeyboardInterrupt raised by a SIGINT handler (a second SIGINT, one during close(),
    /// or one arriving after main finished), the virtual time of that SIGINT's handling; for
    /// ProcessTerminated, the instant the process ends.
    std::optional<Duration> at;
    std::string why;
};

/// `end_time` is the loop's final virtual time, which tells whether a SIGINT that arrives after
/// the main task finished still found the loop running (during close()).
Prediction predict(const Program& program, Duration end_time);

}  // namespace props
