// A listening TCP socket of the epoll network.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "simrun/core/exceptions.hpp"

#include "epoll_network.hpp"

namespace simrun::io::detail {

EpollListenSocket::EpollListenSocket(std::shared_ptr<NetworkCore> core, Descriptor fd,
                                     bool keep_alive)
    : core_(std::move(core)),
      local_(local_name(fd.get()).value_or(SocketAddress{})),
      fd_(fd.release()),
      keep_alive_(keep_alive) {
    core_->track(*this);
}

EpollListenSocket::~EpollListenSocket() {
    close();
}

void EpollListenSocket::check_open(const char* operation) const {
    if (fd_ < 0)
        raise_os_error(EBADF, operation);
}

void EpollListenSocket::listen(int backlog) {
    check_open("listen");
    // As Python's socket.listen(): a negative backlog counts as 0.
    if (::listen(fd_, std::max(backlog, 0)) != 0) {
        const int error = errno;  // before anything else can change it
        raise_os_error(error, "listen");
    }
}

std::unique_ptr<StreamSocket> EpollListenSocket::accept() {
    check_open("accept");
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    Descriptor connection;
    for (;;) {
        connection = Descriptor(::accept4(fd_, reinterpret_cast<sockaddr*>(&address), &length,
                                          SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (connection.get() >= 0)
            break;
        const int error = errno;  // before anything else can change it
        if (error == EINTR)
            continue;
        if (error == EAGAIN || error == EWOULDBLOCK)
            return nullptr;
        // EMFILE, ENFILE, ENOBUFS, ENOMEM (out of resources), ECONNABORTED, ...
        raise_os_error(error, "accept");
    }
    set_int_option(connection.get(), IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
    if (keep_alive_)
        set_int_option(connection.get(), SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
    return std::make_unique<EpollStreamSocket>(
        core_, std::move(connection),
        to_socket_address(reinterpret_cast<const sockaddr*>(&address), length));
}

void EpollListenSocket::watch_readable(std::function<void()> callback) {
    if (!callback) {
        if (reading_ && core_->can_unwatch())
            core_->loop()->remove_reader(fd_);
        reading_ = false;
        return;
    }
    check_open("watch_readable");
    core_->open_loop().add_reader(fd_, std::move(callback));
    reading_ = true;
}

void EpollListenSocket::close() noexcept {
    if (fd_ < 0)
        return;
    if (reading_ && core_->can_unwatch()) {
        try {
            core_->loop()->remove_reader(fd_);
        } catch (...) {  // close() never throws
        }
    }
    reading_ = false;
    core_->untrack(*this);
    ::close(fd_);  // connections still queued are reset by the kernel
    fd_ = -1;
}

}  // namespace simrun::io::detail
