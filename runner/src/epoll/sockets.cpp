#include "simrun/epoll/sockets.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "simrun/core/event_loop.hpp"

namespace simrun {
namespace {

void check_non_blocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) {
        const int error = errno;  // before anything else can change it
        throw OSError(error, "fcntl(F_GETFL) on fd " + std::to_string(fd));
    }
    if ((flags & O_NONBLOCK) == 0)
        throw ValueError("the socket must be non-blocking (fd " + std::to_string(fd) + ")");
}

bool would_block(int error) noexcept {
    return error == EAGAIN || error == EWOULDBLOCK;
}

Coro<void> wait_ready(int fd, bool for_reading) {
    EventLoop& loop = get_running_loop();
    Future<void> ready = loop.create_future<void>();
    ready.set_label((for_reading ? "readable fd " : "writable fd ") + std::to_string(fd));
    auto wake = [state = ready.state()] {
        if (!state->done())
            state->set_result();
    };
    Handle registration = for_reading ? loop.add_reader(fd, wake) : loop.add_writer(fd, wake);
    std::exception_ptr error;
    try {
        co_await ready;
    } catch (...) {
        error = std::current_exception();
    }
    // Only our own registration: another waiter on this descriptor may have replaced it (as
    // asyncio, which removes the reader only if its handle was not cancelled).
    if (!registration.cancelled()) {
        if (for_reading) {
            loop.remove_reader(fd);
        } else {
            loop.remove_writer(fd);
        }
    }
    if (error)
        std::rethrow_exception(error);
}

}  // namespace

Coro<void> wait_readable(int fd) {
    return wait_ready(fd, true);
}

Coro<void> wait_writable(int fd) {
    return wait_ready(fd, false);
}

Coro<AcceptedSocket> sock_accept(int fd) {
    check_non_blocking(fd);
    for (;;) {
        AcceptedSocket accepted;
        accepted.address_length = sizeof accepted.address;
        accepted.fd = ::accept4(fd, reinterpret_cast<sockaddr*>(&accepted.address),
                                &accepted.address_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (accepted.fd >= 0)
            co_return accepted;
        const int error = errno;
        if (error == EINTR || error == ECONNABORTED)
            continue;
        if (!would_block(error))
            throw OSError(error, "accept on fd " + std::to_string(fd));
        co_await wait_ready(fd, true);
    }
}

Coro<std::size_t> sock_recv_into(int fd, std::span<char> buffer) {
    check_non_blocking(fd);
    for (;;) {
        const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (got >= 0)
            co_return static_cast<std::size_t>(got);
        const int error = errno;
        if (error == EINTR)
            continue;
        if (!would_block(error))
            throw OSError(error, "recv on fd " + std::to_string(fd));
        co_await wait_ready(fd, true);
    }
}

Coro<std::string> sock_recv(int fd, std::size_t max_bytes) {
    std::string data(max_bytes, '\0');
    const std::size_t got = co_await sock_recv_into(fd, std::span<char>(data.data(), data.size()));
    data.resize(got);
    co_return data;
}

Coro<void> sock_sendall(int fd, std::string data) {
    check_non_blocking(fd);
    std::size_t sent = 0;
    while (sent < data.size()) {
        const ssize_t put = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        if (put >= 0) {
            sent += static_cast<std::size_t>(put);
            continue;
        }
        const int error = errno;
        if (error == EINTR)
            continue;
        if (!would_block(error))
            throw OSError(error, "send on fd " + std::to_string(fd));
        co_await wait_ready(fd, false);
    }
}

Coro<void> sock_connect(int fd, sockaddr_storage address, socklen_t address_length) {
    // `address` is taken by value: a Coro starts later, when the caller's copy may be gone.
    check_non_blocking(fd);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), address_length) == 0)
        co_return;
    const int error = errno;
    if (error != EINPROGRESS && error != EINTR)
        throw OSError(error, "connect on fd " + std::to_string(fd));
    co_await wait_ready(fd, false);
    int result = 0;
    socklen_t length = sizeof result;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &result, &length) != 0) {
        const int error = errno;  // before anything else can change it
        throw OSError(error, "getsockopt(SO_ERROR) on fd " + std::to_string(fd));
    }
    if (result != 0)
        throw OSError(result, "connect on fd " + std::to_string(fd));
}

}  // namespace simrun
