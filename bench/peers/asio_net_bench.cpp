// The network workloads of ../common/echo.hpp on Asio (standalone, Debian's libasio-dev), the
// idiomatic way: an io_context run on the calling thread, C++20 coroutines (awaitable, co_spawn),
// async_read_until into a dynamic string buffer and async_write.
//
//   asio_net_bench --echo [--clients=N] [--messages=M]   one echo run: {"name": "echo/asio", ...}
//   asio_net_bench --idle=N                              N idle connections: the server's side
#include <unistd.h>

#include <asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "common/alloc_counter.hpp"
#include "common/echo.hpp"
#include "common/process.hpp"

namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// ---- echo -------------------------------------------------------------------------------------

/// The server's session: echoes every line until end of stream (or an error).
awaitable<void> echo_session(tcp::socket socket) {
    std::string buffer;
    try {
        for (;;) {
            const std::size_t length = co_await asio::async_read_until(
                socket, asio::dynamic_buffer(buffer), '\n', use_awaitable);
            co_await asio::async_write(socket, asio::buffer(buffer.data(), length), use_awaitable);
            buffer.erase(0, length);
        }
    } catch (const std::system_error&) {  // asio::error::eof: the client is done
    }
}

/// Accepts until the acceptor is closed; each connection gets a session of its own.
awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    try {
        for (;;) {
            tcp::socket socket = co_await acceptor.async_accept(use_awaitable);
            asio::co_spawn(acceptor.get_executor(), echo_session(std::move(socket)),
                           asio::detached);
        }
    } catch (const std::system_error&) {  // operation_aborted: closed
    }
}

/// One client's timed part: `messages` round trips of its line, each checked and timed.
awaitable<void> echo_client(tcp::socket socket, int client, int messages, double* round_trips,
                            std::int64_t* done) {
    const std::string line = bench::echo_line(client);
    std::string buffer;
    for (int i = 0; i < messages; ++i) {
        const auto start = Clock::now();
        co_await asio::async_write(socket, asio::buffer(line), use_awaitable);
        const std::size_t length = co_await asio::async_read_until(
            socket, asio::dynamic_buffer(buffer), '\n', use_awaitable);
        if (buffer.compare(0, length, line) != 0)
            throw std::runtime_error("client " + std::to_string(client) + " got a wrong echo");
        buffer.erase(0, length);
        round_trips[i] = std::chrono::duration<double>(Clock::now() - start).count();
        ++*done;
    }
    socket.shutdown(tcp::socket::shutdown_send);
}

struct EchoRun {
    bench::EchoResult result;
    int remaining = 0;
    double cpu_before = 0;
    Clock::time_point start;
    std::exception_ptr error;
};

/// Connects every client (one after the other), then starts them all at once; the last one to
/// finish closes the acceptor, after which the io_context runs out of work.
awaitable<void> echo_main(tcp::acceptor& acceptor, int clients, int messages, EchoRun* run) {
    auto executor = co_await asio::this_coro::executor;
    const tcp::endpoint server = acceptor.local_endpoint();
    std::vector<tcp::socket> sockets;
    sockets.reserve(static_cast<std::size_t>(clients));
    for (int client = 0; client < clients; ++client) {
        tcp::socket socket(executor);
        co_await socket.async_connect(server, use_awaitable);
        sockets.push_back(std::move(socket));
    }
    run->result.clients = clients;
    run->result.round_trips.assign(static_cast<std::size_t>(clients) * messages, 0.0);
    run->remaining = clients;
    run->cpu_before = bench::process_cpu_seconds();
    run->start = Clock::now();
    for (int client = 0; client < clients; ++client) {
        double* slots =
            run->result.round_trips.data() + static_cast<std::size_t>(client) * messages;
        asio::co_spawn(executor,
                       echo_client(std::move(sockets[static_cast<std::size_t>(client)]), client,
                                   messages, slots, &run->result.messages),
                       [run, &acceptor](std::exception_ptr error) {
                           if (error && !run->error)
                               run->error = error;
                           if (--run->remaining == 0) {
                               run->result.seconds =
                                   std::chrono::duration<double>(Clock::now() - run->start).count();
                               run->result.cpu_seconds =
                                   bench::process_cpu_seconds() - run->cpu_before;
                               acceptor.close();
                           }
                       });
    }
}

