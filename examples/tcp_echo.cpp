// A robust TCP echo server on start_server() and open_connection(), with a clean Ctrl-C
// shutdown.
//
//     tcp_echo serve [port]     echo lines on 127.0.0.1:port (default 8007) until Ctrl-C
//     tcp_echo self-test [n]    serve on a free port and run n echo clients at once (default
//                               50) together with misbehaving ones; check every echo and that
//                               the server kept serving; exit status 0 if all is well
//
// Why one bad connection cannot stop the server: start_server() runs the handler as a task of
// its own for each connection, so a failure ends that connection only.
// - A client that resets its connection, or closes it before reading its echo, makes the
//   handler's readline() or drain() throw a ConnectionError (ConnectionResetError,
//   BrokenPipeError): the handler logs it, naming the peer and the cause, and returns.
// - A bug in the handler (an exception it does not catch) reaches the loop's exception handler
//   as "Unhandled exception in client_connected_cb", with the exception, and the server closes
//   that connection.
// Ctrl-C cancels the main task: it stops listening, closes the connections still open (each
// flushes what it owes first), waits for them at most 5 s, and run() raises KeyboardInterrupt.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <simrun/simrun.hpp>

using namespace simrun;
using namespace std::chrono_literals;

namespace {

/// What the server saw, for the self-test's verdict.
struct Stats {
    int connection_failures = 0;  // connections that ended with a ConnectionError
    int handler_errors = 0;       // exceptions that escaped the handler
};

/// The handler: echoes each line until the client ends its side. The line "fail" makes it
/// throw, as a stand-in for a bug.
Coro<void> echo_lines(StreamReader reader, StreamWriter writer, std::shared_ptr<Stats> stats) {
    const auto peer_address = writer.peer_address();
    const std::string peer = peer_address ? peer_address->to_string() : "an unknown peer";
    try {
        for (;;) {
            std::string line = co_await reader.readline();
            if (line.empty())
                break;  // end of stream: the client has sent everything
            if (line == "fail\n")
                throw RuntimeError("the handler failed on purpose for " + peer);
            writer.write(line);
            co_await writer.drain();  // waits while the client reads slower than it sends
        }
        writer.close();
        co_await writer.wait_closed();
    } catch (const OSError&) {  // ConnectionResetError, BrokenPipeError, ...
        ++stats->connection_failures;
        std::fprintf(stderr, "tcp_echo: the connection from %s failed: %s\n", peer.c_str(),
                     describe_exception(std::current_exception()).c_str());
    }
}

ClientConnected echo_handler(std::shared_ptr<Stats> stats) {
    return [stats](StreamReader reader, StreamWriter writer) {
        return echo_lines(std::move(reader), std::move(writer), stats);
    };
}

/// Counts what reaches the loop's exception handler from handlers, and logs it as usual.
void count_handler_errors(EventLoop& loop, std::shared_ptr<Stats> stats) {
    loop.set_exception_handler([stats](EventLoop& loop, const ExceptionContext& context) {
        if (context.message == "Unhandled exception in client_connected_cb")
            ++stats->handler_errors;
        loop.default_exception_handler(context);
    });
}

/// Stops listening, then closes the connections still open (each flushes its buffer first)
/// and waits for them, at most 5 s (then they are aborted).
Coro<void> shut_down(std::shared_ptr<Server> server) {
    server->close();
    server->close_clients();
    try {
        co_await wait_for(server->wait_closed(), 5s);
    } catch (const TimeoutError&) {
        server->abort_clients();
    }
}

Coro<int> serve(std::uint16_t port) {
    auto stats = std::make_shared<Stats>();
    count_handler_errors(get_running_loop(), stats);
    auto server = co_await start_server(echo_handler(stats), "127.0.0.1", port);
    std::printf("echoing lines on %s; Ctrl-C stops\n",
                server->addresses().front().to_string().c_str());
    std::fflush(stdout);
    std::exception_ptr stopped;
    try {
        co_await get_running_loop().create_future<void>();  // nobody sets it: until Ctrl-C
    } catch (const CancelledError&) {
        stopped = std::current_exception();
    }
    co_await shut_down(server);
    if (stopped)
        std::rethrow_exception(stopped);  // run() then raises KeyboardInterrupt
    co_return 0;
}

// ---- the self-test's clients ----------------------------------------------------------------

std::string lines_of(int client, int count) {
    std::string text;
    for (int line = 0; line < count; ++line)
        text += "client " + std::to_string(client) + " line " + std::to_string(line) + "\n";
    return text;
}

/// A well-behaved client: sends 100 lines, reads them back, closes. True if the echo matched.
Coro<bool> echo_client(std::uint16_t port, int number) {
    auto [reader, writer] = co_await open_connection("127.0.0.1", port);
    const std::string message = lines_of(number, 100);
    writer.write(message);
    co_await writer.drain();
    const std::string echoed =
        co_await reader.readexactly(static_cast<std::int64_t>(message.size()));
    writer.close();
    co_await writer.wait_closed();
    co_return echoed == message;
}

/// Sends some lines, then resets its connection (abort: an RST) without reading.
Coro<bool> resetting_client(std::uint16_t port) {
    auto [reader, writer] = co_await open_connection("127.0.0.1", port);
    writer.write(lines_of(-1, 200));
    co_await writer.drain();
    writer.transport().abort();
    co_return true;
}

/// Sends many lines and closes at once, without reading the echo it is owed.
Coro<bool> early_closing_client(std::uint16_t port) {
    auto [reader, writer] = co_await open_connection("127.0.0.1", port);
    writer.write(lines_of(-2, 500));
    writer.close();
    co_await writer.wait_closed();
    co_return true;
}

/// Makes the handler fail: gets its first line back, then the end of the stream (the server
/// closes the connection of a failed handler).
Coro<bool> failing_request_client(std::uint16_t port) {
    auto [reader, writer] = co_await open_connection("127.0.0.1", port);
    writer.write("hello\nfail\n");
    co_await writer.drain();
    const std::string first = co_await reader.readline();
    const std::string rest = co_await reader.read();
    writer.close();
    co_await writer.wait_closed();
    co_return first == "hello\n" && rest.empty();
}

/// Runs `client`; false (with the reason on standard error) if it throws.
Coro<bool> checked(Coro<bool> client, std::string name) {
    try {
        co_return co_await std::move(client);
    } catch (const std::exception&) {
        std::fprintf(stderr, "tcp_echo: client %s failed: %s\n", name.c_str(),
                     describe_exception(std::current_exception()).c_str());
        co_return false;
    }
}

Coro<int> self_test(int clients) {
    auto stats = std::make_shared<Stats>();
    count_handler_errors(get_running_loop(), stats);
    auto server = co_await start_server(echo_handler(stats), "127.0.0.1", 0);
    const std::uint16_t port = server->addresses().front().port;

    // The misbehaving clients run among the good ones.
    std::vector<Task<bool>> misbehaving;
    misbehaving.push_back(create_task(checked(resetting_client(port), "that resets")));
    misbehaving.push_back(create_task(checked(early_closing_client(port), "that closes early")));
    misbehaving.push_back(create_task(checked(failing_request_client(port), "asking for fail")));
    std::vector<Task<bool>> good;
    for (int number = 0; number < clients; ++number)
        good.push_back(create_task(checked(echo_client(port, number), std::to_string(number))));

    int matched = 0;
    for (Task<bool>& client : good)
        matched += (co_await client) ? 1 : 0;
    bool misbehaved_as_expected = true;
    for (Task<bool>& client : misbehaving)
        misbehaved_as_expected = (co_await client) && misbehaved_as_expected;
    // After all that, the server still serves.
    const bool still_serving =
        server->is_serving() && co_await checked(echo_client(port, clients), "after the others");
    co_await shut_down(server);

    std::printf("%d of %d clients got their exact echo back\n", matched, clients);
    std::printf(
        "misbehaving clients: %s; connection failures logged: %d; handler errors: %d; "
        "still serving afterwards: %s\n",
        misbehaved_as_expected ? "as expected" : "NOT as expected", stats->connection_failures,
        stats->handler_errors, still_serving ? "yes" : "NO");
    const bool passed =
        matched == clients && misbehaved_as_expected && still_serving && stats->handler_errors == 1;
    co_return passed ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "self-test";
    try {
        if (mode == "serve")
            return run(serve(static_cast<std::uint16_t>(argc > 2 ? std::atoi(argv[2]) : 8007)));
        if (mode == "self-test")
            return run(self_test(argc > 2 ? std::atoi(argv[2]) : 50));
        std::fprintf(stderr, "usage: %s serve [port] | self-test [clients]\n", argv[0]);
        return 2;
    } catch (const KeyboardInterrupt&) {
        std::puts("interrupted; all connections closed");
        exit_as_interrupted();
    } catch (const std::exception&) {
        std::fprintf(stderr, "tcp_echo: %s\n",
                     describe_exception(std::current_exception()).c_str());
        return 1;
    }
}
