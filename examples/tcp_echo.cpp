// A TCP echo server on the epoll loop, with clean Ctrl-C shutdown.
//
//     tcp_echo serve [port]     echo on 127.0.0.1:port (default 8007) until Ctrl-C
//     tcp_echo self-test [n]    serve on a free port, run n clients at once (default 50),
//                               check every echo, shut down; exit status 0 if all matched
//
// Each connection is a task; Ctrl-C cancels the main task, whose task_group cancels the
// connections, and run() raises KeyboardInterrupt.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <simrun/simrun.hpp>

using namespace simrun;

namespace {

/// Owns a descriptor.
class Socket {
  public:
    explicit Socket(int fd) : fd_(fd) {
        if (fd_ < 0) {
            const int error = errno;  // before anything else can change it
            throw OSError(error, "socket");
        }
    }
    ~Socket() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    Socket& operator=(Socket&&) = delete;
    int fd() const noexcept { return fd_; }

  private:
    int fd_;
};

Socket tcp_socket() {
    return Socket(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

sockaddr_storage loopback(std::uint16_t port) {
    sockaddr_storage storage{};
    auto* address = reinterpret_cast<sockaddr_in*>(&storage);
    address->sin_family = AF_INET;
    address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address->sin_port = htons(port);
    return storage;
}

Socket listen_on(std::uint16_t port, std::uint16_t& bound_port) {
    Socket listener = tcp_socket();
    const int yes = 1;
    ::setsockopt(listener.fd(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_storage address = loopback(port);
    socklen_t length = sizeof(sockaddr_in);
    if (::bind(listener.fd(), reinterpret_cast<sockaddr*>(&address), length) != 0) {
        const int error = errno;  // before anything else can change it
        throw OSError(error, "bind to 127.0.0.1:" + std::to_string(port));
    }
    if (::listen(listener.fd(), 128) != 0) {
        const int error = errno;  // before anything else can change it
        throw OSError(error, "listen");
    }
    ::getsockname(listener.fd(), reinterpret_cast<sockaddr*>(&address), &length);
    bound_port = ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
    return listener;
}

Coro<void> echo(Socket connection) {
    for (;;) {
        std::string data = co_await sock_recv(connection.fd(), 64 * 1024);
        if (data.empty())
            co_return;  // the client closed its side
        co_await sock_sendall(connection.fd(), std::move(data));
    }
}

/// Accepts connections until cancelled; each one is echoed by a task of `group`.
Coro<void> serve(int listener, TaskGroup& group) {
    for (;;) {
        AcceptedSocket accepted = co_await sock_accept(listener);
        group.create_task(echo(Socket(accepted.fd)));
    }
}

Coro<int> serve_forever(std::uint16_t port) {
    std::uint16_t bound = 0;
    Socket listener = listen_on(port, bound);
    std::printf("echoing on 127.0.0.1:%u; Ctrl-C stops\n", static_cast<unsigned>(bound));
    std::fflush(stdout);
    co_await task_group([&listener](TaskGroup& group) { return serve(listener.fd(), group); });
    co_return 0;
}

Coro<bool> one_client(std::uint16_t port, int number) {
    Socket client = tcp_socket();
    co_await sock_connect(client.fd(), loopback(port), sizeof(sockaddr_in));
    std::string message;
    for (int line = 0; line < 100; ++line)
        message += "client " + std::to_string(number) + " line " + std::to_string(line) + "\n";
    co_await sock_sendall(client.fd(), message);
    std::string echoed;
    while (echoed.size() < message.size()) {
        std::string chunk = co_await sock_recv(client.fd(), 64 * 1024);
        if (chunk.empty())
            break;
        echoed += chunk;
    }
    co_return echoed == message;
}

Coro<int> self_test(int clients) {
    std::uint16_t port = 0;
    Socket listener = listen_on(0, port);
    int matched = 0;
    co_await task_group([&](TaskGroup& group) -> Coro<void> {
        Task<void> server = group.create_task(serve(listener.fd(), group));
        std::vector<Task<bool>> checks;
        for (int number = 0; number < clients; ++number)
            checks.push_back(group.create_task(one_client(port, number)));
        for (Task<bool>& check : checks)
            matched += (co_await check) ? 1 : 0;
        server.cancel();  // the group then cancels the echo tasks still open
    });
    std::printf("%d of %d clients got their exact echo back\n", matched, clients);
    co_return matched == clients ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "self-test";
    try {
        if (mode == "serve")
            return run(
                serve_forever(static_cast<std::uint16_t>(argc > 2 ? std::atoi(argv[2]) : 8007)));
        if (mode == "self-test")
            return run(self_test(argc > 2 ? std::atoi(argv[2]) : 50));
        std::fprintf(stderr, "usage: %s serve [port] | self-test [clients]\n", argv[0]);
        return 2;
    } catch (const KeyboardInterrupt&) {
        std::puts("interrupted; all connections closed");
        exit_as_interrupted();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "tcp_echo: %s\n", error.what());
        return 1;
    }
}
