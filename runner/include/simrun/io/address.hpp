#pragma once
// SocketAddress: where one end of a connection is, as asyncio's (host, port) tuples.

#include <compare>
#include <cstdint>
#include <string>

namespace simrun {

/// An address and a port. `host` is numeric text: "127.0.0.1", "::1", or in the simulator the
/// address of a simulated host ("10.0.0.2"). Ordered and comparable, so it can key a std::map.
struct SocketAddress {
    std::string host;
    std::uint16_t port = 0;

    friend bool operator==(const SocketAddress&, const SocketAddress&) = default;
    friend auto operator<=>(const SocketAddress&, const SocketAddress&) = default;

    /// As Python prints the tuple: "('127.0.0.1', 8080)".
    std::string to_string() const;
};

}  // namespace simrun
