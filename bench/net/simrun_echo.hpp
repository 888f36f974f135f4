#pragma once
// The echo workload (common/echo.hpp) on simrun's streams, written once over an EventLoop: the
// epoll loop's kernel sockets give the "echo/epoll" row, and the simulator's network (once the
// SimLoop has one) the "echo/sim" row, with the same code. simrun_net_bench.cpp runs it.

#include <string>

#include <simrun/core/event_loop.hpp>

#include "common/echo.hpp"

namespace bench {

/// What to run.
struct EchoSpec {
    int clients = kEchoClients;
    int messages = kEchoMessages;
    /// Where the server listens and the clients connect (a name of the loop's network).
    std::string host = "127.0.0.1";
    /// Counts operator new calls during the timed phase and prints them per message, by size,
    /// on standard error (the counting costs an atomic increment per allocation).
    bool print_allocations = false;
};

/// Runs the echo workload on `loop`, which must not be running: a server started with
/// start_server() on `spec.host` (a port the network chooses, backlog = spec.clients), then
/// spec.clients clients connected one after the other with open_connection(), then all of them
/// exchanging spec.messages lines at once. The timed phase, and every round trip, is measured
/// by the loop's clock (loop.time(): monotonic on the epoll loop, virtual in the simulator);
/// cpu_seconds is the process's CPU time over the same phase. Sets `clock` to "wall"; the
/// caller changes it for a simulated network. Throws what the streams throw, and RuntimeError
/// if an echo differs from its line.
EchoResult run_simrun_echo(simrun::EventLoop& loop, const EchoSpec& spec);

}  // namespace bench
