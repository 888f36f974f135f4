// Fault, FaultPlan and random_fault_plan().

#include "simrun/sim/network/fault_plan.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include "simrun/core/exceptions.hpp"
#include "simrun/sim/loop/trace.hpp"

namespace simrun::sim {

const char* fault_kind_name(FaultKind kind) noexcept {
    switch (kind) {
        case FaultKind::partition:
            return "partition";
        case FaultKind::repair:
            return "repair";
        case FaultKind::hold:
            return "hold";
        case FaultKind::release:
            return "release";
        case FaultKind::reset:
            return "reset";
        case FaultKind::close:
            return "close";
        case FaultKind::crash:
            return "crash";
        case FaultKind::restart:
            return "restart";
    }
    return "?";
}

std::string Fault::to_string() const {
    std::string text = "t=" + format_time(at) + " " + fault_kind_name(kind);
    if ((kind == FaultKind::reset || kind == FaultKind::close) && connection)
        return text + " #" + std::to_string(*connection);
    if (kind == FaultKind::reset || kind == FaultKind::close)
        text += " random";
    if (!a.empty())
        text += " " + a;
    if (!b.empty())
        text += " " + b;
    return text;
}

std::string FaultPlan::to_string() const {
    std::string text;
    for (const Fault& fault : faults)
        text += fault.to_string() + "\n";
    return text;
}

FaultPlan healed(FaultPlan plan, Duration at) {
    std::vector<Fault> faults = plan.faults;
    std::stable_sort(faults.begin(), faults.end(),
                     [](const Fault& x, const Fault& y) { return x.at < y.at; });
    std::set<std::pair<std::string, std::string>> partitions;
    std::set<std::pair<std::string, std::string>> holds;
    std::set<std::string> crashed;
    for (const Fault& fault : faults) {
        auto key = std::minmax(fault.a, fault.b);
        std::pair<std::string, std::string> pair{key.first, key.second};
        switch (fault.kind) {
            case FaultKind::partition:
                partitions.insert(pair);
                break;
            case FaultKind::repair:
                partitions.erase(pair);
                break;
            case FaultKind::hold:
                holds.insert(pair);
                break;
            case FaultKind::release:
                holds.erase(pair);
                break;
            case FaultKind::crash:
                crashed.insert(fault.a);
                break;
            case FaultKind::restart:
                crashed.erase(fault.a);
                break;
            default:
                break;
        }
    }
    for (const auto& [a, b] : partitions)
        faults.push_back(Fault{at, FaultKind::repair, a, b, std::nullopt});
    for (const auto& [a, b] : holds)
        faults.push_back(Fault{at, FaultKind::release, a, b, std::nullopt});
    for (const std::string& host : crashed)
        faults.push_back(Fault{at, FaultKind::restart, host, {}, std::nullopt});
    plan.faults = std::move(faults);
    return plan;
}

FaultPlan random_fault_plan(ChoiceSource& choices, const std::vector<std::string>& hosts,
                            Duration horizon, std::size_t count) {
    if (hosts.size() < 2)
        throw ValueError("random_fault_plan() needs at least two hosts");
    if (horizon <= Duration::zero())
        throw ValueError("random_fault_plan() needs a positive horizon");
    constexpr FaultKind kinds[] = {FaultKind::partition, FaultKind::repair, FaultKind::hold,
                                   FaultKind::release,   FaultKind::reset,  FaultKind::close,
                                   FaultKind::crash,     FaultKind::restart};
    auto pick_host = [&] { return hosts[choices.choose(hosts.size())]; };
    std::vector<Fault> faults;
    for (std::size_t i = 0; i < count; ++i) {
        Fault fault;
        fault.at = Duration(static_cast<Duration::rep>(
            choices.choose(static_cast<std::uint64_t>(horizon.count()))));
        fault.kind = kinds[choices.choose(std::size(kinds))];
        fault.a = pick_host();
        if (fault.kind != FaultKind::crash && fault.kind != FaultKind::restart) {
            std::string b = pick_host();
            if (b == fault.a)  // a pair needs two hosts: take the next one
                b = hosts[(static_cast<std::size_t>(std::find(hosts.begin(), hosts.end(), b) -
                                                    hosts.begin()) +
                           1) %
                          hosts.size()];
            fault.b = std::move(b);
        }
        faults.push_back(std::move(fault));
    }
    std::stable_sort(faults.begin(), faults.end(),
                     [](const Fault& x, const Fault& y) { return x.at < y.at; });
    return healed(FaultPlan{std::move(faults)}, horizon);
}

}  // namespace simrun::sim
