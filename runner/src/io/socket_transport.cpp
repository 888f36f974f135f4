#include "simrun/io/detail/socket_transport.hpp"

#include <utility>

#include "simrun/core/event_loop.hpp"
#include "simrun/core/exceptions.hpp"
#include "simrun/io/server.hpp"

namespace simrun {

// ---- Protocol's defaults --------------------------------------------------------------------

void Protocol::connection_made(Transport&) {}
void Protocol::data_received(std::string_view) {}
bool Protocol::eof_received() {
    return false;
}
void Protocol::connection_lost(std::exception_ptr) {}
void Protocol::pause_writing() {}
void Protocol::resume_writing() {}
std::string Protocol::describe() const {
    return "<Protocol>";
}

namespace io::detail {

namespace {

bool is_os_error(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const OSError&) {
        return true;
    } catch (...) {
        return false;
    }
}

// Python's floor division, for the negative limits set_write_buffer_limits() must reject.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

}  // namespace

std::shared_ptr<SocketTransport> SocketTransport::create(EventLoop& loop,
                                                         std::unique_ptr<StreamSocket> socket,
                                                         std::shared_ptr<Protocol> protocol,
                                                         const std::shared_ptr<Server>& server) {
    auto transport =
        std::make_shared<SocketTransport>(Key{}, loop, std::move(socket), std::move(protocol));
    if (server) {
        transport->server_ = server;
        transport->client_id_ = server->attach_client(transport);
    }
    return transport;
}

SocketTransport::SocketTransport(Key, EventLoop& loop, std::unique_ptr<StreamSocket> socket,
                                 std::shared_ptr<Protocol> protocol)
    : anchor_(loop.anchor()), socket_(std::move(socket)), protocol_(std::move(protocol)) {
    // asyncio reads 'peername' and 'sockname' once, when the transport is made.
    peer_ = socket_->peer_address();
    local_ = socket_->local_address();
    fd_ = socket_->native_handle();
}

SocketTransport::~SocketTransport() {
    // Nothing watches this transport any more (a watch holds it) and nobody holds it.
    if (!socket_)
        return;
    EventLoop* loop = anchor_->loop;
    try {
        if (!closing_) {
            std::string text = "unclosed transport " + describe();
            if (loop != nullptr)
                loop->warn("ResourceWarning", text);
            else
                log_without_loop(LogLevel::warning, "ResourceWarning: " + text);
        }
    } catch (...) {  // a log handler that throws must not stop the clean-up
    }
    release();
}

std::shared_ptr<SocketTransport> SocketTransport::self() {
    return std::static_pointer_cast<SocketTransport>(shared_from_this());
}

EventLoop* SocketTransport::usable_loop() const noexcept {
    EventLoop* loop = anchor_->loop;
    return loop != nullptr && !loop->is_closed() ? loop : nullptr;
}

void SocketTransport::debug_log(const std::string& text) const {
    EventLoop* loop = anchor_->loop;
    if (loop != nullptr && loop->get_debug())
        loop->log(LogLevel::debug, describe() + " " + text);
}

void SocketTransport::start(std::optional<Future<void>> waiter) {
    EventLoop& loop = *anchor_->loop;
    auto me = self();
    Handle made = loop.call_soon([me] {
        if (me->protocol_)
            me->protocol_->connection_made(*me);
    });
    made.state()->describe_as("connection_made() of a new connection");
    // Reading starts only once connection_made() has run.
    Handle reading = loop.call_soon([me] {
        if (me->is_reading() && !me->end_of_stream_ && me->socket_)
            me->watch_reading(true);
    });
    reading.state()->describe_as("start reading a new connection");
    if (waiter) {
        Handle ready = loop.call_soon([waiter = std::move(*waiter)]() mutable {
            if (!waiter.done())
                waiter.set_result();
        });
        ready.state()->describe_as("the new connection is ready");
    }
}

// ---- watches ----------------------------------------------------------------------------------
//
// A watch's callback holds the transport: an open connection lives while the loop watches it.
// Whoever turns a watch off holds the transport meanwhile (`keep`), so that dropping the callback
// never destroys the transport (and its socket) in the middle of a call.

void SocketTransport::watch_reading(bool on) {
    if (on == reading_ || !socket_)
        return;
    reading_ = on;
    if (on) {
        socket_->watch_readable([me = self()] {
            auto keep = me;  // the callback may be dropped while it runs
            keep->on_readable();
        });
    } else {
        auto keep = self();
        socket_->watch_readable({});
    }
}

void SocketTransport::watch_writing(bool on) {
    if (on == writing_ || !socket_)
        return;
    writing_ = on;
    if (on) {
        socket_->watch_writable([me = self()] {
            auto keep = me;
            keep->on_writable();
        });
    } else {
        auto keep = self();
        socket_->watch_writable({});
    }
}

// ---- reading ----------------------------------------------------------------------------------

void SocketTransport::on_readable() {
    if (conn_lost_ != 0 || !socket_)
        return;
    std::optional<std::string> data;
    try {
        data = socket_->receive(max_read_size);
    } catch (...) {
        std::exception_ptr error = std::current_exception();
        if (escapes_loop(error))
            throw;
        fatal_error(error, "Fatal read error on socket transport");
        return;
    }
    if (!data)
        return;  // nothing there after all (asyncio's BlockingIOError)
    if (data->empty()) {
        on_end_of_stream();
        return;
    }
    try {
        protocol_->data_received(*data);
    } catch (...) {
        std::exception_ptr error = std::current_exception();
        if (escapes_loop(error))
            throw;
        fatal_error(error, "Fatal error: protocol.data_received() call failed.");
    }
}

void SocketTransport::on_end_of_stream() {
    debug_log("received EOF");
    bool keep_open = false;
    try {
        keep_open = protocol_->eof_received();
    } catch (...) {
        std::exception_ptr error = std::current_exception();
        if (escapes_loop(error))
            throw;
        fatal_error(error, "Fatal error: protocol.eof_received() call failed.");
        return;
    }
    if (keep_open) {
        // Open for writing, but there is nothing more to read.
        end_of_stream_ = true;
        watch_reading(false);
    } else {
        close();
    }
}

void SocketTransport::pause_reading() {
    if (!is_reading())
        return;
    paused_ = true;
    watch_reading(false);
    debug_log("pauses reading");
}

void SocketTransport::resume_reading() {
    if (closing_ || !paused_)
        return;
    paused_ = false;
    if (!end_of_stream_)
        watch_reading(true);
    debug_log("resumes reading");
}

// ---- writing ----------------------------------------------------------------------------------

void SocketTransport::append(std::string_view data) {
    if (buffer_start_ == buffer_.size()) {
        buffer_.clear();
        buffer_start_ = 0;
    }
    buffer_.append(data);
}

void SocketTransport::consume(std::size_t count) noexcept {
    buffer_start_ += count;
    if (buffer_start_ >= buffer_.size()) {
        clear_buffer();
    } else if (buffer_start_ > buffer_.size() / 2) {
        buffer_.erase(0, buffer_start_);
        buffer_start_ = 0;
    }
}

void SocketTransport::clear_buffer() noexcept {
    // An idle connection keeps no write buffer.
    std::string().swap(buffer_);
    buffer_start_ = 0;
}

void SocketTransport::drop_lost_write() {
    if (conn_lost_ >= log_threshold_for_lost_writes) {
        if (EventLoop* loop = anchor_->loop)
            loop->log(LogLevel::warning, "socket.send() raised exception.");
    }
    ++conn_lost_;
}

void SocketTransport::write(std::string_view data) {
    if (eof_)
        throw RuntimeError("Cannot call write() after write_eof()");
    if (data.empty())
        return;
    if (conn_lost_ != 0) {
        drop_lost_write();
        return;
    }
    if (get_write_buffer_size() == 0) {
        // Try to send at once; only what the connection does not take is buffered.
        std::size_t sent = 0;
        try {
            sent = socket_->send(data);
        } catch (...) {
            std::exception_ptr error = std::current_exception();
            if (escapes_loop(error))
                throw;
            fatal_error(error, "Fatal write error on socket transport");
            return;
        }
        data.remove_prefix(sent);
        if (data.empty())
            return;
        watch_writing(true);
    }
    append(data);
    maybe_pause_protocol();
}

void SocketTransport::writelines(const std::vector<std::string>& chunks) {
    if (eof_)
        throw RuntimeError("Cannot call writelines() after write_eof()");
    if (chunks.empty())
        return;
    if (conn_lost_ != 0) {
        drop_lost_write();
        return;
    }
    for (const std::string& chunk : chunks)
        append(chunk);
    if (get_write_buffer_size() == 0)
        return;
    auto keep = self();
    on_writable();
    if (get_write_buffer_size() != 0) {
        watch_writing(true);
        // The later CPython fix (gh-127655): writelines() pauses the protocol too.
        maybe_pause_protocol();
    }
}

void SocketTransport::on_writable() {
    if (conn_lost_ != 0 || !socket_)
        return;
    if (get_write_buffer_size() == 0) {
        watch_writing(false);
        return;
    }
    std::size_t sent = 0;
    try {
        sent = socket_->send(std::string_view(buffer_).substr(buffer_start_));
    } catch (...) {
        std::exception_ptr error = std::current_exception();
        if (escapes_loop(error))
            throw;
        watch_writing(false);
        clear_buffer();
        fatal_error(error, "Fatal write error on socket transport");
        return;
    }
    consume(sent);
    maybe_resume_protocol();  // the protocol may write more
    if (get_write_buffer_size() == 0) {
        watch_writing(false);
        if (closing_) {
            ++conn_lost_;  // later writes are dropped
            call_connection_lost(nullptr);
        } else if (eof_) {
            socket_->shutdown_write();
        }
    }
}

void SocketTransport::write_eof() {
    if (closing_ || eof_)
        return;
    eof_ = true;
    if (get_write_buffer_size() == 0)
        socket_->shutdown_write();
}

// ---- flow control -----------------------------------------------------------------------------

void SocketTransport::set_write_buffer_limits(std::optional<std::int64_t> high,
                                              std::optional<std::int64_t> low) {
    if (!high)
        high = low ? 4 * *low : 64 * 1024;
    if (!low)
        low = floor_div(*high, 4);
    if (!(*high >= *low && *low >= 0)) {
        throw ValueError("high (" + std::to_string(*high) + ") must be >= low (" +
                         std::to_string(*low) + ") must be >= 0");
    }
    limits_.high = static_cast<std::size_t>(*high);
    limits_.low = static_cast<std::size_t>(*low);
    maybe_pause_protocol();
}

void SocketTransport::maybe_pause_protocol() {
    if (get_write_buffer_size() <= limits_.high || protocol_paused_ || !protocol_)
        return;
    protocol_paused_ = true;
    try {
        protocol_->pause_writing();
    } catch (...) {
        std::exception_ptr error = std::current_exception();
        if (escapes_loop(error))
            throw;
        ExceptionContext context{"protocol.pause_writing() failed", error, {}, {}};
        context.details["transport"] = describe();
        context.details["protocol"] = protocol_->describe();
        anchor_->loop->call_exception_handler(context);
    }
}

void SocketTransport::maybe_resume_protocol() {
    if (!protocol_paused_ || get_write_buffer_size() > limits_.low || !protocol_)
        return;
    protocol_paused_ = false;
    try {
        protocol_->resume_writing();
    } catch (...) {
        std::exception_ptr error = std::current_exception();
        if (escapes_loop(error))
            throw;
        ExceptionContext context{"protocol.resume_writing() failed", error, {}, {}};
        context.details["transport"] = describe();
        context.details["protocol"] = protocol_->describe();
        anchor_->loop->call_exception_handler(context);
    }
}

// ---- closing ----------------------------------------------------------------------------------

void SocketTransport::close() {
    if (closing_)
        return;
    auto keep = self();
    closing_ = true;
    watch_reading(false);
    if (get_write_buffer_size() == 0 || usable_loop() == nullptr) {
        ++conn_lost_;
        watch_writing(false);
        clear_buffer();
        schedule_connection_lost(nullptr);
    }
    // Otherwise on_writable() calls connection_lost once the buffer is flushed.
}

void SocketTransport::abort() {
    force_close(nullptr);
}

void SocketTransport::fatal_error(std::exception_ptr error, const char* message) {
    // As asyncio: an OSError (a reset, a broken pipe) is what networks do; it is only logged in
    // debug mode. Anything else is a bug worth reporting.
    if (is_os_error(error)) {
        debug_log(std::string(message) + ": " + describe_exception(error));
    } else if (EventLoop* loop = anchor_->loop) {
        ExceptionContext context{message, error, {}, {}};
        context.details["transport"] = describe();
        if (protocol_)
            context.details["protocol"] = protocol_->describe();
        loop->call_exception_handler(context);
    }
    force_close(std::move(error));
}

void SocketTransport::force_close(std::exception_ptr error) {
    if (conn_lost_ != 0)
        return;
    auto keep = self();
    if (get_write_buffer_size() != 0) {
        clear_buffer();
        watch_writing(false);
    }
    if (!closing_) {
        closing_ = true;
        watch_reading(false);
    }
    ++conn_lost_;
    schedule_connection_lost(std::move(error));
}

void SocketTransport::schedule_connection_lost(std::exception_ptr error) {
    if (EventLoop* loop = usable_loop()) {
        Handle lost = loop->call_soon(
            [me = self(), error = std::move(error)] { me->call_connection_lost(error); });
        lost.state()->describe_as("connection_lost() of a closed connection");
    } else {
        // Nothing runs on a closed loop any more: close the socket now, without the protocol.
        auto keep = self();
        release();
    }
}

void SocketTransport::call_connection_lost(std::exception_ptr error) {
    auto keep = self();
    struct Release {
        SocketTransport& transport;
        ~Release() { transport.release(); }
    } release_afterwards{*this};
    if (protocol_)
        protocol_->connection_lost(std::move(error));
}

void SocketTransport::release() noexcept {
    reading_ = false;
    writing_ = false;
    if (auto socket = std::move(socket_))
        socket->close();  // stops every watch
    protocol_.reset();
    if (auto server = server_.lock()) {
        server_.reset();
        try {
            server->detach_client(client_id_);
        } catch (...) {  // waking wait_closed() on a loop that is going away
        }
    }
}

std::string SocketTransport::describe() const {
    std::string text = "<SocketTransport";
    if (!socket_)
        text += " closed";
    else if (closing_)
        text += " closing";
    if (fd_ >= 0)
        text += " fd=" + std::to_string(fd_);
    text += reading_ ? " read=polling" : " read=idle";
    text += std::string(" write=<") + (writing_ ? "polling" : "idle") +
            ", bufsize=" + std::to_string(get_write_buffer_size()) + ">>";
    return text;
}

}  // namespace io::detail
}  // namespace simrun
