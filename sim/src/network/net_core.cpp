// NetCore: hosts, the readiness tick, delivery timers and the faults' effect on links.

#include <algorithm>
#include <cerrno>

#include "core.hpp"

namespace simrun::sim::net_detail {

ContextVar<std::string>& host_variable() {
    static ContextVar<std::string> variable("simrun.sim.host");
    return variable;
}

void NetCore::note(const std::string& text) {
    if (loop != nullptr)
        loop->note("net", text);
}

LinkOptions NetCore::link_for(const std::string& a, const std::string& b) const {
    if (auto found = link_options.find(pair_of(a, b)); found != link_options.end())
        return found->second;
    return a == b ? options.loopback : options.link;
}

Duration NetCore::latency(const std::string& a, const std::string& b) {
    const LinkOptions link = link_for(a, b);
    if (link.max_latency <= link.min_latency || loop == nullptr)
        return link.min_latency;
    const auto span = static_cast<std::uint64_t>((link.max_latency - link.min_latency).count());
    return link.min_latency +
           Duration(static_cast<Duration::rep>(loop->choices().choose(span + 1)));
}

// ---- hosts ----------------------------------------------------------------------------------

HostState& NetCore::host_named(const std::string& name) {
    auto found = hosts.find(name);
    if (found == hosts.end())
        throw LookupError("simulated network: no host named '" + name + "'");
    return found->second;
}

const HostState* NetCore::host_with_address(const std::string& address) const {
    for (const auto& [name, host] : hosts) {
        if (host.address == address)
            return &host;
    }
    return nullptr;
}

HostState& NetCore::current_host() {
    auto found = hosts.find(host_variable().get(std::string("localhost")));
    if (found == hosts.end())
        return hosts.at("localhost");
    return found->second;
}

const HostState* NetCore::target_host(const HostState& self, const std::string& address) const {
    if (address.empty() || address.rfind("127.", 0) == 0 || address == "0.0.0.0" ||
        address == "::1" || address == "::" || address == "localhost")
        return &self;
    return host_with_address(address);
}

// ---- readiness ------------------------------------------------------------------------------

void NetCore::add(Watchable& watchable) {
    watchable.watch_id = next_watch_id++;
    watchables[watchable.watch_id] = &watchable;
}

void NetCore::remove(Watchable& watchable) {
    watchables.erase(watchable.watch_id);
    active.erase(watchable.watch_id);
}

void NetCore::mark(Watchable* watchable) {
    if (watchable == nullptr || closed)
        return;
    active.insert(watchable->watch_id);
    poke();
}

void NetCore::mark_link(Link& link) {
    mark(link.end[0]);
    mark(link.end[1]);
}

void NetCore::poke() {
    if (tick_scheduled || closed || loop == nullptr || loop->is_closed())
        return;
    tick_scheduled = true;
    // No context of its own: each watch runs in the context it was set in.
    loop->call_soon_without_context(
        [weak = weak_from_this()] {
            if (auto core = weak.lock())
                core->tick();
        },
        "network: sockets became ready");
}

namespace {
bool ready(const Watchable& watchable) {
    return (watchable.on_readable && watchable.readable()) ||
           (watchable.on_writable && watchable.writable());
}
}  // namespace

void NetCore::tick() {
    tick_scheduled = false;
    if (closed || loop == nullptr)
        return;
    const std::vector<std::uint64_t> ids(active.begin(), active.end());
    auto run = [this](const std::function<void()>& callback,
                      const std::optional<Context>& context) {
        std::function<void()> copy = callback;  // the callback may replace itself
        try {
            if (context) {
                Context entered = *context;
                entered.run(copy);
            } else {
                copy();
            }
        } catch (...) {
            std::exception_ptr error = std::current_exception();
            if (escapes_loop(error))
                throw;
            loop->call_exception_handler(
                {"Exception in callback (simulated network)", error, {}, {}});
        }
    };
    for (std::uint64_t id : ids) {
        auto found = watchables.find(id);
        if (found != watchables.end() && found->second->on_readable && found->second->readable())
            run(found->second->on_readable, found->second->read_context);
        found = watchables.find(id);
        if (found != watchables.end() && found->second->on_writable && found->second->writable())
            run(found->second->on_writable, found->second->write_context);
        found = watchables.find(id);
        if (found == watchables.end() || !ready(*found->second))
            active.erase(id);
    }
    if (!active.empty())
        poke();  // level-triggered: again at the next iteration
}

Future<void> NetCore::next_change() {
    Future<void> waiter = loop->create_future<void>();
    waiter.set_label("simulated network change");
    waiters.push_back(waiter);
    return waiter;
}

void NetCore::changed() {
    std::vector<Future<void>> woken = std::move(waiters);
    waiters.clear();
    for (Future<void>& waiter : woken) {
        if (!waiter.done())
            waiter.set_result();
    }
}

// ---- delivery -------------------------------------------------------------------------------

void NetCore::transmit(const std::shared_ptr<Link>& link, int from, Segment segment) {
    const int to = 1 - from;
    Direction& direction = link->to[to];
    const Duration now = loop->time();
    const LinkOptions options_now = link_for(link->host[from], link->host[to]);
    Duration start = std::max(now, direction.tx_free_at);
    if (options_now.bandwidth != 0 && !segment.data.empty()) {
        const auto nanos = static_cast<std::uint64_t>(segment.data.size()) * 1'000'000'000ULL /
                           options_now.bandwidth;
        start += Duration(static_cast<Duration::rep>(nanos));
    }
    direction.tx_free_at = start;
    Duration arrival = start + latency(link->host[from], link->host[to]);
    arrival = std::max(arrival, direction.last_arrival);  // never overtakes
    direction.last_arrival = arrival;
    segment.arrival = arrival;
    direction.in_flight_bytes += segment.data.size();
    direction.in_flight.push_back(std::move(segment));
    arm(link, to);
}

void NetCore::arm(const std::shared_ptr<Link>& link, int to) {
    Direction& direction = link->to[to];
    if (direction.timer_armed || direction.in_flight.empty() || closed || loop == nullptr ||
        loop->is_closed() || blocked(link->host[0], link->host[1]))
        return;
    direction.timer_armed = true;
    direction.timer =
        loop->call_at(direction.in_flight.front().arrival,
                      [weak_core = weak_from_this(), weak_link = std::weak_ptr<Link>(link), to] {
                          auto core = weak_core.lock();
                          auto link = weak_link.lock();
                          if (core && link)
                              core->deliver(link, to);
                      });
    direction.timer.state()->describe_as("network: data arrives");
}

void NetCore::deliver(const std::shared_ptr<Link>& link, int to) {
    Direction& direction = link->to[to];
    direction.timer_armed = false;
    if (closed || blocked(link->host[0], link->host[1]))
        return;  // repair() or release() re-arms
    const Duration now = loop->time();
    const int from = 1 - to;
    bool any = false;
    while (!direction.in_flight.empty() && direction.in_flight.front().arrival <= now) {
        Segment segment = std::move(direction.in_flight.front());
        direction.in_flight.pop_front();
        direction.in_flight_bytes -= segment.data.size();
        any = true;
        const bool gone = link->closed[to] || link->reset[to];
        const std::string route =
            "#" + std::to_string(link->id) + " " + link->host[from] + " -> " + link->host[to];
        if (segment.kind == Segment::Kind::data) {
            note("deliver " + route + " " + std::to_string(segment.data.size()) + " bytes" +
                 (gone ? " (dropped: that end is closed)" : ""));
            if (!gone)
                direction.buffer += segment.data;
        } else {
            note("deliver " + route + (segment.closes ? " FIN (closed)" : " FIN"));
            direction.eof = true;
            direction.peer_closed = direction.peer_closed || segment.closes;
        }
    }
    if (any)
        mark_link(*link);
    arm(link, to);
}

void NetCore::retime(const std::string& a, const std::string& b) {
    if (blocked(a, b))
        return;
    const Duration now = loop->time();
    for (auto& [id, link] : links) {
        if (pair_of(link->host[0], link->host[1]) != pair_of(a, b))
            continue;
        for (int to = 0; to < 2; ++to) {
            Direction& direction = link->to[to];
            if (direction.in_flight.empty())
                continue;
            Duration base = now + latency(link->host[1 - to], link->host[to]);
            for (Segment& segment : direction.in_flight) {
                segment.arrival = std::max(segment.arrival, base);
                base = segment.arrival;
            }
            direction.last_arrival = std::max(direction.last_arrival, base);
            arm(link, to);
        }
    }
}

// ---- faults ---------------------------------------------------------------------------------

void NetCore::reset_link(Link& link, const char* why) {
    if (link.reset[0] && link.reset[1])
        return;
    note("reset #" + std::to_string(link.id) + " " + link.host[0] + " <-> " + link.host[1] + " (" +
         why + ")");
    for (int end = 0; end < 2; ++end) {
        link.reset[end] = true;
        Direction& direction = link.to[end];
        direction.in_flight.clear();
        direction.in_flight_bytes = 0;
        direction.buffer.clear();
        direction.timer.cancel();
        direction.timer_armed = false;
    }
    mark_link(link);
}

void NetCore::close_link(const std::shared_ptr<Link>& link) {
    if (!link->live())
        return;
    note("close #" + std::to_string(link->id) + " " + link->host[0] + " <-> " + link->host[1]);
    link->severed = true;
    for (int from = 0; from < 2; ++from) {
        if (!link->to[1 - from].fin_closes_sent) {
            link->to[1 - from].fin_sent = true;
            link->to[1 - from].fin_closes_sent = true;
            Segment fin;
            fin.kind = Segment::Kind::fin;
            fin.closes = true;
            transmit(link, from, std::move(fin));
        }
    }
    mark_link(*link);
}

void NetCore::forget_if_done(Link& link) {
    if (link.closed[0] && link.closed[1])
        links.erase(link.id);
}

std::vector<std::uint64_t> NetCore::live_links(const std::string& a, const std::string& b) const {
    std::vector<std::uint64_t> ids;
    for (const auto& [id, link] : links) {
        if (!link->live())
            continue;
        const bool on_a = a.empty() || link->host[0] == a || link->host[1] == a;
        const bool on_b = b.empty() || link->host[0] == b || link->host[1] == b;
        if (on_a && on_b)
            ids.push_back(id);
    }
    return ids;
}

void NetCore::close_all() noexcept {
    if (closed)
        return;
    closed = true;
    std::vector<std::function<void()>> dropped;
    for (auto& [id, watchable] : watchables) {
        if (watchable->on_readable)
            dropped.push_back(std::move(watchable->on_readable));
        if (watchable->on_writable)
            dropped.push_back(std::move(watchable->on_writable));
        watchable->on_readable = nullptr;
        watchable->on_writable = nullptr;
    }
    active.clear();
    waiters.clear();
    for (auto& [id, link] : links) {
        for (Direction& direction : link->to)
            direction.timer.cancel();
    }
    dropped.clear();  // may destroy transports, and with them their sockets
}

}  // namespace simrun::sim::net_detail
