#pragma once
// SimNetwork: the SimLoop's network (io/network.hpp), so that code using open_connection() and
// start_server() runs unchanged in the simulator. Hosts with their own IPv4 addresses; TCP-like
// connections that keep byte order, with a window per direction (back-pressure), a seeded
// latency per delivery and an optional bandwidth; and faults, by hand or from a FaultPlan:
// partitions, held data, resets and closes of chosen or random connections, crashed and
// restarted hosts. Every choice comes from the loop's ChoiceSource and every event is a "net"
// line of the loop's trace, so a seed replays bit for bit.
//
//     auto& net = simrun::sim::network();          // the running SimLoop's
//     net.add_host("server", "10.0.0.2");
//     net.spawn_on("server", serve());              // start_server() binds on 10.0.0.2
//     auto [reader, writer] = co_await simrun::open_connection("server", 80);
//     net.partition("localhost", "server");         // data and connects now wait
//
// Delivery is made of loop timers: what a socket sends arrives at the peer after the link's
// latency, in order; readiness is level-triggered as on the epoll loop (a watch callback runs
// at each loop iteration while its condition holds, and an idle socket schedules nothing, so a
// program waiting on it alone is reported as a DeadlockError).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "simrun/core/context.hpp"
#include "simrun/core/event_loop.hpp"
#include "simrun/core/task.hpp"
#include "simrun/io/network.hpp"
#include "simrun/sim/network/fault_plan.hpp"

namespace simrun::sim {

class SimLoop;

namespace net_detail {
struct NetCore;
/// The context variable naming the host a task runs on (unset: "localhost").
ContextVar<std::string>& host_variable();
}  // namespace net_detail

/// Delivery between two hosts.
struct LinkOptions {
    /// Each delivery takes a latency drawn uniformly from [min_latency, max_latency] (a
    /// ChoiceSource choice; equal bounds: fixed). Deliveries of one connection never overtake
    /// each other.
    Duration min_latency = std::chrono::milliseconds(1);
    Duration max_latency = std::chrono::milliseconds(5);
    /// Bytes per virtual second each direction of a connection carries; 0: unlimited.
    std::uint64_t bandwidth = 0;
};

/// Options of a SimNetwork.
struct NetworkOptions {
    /// Between hosts without their own LinkOptions (SimNetwork::set_link()).
    LinkOptions link{};
    /// Within one host (loopback): no latency by default, so data sent is delivered at the
    /// next loop iteration without virtual time passing (as a loopback round trip that takes
    /// microseconds), and code that polls with sleep(0) sees it.
    LinkOptions loopback{Duration::zero(), Duration::zero(), 0};
    /// Bytes one direction of a connection holds (in flight plus unread): send() takes at
    /// most what fits, then nothing until the reader reads.
    std::size_t window = 64 * 1024;
};

/// A live connection, as SimNetwork::connections() lists it.
struct ConnectionInfo {
    std::uint64_t id = 0;     ///< for reset(id) and close(id); ids count from 1
    std::string client_host;  ///< host name of the connecting end
    std::string server_host;  ///< host name of the accepting end
    SocketAddress client{};   ///< the connecting end's address
    SocketAddress server{};   ///< the listening address connected to
    /// "#3 localhost ('127.0.0.1', 40000) -> server ('10.0.0.2', 80)".
    std::string to_string() const;
};

class SimNetwork;

/// A simulated host: a name and an address. A cheap handle; the host lives in its network.
class Host {
  public:
    const std::string& name() const noexcept { return name_; }
    /// Its IPv4 address ("10.0.0.2"; "127.0.0.1" for "localhost").
    std::string address() const;
    /// False between crash() and restart().
    bool is_up() const;
    /// SimNetwork::spawn_on(name(), coro, options).
    template <class T>
    Task<T> spawn(Coro<T> coro, TaskOptions options = {}) const;

  private:
    friend class SimNetwork;
    Host(SimNetwork& network, std::string name) : network_(&network), name_(std::move(name)) {}
    SimNetwork* network_;
    std::string name_;
};

/// The simulated network of one SimLoop (see the file comment). Loop thread only.
class SimNetwork final : public io::Network {
  public:
    /// Made by SimLoop::network(); it has the host "localhost" (127.0.0.1).
    SimNetwork(SimLoop& loop, NetworkOptions options = {});
    ~SimNetwork() override;
    SimNetwork(const SimNetwork&) = delete;
    SimNetwork& operator=(const SimNetwork&) = delete;

