// simrun's network benchmarks (issue 10, item 7; the workloads are in common/echo.hpp). One run
// per process, one JSON line per result, as the sleepers:
//
//   simrun_net_bench --echo [--loop=epoll] [--clients=N] [--messages=M] [--host=H] [--sizes]
//       the echo workload on simrun's streams (net/simrun_echo.cpp); --sizes also lists the
//       operator new calls per message, by size, on standard error
//   simrun_net_bench --idle=N --side=server|client [--sizes]
//       N idle connections on the epoll loop: heap and RSS per connection of one side;
//       --sizes also lists the operator new calls per connection, by size, on standard error
//   simrun_net_bench --list-loops
//       the loops the echo workload can run on in this build
//
// The simulated network's row: the echo workload is a function over an EventLoop, so the
// simulator's row is one entry in echo_loops() below, a SimLoop whose network serves `host`
// (issue 10, item 4), built when SIMRUN_BENCH_SIM_NETWORK is on (the default). Its figures are
// virtual: messages per CPU second of the process, round trips in virtual time.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <simrun/epoll/epoll_loop.hpp>
#include <simrun/simrun.hpp>

#ifndef SIMRUN_BENCH_SIM_NETWORK
#define SIMRUN_BENCH_SIM_NETWORK 0
#endif
#if SIMRUN_BENCH_SIM_NETWORK
#include <simrun/sim/sim.hpp>
#endif

#include "common/alloc_counter.hpp"
#include "common/echo.hpp"
#include "net/simrun_echo.hpp"

