// Descriptors, address conversions and socket options for the epoll network.
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "simrun/core/exceptions.hpp"

#include "epoll_network.hpp"

namespace simrun::io::detail {

Descriptor& Descriptor::operator=(Descriptor&& other) noexcept {
    if (this != &other) {
        reset();
        fd_ = other.release();
    }
    return *this;
}

int Descriptor::release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
}

void Descriptor::reset() noexcept {
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

KernelAddress to_kernel_address(const SocketAddress& address) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    const std::string service = std::to_string(address.port);
    addrinfo* found = nullptr;
    // getaddrinfo with AI_NUMERICHOST only parses: it never looks anything up.
    if (address.host.empty() ||
        ::getaddrinfo(address.host.c_str(), service.c_str(), &hints, &found) != 0) {
        throw ValueError("'" + address.host +
                         "' is not a numeric address (resolve() a host name first)");
    }
    KernelAddress result;
    std::memcpy(&result.storage, found->ai_addr, found->ai_addrlen);
    result.length = found->ai_addrlen;
    ::freeaddrinfo(found);
    return result;
}

SocketAddress to_socket_address(const sockaddr* address, socklen_t length) {
    SocketAddress result;
    char host[NI_MAXHOST] = {};
    if (::getnameinfo(address, length, host, sizeof host, nullptr, 0, NI_NUMERICHOST) == 0)
        result.host = host;
    if (address->sa_family == AF_INET)
        result.port = ntohs(reinterpret_cast<const sockaddr_in*>(address)->sin_port);
    else if (address->sa_family == AF_INET6)
        result.port = ntohs(reinterpret_cast<const sockaddr_in6*>(address)->sin6_port);
    return result;
}

std::optional<SocketAddress> local_name(int fd) noexcept {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
        return std::nullopt;
    try {
        return to_socket_address(reinterpret_cast<const sockaddr*>(&address), length);
    } catch (...) {  // out of memory for a short string: the name is just not known
        return std::nullopt;
    }
}

std::optional<SocketAddress> peer_name(int fd) noexcept {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
        return std::nullopt;
    try {
        return to_socket_address(reinterpret_cast<const sockaddr*>(&address), length);
    } catch (...) {
        return std::nullopt;
    }
}

void set_int_option(int fd, int level, int name, int value, const char* what) {
    if (::setsockopt(fd, level, name, &value, sizeof value) != 0) {
        const int error = errno;  // before anything else can change it
        raise_os_error(error, std::string("setsockopt(") + what + ")");
    }
}

Descriptor new_tcp_socket(int family) {
    Descriptor fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
    if (fd.get() < 0) {
        const int error = errno;  // before anything else can change it
        raise_os_error(error, "socket");
    }
    return fd;
}

void bind_or_raise(int fd, const SocketAddress& address, const KernelAddress& kernel_address) {
    if (::bind(fd, kernel_address.get(), kernel_address.length) == 0)
        return;
    const int error = errno;  // before anything else can change it
    // asyncio: "... %r: %s" % (address, str(error).lower()), str(error) being
    // "[Errno 98] Address already in use".
    std::string text =
        "[Errno " + std::to_string(error) + "] " + std::generic_category().message(error);
    for (char& c : text)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    raise_os_error(
        error, "error while attempting to bind on address " + address.to_string() + ": " + text);
}

}  // namespace simrun::io::detail
