#pragma once
// SocketTransport: the one Transport implementation, over an io::StreamSocket of either loop's
// network. Modelled on asyncio's selector socket transport (_SelectorSocketTransport): send at
// once and buffer the rest, flush on writability, flow control with high/low water marks,
// pause/resume reading, write_eof, close (flush first) and abort, fatal errors that force the
// connection closed. Internal: made by create_connection() and by a Server's accept loop.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "simrun/core/future.hpp"
#include "simrun/io/network.hpp"
#include "simrun/io/transport.hpp"

namespace simrun {

class EventLoop;
class Server;

namespace io::detail {

class SocketTransport final : public Transport {
    struct Key {};

  public:
    /// How much one read asks the socket for (asyncio's max_size).
    static constexpr std::size_t max_read_size = 256 * 1024;
    /// After this many writes to a lost connection, each further one logs a warning.
    static constexpr int log_threshold_for_lost_writes = 5;

    /// A transport for `socket` on `loop`, talking to `protocol`; `server` (may be null) tracks
    /// it as one of its clients until the connection is lost. Nothing happens until start().
    static std::shared_ptr<SocketTransport> create(EventLoop& loop,
                                                   std::unique_ptr<StreamSocket> socket,
                                                   std::shared_ptr<Protocol> protocol,
                                                   const std::shared_ptr<Server>& server);
    SocketTransport(Key, EventLoop& loop, std::unique_ptr<StreamSocket> socket,
                    std::shared_ptr<Protocol> protocol);
    ~SocketTransport() override;

    /// Schedules, in this order: the protocol's connection_made, the start of reading, and
    /// `waiter`'s result (when given and still pending), as asyncio's constructor does.
    void start(std::optional<Future<void>> waiter);

    void write(std::string_view data) override;
    void writelines(const std::vector<std::string>& chunks) override;
    void write_eof() override;
    bool can_write_eof() const override { return true; }
    std::size_t get_write_buffer_size() const override { return buffer_.size() - buffer_start_; }
    WriteBufferLimits get_write_buffer_limits() const override { return limits_; }
    void set_write_buffer_limits(std::optional<std::int64_t> high,
                                 std::optional<std::int64_t> low) override;
    void pause_reading() override;
    void resume_reading() override;
    bool is_reading() const override { return !closing_ && !paused_; }
    void close() override;
    void abort() override;
    bool is_closing() const override { return closing_; }
    std::optional<SocketAddress> peer_address() const override { return peer_; }
    std::optional<SocketAddress> local_address() const override { return local_; }
    std::string describe() const override;

  private:
    std::shared_ptr<SocketTransport> self();
    /// The loop if it still exists and is open, else null (then nothing can be scheduled).
    EventLoop* usable_loop() const noexcept;
    void watch_reading(bool on);
    void watch_writing(bool on);
    void on_readable();
    void on_end_of_stream();
    void on_writable();
    void drop_lost_write();
    void append(std::string_view data);
    void consume(std::size_t count) noexcept;
    void clear_buffer() noexcept;
    void maybe_pause_protocol();
    void maybe_resume_protocol();
    void fatal_error(std::exception_ptr error, const char* message);
    void force_close(std::exception_ptr error);
    void schedule_connection_lost(std::exception_ptr error);
    void call_connection_lost(std::exception_ptr error);
    /// Closes the socket and lets go of the protocol and the server.
    void release() noexcept;
    void debug_log(const std::string& text) const;

    std::shared_ptr<simrun::detail::LoopAnchor> anchor_;
    std::unique_ptr<StreamSocket> socket_;
    std::shared_ptr<Protocol> protocol_;
    std::weak_ptr<Server> server_;
    std::uint64_t client_id_ = 0;
    std::string buffer_;  // the write buffer: the bytes from buffer_start_ on
    std::size_t buffer_start_ = 0;
    std::optional<SocketAddress> peer_;
    std::optional<SocketAddress> local_;
    WriteBufferLimits limits_{};
    int fd_ = -1;
    int conn_lost_ = 0;             // > 0 once connection_lost is scheduled (asyncio's _conn_lost)
    bool closing_ = false;          // close(), abort() or a fatal error
    bool paused_ = false;           // pause_reading()
    bool eof_ = false;              // write_eof()
    bool end_of_stream_ = false;    // the peer's end of stream was delivered
    bool protocol_paused_ = false;  // pause_writing() was called
    bool reading_ = false;          // the socket's readable watch is on
    bool writing_ = false;          // the socket's writable watch is on
};

}  // namespace io::detail
}  // namespace simrun
