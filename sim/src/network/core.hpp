#pragma once
// The state behind a SimNetwork, shared with its sockets (which may outlive the loop): hosts,
// links (connections), listeners, faults in force and the readiness tick.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "simrun/core/future.hpp"
#include "simrun/core/handle.hpp"
#include "simrun/sim/loop/sim_loop.hpp"
#include "simrun/sim/network/sim_network.hpp"

namespace simrun::sim::net_detail {

class SimStreamSocket;
class SimListenSocket;

/// Something whose readiness the tick checks.
class Watchable {
  public:
    virtual ~Watchable() = default;
    virtual bool readable() const = 0;
    virtual bool writable() const { return false; }
    std::function<void()> on_readable;
    std::function<void()> on_writable;
    std::optional<Context> read_context;  // the callbacks run in the context they were set in
    std::optional<Context> write_context;
    std::uint64_t watch_id = 0;
};

/// What travels in one direction of a link.
struct Segment {
    enum class Kind { data, fin };
    Kind kind = Kind::data;
    std::string data;
    bool closes = false;  // fin: the sender closed (not only shut down writing)
    Duration arrival{};
};

/// One direction of a link: towards end `to` of Link::to[to].
struct Direction {
    std::deque<Segment> in_flight;
    std::size_t in_flight_bytes = 0;
    std::string buffer;            // arrived, not read yet
    bool eof = false;              // the FIN arrived
    bool peer_closed = false;      // the FIN said the sender closed
    bool fin_sent = false;         // the sender queued its FIN
    bool fin_closes_sent = false;  // ... saying that it closed
    Duration tx_free_at{};         // bandwidth: when the sender's link is free again
    Duration last_arrival{};       // deliveries never overtake each other
    TimerHandle timer;
    bool timer_armed = false;
    std::size_t used() const noexcept { return in_flight_bytes + buffer.size(); }
};

/// A connection: end 0 connected, end 1 was accepted.
struct Link {
    std::uint64_t id = 0;
    std::string host[2];
    SocketAddress address[2];
    Direction to[2];                  // to[i]: travelling towards end i
    bool reset[2] = {false, false};   // end i's next operation fails with ECONNRESET
    bool closed[2] = {false, false};  // end i was closed or aborted by its owner
    bool severed = false;             // SimNetwork::close(): FIN both ways, sends fail (EPIPE)
    SimStreamSocket* end[2] = {nullptr, nullptr};
    bool live() const noexcept {
        return !reset[0] && !reset[1] && !closed[0] && !closed[1] && !severed;
    }
};

struct HostState {
    std::string name;
    std::string address;
    bool up = true;
    std::uint16_t next_port = 40000;
};

using HostPair = std::pair<std::string, std::string>;
inline HostPair pair_of(const std::string& a, const std::string& b) {
    return a < b ? HostPair{a, b} : HostPair{b, a};
}

struct NetCore : std::enable_shared_from_this<NetCore> {
    SimLoop* loop = nullptr;  // null once the loop is gone
    NetworkOptions options;
    bool closed = false;  // the loop closed: every socket is dead

    std::map<std::string, HostState> hosts;
    std::map<HostPair, LinkOptions> link_options;
    std::set<HostPair> partitions;
    std::set<HostPair> holds;
    std::map<std::uint64_t, std::shared_ptr<Link>> links;
    std::uint64_t next_link_id = 1;
    std::map<std::pair<std::string, std::uint16_t>, SimListenSocket*> listeners;  // (host, port)

    std::map<std::uint64_t, Watchable*> watchables;
    std::set<std::uint64_t> active;  // may be ready: checked at the next tick
    std::uint64_t next_watch_id = 1;
    bool tick_scheduled = false;
    std::vector<Future<void>> waiters;  // connects waiting for a partition, host or backlog change

    // ---- notes and choices ----
    void note(const std::string& text);
    Duration latency(const std::string& a, const std::string& b);
    LinkOptions link_for(const std::string& a, const std::string& b) const;

