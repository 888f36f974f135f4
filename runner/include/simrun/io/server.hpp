#pragma once
// Server and create_server(): listening sockets and the connections accepted on them
// (asyncio.Server, loop.create_server(), CPython 3.13 rules). start_server() (io/streams.hpp)
// is the streams version most code uses.
//
//     auto server = co_await start_server(handle_client, "127.0.0.1", 8080);
//     co_await server->serve_forever();      // until cancelled; then closes and waits
//
// Runs on both loops: the epoll loop's kernel sockets and the simulator's network.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "simrun/core/coro.hpp"
#include "simrun/core/future.hpp"
#include "simrun/core/handle.hpp"
#include "simrun/io/address.hpp"
#include "simrun/io/network.hpp"
#include "simrun/io/transport.hpp"

namespace simrun {

class EventLoop;

namespace io::detail {
class SocketTransport;
}

/// Options of create_server() and start_server() (asyncio's keywords of the same names).
struct ServerOptions {
    /// start_server() only: the limit of each connection's StreamReader (64 KiB).
    std::int64_t limit = 64 * 1024;
    /// Connections the system queues before they are accepted; also how many are accepted at
    /// most per loop iteration.
    int backlog = 100;
    /// SO_REUSEADDR (asyncio: on by default on POSIX).
    bool reuse_address = true;
    /// SO_REUSEPORT.
    bool reuse_port = false;
    /// SO_KEEPALIVE on accepted connections (new in Python 3.13).
    bool keep_alive = false;
    /// Start accepting at once; otherwise the sockets are bound but not listening (connects
    /// are refused) until start_serving() or serve_forever().
    bool start_serving = true;
};

/// A server: its listening sockets, and the connections accepted on them (its clients). Made
/// by create_server() or start_server(); held by shared_ptr. A serving server stays alive while
/// it serves (the loop watches its sockets); destroying the last reference to a server that is
/// not serving closes it.
///
/// Accepting (asyncio's accept loop): each time a listening socket is readable, up to `backlog`
/// connections are accepted. When the system is out of descriptors or memory (EMFILE, ENFILE,
/// ENOBUFS, ENOMEM), the loop's exception handler gets "socket.accept() out of system resource"
/// once, and that socket is not watched for 1 s. A failing connection (reset while queued,
/// a handler that throws) never stops the server.
class Server : public std::enable_shared_from_this<Server> {
    struct Key {};

  public:
    /// Internal: use create_server() or start_server().
    Server(Key, EventLoop& loop, std::vector<std::unique_ptr<io::ListenSocket>> sockets,
           ProtocolFactory factory, int backlog);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// True from the start of serving until close().
    bool is_serving() const noexcept { return serving_; }
    /// Starts listening and accepting, then yields once (asyncio's sleep(0)). Does nothing if
    /// already serving. Throws RuntimeError "server <...> is closed" after close().
    Coro<void> start_serving();
    /// Starts serving and waits until cancelled, or until close() is called; then closes the
    /// server, waits for wait_closed() (so it returns only once every client has
    /// disconnected) and throws CancelledError. Throws RuntimeError "server <...> is already
    /// being awaited on serve_forever()" and "server <...> is closed".
    Coro<void> serve_forever();
    /// Stops listening: the listening sockets are closed; connections already accepted stay
    /// open. Cancels a pending serve_forever(). Idempotent.
    void close();
    /// Returns once the server is closed and every client connection is gone (asyncio 3.12.1+:
    /// blocks on a server that is still open, even without clients). Returns at once after
    /// that has happened.
    Coro<void> wait_closed();
    /// Closes every client connection gracefully (each flushes its buffer first).
    void close_clients();
    /// Aborts every client connection (buffers are dropped).
    void abort_clients();
    /// The bound addresses, with the ports the system chose (asyncio's sockets'
    /// getsockname()); empty after close().
    std::vector<SocketAddress> addresses() const;
    /// The loop the server belongs to. Throws RuntimeError if that loop was destroyed.
    EventLoop& get_loop() const;
    /// asyncio's repr: "<Server sockets=(('127.0.0.1', 8080),)>".
    std::string describe() const;

  private:
    friend class io::detail::SocketTransport;
    friend Coro<std::shared_ptr<Server>> create_server(ProtocolFactory, std::vector<std::string>,
                                                       std::uint16_t, ServerOptions);

    struct Listener {
        std::unique_ptr<io::ListenSocket> socket;
        bool watching = false;
        TimerHandle retry;
    };

    void start_serving_now();
    void watch(std::size_t index, bool on);
    void on_acceptable(std::size_t index);
    void accept_connection(std::unique_ptr<io::StreamSocket> socket);
    void pause_accepting(std::size_t index, std::exception_ptr error);
    void close_listeners() noexcept;
    void wake_waiters();
    std::uint64_t attach_client(std::weak_ptr<Transport> transport);
    void detach_client(std::uint64_t id);
    std::vector<std::shared_ptr<Transport>> clients() const;

    std::shared_ptr<detail::LoopAnchor> anchor_;
    std::vector<Listener> listeners_;
    std::vector<SocketAddress> addresses_;
    ProtocolFactory factory_;
    std::map<std::uint64_t, std::weak_ptr<Transport>> clients_;  // attach order
    std::vector<Future<void>> waiters_;
    Future<void> serving_forever_;
    std::uint64_t next_client_id_ = 1;
    int backlog_;
    bool serving_ = false;
    bool closed_ = false;
    bool waiters_released_ = false;  // asyncio's `_waiters is None`
};

/// Binds a server on `host` and `port` of the running loop's network and (unless
/// options.start_serving is false) starts serving, then yields once (asyncio's
/// loop.create_server()). Each accepted connection gets a protocol from `factory` and a
/// transport. An empty `host` means every interface; port 0 lets the system choose (see
/// Server::addresses()). Each address `host` resolves to gets a socket; one that is not
/// available (EADDRNOTAVAIL) is skipped. Throws OSError "error while attempting to bind on
/// address ('127.0.0.1', 8080): ..." (with the errno of the failure, e.g. EADDRINUSE),
/// OSError "could not bind on any address out of [...]", the resolver's OSError, and
/// ValueError for an empty factory.
Coro<std::shared_ptr<Server>> create_server(ProtocolFactory factory, std::string host,
                                            std::uint16_t port, ServerOptions options = {});
/// As above, binding each of `hosts` (asyncio accepts a sequence of hosts).
Coro<std::shared_ptr<Server>> create_server(ProtocolFactory factory, std::vector<std::string> hosts,
                                            std::uint16_t port, ServerOptions options = {});

}  // namespace simrun
