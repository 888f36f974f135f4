#pragma once
// Fault plans for the simulated network: a list of faults, each at a virtual time, that
// SimNetwork::apply() schedules and random_fault_plan() draws from a ChoiceSource. A plan
// prints as one line per fault, so a failing plan can be read, pasted into a test and replayed.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "simrun/core/clock.hpp"
#include "simrun/sim/loop/choice_source.hpp"

namespace simrun::sim {

/// What a fault does (see SimNetwork for each one's exact effect).
enum class FaultKind {
    partition,  ///< SimNetwork::partition(a, b)
    repair,     ///< SimNetwork::repair(a, b)
    hold,       ///< SimNetwork::hold(a, b)
    release,    ///< SimNetwork::release(a, b)
    reset,      ///< SimNetwork::reset(connection): RST at both ends
    close,      ///< SimNetwork::close(connection): FIN at both ends
    crash,      ///< SimNetwork::crash(a)
    restart,    ///< SimNetwork::restart(a)
};

/// "partition", "repair", ... (the spelling used by Fault::to_string()).
const char* fault_kind_name(FaultKind kind) noexcept;

/// One fault at one virtual time.
struct Fault {
    /// Virtual time at which it happens (absolute loop time; a past time means at once).
    Duration at{};
    FaultKind kind = FaultKind::partition;
    /// The host (crash, restart) or the first host of the pair (partition ... release).
    /// For reset and close: if set, only connections with an end on this host are picked.
    std::string a{};
    /// The second host of the pair (partition ... release); for reset and close, if set, only
    /// connections between `a` and `b` are picked.
    std::string b{};
    /// For reset and close: the connection's id (SimNetwork::connections()). None: one of the
    /// live connections that match the hosts, picked with the loop's ChoiceSource (nothing
    /// happens, and a trace line says so, if there is none).
    std::optional<std::uint64_t> connection{};

    /// One line: "t=1.250s partition a b", "t=2.000s reset #3", "t=2.000s reset random a",
    /// "t=3.000s crash server".
    std::string to_string() const;
    friend bool operator==(const Fault&, const Fault&) = default;
};

/// A list of faults (applied in time order; equal times in list order).
struct FaultPlan {
    std::vector<Fault> faults;

    /// One line per fault (Fault::to_string()), each ending in a newline.
    std::string to_string() const;
    friend bool operator==(const FaultPlan&, const FaultPlan&) = default;
};

/// `plan` followed, at time `at`, by the faults that undo what `plan` leaves in force there:
/// a repair for every partition not repaired, a release for every hold not released, a restart
/// for every host left crashed (read in time order, equal times in list order).
FaultPlan healed(FaultPlan plan, Duration at);

/// A seeded random plan of `count` faults over `hosts` at times in [0, horizon), sorted by
/// time, followed at `horizon` by the faults that undo what is still in force (repair every
/// partition, release every hold, restart every crashed host), so the network is whole again
/// from `horizon` on. Reset and close faults pick a random connection when they happen. Throws
/// ValueError if fewer than two hosts are given.
FaultPlan random_fault_plan(ChoiceSource& choices, const std::vector<std::string>& hosts,
                            Duration horizon, std::size_t count);

}  // namespace simrun::sim
