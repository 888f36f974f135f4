#pragma once
// Coroutine socket operations on the running loop, as asyncio's loop.sock_* methods: each tries
// the system call at once and, if it would block, waits for readiness with add_reader /
// add_writer and tries again. Sockets must be non-blocking (ValueError otherwise). Failures
// throw OSError with the errno value. Cancelling an operation stops watching the descriptor; it
// never closes it. They need a loop with file descriptors (the epoll loop), not the simulator.
//
//     int connection = (co_await simrun::sock_accept(listener)).fd;
//     std::string data = co_await simrun::sock_recv(connection, 4096);
//     co_await simrun::sock_sendall(connection, data);

#include <sys/socket.h>

#include <cstddef>
#include <span>
#include <string>

#include "simrun/core/coro.hpp"

namespace simrun {

/// A connection accepted by sock_accept(): a new non-blocking, close-on-exec descriptor (the
/// caller owns and closes it) and the peer's address.
struct AcceptedSocket {
    int fd = -1;
    sockaddr_storage address{};
    socklen_t address_length = 0;
};

/// Accepts one connection on the listening socket `fd`.
Coro<AcceptedSocket> sock_accept(int fd);
/// Receives at most buffer.size() bytes into `buffer`; 0 means the peer closed its side.
Coro<std::size_t> sock_recv_into(int fd, std::span<char> buffer);
/// Receives at most `max_bytes` bytes; an empty string means the peer closed its side.
Coro<std::string> sock_recv(int fd, std::size_t max_bytes);
/// Sends all of `data` (waiting for buffer space as often as needed).
Coro<void> sock_sendall(int fd, std::string data);
/// Connects `fd` to `address`; OSError (e.g. ECONNREFUSED) if the connection fails.
Coro<void> sock_connect(int fd, sockaddr_storage address, socklen_t address_length);
/// Waits until `fd` is readable (or has an error or hang-up) on the running loop.
Coro<void> wait_readable(int fd);
/// Waits until `fd` is writable (or has an error or hang-up) on the running loop.
Coro<void> wait_writable(int fd);

}  // namespace simrun
