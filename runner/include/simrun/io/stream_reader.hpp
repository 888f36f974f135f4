#pragma once
// StreamReader: the receiving half of a stream connection (asyncio.StreamReader, CPython 3.13
// rules and messages). open_connection() and start_server() make one per connection; a reader
// can also be made and fed by hand (feed_data/feed_eof), which is how its tests drive it.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "simrun/core/async_gen.hpp"
#include "simrun/core/coro.hpp"

namespace simrun {

class Transport;

/// asyncio's default limit of a StreamReader (2**16 bytes).
inline constexpr std::int64_t default_stream_limit = 64 * 1024;

namespace io::detail {
struct ReaderState;
}

/// A buffer of received bytes and the coroutines that read it. A cheap handle: copies share the
/// same reader, so a handler coroutine takes it by value.
///
/// `limit` bounds what readline() and readuntil() look at, and (twice the limit) how much is
/// buffered before the connection is paused. Only one coroutine may wait for data at a time.
/// Once an error was set (the connection was reset, ...) every read throws it, even if
/// buffered data remains, as in asyncio. Reads use the running loop; a cancelled read leaves
/// the reader usable. A moved-from handle may only be assigned to or destroyed.
class StreamReader {
  public:
    /// Throws ValueError "Limit cannot be <= 0".
    explicit StreamReader(std::int64_t limit = default_stream_limit);

    /// The limit given at construction.
    std::size_t limit() const noexcept;

    // ---- the connection's side (asyncio's feed_data, feed_eof, set_exception) --------------

    /// Appends received bytes and wakes the waiting reader; pauses the transport's reading
    /// once more than twice the limit is buffered. Empty data is ignored. Throws RuntimeError
    /// "feed_data after feed_eof" (asyncio's AssertionError).
    void feed_data(std::string_view data);
    /// Marks the end of the stream and wakes the waiting reader.
    void feed_eof();
    /// Makes every later read throw `error`, and fails the waiting read with it.
    void set_exception(std::exception_ptr error);
    /// The transport to pause and resume (set once; open_connection() and start_server() do
    /// it). Throws RuntimeError "Transport already set".
    void set_transport(const std::shared_ptr<Transport>& transport);

    // ---- reading ------------------------------------------------------------------------

    /// Up to `n` bytes: waits until at least one byte or the end of the stream is there, and
    /// returns what is buffered up to `n` ("" at the end of the stream). `n` == 0 returns ""
    /// at once. `n` < 0 reads until the end of the stream and returns everything. The limit
    /// does not apply.
    Coro<std::string> read(std::int64_t n = -1);
    /// One line, ending in "\n". At the end of the stream: the unterminated rest, or "".
    /// Throws ValueError "Separator is not found, and chunk exceed the limit" or "Separator is
    /// found, but chunk is longer than limit" when the line is longer than the limit (the line
    /// is dropped, or the whole buffer if its end was not seen).
    Coro<std::string> readline();
    /// Exactly `n` bytes (the limit does not apply). Throws IncompleteReadError (with what was
    /// buffered, which is dropped) if the stream ends first, and ValueError "readexactly size
    /// can not be less than zero".
    Coro<std::string> readexactly(std::int64_t n);
    /// The bytes up to and including `separator`. Throws IncompleteReadError (holding the
    /// buffer, which is dropped) if the stream ends first; LimitOverrunError "Separator is not
    /// found, and chunk exceed the limit" or "Separator is found, but chunk is longer than
    /// limit" (the buffer is kept, so it can be read otherwise); ValueError "Separator should
    /// be at least one-byte string" for an empty separator.
    Coro<std::string> readuntil(std::string separator = "\n");
    /// As above, with several separators: the shortest result ending in any of them wins
    /// (asyncio's tuple of separators). Throws ValueError "Separator should contain at least
    /// one element" for an empty list.
    Coro<std::string> readuntil(std::vector<std::string> separators);
    /// Every line until the end of the stream (asyncio's `async for line in reader`).
    AsyncGen<std::string> lines();

    // ---- state --------------------------------------------------------------------------

    /// True once the end of the stream was fed and every byte was read.
    bool at_eof() const noexcept;
    /// The error set by set_exception(), or null.
    std::exception_ptr exception() const noexcept;
    /// The bytes received and not read yet (asyncio's private _buffer; for tests).
    std::string_view buffer() const noexcept;
    /// asyncio's repr: "<StreamReader 4 bytes eof limit=123 ...>".
    std::string describe() const;

  private:
    std::shared_ptr<io::detail::ReaderState> state_;
};

}  // namespace simrun