int run_echo(int clients, int messages) {
    asio::io_context io(1);
    tcp::acceptor acceptor(io);
    const tcp::endpoint where(asio::ip::make_address("127.0.0.1"), 0);
    acceptor.open(where.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(where);
    acceptor.listen(clients);
    EchoRun run;
    asio::co_spawn(io, accept_loop(acceptor), asio::detached);
    asio::co_spawn(io, echo_main(acceptor, clients, messages, &run), asio::detached);
    io.run();
    if (run.error)
        std::rethrow_exception(run.error);
    const std::int64_t expected = static_cast<std::int64_t>(clients) * messages;
    if (run.result.messages != expected) {
        std::fprintf(stderr, "asio_net_bench: %lld echoes, expected %lld\n",
                     static_cast<long long>(run.result.messages), static_cast<long long>(expected));
        return 1;
    }
    bench::print_echo_result("asio", run.result);
    return 0;
}

// ---- idle connections: the server's side, against plain connect()s --------------------------

constexpr int kBatch = 500;

/// Waits for a line that never comes.
awaitable<void> idle_session(tcp::socket socket, int* accepted) {
    ++*accepted;
    std::string buffer;
    try {
        (void)co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer), '\n',
                                              use_awaitable);
    } catch (const std::system_error&) {
    }
}

awaitable<void> idle_accept_loop(tcp::acceptor& acceptor, int* accepted) {
    try {
        for (;;) {
            tcp::socket socket = co_await acceptor.async_accept(use_awaitable);
            asio::co_spawn(acceptor.get_executor(), idle_session(std::move(socket), accepted),
                           asio::detached);
        }
    } catch (const std::system_error&) {
    }
}

/// Runs the io_context until `*accepted` reaches `count` (or about 10 s pass).
bool run_until_accepted(asio::io_context& io, const int* accepted, int count) {
    for (int wait = 0; *accepted < count; ++wait) {
        if (wait == 10'000)
            return false;
        io.run_for(std::chrono::milliseconds(1));
    }
    return true;
}

int run_idle(int wanted) {
    const int connections = bench::idle_connections_allowed(wanted);
    asio::io_context io(1);
    tcp::acceptor acceptor(io);
    const tcp::endpoint where(asio::ip::make_address("127.0.0.1"), 0);
    acceptor.open(where.protocol());
    acceptor.bind(where);
    acceptor.listen(2 * kBatch);
    const tcp::endpoint server = acceptor.local_endpoint();
    int accepted = 0;
    asio::co_spawn(io, idle_accept_loop(acceptor, &accepted), asio::detached);
    std::vector<int> clients;  // plain connect()s: they cost this process no heap
    clients.reserve(static_cast<std::size_t>(connections));
    io.run_for(std::chrono::milliseconds(10));

    const std::int64_t rss_before = bench::current_rss_bytes();
    std::int64_t heap = 0;
    {
        bench::AllocWindow window;
        while (static_cast<int>(clients.size()) < connections) {
            const int batch = std::min(kBatch, connections - static_cast<int>(clients.size()));
            for (int i = 0; i < batch; ++i) {
                const int fd = bench::raw_connect_loopback(server.port());
                if (fd < 0) {
                    std::perror("asio_net_bench: connect");
                    return 1;
                }
                clients.push_back(fd);
            }
            if (!run_until_accepted(io, &accepted, static_cast<int>(clients.size()))) {
                std::fprintf(stderr, "asio_net_bench: %d of %zu accepted\n", accepted,
                             clients.size());
                return 1;
            }
        }
        io.run_for(std::chrono::milliseconds(50));  // every session is now reading
        heap = window.heap_bytes();
    }
    const std::int64_t rss = bench::current_rss_bytes() - rss_before;
    bench::print_idle_result("server", "asio", connections, heap, rss);
    for (const int fd : clients)
        ::close(fd);
    acceptor.close();
    io.run_for(std::chrono::milliseconds(100));
    return 0;
}

const char* option(const char* argument, const char* name) {
    const std::size_t length = std::strlen(name);
    return std::strncmp(argument, name, length) == 0 ? argument + length : nullptr;
}

}  // namespace

int main(int argc, char** argv) {
    bench::raise_descriptor_limit();
    bool echo = false;
    int clients = bench::kEchoClients;
    int messages = bench::kEchoMessages;
    int idle = 0;
    for (int i = 1; i < argc; ++i) {
        const char* value = nullptr;
        if (std::strcmp(argv[i], "--echo") == 0)
            echo = true;
        else if ((value = option(argv[i], "--clients=")) != nullptr)
            clients = std::atoi(value);
        else if ((value = option(argv[i], "--messages=")) != nullptr)
            messages = std::atoi(value);
        else if ((value = option(argv[i], "--idle=")) != nullptr)
            idle = std::atoi(value);
        else {
            std::fprintf(stderr, "asio_net_bench: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    try {
        if (echo)
            return run_echo(clients, messages);
        if (idle > 0)
            return run_idle(idle);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "asio_net_bench: %s\n", error.what());
        return 1;
    }
    std::fprintf(stderr, "usage: %s --echo [--clients=N] [--messages=M] | --idle=N\n", argv[0]);
    return 2;
}