namespace {

using simrun::Coro;
using simrun::StreamReader;
using simrun::StreamWriter;
using namespace std::chrono_literals;

// ---- the loops of the echo workload -------------------------------------------------------------

struct EchoLoop {
    const char* name;
    std::shared_ptr<simrun::EventLoop> (*make)();
    const char* clock;  // how the loop's time() runs: "wall" or "virtual"
};

std::shared_ptr<simrun::EventLoop> make_epoll_loop() {
    return std::make_shared<simrun::EpollLoop>();
}

#if SIMRUN_BENCH_SIM_NETWORK
std::shared_ptr<simrun::EventLoop> make_sim_loop() {
    // Set up here whatever the simulated network needs so that `--host` (127.0.0.1 unless
    // given) names a host the server can listen on and the clients can reach.
    return std::make_shared<simrun::sim::SimLoop>(
        simrun::sim::SimOptions{.seed = 1, .trace_limit = 1000});
}
#endif

std::vector<EchoLoop> echo_loops() {
    std::vector<EchoLoop> loops{{"epoll", make_epoll_loop, "wall"}};
#if SIMRUN_BENCH_SIM_NETWORK
    loops.push_back({"sim", make_sim_loop, "virtual"});
#endif
    return loops;
}

int run_echo(const std::string& loop_name, const bench::EchoSpec& spec) {
    for (const EchoLoop& kind : echo_loops()) {
        if (loop_name != kind.name)
            continue;
        auto loop = kind.make();
        bench::EchoResult result = bench::run_simrun_echo(*loop, spec);
        loop->close();
        result.clock = kind.clock;
        const std::int64_t expected = static_cast<std::int64_t>(spec.clients) * spec.messages;
        if (result.messages != expected) {
            std::fprintf(stderr, "simrun_net_bench: %lld echoes, expected %lld\n",
                         static_cast<long long>(result.messages), static_cast<long long>(expected));
            return 1;
        }
        bench::print_echo_result(kind.name, result);
        return 0;
    }
    std::fprintf(stderr, "simrun_net_bench: unknown or unavailable loop '%s'\n", loop_name.c_str());
    return 2;
}

// ---- idle connections ---------------------------------------------------------------------------
//
// Each side is measured in a process of its own, with the other side made of plain kernel
// sockets (which cost this process's heap and RSS nothing): the server side against raw
// connect()s, the client side (open_connection()) against a raw listening socket.

/// Connections opened per batch, below the listen backlog, so that no SYN is ever dropped.
constexpr int kBatch = 500;

/// --sizes: the operator new calls made while the connections were opened, per connection (freed
/// ones included), on standard error.
bool print_sizes = false;

void report_sizes(const bench::AllocWindow& window, int connections) {
    if (!print_sizes)
        return;
    std::fprintf(stderr, "operator new calls per connection (freed ones included):\n");
    std::fprintf(stderr, "%10s %10s %12s\n", "size", "calls", "bytes");
    double total = 0;
    for (const auto& [size, calls] : window.allocations_by_size()) {
        const double per_connection = static_cast<double>(calls) / connections;
        total += per_connection * static_cast<double>(size);
        if (per_connection >= 0.05) {
            std::fprintf(stderr, "%10zu %10.2f %12.1f\n", size, per_connection,
                         per_connection * static_cast<double>(size));
        }
    }
    std::fprintf(stderr, "%10s %10s %12.1f requested; %.1f in use (usable sizes)\n", "", "", total,
                 static_cast<double>(window.new_bytes()) / connections);
}

struct IdleCounts {
    int accepted = 0;
    int ended = 0;
};

/// The idle server's handler: waits for a line that never comes (until the end of stream).
Coro<void> idle_session(StreamReader reader, StreamWriter writer,
                        std::shared_ptr<IdleCounts> counts) {
    ++counts->accepted;
    (void)co_await reader.readline();
    ++counts->ended;
    writer.close();
}

Coro<int> idle_server_side(int connections) {
    auto counts = std::make_shared<IdleCounts>();
    simrun::ClientConnected handler = [counts](StreamReader reader, StreamWriter writer) {
        return idle_session(std::move(reader), std::move(writer), counts);
    };
    simrun::ServerOptions options;
    options.backlog = 2 * kBatch;
    Coro<std::shared_ptr<simrun::Server>> starting =
        simrun::start_server(handler, "127.0.0.1", 0, options);
    std::shared_ptr<simrun::Server> server = co_await std::move(starting);
    const std::uint16_t port = server->addresses().front().port;
    std::vector<int> clients;
    clients.reserve(static_cast<std::size_t>(connections));
    co_await simrun::sleep(10ms);  // the loop's own start-up allocations happen before

    const std::int64_t rss_before = bench::current_rss_bytes();
    std::int64_t heap = 0;
    {
        // The blocks kept for reuse (callback handles, frames...) go back to operator delete at
        // both ends of the window, so that it counts what the connections hold.
        simrun::detail::release_free_blocks();
        bench::AllocWindow window;
        while (static_cast<int>(clients.size()) < connections) {
            const int batch = std::min(kBatch, connections - static_cast<int>(clients.size()));
            for (int i = 0; i < batch; ++i) {
                const int fd = bench::raw_connect_loopback(port);
                if (fd < 0) {
                    std::perror("simrun_net_bench: connect");
                    co_return 1;
                }
                clients.push_back(fd);
            }
            for (int wait = 0; counts->accepted < static_cast<int>(clients.size()); ++wait) {
                if (wait == 10'000) {
                    std::fprintf(stderr, "simrun_net_bench: %d of %zu connections accepted\n",
                                 counts->accepted, clients.size());
                    co_return 1;
                }
                co_await simrun::sleep(1ms);
            }
        }
        co_await simrun::sleep(50ms);  // every handler is now waiting in readline()
        simrun::detail::release_free_blocks();
        heap = window.heap_bytes();
        report_sizes(window, connections);
    }
    const std::int64_t rss = bench::current_rss_bytes() - rss_before;
    bench::print_idle_result("server", "epoll", connections, heap, rss);

    for (const int fd : clients)
        ::close(fd);
    for (int wait = 0; counts->ended < connections && wait < 5000; ++wait)
        co_await simrun::sleep(1ms);
    server->close();
    co_await server->wait_closed();
    co_return 0;
}

/// A raw listening socket on 127.0.0.1, a port the system chooses.
int raw_listen(std::uint16_t* port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd, 2 * kBatch) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        return -1;
    }
    *port = ntohs(address.sin_port);
    return fd;
}

