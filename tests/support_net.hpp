#pragma once
// An in-memory network for the stream tests: io::Network, io::StreamSocket and io::ListenSocket
// made of byte queues, with readiness delivered by call_soon, so it works on both loops. It
// stands in for the loops' own networks until they exist (NetLoop picks it then), and it is the
// network of the tests that need faults a real network cannot produce on demand (accept() out
// of descriptors, a reset at a chosen moment).
//
// Semantics, close to TCP's: bytes keep their order; each direction holds at most `window`
// bytes in flight (a slow reader fills it and the writer's send() takes less, then nothing);
// close() delivers what was sent, then end of stream, and the peer's later sends fail with
// EPIPE; abort() and reset() make both ends' next receive or send fail with ECONNRESET.
// Readiness is level-triggered: a watch callback runs at every loop iteration while its
// condition holds.

#include <algorithm>
#include <cerrno>
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

#include <simrun/io/detail/network_access.hpp>
#include <simrun/simrun.hpp>

#include "support.hpp"

namespace test_support {

class FakeNetwork;
class FakeListener;

/// One connection: a byte queue towards each end.
struct FakeLink {
    struct Pipe {
        std::string data;
        bool eof = false;
    };
    Pipe to[2];                       // to[i]: the bytes travelling to end i (0: client, 1: server)
    bool closed[2] = {false, false};  // end i was closed or aborted
    bool reset = false;
};

/// What the network's readiness tick looks at.
class FakeWatchable {
  public:
    virtual ~FakeWatchable() = default;
    virtual bool readable() const = 0;
    virtual bool writable() const { return false; }
    std::function<void()> on_readable;
    std::function<void()> on_writable;
    std::uint64_t id = 0;
};

class FakeNetwork final : public simrun::io::Network {
  public:
    explicit FakeNetwork(simrun::EventLoop& loop) : loop_(loop) {}
    ~FakeNetwork() override;
    FakeNetwork(const FakeNetwork&) = delete;
    FakeNetwork& operator=(const FakeNetwork&) = delete;

    simrun::Coro<std::vector<simrun::SocketAddress>> resolve(std::string host, std::uint16_t port,
                                                             bool passive) override;
    simrun::Coro<std::unique_ptr<simrun::io::StreamSocket>> connect(
        simrun::SocketAddress address, simrun::io::ConnectOptions options) override;
    std::unique_ptr<simrun::io::ListenSocket> bind(simrun::SocketAddress address,
                                                   simrun::io::BindOptions options) override;

    /// Bytes in flight per direction before send() takes less.
    std::size_t window = 64 * 1024;
    /// Names and the addresses they resolve to (numeric hosts resolve to themselves).
    std::map<std::string, std::vector<std::string>> names{{"localhost", {"127.0.0.1"}}};
    /// Addresses a socket can be bound to (others: EADDRNOTAVAIL).
    std::set<std::string> local_hosts{"127.0.0.1", "127.0.0.2", "0.0.0.0", "::1", "::"};
    /// Every connection made, in order.
    std::vector<std::shared_ptr<FakeLink>> links;
    /// accept() calls so far.
    int accept_calls = 0;

    /// The next `count` accept() calls of any listening socket that has a connection waiting
    /// fail with `error` (the connection stays queued).
    void fail_accepts(int error, int count) {
        accept_error_ = error;
        accept_failures_ = count;
        poke();
    }
    /// Resets connection `index` (of `links`): both ends' next receive or send fails with
    /// ECONNRESET.
    void reset(std::size_t index) {
        links.at(index)->reset = true;
        poke();
    }
    /// Lets go of every watch callback (what a loop's network does when the loop closes).
    void drop_all_watches();

    // ---- for the fake sockets ----
    void poke();
    void add(FakeWatchable& watchable) {
        watchable.id = next_id_++;
        watchables_[watchable.id] = &watchable;
    }
    void remove(FakeWatchable& watchable) { watchables_.erase(watchable.id); }
    void unbind(const simrun::SocketAddress& address) { listeners_.erase(address); }
    bool take_accept_failure(int& error) {
        if (accept_failures_ == 0)
            return false;
        --accept_failures_;
        error = accept_error_;
        return true;
    }

  private:
    void tick();
    FakeListener* find_listener(const simrun::SocketAddress& address);