    // ---- io::Network ------------------------------------------------------------------
    /// A host name resolves to its address, a numeric address to itself, "" (passive) to
    /// 0.0.0.0. Takes one loop iteration. Unknown name: OSError (errno EAI_NONAME, -2) "
    /// Name or service not known", as the epoll loop raises socket.gaierror.
    Coro<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port,
                                             bool passive) override;
    /// Connects from the current host (or options.local_address's host) after a round trip.
    /// 127.0.0.1 and 0.0.0.0 mean the current host. No listener (or not listening): after a
    /// round trip, ConnectionRefusedError "Connect call failed ('10.0.0.2', 80)". A full
    /// backlog, a partition between the hosts or a crashed target host: waits (until it
    /// changes, or the caller's timeout()). An address no host has: OSError EHOSTUNREACH with
    /// the same text. The current host crashed: OSError ENETDOWN.
    Coro<std::unique_ptr<io::StreamSocket>> connect(SocketAddress address,
                                                    io::ConnectOptions options) override;
    /// Binds on the current host: 0.0.0.0, "", ::, 127.0.0.1, ::1 and the host's own address
    /// all mean it (one interface per host). Port 0: the host's next ephemeral port (40000
    /// upward). Throws OSError EADDRINUSE (port taken on this host), EADDRNOTAVAIL (another
    /// host's address), ENETDOWN (the host crashed).
    std::unique_ptr<io::ListenSocket> bind(SocketAddress address, io::BindOptions options) override;

    // ---- hosts ------------------------------------------------------------------------
    /// Adds a host. Throws ValueError for an empty or taken name, an address that is not
    /// dotted IPv4, a 127.x address or one another host has.
    Host add_host(std::string name, std::string address);
    /// The host named `name`; LookupError if there is none.
    Host host(const std::string& name);
    /// Every host, by name.
    std::vector<Host> hosts();
    /// The host the calling task runs on ("localhost" unless spawned with spawn_on()).
    Host current_host();
    /// Runs `coro` as a task on host `host`: its connects and binds use that host, and so do
    /// the tasks it creates. Throws LookupError for an unknown host, RuntimeError if it is down.
    template <class T>
    Task<T> spawn_on(const std::string& host, Coro<T> coro, TaskOptions options = {}) {
        check_can_spawn(host);
        Context context = options.context ? options.context->copy() : copy_context();
        context.run([&host] { (void)net_detail::host_variable().set(host); });
        options.context = std::move(context);
        return loop_.create_task(std::move(coro), std::move(options));
    }
    /// Delivery between hosts `a` and `b` (both directions); ValueError if min > max.
    void set_link(const std::string& a, const std::string& b, LinkOptions options);
    /// The options in force (set_link(), else options().link, or loopback within a host).
    LinkOptions link(const std::string& a, const std::string& b) const;
    NetworkOptions& options() noexcept;

    // ---- faults (each one a "net" trace line) ----------------------------------------
    /// Nothing passes between `a` and `b` until repair(): data waits, connects wait. Throws
    /// LookupError for unknown hosts, ValueError if a == b.
    void partition(const std::string& a, const std::string& b);
    /// Ends a partition: waiting data is delivered (after a fresh latency), connects go on.
    void repair(const std::string& a, const std::string& b);
    /// Holds the data travelling between `a` and `b` (connects are not affected).
    void hold(const std::string& a, const std::string& b);
    /// Delivers what hold() held (after a fresh latency).
    void release(const std::string& a, const std::string& b);
    /// Resets connection `id` at both ends: their next receive or send fails with
    /// ConnectionResetError. LookupError if no live connection has that id.
    void reset(std::uint64_t id);
    /// Closes connection `id` cleanly at both ends' network level: each reads what was sent,
    /// then end of stream, and its sends fail with BrokenPipeError. LookupError as reset().
    void close(std::uint64_t id);
    /// reset() of a live connection picked with the ChoiceSource (an end on `a` if given, and
    /// on `b` too if given); its id, or none if there is no such connection.
    std::optional<std::uint64_t> reset_random(const std::string& a = {}, const std::string& b = {});
    /// close() of a random connection, as reset_random().
    std::optional<std::uint64_t> close_random(const std::string& a = {}, const std::string& b = {});
    /// The host goes down: every connection with an end on it is reset (at both ends), its
    /// listening sockets close, every task running on it is cancelled, and until restart()
    /// its sockets fail (ENETDOWN) and connects to it wait, as to a silent machine.
    void crash(const std::string& name);
    /// The host is up again, with nothing running: the test starts its service again.
    void restart(const std::string& name);
    /// Schedules every fault of `plan` at its time (call_at); a fault naming an unknown host
    /// raises LookupError when it happens, through the loop's exception handler.
    void apply(const FaultPlan& plan);
    /// Applies one fault now.
    void apply_now(const Fault& fault);
    /// The live connections (neither end closed nor reset), by id.
    std::vector<ConnectionInfo> connections() const;

    /// Closes every socket and drops every watch (the loop is closing).
    void close_all() noexcept;

  private:
    friend class Host;
    void check_can_spawn(const std::string& host);
    std::size_t loop_choice(std::size_t bound);
    EventLoop& loop_;
    std::shared_ptr<net_detail::NetCore> core_;
};

template <class T>
Task<T> Host::spawn(Coro<T> coro, TaskOptions options) const {
    return network_->spawn_on(name_, std::move(coro), std::move(options));
}

/// The running SimLoop's network; RuntimeError if the running loop is not a SimLoop.
SimNetwork& network();

}  // namespace simrun::sim
