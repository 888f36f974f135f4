#pragma once
// Helpers shared by the tests of the simulated network (test_sim_network.cpp,
// test_sim_network_faults.cpp).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <simrun/sim/sim.hpp>
#include <simrun/simrun.hpp>

#include "support.hpp"

namespace sim_network_test {

/// Echoes every line back, then closes.
inline simrun::Coro<void> echo_handler(simrun::StreamReader reader, simrun::StreamWriter writer) {
    for (;;) {
        std::string line = co_await reader.readline();
        if (line.empty())
            break;
        writer.write(line);
        co_await writer.drain();
    }
    writer.close();
    co_await writer.wait_closed();
}

/// Starts an echo server on the current host and serves until cancelled.
inline simrun::Coro<void> serve_echo(std::uint16_t port) {
    simrun::ServerOptions options;
    std::shared_ptr<simrun::Server> server =
        co_await simrun::start_server(echo_handler, "0.0.0.0", port, options);
    co_await server->serve_forever();
}

/// Sends `line` to host:port and returns the echoed line.
inline simrun::Coro<std::string> echo_once(std::string host, std::uint16_t port, std::string line) {
    simrun::OpenOptions options;
    auto [reader, writer] = co_await simrun::open_connection(host, port, options);
    writer.write(line);
    co_await writer.drain();
    std::string answer = co_await reader.readline();
    writer.close();
    co_await writer.wait_closed();
    co_return answer;
}

/// Sleeps, then runs echo_once (the server needs its first iterations to start).
inline simrun::Coro<std::string> echo_later(std::string host, std::uint16_t port,
                                            std::string line) {
    co_await simrun::sleep(std::chrono::milliseconds(100));
    co_return co_await echo_once(std::move(host), port, std::move(line));
}

inline simrun::sim::LinkOptions fixed(simrun::Duration latency, std::uint64_t bandwidth = 0) {
    return simrun::sim::LinkOptions{latency, latency, bandwidth};
}

/// Two hosts "client" (10.0.0.1) and "server" (10.0.0.2), 10 ms apart.
inline simrun::sim::SimNetwork& two_hosts(test_support::Sim& s) {
    simrun::sim::SimNetwork& net = s.loop.sim_network();
    net.add_host("client", "10.0.0.1");
    net.add_host("server", "10.0.0.2");
    net.set_link("client", "server", fixed(std::chrono::milliseconds(10)));
    return net;
}

/// The texts of the trace's "net" entries.
inline std::vector<std::string> net_lines(const simrun::sim::Trace& trace) {
    std::vector<std::string> lines;
    for (const simrun::sim::TraceEntry& entry : trace.entries()) {
        if (entry.kind == "net")
            lines.push_back(entry.text);
    }
    return lines;
}

/// True if a "net" entry of the trace contains `part`.
inline bool has_line(const simrun::sim::Trace& trace, const std::string& part) {
    for (const std::string& line : net_lines(trace)) {
        if (test_support::contains(line, part))
            return true;
    }
    return false;
}

}  // namespace sim_network_test