Coro<int> idle_client_side(int connections) {
    std::uint16_t port = 0;
    const int listener = raw_listen(&port);
    if (listener < 0) {
        std::perror("simrun_net_bench: listen");
        co_return 1;
    }
    std::vector<int> accepted;
    accepted.reserve(static_cast<std::size_t>(connections));
    std::vector<std::pair<StreamReader, StreamWriter>> clients;
    clients.reserve(static_cast<std::size_t>(connections));
    co_await simrun::sleep(10ms);

    const std::int64_t rss_before = bench::current_rss_bytes();
    std::int64_t heap = 0;
    {
        // The blocks kept for reuse (callback handles, frames...) go back to operator delete at
        // both ends of the window, so that it counts what the connections hold.
        simrun::detail::release_free_blocks();
        bench::AllocWindow window;
        while (static_cast<int>(clients.size()) < connections) {
            const int batch = std::min(kBatch, connections - static_cast<int>(clients.size()));
            for (int i = 0; i < batch; ++i) {
                Coro<std::pair<StreamReader, StreamWriter>> connecting =
                    simrun::open_connection("127.0.0.1", port);
                clients.push_back(co_await std::move(connecting));
            }
            for (int fd = 0; (fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;)
                accepted.push_back(fd);
        }
        co_await simrun::sleep(50ms);
        simrun::detail::release_free_blocks();
        heap = window.heap_bytes();
        report_sizes(window, connections);
    }
    const std::int64_t rss = bench::current_rss_bytes() - rss_before;
    bench::print_idle_result("client", "epoll", connections, heap, rss);

    for (auto& [reader, writer] : clients)
        writer.close();
    for (auto& [reader, writer] : clients)
        co_await writer.wait_closed();
    clients.clear();
    for (const int fd : accepted)
        ::close(fd);
    ::close(listener);
    co_return 0;
}

int run_idle(int wanted, const std::string& side) {
    const int connections = bench::idle_connections_allowed(wanted);
    if (connections < wanted) {
        std::fprintf(stderr, "simrun_net_bench: %d idle connections (the descriptor limit)\n",
                     connections);
    }
    simrun::EpollLoop loop;
    int status = 2;
    if (side == "server")
        status = loop.run_until_complete(idle_server_side(connections));
    else if (side == "client")
        status = loop.run_until_complete(idle_client_side(connections));
    else
        std::fprintf(stderr, "simrun_net_bench: --side=server or --side=client\n");
    loop.close();
    return status;
}

const char* option(const char* argument, const char* name) {
    const std::size_t length = std::strlen(name);
    return std::strncmp(argument, name, length) == 0 ? argument + length : nullptr;
}

}  // namespace

int main(int argc, char** argv) {
    bench::raise_descriptor_limit();
    bench::EchoSpec spec;
    std::string loop_name = "epoll";
    std::string side = "server";
    bool echo = false;
    int idle = 0;
    for (int i = 1; i < argc; ++i) {
        const char* value = nullptr;
        if (std::strcmp(argv[i], "--list-loops") == 0) {
            for (const EchoLoop& kind : echo_loops())
                std::printf("%s\n", kind.name);
            return 0;
        }
        if (std::strcmp(argv[i], "--echo") == 0)
            echo = true;
        else if ((value = option(argv[i], "--loop=")) != nullptr)
            loop_name = value;
        else if ((value = option(argv[i], "--clients=")) != nullptr)
            spec.clients = std::atoi(value);
        else if ((value = option(argv[i], "--messages=")) != nullptr)
            spec.messages = std::atoi(value);
        else if ((value = option(argv[i], "--host=")) != nullptr)
            spec.host = value;
        else if ((value = option(argv[i], "--idle=")) != nullptr)
            idle = std::atoi(value);
        else if ((value = option(argv[i], "--side=")) != nullptr)
            side = value;
        else if (std::strcmp(argv[i], "--sizes") == 0)
            print_sizes = spec.print_allocations = true;
        else {
            std::fprintf(stderr, "simrun_net_bench: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    try {
        if (echo)
            return run_echo(loop_name, spec);
        if (idle > 0)
            return run_idle(idle, side);
    } catch (const std::exception&) {
        std::fprintf(stderr, "simrun_net_bench: %s\n",
                     simrun::describe_exception(std::current_exception()).c_str());
        return 1;
    }
    std::fprintf(stderr, "usage: %s --echo [--loop=L] | --idle=N --side=server|client\n", argv[0]);
    return 2;
}
