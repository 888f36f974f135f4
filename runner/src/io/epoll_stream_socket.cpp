// A connected TCP socket of the epoll network.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "simrun/core/exceptions.hpp"

#include "epoll_network.hpp"

namespace simrun::io::detail {

EpollStreamSocket::EpollStreamSocket(std::shared_ptr<NetworkCore> core, Descriptor fd,
                                     std::optional<SocketAddress> peer)
    : core_(std::move(core)),
      peer_(std::move(peer)),
      local_(local_name(fd.get())),
      fd_(fd.release()) {
    core_->track(*this);
}

EpollStreamSocket::~EpollStreamSocket() {
    close();
}

void EpollStreamSocket::check_open(const char* operation) const {
    if (fd_ < 0)  // as Python's operations on a closed socket: [Errno 9] Bad file descriptor
        raise_os_error(EBADF, operation);
}

std::size_t EpollStreamSocket::send(std::string_view data) {
    check_open("send");
    for (;;) {
        // MSG_NOSIGNAL: a broken connection is an EPIPE error here, never a SIGPIPE.
        const ssize_t sent = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (sent >= 0)
            return static_cast<std::size_t>(sent);
        const int error = errno;  // before anything else can change it
        if (error == EINTR)
            continue;
        if (error == EAGAIN || error == EWOULDBLOCK)
            return 0;
        raise_os_error(error, "send");
    }
}

std::optional<std::string> EpollStreamSocket::receive(std::size_t max_bytes) {
    if (max_bytes == 0)  // 0 bytes would read as the end of the stream
        throw ValueError("receive() needs max_bytes > 0");
    check_open("recv");
    const std::span<char> buffer = core_->scratch();
    const std::size_t wanted = std::min(max_bytes, buffer.size());
    for (;;) {
        const ssize_t got = ::recv(fd_, buffer.data(), wanted, 0);
        if (got >= 0)  // 0: end of stream, an empty string
            return std::string(buffer.data(), static_cast<std::size_t>(got));
        const int error = errno;  // before anything else can change it
        if (error == EINTR)
            continue;
        if (error == EAGAIN || error == EWOULDBLOCK)
            return std::nullopt;
        raise_os_error(error, "recv");
    }
}

void EpollStreamSocket::shutdown_write() {
    check_open("shutdown");
    if (::shutdown(fd_, SHUT_WR) != 0) {
        const int error = errno;  // before anything else can change it
        raise_os_error(error, "shutdown");
    }
}

void EpollStreamSocket::close() noexcept {
    if (fd_ < 0)
        return;
    // The watches go before the descriptor: a closed number may be reused at once.
    if (core_->can_unwatch()) {
        try {
            if (reading_)
                core_->loop()->remove_reader(fd_);
            if (writing_)
                core_->loop()->remove_writer(fd_);
        } catch (...) {  // close() never throws; the kernel drops a closed descriptor from epoll
        }
    }
    reading_ = writing_ = false;
    core_->untrack(*this);
    ::close(fd_);
    fd_ = -1;
}

void EpollStreamSocket::abort() noexcept {
    if (fd_ < 0)
        return;
    // A zero linger time makes close() drop unsent data and send a reset.
    const linger reset{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close();
}

void EpollStreamSocket::watch_readable(std::function<void()> callback) {
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

void EpollStreamSocket::watch_writable(std::function<void()> callback) {
    if (!callback) {
        if (writing_ && core_->can_unwatch())
            core_->loop()->remove_writer(fd_);
        writing_ = false;
        return;
    }
    check_open("watch_writable");
    core_->open_loop().add_writer(fd_, std::move(callback));
    writing_ = true;
}

}  // namespace simrun::io::detail
