// SimNetwork: hosts, resolve/connect/bind, and the faults' public face.

#include "simrun/sim/network/sim_network.hpp"

#include <netdb.h>

#include <algorithm>
#include <cerrno>

#include "simrun/core/sleep.hpp"

#include "core.hpp"

namespace simrun::sim {

using net_detail::HostState;
using net_detail::Link;
using net_detail::NetCore;

std::string ConnectionInfo::to_string() const {
    return "#" + std::to_string(id) + " " + client_host + " " + client.to_string() + " -> " +
           server_host + " " + server.to_string();
}

// ---- Host -----------------------------------------------------------------------------------

std::string Host::address() const {
    return network_->core_->host_named(name_).address;
}

bool Host::is_up() const {
    return network_->core_->host_named(name_).up;
}

// ---- construction ---------------------------------------------------------------------------

SimNetwork::SimNetwork(SimLoop& loop, NetworkOptions options)
    : loop_(loop), core_(std::make_shared<NetCore>()) {
    core_->loop = &loop;
    core_->options = options;
    core_->hosts["localhost"] = HostState{"localhost", "127.0.0.1"};
}

SimNetwork::~SimNetwork() {
    close_all();
    core_->loop = nullptr;
}

void SimNetwork::close_all() noexcept {
    core_->close_all();
}

NetworkOptions& SimNetwork::options() noexcept {
    return core_->options;
}

// ---- hosts ----------------------------------------------------------------------------------

namespace {
bool is_dotted_ipv4(const std::string& text) {
    int parts = 0;
    std::size_t start = 0;
    for (;;) {
        std::size_t end = text.find('.', start);
        std::string part = text.substr(start, end == std::string::npos ? end : end - start);
        if (part.empty() || part.size() > 3 ||
            part.find_first_not_of("0123456789") != std::string::npos || std::stoi(part) > 255)
            return false;
        ++parts;
        if (end == std::string::npos)
            break;
        start = end + 1;
    }
    return parts == 4;
}

bool is_numeric(const std::string& text) {
    return is_dotted_ipv4(text) || text.find(':') != std::string::npos;
}
}  // namespace

Host SimNetwork::add_host(std::string name, std::string address) {
    if (name.empty())
        throw ValueError("add_host(): empty host name");
    if (core_->hosts.count(name) != 0)
        throw ValueError("add_host(): there is a host named '" + name + "' already");
    if (!is_dotted_ipv4(address))
        throw ValueError("add_host(): '" + address + "' is not a dotted IPv4 address");
    if (address.rfind("127.", 0) == 0 || address == "0.0.0.0")
        throw ValueError("add_host(): " + address + " is a loopback or wildcard address");
    if (const HostState* other = core_->host_with_address(address))
        throw ValueError("add_host(): " + address + " is the address of '" + other->name + "'");
    core_->note("host " + name + " " + address);
    core_->hosts[name] = HostState{name, address};
    return Host(*this, std::move(name));
}

Host SimNetwork::host(const std::string& name) {
    core_->host_named(name);
    return Host(*this, name);
}

std::vector<Host> SimNetwork::hosts() {
    std::vector<Host> all;
    for (const auto& [name, state] : core_->hosts)
        all.push_back(Host(*this, name));
    return all;
}

Host SimNetwork::current_host() {
    return Host(*this, core_->current_host().name);
}

void SimNetwork::check_can_spawn(const std::string& host) {
    if (!core_->host_named(host).up)
        throw RuntimeError("spawn_on(): host '" + host + "' is down (crashed)");
}

void SimNetwork::set_link(const std::string& a, const std::string& b, LinkOptions options) {
    core_->host_named(a);
    core_->host_named(b);
    if (options.min_latency > options.max_latency)
        throw ValueError("set_link(): min_latency > max_latency");
    if (options.min_latency < Duration::zero())
        throw ValueError("set_link(): negative latency");
    core_->link_options[net_detail::pair_of(a, b)] = options;
}

LinkOptions SimNetwork::link(const std::string& a, const std::string& b) const {
    return core_->link_for(a, b);
}

// ---- io::Network ----------------------------------------------------------------------------

namespace {

Coro<std::vector<SocketAddress>> resolve_on(std::shared_ptr<NetCore> core, std::string host,
                                            std::uint16_t port, bool passive) {
    co_await yield_now();  // resolution takes a loop iteration, as in an executor
    std::vector<SocketAddress> addresses;
    if (host.empty()) {
        addresses.push_back({passive ? "0.0.0.0" : "127.0.0.1", port});
    } else if (host == "localhost") {
        addresses.push_back({"127.0.0.1", port});
    } else if (auto found = core->hosts.find(host); found != core->hosts.end()) {
        addresses.push_back({found->second.address, port});
    } else if (is_numeric(host)) {
        addresses.push_back({host, port});
    } else {
        core->note("resolve " + host + " failed");
        // socket.gaierror, in getaddrinfo's words (as the epoll loop raises it).
        throw net_detail::OSErrorWithText(EAI_NONAME, "Name or service not known");
    }
    co_return addresses;
}

/// Waits while the hosts are partitioned or the target is down (a SYN that is not answered).
Coro<void> wait_for_path(std::shared_ptr<NetCore> core, std::string from, std::string to) {
    while (!core->closed && (core->partitioned(from, to) || !core->host_named(to).up ||
                             !core->host_named(from).up)) {
        Future<void> change = core->next_change();
        co_await change;
    }
    if (core->closed)
        raise_os_error(EBADF, "connect");
}

std::uint16_t ephemeral_port(NetCore& core, HostState& host) {
    for (;;) {
        std::uint16_t port = host.next_port++;
        if (host.next_port == 0)
            host.next_port = 40000;
        if (core.listeners.count({host.name, port}) == 0)
            return port;
    }
}

Coro<std::unique_ptr<io::StreamSocket>> connect_on(std::shared_ptr<NetCore> core,
                                                   SocketAddress address,
                                                   io::ConnectOptions options) {
    const std::string failure = "Connect call failed " + address.to_string();
    if (core->closed || core->loop == nullptr)
        raise_os_error(EBADF, "connect");
    HostState& self = core->current_host();
    const std::string self_name = self.name;
    if (!self.up)
        raise_os_error(ENETDOWN, failure);
    const HostState* target = core->target_host(self, address.host);
    if (target == nullptr) {
        core->note("connect " + self_name + " -> " + address.to_string() + ": no such host");
        raise_os_error(EHOSTUNREACH, failure);
    }
    const std::string target_name = target->name;
    core->note("connect " + self_name + " -> " + target_name + " " + address.to_string());
    net_detail::SimListenSocket* listener = nullptr;
    for (;;) {
        co_await wait_for_path(core, self_name, target_name);
        co_await sleep(core->latency(self_name, target_name));  // the SYN travels
        if (core->partitioned(self_name, target_name) || !core->host_named(target_name).up)
            continue;  // lost on the way: sent again once the path is back
        auto found = core->listeners.find({target_name, address.port});
        listener = found != core->listeners.end() ? found->second : nullptr;
        if (listener == nullptr || !listener->listening()) {
            co_await sleep(core->latency(target_name, self_name));  // the RST comes back
            core->note("refused " + self_name + " -> " + target_name + " " + address.to_string());
            raise_os_error(ECONNREFUSED, failure);
        }
        if (listener->accepting())
            break;
        Future<void> change = core->next_change();  // the backlog is full: the SYN waits
        co_await change;
    }
    auto link = std::make_shared<Link>();
    link->id = core->next_link_id++;
    link->host[0] = self_name;
    link->host[1] = target_name;
    HostState& me = core->host_named(self_name);
    const bool loopback = self_name == target_name;
    SocketAddress local =
        options.local_address.value_or(SocketAddress{loopback ? "127.0.0.1" : me.address, 0});
    if (local.host.empty() || local.host == "0.0.0.0")
        local.host = loopback ? "127.0.0.1" : me.address;
    if (local.port == 0)
        local.port = ephemeral_port(*core, me);
    SocketAddress remote = address;
    if (remote.host == "0.0.0.0" || remote.host == "localhost")
        remote.host = "127.0.0.1";
    link->address[0] = local;
    link->address[1] = remote;
    core->links[link->id] = link;
    auto client = std::make_unique<net_detail::SimStreamSocket>(core, link, 0);
    listener->enqueue(std::make_unique<net_detail::SimStreamSocket>(core, link, 1));
    core->note("accept queued #" + std::to_string(link->id) + " " + self_name + " " +
               local.to_string() + " -> " + target_name + " " + remote.to_string());
    co_await sleep(core->latency(target_name, self_name));  // the SYN-ACK comes back
    co_return client;
}

}  // namespace

Coro<std::vector<SocketAddress>> SimNetwork::resolve(std::string host, std::uint16_t port,
                                                     bool passive) {
    return resolve_on(core_, std::move(host), port, passive);
}

Coro<std::unique_ptr<io::StreamSocket>> SimNetwork::connect(SocketAddress address,
                                                            io::ConnectOptions options) {
    return connect_on(core_, std::move(address), std::move(options));
}

std::unique_ptr<io::ListenSocket> SimNetwork::bind(SocketAddress address, io::BindOptions) {
    if (core_->closed)
        raise_os_error(EBADF, "bind");
    HostState& self = core_->current_host();
    if (!self.up)
        raise_os_error(ENETDOWN, "bind");
    const std::string& text = address.host;
    const bool mine = text.empty() || text == "0.0.0.0" || text == "::" || text == "::1" ||
                      text.rfind("127.", 0) == 0 || text == self.address;
    if (!mine)
        raise_os_error(EADDRNOTAVAIL, "bind");
    if (address.port == 0)
        address.port = ephemeral_port(*core_, self);
    if (core_->listeners.count({self.name, address.port}) != 0)
        raise_os_error(EADDRINUSE, "bind");
    if (address.host.empty())
        address.host = "0.0.0.0";
    core_->note("bind " + self.name + " " + address.to_string());
    auto listener = std::make_unique<net_detail::SimListenSocket>(core_, self.name, address);
    core_->listeners[{self.name, address.port}] = listener.get();
    return listener;
}

// ---- faults ---------------------------------------------------------------------------------

namespace {
void check_pair(NetCore& core, const std::string& a, const std::string& b, const char* what) {
    core.host_named(a);
    core.host_named(b);
    if (a == b)
        throw ValueError(std::string(what) + "(): the two hosts must differ, got '" + a +
                         "' twice");
}
}  // namespace

void SimNetwork::partition(const std::string& a, const std::string& b) {
    check_pair(*core_, a, b, "partition");
    core_->note("partition " + a + " " + b);
    core_->partitions.insert(net_detail::pair_of(a, b));
}

void SimNetwork::repair(const std::string& a, const std::string& b) {
    check_pair(*core_, a, b, "repair");
    core_->note("repair " + a + " " + b);
    core_->partitions.erase(net_detail::pair_of(a, b));
    core_->retime(a, b);
    core_->changed();
}

void SimNetwork::hold(const std::string& a, const std::string& b) {
    check_pair(*core_, a, b, "hold");
    core_->note("hold " + a + " " + b);
    core_->holds.insert(net_detail::pair_of(a, b));
}

void SimNetwork::release(const std::string& a, const std::string& b) {
    check_pair(*core_, a, b, "release");
    core_->note("release " + a + " " + b);
    core_->holds.erase(net_detail::pair_of(a, b));
    core_->retime(a, b);
}

namespace {
std::shared_ptr<Link> live_link(NetCore& core, std::uint64_t id) {
    auto found = core.links.find(id);
    if (found == core.links.end() || !found->second->live())
        throw LookupError("simulated network: no live connection #" + std::to_string(id));
    return found->second;
}
}  // namespace

void SimNetwork::reset(std::uint64_t id) {
    core_->reset_link(*live_link(*core_, id), "fault");
}

void SimNetwork::close(std::uint64_t id) {
    core_->close_link(live_link(*core_, id));
}

std::optional<std::uint64_t> SimNetwork::reset_random(const std::string& a, const std::string& b) {
    std::vector<std::uint64_t> ids = core_->live_links(a, b);
    if (ids.empty()) {
        core_->note("reset random: no live connection");
        return std::nullopt;
    }
    std::uint64_t id = ids[loop_choice(ids.size())];
    reset(id);
    return id;
}

std::optional<std::uint64_t> SimNetwork::close_random(const std::string& a, const std::string& b) {
    std::vector<std::uint64_t> ids = core_->live_links(a, b);
    if (ids.empty()) {
        core_->note("close random: no live connection");
        return std::nullopt;
    }
    std::uint64_t id = ids[loop_choice(ids.size())];
    close(id);
    return id;
}

std::size_t SimNetwork::loop_choice(std::size_t bound) {
    return static_cast<std::size_t>(core_->loop->choices().choose(bound));
}

void SimNetwork::crash(const std::string& name) {
    HostState& host = core_->host_named(name);
    if (!host.up) {
        core_->note("crash " + name + " (down already)");
        return;
    }
    host.up = false;
    core_->note("crash " + name);
    for (auto& [id, link] : core_->links) {
        if (link->host[0] == name || link->host[1] == name)
            core_->reset_link(*link, "host crashed");
    }
    std::vector<net_detail::SimListenSocket*> listeners;
    for (auto& [key, listener] : core_->listeners) {
        if (key.first == name)
            listeners.push_back(listener);
    }
    for (net_detail::SimListenSocket* listener : listeners)
        listener->close();
    for (TaskRef& task : loop_.all_tasks()) {
        if (task.state()->context().get(net_detail::host_variable()) == name)
            task.cancel("host '" + name + "' crashed");
    }
    core_->changed();
}

void SimNetwork::restart(const std::string& name) {
    HostState& host = core_->host_named(name);
    if (host.up) {
        core_->note("restart " + name + " (up already)");
        return;
    }
    host.up = true;
    core_->note("restart " + name);
    core_->changed();
}

std::vector<ConnectionInfo> SimNetwork::connections() const {
    std::vector<ConnectionInfo> all;
    for (const auto& [id, link] : core_->links) {
        if (link->live())
            all.push_back({id, link->host[0], link->host[1], link->address[0], link->address[1]});
    }
    return all;
}

void SimNetwork::apply_now(const Fault& fault) {
    switch (fault.kind) {
        case FaultKind::partition:
            return partition(fault.a, fault.b);
        case FaultKind::repair:
            return repair(fault.a, fault.b);
        case FaultKind::hold:
            return hold(fault.a, fault.b);
        case FaultKind::release:
            return release(fault.a, fault.b);
        case FaultKind::reset:
            if (fault.connection)
                return reset(*fault.connection);
            (void)reset_random(fault.a, fault.b);
            return;
        case FaultKind::close:
            if (fault.connection)
                return close(*fault.connection);
            (void)close_random(fault.a, fault.b);
            return;
        case FaultKind::crash:
            return crash(fault.a);
        case FaultKind::restart:
            return restart(fault.a);
    }
}

void SimNetwork::apply(const FaultPlan& plan) {
    std::vector<Fault> faults = plan.faults;
    std::stable_sort(faults.begin(), faults.end(),
                     [](const Fault& x, const Fault& y) { return x.at < y.at; });
    core_->note("apply plan of " + std::to_string(faults.size()) + " faults");
    // One timer runs the faults due at the same time in list order (timer ties are shuffled).
    std::size_t i = 0;
    while (i < faults.size()) {
        std::vector<Fault> batch;
        const Duration at = faults[i].at;
        while (i < faults.size() && faults[i].at == at)
            batch.push_back(faults[i++]);
        TimerHandle timer = loop_.call_at(at, [this, batch = std::move(batch)] {
            for (const Fault& fault : batch) {
                core_->note("fault " + fault.to_string());
                apply_now(fault);
            }
        });
        timer.state()->describe_as("network: fault plan");
    }
}

SimNetwork& network() {
    return running_sim().sim_network();
}

}  // namespace simrun::sim
