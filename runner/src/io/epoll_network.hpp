#pragma once
// The epoll loop's network (io/network.hpp over kernel sockets): internal declarations.
//
// Every socket is non-blocking and close-on-exec; TCP connections have TCP_NODELAY; sends pass
// MSG_NOSIGNAL, so no SIGPIPE whatever the process's disposition. Readiness goes through the
// loop's add_reader/add_writer. Received bytes land in one 64 KiB scratch buffer per network
// (per loop) and are copied out, so an idle connection owns no buffer.
//
// Lifetimes: the sockets share a NetworkCore with the network. The core knows the loop (until
// the loop is destroyed) and lists the open sockets, so that closing the loop closes every
// socket still open (EpollNetwork::close_all), and a socket that outlives its loop never
// touches it.

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "simrun/core/event_loop.hpp"
#include "simrun/io/network.hpp"

namespace simrun::io::detail {

// ---- descriptors and addresses (epoll_network.cpp, resolve.cpp) ------------------------------

/// Owns a descriptor: closes it when destroyed, unless released.
class Descriptor {
  public:
    Descriptor() = default;
    explicit Descriptor(int fd) noexcept : fd_(fd) {}
    ~Descriptor() { reset(); }
    Descriptor(Descriptor&& other) noexcept : fd_(other.release()) {}
    Descriptor& operator=(Descriptor&& other) noexcept;
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;

    int get() const noexcept { return fd_; }
    int release() noexcept;
    void reset() noexcept;

  private:
    int fd_ = -1;
};

/// A socket address in the kernel's form.
struct KernelAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;

    int family() const noexcept { return storage.ss_family; }
    const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
};

/// The kernel form of a numeric address ("127.0.0.1", "::1", "fe80::1%lo"); ValueError if
/// `address.host` is not numeric (names go through Network::resolve() first).
KernelAddress to_kernel_address(const SocketAddress& address);
/// The numeric text form of a kernel address.
SocketAddress to_socket_address(const sockaddr* address, socklen_t length);
/// getsockname(); nullopt if it fails.
std::optional<SocketAddress> local_name(int fd) noexcept;
/// getpeername(); nullopt if it fails (not connected).
std::optional<SocketAddress> peer_name(int fd) noexcept;
/// setsockopt() of an int option; OSError (`what`: the option's name) if refused.
void set_int_option(int fd, int level, int name, int value, const char* what);
/// A new non-blocking, close-on-exec TCP socket of `family`; OSError if refused.
Descriptor new_tcp_socket(int family);
/// Binds `fd`; on failure asyncio's OSError "error while attempting to bind on address
/// ('127.0.0.1', 42441): [errno 98] address already in use".
void bind_or_raise(int fd, const SocketAddress& address, const KernelAddress& kernel_address);

/// getaddrinfo() for one host (see Network::resolve()), blocking. With `numeric_only`, the
/// host must be numeric (AI_NUMERICHOST: no lookup); returns nullopt if it is not. Throws
/// OSError with getaddrinfo's code and text for an unknown name.
std::optional<std::vector<SocketAddress>> lookup(const std::string& host, std::uint16_t port,
                                                 bool passive, bool numeric_only);

// ---- the shared core ---------------------------------------------------------------------------

class NetworkCore;

/// A socket the core closes when the loop closes (an intrusive list node).
class TrackedSocket {
  public:
    TrackedSocket() = default;
    TrackedSocket(const TrackedSocket&) = delete;
    TrackedSocket& operator=(const TrackedSocket&) = delete;

  protected:
    ~TrackedSocket() = default;
    /// Releases the descriptor (and its watches) because the loop closes.
    virtual void close_for_loop() noexcept = 0;

  private:
    friend class NetworkCore;
    TrackedSocket* previous_ = nullptr;
    TrackedSocket* next_ = nullptr;
};

/// What a network and its sockets share; outlives the loop if a socket does.
class NetworkCore {
  public:
    explicit NetworkCore(EventLoop& loop) noexcept : loop_(&loop) {}