    simrun::EventLoop& loop_;
    std::map<std::uint64_t, FakeWatchable*> watchables_;
    std::map<simrun::SocketAddress, FakeListener*> listeners_;
    std::uint64_t next_id_ = 1;
    std::uint16_t next_port_ = 40000;
    int accept_error_ = 0;
    int accept_failures_ = 0;
    bool tick_scheduled_ = false;
    bool dead_ = false;
};

/// One end of a FakeLink.
class FakeStreamSocket final : public simrun::io::StreamSocket, public FakeWatchable {
  public:
    FakeStreamSocket(FakeNetwork& network, std::shared_ptr<FakeLink> link, int side,
                     simrun::SocketAddress local, simrun::SocketAddress peer)
        : network_(&network),
          link_(std::move(link)),
          side_(side),
          local_(std::move(local)),
          peer_(std::move(peer)) {
        network_->add(*this);
    }
    ~FakeStreamSocket() override {
        if (network_ != nullptr)
            network_->remove(*this);
    }

    std::size_t send(std::string_view data) override {
        if (closed_)
            simrun::raise_os_error(EBADF, "send");
        if (link_->reset)
            simrun::raise_os_error(ECONNRESET, "send");
        if (link_->closed[1 - side_] || write_shut_)
            simrun::raise_os_error(EPIPE, "send");
        FakeLink::Pipe& out = link_->to[1 - side_];
        std::size_t room = window() > out.data.size() ? window() - out.data.size() : 0;
        std::size_t taken = std::min(room, data.size());
        out.data.append(data.substr(0, taken));
        if (taken != 0)
            poke();
        return taken;
    }
    std::optional<std::string> receive(std::size_t max_bytes) override {
        if (closed_)
            simrun::raise_os_error(EBADF, "recv");
        if (link_->reset)
            simrun::raise_os_error(ECONNRESET, "recv");
        FakeLink::Pipe& in = link_->to[side_];
        if (!in.data.empty()) {
            std::size_t count = std::min(max_bytes, in.data.size());
            std::string data = in.data.substr(0, count);
            in.data.erase(0, count);
            poke();  // the peer may be able to send again
            return data;
        }
        if (in.eof)
            return std::string();
        return std::nullopt;
    }
    void shutdown_write() override {
        if (closed_)
            simrun::raise_os_error(EBADF, "shutdown");
        write_shut_ = true;
        link_->to[1 - side_].eof = true;
        poke();
    }
    void close() noexcept override { finish(false); }
    void abort() noexcept override { finish(true); }
    void watch_readable(std::function<void()> callback) override {
        auto old = std::exchange(on_readable, std::move(callback));
        poke();
    }
    void watch_writable(std::function<void()> callback) override {
        auto old = std::exchange(on_writable, std::move(callback));
        poke();
    }
    std::optional<simrun::SocketAddress> peer_address() const override { return peer_; }
    std::optional<simrun::SocketAddress> local_address() const override { return local_; }

    bool readable() const override {
        const FakeLink::Pipe& in = link_->to[side_];
        return !closed_ && (link_->reset || !in.data.empty() || in.eof);
    }
    bool writable() const override {
        if (closed_)
            return false;
        return link_->reset || link_->closed[1 - side_] ||
               link_->to[1 - side_].data.size() < window();
    }
    /// The network went away first.
    void orphan() noexcept { network_ = nullptr; }

  private:
    std::size_t window() const { return network_ != nullptr ? network_->window : 0; }
    void poke() {
        if (network_ != nullptr)
            network_->poke();
    }
    void finish(bool reset) noexcept {
        if (closed_)
            return;
        closed_ = true;
        link_->closed[side_] = true;
        if (reset)
            link_->reset = true;
        link_->to[1 - side_].eof = true;  // the peer reads what was sent, then end of stream
        link_->to[side_].data.clear();
        poke();
        // Last: a dropped callback may hold the transport that owns this socket.
        auto dropped_read = std::move(on_readable);
        auto dropped_write = std::move(on_writable);
        on_readable = nullptr;
        on_writable = nullptr;
    }

