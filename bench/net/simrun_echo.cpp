#include "net/simrun_echo.hpp"

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <simrun/simrun.hpp>

#include "common/alloc_counter.hpp"

namespace bench {
namespace {

using simrun::Coro;
using simrun::StreamReader;
using simrun::StreamWriter;

/// The server's handler: echoes every line until end of stream, then closes.
Coro<void> echo_session(StreamReader reader, StreamWriter writer) {
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

/// One client's timed part: `messages` round trips of its line, each checked and timed.
Coro<void> echo_client(StreamReader reader, StreamWriter writer, int client, int messages,
                       double* round_trips, std::int64_t* done) {
    simrun::EventLoop& loop = simrun::get_running_loop();
    const std::string line = echo_line(client);
    for (int i = 0; i < messages; ++i) {
        const simrun::Duration start = loop.time();
        writer.write(line);
        co_await writer.drain();
        const std::string echo = co_await reader.readline();
        if (echo != line)
            throw simrun::RuntimeError("client " + std::to_string(client) + " got a wrong echo");
        round_trips[i] = simrun::to_seconds(loop.time() - start);
        ++*done;
    }
    writer.close();
    co_await writer.wait_closed();
}

/// The operator new calls of the timed phase, per message, by size, on standard error.
void print_allocations(const AllocWindow& window, std::int64_t messages) {
    if (messages == 0)
        return;
    const auto per_message = [messages](double value) {
        return value / static_cast<double>(messages);
    };
    std::fprintf(stderr, "operator new calls per message (freed ones included): %.2f\n",
                 per_message(static_cast<double>(window.allocations())));
    std::fprintf(stderr, "%10s %10s %12s\n", "size", "calls", "bytes");
    for (const auto& [size, calls] : window.allocations_by_size()) {
        const double count = per_message(static_cast<double>(calls));
        if (count >= 0.05)
            std::fprintf(stderr, "%10zu %10.2f %12.1f\n", size, count,
                         count * static_cast<double>(size));
    }
}

Coro<void> echo_main(EchoSpec spec, EchoResult* result) {
    simrun::EventLoop& loop = simrun::get_running_loop();
    simrun::ServerOptions options;
    options.backlog = spec.clients;
    // Each call is a statement of its own: g++ 12 mishandles temporaries with defaulted
    // arguments inside co_await expressions.
    simrun::ClientConnected handler = echo_session;
    Coro<std::shared_ptr<simrun::Server>> starting =
        simrun::start_server(handler, spec.host, 0, options);
    std::shared_ptr<simrun::Server> server = co_await std::move(starting);
    const std::uint16_t port = server->addresses().front().port;

    std::vector<std::pair<StreamReader, StreamWriter>> connections;
    connections.reserve(static_cast<std::size_t>(spec.clients));
    for (int client = 0; client < spec.clients; ++client) {
        Coro<std::pair<StreamReader, StreamWriter>> connecting =
            simrun::open_connection(spec.host, port);
        connections.push_back(co_await std::move(connecting));
    }

    result->clients = spec.clients;
    result->round_trips.assign(static_cast<std::size_t>(spec.clients) * spec.messages, 0.0);
    std::int64_t done = 0;
    std::optional<AllocWindow> window;
    if (spec.print_allocations)
        window.emplace();
    const double cpu_before = process_cpu_seconds();
    const simrun::Duration start = loop.time();
    std::vector<simrun::Task<void>> clients;
    clients.reserve(connections.size());
    for (int client = 0; client < spec.clients; ++client) {
        auto& [reader, writer] = connections[static_cast<std::size_t>(client)];
        double* slots =
            result->round_trips.data() + static_cast<std::size_t>(client) * spec.messages;
        Coro<void> body =
            echo_client(std::move(reader), std::move(writer), client, spec.messages, slots, &done);
        clients.push_back(loop.create_task(std::move(body)));
    }
    connections.clear();
    for (auto& client : clients)
        co_await client;
    result->seconds = simrun::to_seconds(loop.time() - start);
    result->cpu_seconds = process_cpu_seconds() - cpu_before;
    result->messages = done;
    if (window) {
        print_allocations(*window, done);
        window.reset();
    }

    server->close();
    co_await server->wait_closed();  // every session has seen its client's end of stream
}

}  // namespace

EchoResult run_simrun_echo(simrun::EventLoop& loop, const EchoSpec& spec) {
    EchoResult result;
    loop.run_until_complete(echo_main(spec, &result));
    return result;
}

}  // namespace bench