    /// The loop, or null once it was destroyed.
    EventLoop* loop() const noexcept { return loop_; }
    /// The loop if it is open; RuntimeError "Event loop is closed" otherwise.
    EventLoop& open_loop() const;
    /// True if watches can be removed through the loop (it exists and is not closed).
    bool can_unwatch() const noexcept { return loop_ != nullptr && !loop_->is_closed(); }
    /// The receive buffer shared by every connection of this network (64 KiB, made on first
    /// use and kept).
    std::span<char> scratch();

    void track(TrackedSocket& socket) noexcept;
    void untrack(TrackedSocket& socket) noexcept;
    /// Closes every tracked socket (they untrack themselves).
    void close_all() noexcept;
    /// The loop is going away: forget it (after close_all()).
    void forget_loop() noexcept { loop_ = nullptr; }

  private:
    EventLoop* loop_;
    TrackedSocket* first_ = nullptr;
    std::unique_ptr<char[]> scratch_;
};

/// Size of NetworkCore::scratch(), the most one receive() returns.
inline constexpr std::size_t scratch_size = 64 * 1024;

// ---- sockets (epoll_stream_socket.cpp, epoll_listen_socket.cpp) --------------------------------

/// A connected TCP socket.
class EpollStreamSocket final : public StreamSocket, private TrackedSocket {
  public:
    /// Takes `fd` (connected, non-blocking) and tracks it in `core`.
    EpollStreamSocket(std::shared_ptr<NetworkCore> core, Descriptor fd,
                      std::optional<SocketAddress> peer);
    /// Closes the socket if it is still open.
    ~EpollStreamSocket() override;

    std::size_t send(std::string_view data) override;
    std::optional<std::string> receive(std::size_t max_bytes) override;
    void shutdown_write() override;
    void close() noexcept override;
    void abort() noexcept override;
    void watch_readable(std::function<void()> callback) override;
    void watch_writable(std::function<void()> callback) override;
    std::optional<SocketAddress> peer_address() const override { return peer_; }
    std::optional<SocketAddress> local_address() const override { return local_; }
    int native_handle() const noexcept override { return fd_; }

  private:
    void close_for_loop() noexcept override { close(); }
    void check_open(const char* operation) const;

    std::shared_ptr<NetworkCore> core_;
    std::optional<SocketAddress> peer_;
    std::optional<SocketAddress> local_;
    int fd_;
    bool reading_ = false;
    bool writing_ = false;
};

/// A bound TCP socket, listening once listen() was called.
class EpollListenSocket final : public ListenSocket, private TrackedSocket {
  public:
    /// Takes `fd` (bound, non-blocking) and tracks it in `core`.
    EpollListenSocket(std::shared_ptr<NetworkCore> core, Descriptor fd, bool keep_alive);
    /// Closes the socket if it is still open.
    ~EpollListenSocket() override;

    void listen(int backlog) override;
    std::unique_ptr<StreamSocket> accept() override;
    void watch_readable(std::function<void()> callback) override;
    void close() noexcept override;
    SocketAddress local_address() const override { return local_; }
    int native_handle() const noexcept override { return fd_; }

  private:
    void close_for_loop() noexcept override { close(); }
    void check_open(const char* operation) const;

    std::shared_ptr<NetworkCore> core_;
    SocketAddress local_;
    int fd_;
    bool keep_alive_;
    bool reading_ = false;
};

// ---- the network (epoll_network.cpp) ------------------------------------------------------------

/// EpollLoop::network(): made on first use, owned by the loop.
class EpollNetwork final : public Network {
  public:
    explicit EpollNetwork(EventLoop& loop);
    /// Closes what is still open and detaches the sockets that outlive the loop.
    ~EpollNetwork() override;
    EpollNetwork(const EpollNetwork&) = delete;
    EpollNetwork& operator=(const EpollNetwork&) = delete;

    /// Numeric hosts (and the empty host) are converted at once; names are looked up with
    /// getaddrinfo in the loop's default executor.
    Coro<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port,
                                             bool passive) override;
    Coro<std::unique_ptr<StreamSocket>> connect(SocketAddress address,
                                                ConnectOptions options) override;
    std::unique_ptr<ListenSocket> bind(SocketAddress address, BindOptions options) override;

    /// The loop closes: closes every socket still open (see EpollLoop::network()).
    void close_all() noexcept { core_->close_all(); }

  private:
    std::shared_ptr<NetworkCore> core_;
};

}  // namespace simrun::io::detail
