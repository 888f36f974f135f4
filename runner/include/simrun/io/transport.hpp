#pragma once
// Transport and Protocol: asyncio's low-level connection interface (asyncio.Transport,
// asyncio.Protocol). A transport owns one connection and moves bytes; a protocol is the
// application's side: the transport calls it when the connection is made, when data arrives,
// when the peer ends its side, when the write buffer fills up or drains, and when the connection
// is lost. Streams (io/streams.hpp) are a protocol plus two handles over it; most code uses them
// instead. create_connection() (io/connection.hpp) and create_server() (io/server.hpp) make
// transports over the running loop's network, on both loops.
//
// Everything here belongs to the loop's thread.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "simrun/io/address.hpp"

namespace simrun {

class Transport;

/// The application's side of a connection (asyncio.Protocol). Override what you need; every
/// method has a default that does nothing. The transport calls them from loop callbacks, in
/// this order: connection_made, then any number of data_received, then at most one
/// eof_received, then connection_lost exactly once (unless the loop was closed first).
/// pause_writing and resume_writing come in pairs, at any time in between.
///
/// What a method throws goes to the loop's exception handler: from data_received and
/// eof_received as "Fatal error: protocol.data_received() call failed." (the transport is then
/// closed), from pause_writing/resume_writing as "protocol.pause_writing() failed", from
/// connection_made and connection_lost as an exception in a callback.
class Protocol {
  public:
    virtual ~Protocol() = default;

    /// The connection is up; `transport` is its transport (keep `transport.shared_from_this()`
    /// to use it later).
    virtual void connection_made(Transport& transport);
    /// Bytes arrived. `data` is valid only during the call.
    virtual void data_received(std::string_view data);
    /// The peer shut down its sending side (end of stream). Return true to keep the connection
    /// open for writing (a half-close); false closes the transport. Default: false.
    virtual bool eof_received();
    /// The connection is closed: `error` is null after close(), abort() or the peer's clean
    /// close, else the error that ended it (ConnectionResetError, BrokenPipeError, ...).
    virtual void connection_lost(std::exception_ptr error);
    /// The transport's write buffer went above its high-water mark: stop writing until
    /// resume_writing().
    virtual void pause_writing();
    /// The write buffer went down to its low-water mark again.
    virtual void resume_writing();
    /// A name for reports (the "protocol" field of an exception-handler context). Default:
    /// "<Protocol>".
    virtual std::string describe() const;
};

/// Makes the protocol of a new connection (asyncio's protocol_factory). Must not return null.
using ProtocolFactory = std::function<std::shared_ptr<Protocol>()>;

/// The write-buffer thresholds of a transport, in bytes: writing is paused above `high` and
/// resumed at or below `low` (asyncio's get_write_buffer_limits() returns (low, high)).
struct WriteBufferLimits {
    std::size_t low = 16 * 1024;
    std::size_t high = 64 * 1024;
    friend bool operator==(const WriteBufferLimits&, const WriteBufferLimits&) = default;
};

/// One connection's byte stream (asyncio.Transport, as its socket transport behaves). Made by
/// create_connection() and create_server(); held by shared_ptr. An open connection keeps
/// itself alive while the loop watches it (reading, or flushing its write buffer); a transport
/// nobody holds and nothing watches is closed when destroyed, with a log line "ResourceWarning:
/// unclosed transport <...>".
///
/// Writes never block: write() sends what the connection takes at once and buffers the rest,
/// which the loop flushes as the connection drains. When the buffer grows above the high-water
/// mark the protocol's pause_writing() is called, and resume_writing() once it is back at the
/// low-water mark (StreamWriter::drain() waits for that).
class Transport : public std::enable_shared_from_this<Transport> {
  public:
    Transport() = default;
    Transport(const Transport&) = delete;
    Transport& operator=(const Transport&) = delete;
    virtual ~Transport() = default;

    // ---- writing --------------------------------------------------------------------------

    /// Sends `data`, buffering what cannot be sent now. Empty data does nothing. After the
    /// connection was lost the data is dropped silently (from the fifth such write on, each one
    /// also logs the warning "socket.send() raised exception.", as asyncio does). Throws
    /// RuntimeError "Cannot call write() after write_eof()".
    virtual void write(std::string_view data) = 0;
    /// Writes each chunk in order (one flush for all of them), with write()'s rules; pauses
    /// the protocol as write() does. Throws RuntimeError "Cannot call writelines() after
    /// write_eof()".
    virtual void writelines(const std::vector<std::string>& chunks) = 0;
    /// Shuts the sending side down once the buffer is flushed: the peer reads end of stream;
    /// reading goes on. Does nothing while closing or if already called.
    virtual void write_eof() = 0;
    /// True: a socket transport supports write_eof() (asyncio's SSL transports do not).
    virtual bool can_write_eof() const = 0;
    /// Bytes buffered, not yet taken by the connection.
    virtual std::size_t get_write_buffer_size() const = 0;
    /// The current thresholds (defaults: low 16 KiB, high 64 KiB).
    virtual WriteBufferLimits get_write_buffer_limits() const = 0;
    /// Sets the thresholds, as asyncio: a high without a low sets low = high / 4; a low without
    /// a high sets high = 4 * low; neither: high 64 KiB, low 16 KiB. May pause the protocol at
    /// once. Throws ValueError "high (H) must be >= low (L) must be >= 0" unless high >= low >= 0.
    virtual void set_write_buffer_limits(std::optional<std::int64_t> high = std::nullopt,
                                         std::optional<std::int64_t> low = std::nullopt) = 0;

    // ---- reading --------------------------------------------------------------------------

    /// Stops delivering data until resume_reading() (nothing is read from the connection
    /// meanwhile, so the peer's writes back up). Does nothing if not reading.
    virtual void pause_reading() = 0;
    /// Delivers data again. Does nothing while closing or if not paused.
    virtual void resume_reading() = 0;
    /// True unless paused or closing.
    virtual bool is_reading() const = 0;

    // ---- closing --------------------------------------------------------------------------

    /// Closes gracefully: stops reading, flushes the write buffer, then closes the connection
    /// and calls the protocol's connection_lost(null). Idempotent. On a closed loop the
    /// connection is closed at once and the protocol is not called.
    virtual void close() = 0;
    /// Closes at once: the write buffer is dropped, then connection_lost(null) is called.
    virtual void abort() = 0;
    /// True after close(), abort() or a fatal error (not after the peer's end of stream).
    virtual bool is_closing() const = 0;

    // ---- information ----------------------------------------------------------------------

    /// The peer's address (asyncio's get_extra_info('peername')), if known.
    virtual std::optional<SocketAddress> peer_address() const = 0;
    /// This end's address (get_extra_info('sockname')), if known.
    virtual std::optional<SocketAddress> local_address() const = 0;
    /// asyncio's repr, e.g. "<SocketTransport fd=7 read=polling write=<idle, bufsize=0>>".
    virtual std::string describe() const = 0;
};

}  // namespace simrun