    FakeNetwork* network_;
    std::shared_ptr<FakeLink> link_;
    int side_;
    simrun::SocketAddress local_;
    simrun::SocketAddress peer_;
    bool closed_ = false;
    bool write_shut_ = false;
};

/// A bound (and maybe listening) fake socket.
class FakeListener final : public simrun::io::ListenSocket, public FakeWatchable {
  public:
    FakeListener(FakeNetwork& network, simrun::SocketAddress address)
        : network_(&network), address_(std::move(address)) {
        network_->add(*this);
    }
    ~FakeListener() override {
        close();
        if (network_ != nullptr)
            network_->remove(*this);
    }
    void listen(int backlog) override {
        listening_ = true;
        backlog_ = backlog;
        network_->poke();
    }
    std::unique_ptr<simrun::io::StreamSocket> accept() override {
        ++network_->accept_calls;
        if (queue.empty())
            return nullptr;
        // As the kernel: the error concerns a connection that is waiting (and stays queued).
        int error = 0;
        if (network_->take_accept_failure(error))
            simrun::raise_os_error(error, "accept");
        auto socket = std::move(queue.front());
        queue.pop_front();
        return socket;
    }
    void watch_readable(std::function<void()> callback) override {
        auto old = std::exchange(on_readable, std::move(callback));
        network_->poke();
    }
    void close() noexcept override {
        if (closed_)
            return;
        closed_ = true;
        listening_ = false;
        if (network_ != nullptr)
            network_->unbind(address_);
        for (auto& socket : queue)
            socket->abort();  // connections never accepted are reset
        queue.clear();
        auto dropped = std::move(on_readable);
        on_readable = nullptr;
    }
    simrun::SocketAddress local_address() const override { return address_; }

    bool readable() const override { return listening_ && !closed_ && !queue.empty(); }
    bool accepting() const {
        return listening_ && !closed_ && queue.size() < static_cast<std::size_t>(backlog_);
    }
    void orphan() noexcept { network_ = nullptr; }

    std::deque<std::unique_ptr<FakeStreamSocket>> queue;

  private:
    FakeNetwork* network_;
    simrun::SocketAddress address_;
    int backlog_ = 0;
    bool listening_ = false;
    bool closed_ = false;
};

// ---- FakeNetwork ----------------------------------------------------------------------------

inline FakeNetwork::~FakeNetwork() {
    drop_all_watches();
    for (auto& [id, watchable] : watchables_) {
        if (auto* socket = dynamic_cast<FakeStreamSocket*>(watchable))
            socket->orphan();
        else if (auto* listener = dynamic_cast<FakeListener*>(watchable))
            listener->orphan();
    }
}

inline void FakeNetwork::drop_all_watches() {
    dead_ = true;
    std::vector<std::function<void()>> dropped;
    for (auto& [id, watchable] : watchables_) {
        if (watchable->on_readable)
            dropped.push_back(std::move(watchable->on_readable));
        if (watchable->on_writable)
            dropped.push_back(std::move(watchable->on_writable));
        watchable->on_readable = nullptr;
        watchable->on_writable = nullptr;
    }
    dropped.clear();  // may destroy transports, and with them their sockets
}

inline void FakeNetwork::poke() {
    if (tick_scheduled_ || dead_ || loop_.is_closed())
        return;
    tick_scheduled_ = true;
    loop_.call_soon([this] { tick(); });
}

inline void FakeNetwork::tick() {
    tick_scheduled_ = false;
    std::vector<std::uint64_t> ids;
    for (const auto& [id, watchable] : watchables_)
        ids.push_back(id);
    auto run = [this](std::function<void()> callback) {
        try {
            callback();
        } catch (...) {
            std::exception_ptr error = std::current_exception();
            if (simrun::escapes_loop(error))
                throw;
            loop_.call_exception_handler({"Exception in callback (fake network)", error, {}, {}});
        }
    };
    for (std::uint64_t id : ids) {
        auto found = watchables_.find(id);
        if (found != watchables_.end() && found->second->on_readable && found->second->readable())
            run(found->second->on_readable);  // a copy: the callback may replace itself
        found = watchables_.find(id);
        if (found != watchables_.end() && found->second->on_writable && found->second->writable())
            run(found->second->on_writable);
    }
    for (const auto& [id, watchable] : watchables_) {
        if ((watchable->on_readable && watchable->readable()) ||
            (watchable->on_writable && watchable->writable())) {
            poke();  // level-triggered: again at the next iteration
            break;
        }
    }
}

inline FakeListener* FakeNetwork::find_listener(const simrun::SocketAddress& address) {
    for (const char* host : {"", "0.0.0.0", "::"}) {
        simrun::SocketAddress key{*host == '\0' ? address.host : host, address.port};
        auto found = listeners_.find(key);
        if (found != listeners_.end())
            return found->second;
    }
    return nullptr;
}

inline simrun::Coro<std::vector<simrun::SocketAddress>> FakeNetwork::resolve(std::string host,
                                                                             std::uint16_t port,
                                                                             bool passive) {
    co_await simrun::yield_now();  // resolution takes a loop iteration, as in an executor
    std::vector<simrun::SocketAddress> addresses;
    if (host.empty() && passive) {
        addresses.push_back({"0.0.0.0", port});
    } else if (auto found = names.find(host); found != names.end()) {
        for (const std::string& address : found->second)
            addresses.push_back({address, port});
    } else if (!host.empty() && host.find_first_not_of("0123456789.:abcdef") == std::string::npos) {
        addresses.push_back({host, port});
    } else {
        simrun::raise_os_error(EHOSTUNREACH, "getaddrinfo('" + host + "') failed");
    }
    co_return addresses;
}

inline simrun::Coro<std::unique_ptr<simrun::io::StreamSocket>> FakeNetwork::connect(
    simrun::SocketAddress address, simrun::io::ConnectOptions options) {
    co_await simrun::yield_now();  // the handshake takes a loop iteration
    FakeListener* listener = find_listener(address);
    if (listener == nullptr || !listener->accepting())
        simrun::raise_os_error(ECONNREFUSED, "Connect call failed " + address.to_string());
    simrun::SocketAddress client = options.local_address.value_or(
        simrun::SocketAddress{address.host == "0.0.0.0" ? "127.0.0.1" : address.host, 0});
    if (client.port == 0)
        client.port = next_port_++;
    simrun::SocketAddress server = listener->local_address();
    auto link = std::make_shared<FakeLink>();
    links.push_back(link);
    listener->queue.push_back(std::make_unique<FakeStreamSocket>(*this, link, 1, server, client));
    poke();
    co_return std::make_unique<FakeStreamSocket>(*this, link, 0, client, server);
}

inline std::unique_ptr<simrun::io::ListenSocket> FakeNetwork::bind(simrun::SocketAddress address,
                                                                   simrun::io::BindOptions) {
    if (local_hosts.count(address.host) == 0)
        simrun::raise_os_error(EADDRNOTAVAIL, "bind");
    if (address.port == 0)
        address.port = next_port_++;
    if (listeners_.count(address) != 0)
        simrun::raise_os_error(EADDRINUSE, "bind");
    auto listener = std::make_unique<FakeListener>(*this, address);
    listeners_[address] = listener.get();
    return listener;
}

// ---- the fixture ----------------------------------------------------------------------------

/// True if `loop` has a network of its own.
inline bool has_network(simrun::EventLoop& loop) {
    try {
        (void)loop.network();
        return true;
    } catch (const simrun::RuntimeError&) {
        return false;
    }
}

/// A TestLoop whose stream functions use the loop's own network, or the FakeNetwork when the
/// loop has none yet or when `fake` is asked for (tests that inject faults). Closes the loop,
/// then drops the fake network's watches, at the end of the test.
template <class Kind>
struct NetLoop {
    TestLoop<Kind> base;
    simrun::EventLoop& loop;
    FakeNetwork fake;
    bool using_fake;
    std::optional<simrun::io::detail::ScopedNetworkOverride> override_network;

