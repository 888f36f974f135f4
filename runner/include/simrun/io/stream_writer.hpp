#pragma once
// StreamWriter: the sending half of a stream connection (asyncio.StreamWriter, CPython 3.13
// rules and messages). open_connection() and start_server() make one per connection.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "simrun/core/coro.hpp"
#include "simrun/io/address.hpp"

namespace simrun {

class Transport;

namespace io::detail {
struct WriterState;
}

/// Writes to a connection; drain() waits while the connection's write buffer is too full. A
/// cheap handle: copies share the same writer, so a handler coroutine takes it by value.
///
/// Closing on last use: when the last StreamWriter handle of a connection that was not closed
/// is destroyed, the connection is closed (flushing its buffer first) and the loop logs
/// "ResourceWarning: unclosed <StreamWriter ...>", as CPython does when it collects an unclosed
/// writer. So a server handler that returns without close() ends its connection, and the peer
/// reads end of stream. If the loop is closed by then, the log line is "ResourceWarning: loop
/// is closed" and the connection is closed at once. A moved-from handle may only be assigned to
/// or destroyed.
class StreamWriter {
  public:
    /// Internal: open_connection() and start_server() make writers.
    explicit StreamWriter(std::shared_ptr<io::detail::WriterState> state);

    /// Sends `data`, buffering what the connection does not take now (it never blocks; call
    /// drain() to wait while the buffer is too full). Empty data does nothing; after the
    /// connection was lost the data is dropped silently. Throws RuntimeError "Cannot call
    /// write() after write_eof()".
    void write(std::string_view data);
    /// Writes each chunk, in order (asyncio's fixed writelines(): it pauses writing as write()
    /// does, so drain() waits after it too). Throws RuntimeError "Cannot call writelines()
    /// after write_eof()".
    void writelines(const std::vector<std::string>& chunks);
    /// Shuts down the sending side once the buffer is flushed: the peer reads end of stream.
    void write_eof();
    /// True for a socket connection.
    bool can_write_eof() const;
    /// Closes the connection gracefully: stops reading, flushes the buffer, then closes.
    /// Idempotent. Await wait_closed() to know when it is done.
    void close();
    /// True after close(), or once the connection was aborted or broke; not after the peer's
    /// end of stream (the connection is then half-closed and writes still work).
    bool is_closing() const;
    /// Returns once the connection is closed (after close(): once the buffer is flushed).
    /// Throws the error that ended the connection (ConnectionResetError, ...). May be awaited
    /// again.
    Coro<void> wait_closed();
    /// Waits while the write buffer is above its high-water mark (returns without suspending
    /// when it is not). Throws, in this order: the error stored in the reader (e.g. the
    /// ConnectionResetError of a reset); ConnectionResetError "Connection lost" once the
    /// connection is closed or lost (after close() too). Several tasks may drain at once.
    Coro<void> drain();

    /// The peer's address (asyncio's get_extra_info('peername')).
    std::optional<SocketAddress> peer_address() const;
    /// This end's address (get_extra_info('sockname')).
    std::optional<SocketAddress> local_address() const;
    /// The connection's transport (write buffer limits, pause_reading, abort, ...).
    Transport& transport() const;
    /// asyncio's repr: "<StreamWriter transport=<...> reader=<StreamReader ...>>".
    std::string describe() const;

  private:
    std::shared_ptr<io::detail::WriterState> state_;
};

}  // namespace simrun