    // ---- hosts ----
    HostState& host_named(const std::string& name);
    const HostState* host_with_address(const std::string& address) const;
    /// The host the calling task runs on.
    HostState& current_host();
    /// The host an address means for a socket on `self` (loopback and wildcard: self).
    const HostState* target_host(const HostState& self, const std::string& address) const;
    bool blocked(const std::string& a, const std::string& b) const {
        return a != b && (partitions.count(pair_of(a, b)) != 0 || holds.count(pair_of(a, b)) != 0);
    }
    bool partitioned(const std::string& a, const std::string& b) const {
        return a != b && partitions.count(pair_of(a, b)) != 0;
    }

    // ---- readiness ----
    void add(Watchable& watchable);
    void remove(Watchable& watchable);
    void mark(Watchable* watchable);
    void mark_link(Link& link);
    void poke();
    void tick();
    /// Wakes every waiting connect (it re-checks its condition).
    void changed();
    Future<void> next_change();

    // ---- delivery ----
    /// Queues a segment from end `from` of `link` towards the other end.
    void transmit(const std::shared_ptr<Link>& link, int from, Segment segment);
    /// Delivers what is due in direction `to`, then arms the timer for the rest.
    void deliver(const std::shared_ptr<Link>& link, int to);
    void arm(const std::shared_ptr<Link>& link, int to);
    /// Re-times the held deliveries between a and b (after repair or release).
    void retime(const std::string& a, const std::string& b);

    // ---- faults ----
    void reset_link(Link& link, const char* why);
    void close_link(const std::shared_ptr<Link>& link);
    void forget_if_done(Link& link);
    std::vector<std::uint64_t> live_links(const std::string& a, const std::string& b) const;
    void close_all() noexcept;
};

/// One end of a link.
class SimStreamSocket final : public io::StreamSocket, public Watchable {
  public:
    SimStreamSocket(std::shared_ptr<NetCore> core, std::shared_ptr<Link> link, int side);
    ~SimStreamSocket() override;

    std::size_t send(std::string_view data) override;
    std::optional<std::string> receive(std::size_t max_bytes) override;
    void shutdown_write() override;
    void close() noexcept override;
    void abort() noexcept override;
    void watch_readable(std::function<void()> callback) override;
    void watch_writable(std::function<void()> callback) override;
    std::optional<SocketAddress> peer_address() const override;
    std::optional<SocketAddress> local_address() const override;

    bool readable() const override;
    bool writable() const override;
    /// The network closed this socket (loop closed).
    void kill() noexcept;

  private:
    void check_usable(const char* operation) const;
    void finish(bool reset) noexcept;

    std::shared_ptr<NetCore> core_;
    std::shared_ptr<Link> link_;
    int side_;
    bool closed_ = false;
    bool write_shut_ = false;
};

/// A bound, maybe listening, socket.
class SimListenSocket final : public io::ListenSocket, public Watchable {
  public:
    SimListenSocket(std::shared_ptr<NetCore> core, std::string host, SocketAddress address);
    ~SimListenSocket() override;

    void listen(int backlog) override;
    std::unique_ptr<io::StreamSocket> accept() override;
    void watch_readable(std::function<void()> callback) override;
    void close() noexcept override;
    SocketAddress local_address() const override { return address_; }

    bool readable() const override;
    /// Listening, open and with room in the backlog.
    bool accepting() const;
    bool listening() const noexcept { return listening_ && !closed_; }
    /// A connection arrived (its accepted end).
    void enqueue(std::unique_ptr<SimStreamSocket> socket);
    const std::string& host() const noexcept { return host_; }

  private:
    std::shared_ptr<NetCore> core_;
    std::string host_;
    SocketAddress address_;
    std::deque<std::unique_ptr<SimStreamSocket>> queue_;
    int backlog_ = 0;
    bool listening_ = false;
    bool closed_ = false;
};

/// OSError with exactly `text` as what() (socket.gaierror's form).
class OSErrorWithText : public OSError {
  public:
    OSErrorWithText(int error_number, std::string text)
        : OSError(error_number, text), text_(std::move(text)) {}
    const char* what() const noexcept override { return text_.c_str(); }

  private:
    std::string text_;
};

}  // namespace simrun::sim::net_detail