    explicit NetLoop(bool force_fake = false)
        : loop(base.loop), fake(base.loop), using_fake(force_fake || !has_network(base.loop)) {
        if (using_fake)
            override_network.emplace(fake);
    }
    ~NetLoop() {
        if (!loop.is_closed() && !loop.is_running())
            loop.close();
        fake.drop_all_watches();
    }
    NetLoop(const NetLoop&) = delete;
    NetLoop& operator=(const NetLoop&) = delete;

    /// Runs `coro` to completion on the loop, at most 30 s (a broken rule must fail the test,
    /// not hang it on the real loop).
    template <class T>
    T run(simrun::Coro<T> coro) {
        return loop.run_until_complete(simrun::timeout(std::chrono::seconds(30), std::move(coro)));
    }
};

}  // namespace test_support

namespace test_support {

/// The port a server listens on (its first address).
inline std::uint16_t port_of(const std::shared_ptr<simrun::Server>& server) {
    return server->addresses().at(0).port;
}

/// Yields until `condition()` holds, at most `rounds` loop iterations; returns whether it held.
template <class Condition>
simrun::Coro<bool> eventually(Condition condition, int rounds = 1000) {
    for (int i = 0; i < rounds; ++i) {
        if (condition())
            co_return true;
        co_await simrun::sleep(simrun::Duration::zero());
    }
    co_return condition();
}

/// True if `text` ends with `end`.
inline bool ends_with(const std::string& text, const std::string& end) {
    return text.size() >= end.size() &&
           text.compare(text.size() - end.size(), end.size(), end) == 0;
}

}  // namespace test_support
