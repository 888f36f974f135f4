// The epoll loop's network: the shared core, connect() and bind().
#include "epoll_network.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>

#include "simrun/core/exceptions.hpp"

namespace simrun::io::detail {

// ---- NetworkCore
// ---------------------------------------------------------------------------------

EventLoop& NetworkCore::open_loop() const {
    if (loop_ == nullptr)
        throw RuntimeError("Event loop is closed");
    loop_->check_closed();
    return *loop_;
}

std::span<char> NetworkCore::scratch() {
    if (!scratch_)
        scratch_ = std::make_unique<char[]>(scratch_size);
    return {scratch_.get(), scratch_size};
}

void NetworkCore::track(TrackedSocket& socket) noexcept {
    socket.previous_ = nullptr;
    socket.next_ = first_;
    if (first_ != nullptr)
        first_->previous_ = &socket;
    first_ = &socket;
}

void NetworkCore::untrack(TrackedSocket& socket) noexcept {
    if (socket.previous_ != nullptr)
        socket.previous_->next_ = socket.next_;
    else if (first_ == &socket)
        first_ = socket.next_;
    if (socket.next_ != nullptr)
        socket.next_->previous_ = socket.previous_;
    socket.previous_ = socket.next_ = nullptr;
}

void NetworkCore::close_all() noexcept {
    while (first_ != nullptr)
        first_->close_for_loop();  // untracks it
}

// ---- connect
// ---------------------------------------------------------------------------------------

namespace {

/// Removes the writer a connect added, however the connect ends (result, error, cancellation,
/// or the frame destroyed with its task when the loop closes).
class WriterWatch {
  public:
    WriterWatch(std::shared_ptr<NetworkCore> core, int fd, Handle registration)
        : core_(std::move(core)), fd_(fd), registration_(std::move(registration)) {}
    ~WriterWatch() {
        // Only our own registration (as asyncio: a replaced handle is cancelled).
        if (core_->can_unwatch() && !registration_.cancelled()) {
            try {
                core_->loop()->remove_writer(fd_);
            } catch (...) {  // a destructor never throws; the descriptor is closed next anyway
            }
        }
    }
    WriterWatch(const WriterWatch&) = delete;
    WriterWatch& operator=(const WriterWatch&) = delete;

  private:
    std::shared_ptr<NetworkCore> core_;
    int fd_;
    Handle registration_;
};

/// Waits until the connecting socket `fd` is writable (connected, or failed).
Coro<void> connected_or_failed(std::shared_ptr<NetworkCore> core, int fd) {
    EventLoop& loop = core->open_loop();
    Future<void> ready = loop.create_future<void>();
    ready.set_label("connect on fd " + std::to_string(fd));
    WriterWatch watch(core, fd, loop.add_writer(fd, [state = ready.state()] {
        if (!state->done())
            state->set_result();
    }));
    co_await ready;
}

Coro<std::unique_ptr<StreamSocket>> connect_on(std::shared_ptr<NetworkCore> core,
                                               SocketAddress address, ConnectOptions options) {
    core->open_loop();
    const KernelAddress target = to_kernel_address(address);
    // Closes the socket on every way out but success, cancellation included.
    Descriptor fd = new_tcp_socket(target.family());
    if (options.local_address)
        bind_or_raise(fd.get(), *options.local_address, to_kernel_address(*options.local_address));
    const std::string failure = "Connect call failed " + address.to_string();
    if (::connect(fd.get(), target.get(), target.length) != 0) {
        const int error = errno;  // before anything else can change it
        // EINTR: the connection is still being made, as with EINPROGRESS.
        if (error != EINPROGRESS && error != EINTR)
            raise_os_error(error, failure);
        co_await connected_or_failed(core, fd.get());
        int result = 0;
        socklen_t length = sizeof result;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &result, &length) != 0)
            result = errno;
        if (result != 0) {
            raise_os_error(result, failure);
        }
    }
    set_int_option(fd.get(), IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
    std::optional<SocketAddress> peer = peer_name(fd.get());
    co_return std::make_unique<EpollStreamSocket>(std::move(core), std::move(fd), std::move(peer));
}

}  // namespace

// ---- EpollNetwork
// ----------------------------------------------------------------------------------

EpollNetwork::EpollNetwork(EventLoop& loop) : core_(std::make_shared<NetworkCore>(loop)) {}

EpollNetwork::~EpollNetwork() {
    // The loop is being destroyed: sockets must not reach it any more.
    core_->forget_loop();
    core_->close_all();
}

Coro<std::unique_ptr<StreamSocket>> EpollNetwork::connect(SocketAddress address,
                                                          ConnectOptions options) {
    return connect_on(core_, std::move(address), std::move(options));
}

std::unique_ptr<ListenSocket> EpollNetwork::bind(SocketAddress address, BindOptions options) {
    core_->open_loop();
    const KernelAddress kernel_address = to_kernel_address(address);
    Descriptor fd = new_tcp_socket(kernel_address.family());
    if (options.reuse_address)
        set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    if (options.reuse_port)
        set_int_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
    if (kernel_address.family() == AF_INET6)
        set_int_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
    bind_or_raise(fd.get(), address, kernel_address);
    return std::make_unique<EpollListenSocket>(core_, std::move(fd), options.keep_alive);
}

}  // namespace simrun::io::detail
