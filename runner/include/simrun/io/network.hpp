#pragma once
// The seam between the streams and a loop's network. Everything above it (transports, streams,
// servers: io/transport.hpp, io/streams.hpp, io/server.hpp) is written once and runs on both
// loops; below it the epoll loop has non-blocking kernel sockets and the simulator has its
// simulated network (sim/network). A loop's network is `loop.network()`.
//
// The interface is that of a non-blocking socket, so that the one transport implementation
// above it (modelled on asyncio's selector transport) behaves the same on both: send() takes
// what fits, receive() returns what is there, and readiness is watched level-triggered.
// Application code does not use it directly; it uses open_connection() and start_server().

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "simrun/core/coro.hpp"
#include "simrun/io/address.hpp"

namespace simrun::io {

/// One end of a connected byte stream (a TCP socket; a simulated connection). Owned by one
/// transport. Never raises SIGPIPE. Every method belongs to the loop's thread.
class StreamSocket {
  public:
    virtual ~StreamSocket() = default;

    /// Hands as much of `data` as fits in the send buffer to the connection and returns how
    /// many bytes were taken (0: full; wait for writability). Throws OSError on a broken
    /// connection (EPIPE, ECONNRESET).
    virtual std::size_t send(std::string_view data) = 0;
    /// Up to `max_bytes` received bytes; an empty string once the peer has shut down its
    /// sending side (end of stream); nullopt when nothing is available now. Throws OSError
    /// (ECONNRESET when the peer reset the connection).
    virtual std::optional<std::string> receive(std::size_t max_bytes) = 0;
    /// Shuts down the sending side after the data already taken (shutdown(SHUT_WR)): the peer
    /// reads end of stream.
    virtual void shutdown_write() = 0;
    /// Closes this end gracefully: data already taken is still delivered, then end of stream.
    /// Stops every watch. Nothing may be called afterwards.
    virtual void close() noexcept = 0;
    /// Closes this end with a reset: unsent data is dropped and the peer's next receive or
    /// send fails with ECONNRESET. Stops every watch. Nothing may be called afterwards.
    virtual void abort() noexcept = 0;

    /// Runs `callback` at every loop iteration while the socket is readable (data, end of
    /// stream, or an error to report); an empty function stops watching. Level-triggered, as
    /// EventLoop::add_reader. The callback may call any method, close() included.
    virtual void watch_readable(std::function<void()> callback) = 0;
    /// As watch_readable, for writability (room in the send buffer, or an error to report).
    virtual void watch_writable(std::function<void()> callback) = 0;

    /// The peer's address; nullopt once it is not known (asyncio's 'peername').
    virtual std::optional<SocketAddress> peer_address() const = 0;
    /// This end's address (asyncio's 'sockname').
    virtual std::optional<SocketAddress> local_address() const = 0;
    /// The descriptor on the epoll loop; -1 in the simulator.
    virtual int native_handle() const noexcept { return -1; }
};

/// A socket bound to an address, listening once listen() was called. Owned by one server.
class ListenSocket {
  public:
    virtual ~ListenSocket() = default;

    /// Starts accepting connections with a queue of `backlog`; before, connects are refused.
    virtual void listen(int backlog) = 0;
    /// One waiting connection, or null if none is waiting. Throws OSError: EMFILE, ENFILE,
    /// ENOBUFS, ENOMEM when out of resources (the server pauses accepting, as asyncio does),
    /// ECONNABORTED for a connection that was reset while queued.
    virtual std::unique_ptr<StreamSocket> accept() = 0;
    /// As StreamSocket::watch_readable: readable while connections are waiting.
    virtual void watch_readable(std::function<void()> callback) = 0;
    /// Stops listening and releases the address. Stops the watch. Queued connections are reset.
    virtual void close() noexcept = 0;

    /// The bound address (with the port chosen by the system for port 0).
    virtual SocketAddress local_address() const = 0;
    /// The descriptor on the epoll loop; -1 in the simulator.
    virtual int native_handle() const noexcept { return -1; }
};

/// Options of Network::connect().
struct ConnectOptions {
    /// Bind the connecting socket to this address first (asyncio's local_addr).
    std::optional<SocketAddress> local_address{};
};

/// Options of Network::bind().
struct BindOptions {
    /// SO_REUSEADDR (asyncio: on by default on POSIX).
    bool reuse_address = true;
    /// SO_REUSEPORT.
    bool reuse_port = false;
    /// SO_KEEPALIVE on accepted connections (asyncio 3.13's keep_alive).
    bool keep_alive = false;
};

/// A loop's network: name resolution, connecting, binding.
class Network {
  public:
    virtual ~Network() = default;

    /// The addresses `host` resolves to, each with `port` (getaddrinfo; the epoll loop runs it
    /// in the default executor, as asyncio does, so the loop never blocks). `passive`: for
    /// binding, where an empty host means every interface. Duplicates removed, order kept.
    /// Throws OSError for an unknown name.
    virtual Coro<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port,
                                                     bool passive) = 0;
    /// Connects to `address`. Throws OSError on failure, in asyncio's words
    /// ("Connect call failed ('127.0.0.1', 33195)", with ECONNREFUSED, ETIMEDOUT, ...).
    /// Cancellable at any point (so timeout() bounds it); a cancelled attempt leaves nothing
    /// open.
    virtual Coro<std::unique_ptr<StreamSocket>> connect(SocketAddress address,
                                                        ConnectOptions options) = 0;
    /// A socket bound to `address` (port 0: a free port), not listening yet. Throws OSError
    /// (EADDRINUSE, EADDRNOTAVAIL, ...).
    virtual std::unique_ptr<ListenSocket> bind(SocketAddress address, BindOptions options) = 0;
};

}  // namespace simrun::io
