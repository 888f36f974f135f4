#pragma once
// create_connection(): opens a connection and hands it to a protocol (asyncio's
// loop.create_connection(), CPython 3.13 rules). open_connection() (io/streams.hpp) is the
// streams version most code uses. Runs on both loops, over the running loop's network.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "simrun/core/coro.hpp"
#include "simrun/io/address.hpp"
#include "simrun/io/transport.hpp"

namespace simrun {

/// Options of create_connection() (asyncio's keywords of the same names).
struct ConnectionOptions {
    /// Bind the connecting socket to this address first (asyncio's local_addr).
    std::optional<SocketAddress> local_address{};
    /// When every address fails: throw ExceptionGroup "create_connection failed" holding every
    /// error, instead of one OSError.
    bool all_errors = false;
};

/// Resolves `host`, connects to its addresses in order until one accepts, then makes the
/// protocol (`factory()`) and a transport for the connection. Returns once the protocol's
/// connection_made() has run.
///
/// Errors, as asyncio: the resolver's OSError; OSError "getaddrinfo() returned empty list";
/// when every address failed, that error if there was one (e.g. ConnectionRefusedError
/// "Connect call failed ('127.0.0.1', 8080)"), the first one if all have the same text, else
/// OSError "Multiple exceptions: <each error's text, comma-separated>" (or the ExceptionGroup,
/// see ConnectionOptions::all_errors). ValueError for an empty factory or one that returns
/// null. Cancellable at any point: nothing stays open.
Coro<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>> create_connection(
    ProtocolFactory factory, std::string host, std::uint16_t port, ConnectionOptions options = {});

}  // namespace simrun
