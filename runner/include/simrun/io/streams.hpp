#pragma once
// Streams: open_connection() and start_server(), asyncio's high-level network API (CPython
// 3.13 rules and messages). The same code runs on the epoll loop (kernel sockets) and in the
// simulator (its simulated network), over the running loop's network.
//
//     Coro<void> handle_client(StreamReader reader, StreamWriter writer) {   // by value
//         std::string line = co_await reader.readline();
//         writer.write(line);
//         co_await writer.drain();
//         writer.close();
//         co_await writer.wait_closed();
//     }
//     auto server = co_await start_server(handle_client, "127.0.0.1", 8080);
//
//     auto [reader, writer] = co_await open_connection("127.0.0.1", 8080);

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "simrun/core/coro.hpp"
#include "simrun/io/address.hpp"
#include "simrun/io/connection.hpp"
#include "simrun/io/server.hpp"
#include "simrun/io/stream_reader.hpp"
#include "simrun/io/stream_writer.hpp"
#include "simrun/io/transport.hpp"

namespace simrun {

/// Options of open_connection() (asyncio's keywords of the same names).
struct OpenOptions {
    /// The StreamReader's limit.
    std::int64_t limit = default_stream_limit;
    /// Bind the connecting socket to this address first (asyncio's local_addr).
    std::optional<SocketAddress> local_address{};
    /// See ConnectionOptions::all_errors.
    bool all_errors = false;
};

/// Connects to `host`:`port` and returns the connection's reader and writer:
///     auto [reader, writer] = co_await open_connection("127.0.0.1", 8080);
/// Throws what create_connection() throws (e.g. ConnectionRefusedError "Connect call failed
/// ('127.0.0.1', 8080)"), and ValueError "Limit cannot be <= 0".
Coro<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, std::uint16_t port,
                                                            OpenOptions options = {});

/// The handler start_server() runs for each accepted connection, as a task of its own. It
/// takes the reader and writer by value (references would dangle in a coroutine).
using ClientConnected = std::function<Coro<void>(StreamReader, StreamWriter)>;

/// Starts a server on `host`:`port` (see create_server()) that runs `client_connected` for
/// every connection, with a new StreamReader (options.limit) and StreamWriter.
///
/// The handler, as asyncio's client_connected_cb:
/// - an exception out of it goes to the loop's exception handler as "Unhandled exception in
///   client_connected_cb" (with the exception and the transport), then the connection is
///   closed; the server keeps serving;
/// - cancelled: the connection is closed, nothing is reported;
/// - returned: nothing happens to the connection, but once the handler's (and everybody's)
///   StreamWriter handles are gone an unclosed connection is closed (see StreamWriter).
/// Throws what create_server() throws, ValueError for an empty handler and ValueError "Limit
/// cannot be <= 0".
Coro<std::shared_ptr<Server>> start_server(ClientConnected client_connected, std::string host,
                                           std::uint16_t port, ServerOptions options = {});
/// As above, binding each of `hosts`.
Coro<std::shared_ptr<Server>> start_server(ClientConnected client_connected,
                                           std::vector<std::string> hosts, std::uint16_t port,
                                           ServerOptions options = {});

}  // namespace simrun
