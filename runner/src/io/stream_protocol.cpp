#include "simrun/io/detail/stream_protocol.hpp"

#include <cerrno>
#include <utility>

#include "simrun/core/event_loop.hpp"
#include "simrun/core/exceptions.hpp"

namespace simrun::io::detail {

namespace {

/// The task that runs a server's handler for one connection. It owns a copy of the handler, so
/// that what a handler lambda captured lives as long as the handler runs.
Coro<void> run_client_handler(ClientConnected handler, StreamReader reader, StreamWriter writer) {
    co_await handler(std::move(reader), std::move(writer));
}

/// asyncio's done callback of the handler's task (P1). It holds the connection's writer state
/// until the task's outcome is handled, so that a failed or cancelled handler's connection is
/// closed here, and only a handler that returned leaves an unclosed connection to the last
/// writer handle (which then warns).
void on_handler_done(const Task<void>& task, const std::shared_ptr<WriterState>& writer) {
    if (task.cancelled()) {
        writer->transport->close();
        return;
    }
    std::exception_ptr error = task.exception();
    if (!error)
        return;
    ExceptionContext context{"Unhandled exception in client_connected_cb", error, {}, {}};
    context.details["transport"] = writer->transport->describe();
    task.get_loop().call_exception_handler(context);
    writer->transport->close();
}

}  // namespace

StreamProtocol::StreamProtocol(EventLoop& loop, StreamReader reader, ClientConnected handler)
    : anchor_(loop.anchor()),
      reader_(std::move(reader)),
      handler_(std::move(handler)),
      closed_(loop.create_future<void>()) {
    closed_.set_label("StreamWriter.wait_closed");
}

StreamProtocol::~StreamProtocol() {
    // Nobody awaited wait_closed(): the connection's error is not worth a report.
    closed_.state()->mark_retrieved();
}

void StreamProtocol::connection_made(Transport& transport) {
    std::shared_ptr<Transport> shared = transport.shared_from_this();
    reader_.set_transport(shared);
    if (!handler_)
        return;
    auto writer = std::make_shared<WriterState>(shared, shared_from_this(), reader_);
    Task<void> task =
        anchor_->loop->create_task(run_client_handler(handler_, reader_, StreamWriter(writer)));
    task.state()->made_by = "start_server()";
    // The callback holds the task until it runs (or until the loop closes and drops it).
    task.state()->add_done_callback([task, writer] { on_handler_done(task, writer); },
                                    "start_server() closes the connection at the end of");
}

void StreamProtocol::data_received(std::string_view data) {
    reader_.feed_data(data);
}

bool StreamProtocol::eof_received() {
    reader_.feed_eof();
    return true;  // keep the connection open for writing (a half-close)
}

void StreamProtocol::connection_lost(std::exception_ptr error) {
    if (error)
        reader_.set_exception(error);
    else
        reader_.feed_eof();
    if (!closed_.done()) {
        if (error) {
            closed_.set_exception(error);
            closed_.state()->mark_retrieved();
        } else {
            closed_.set_result();
        }
    }
    // Flow control: wake the writers that wait in drain(), but only while paused.
    connection_lost_ = true;
    if (!paused_)
        return;
    for (Future<void>& waiter : drain_waiters_) {
        if (waiter.done())
            continue;
        if (error)
            waiter.set_exception(error);
        else
            waiter.set_result();
    }
}

void StreamProtocol::pause_writing() {
    paused_ = true;
    EventLoop* loop = anchor_->loop;
    if (loop != nullptr && loop->get_debug())
        loop->log(LogLevel::debug, describe() + " pauses writing");
}

void StreamProtocol::resume_writing() {
    paused_ = false;
    EventLoop* loop = anchor_->loop;
    if (loop != nullptr && loop->get_debug())
        loop->log(LogLevel::debug, describe() + " resumes writing");
    for (Future<void>& waiter : drain_waiters_) {
        if (!waiter.done())
            waiter.set_result();
    }
}

Coro<void> StreamProtocol::drain(std::shared_ptr<StreamProtocol> protocol) {
    if (protocol->connection_lost_)
        throw ConnectionResetError(ECONNRESET, "Connection lost");
    if (!protocol->paused_)
        co_return;
    Future<void> waiter = get_running_loop().create_future<void>();
    waiter.set_label("StreamWriter.drain");
    auto position = protocol->drain_waiters_.insert(protocol->drain_waiters_.end(), waiter);
    struct Remove {
        std::list<Future<void>>& waiters;
        std::list<Future<void>>::iterator position;
        ~Remove() { waiters.erase(position); }
    } remove{protocol->drain_waiters_, position};
    co_await waiter;
}

// ---- WriterState --------------------------------------------------------------------------------

WriterState::WriterState(std::shared_ptr<Transport> transport,
                         std::shared_ptr<StreamProtocol> protocol, StreamReader reader)
    : transport(std::move(transport)),
      protocol(std::move(protocol)),
      reader(std::move(reader)),
      anchor(this->transport ? get_running_loop().anchor() : nullptr) {}

WriterState::~WriterState() {
    // The last handle of a writer is gone: close an unclosed connection, as CPython's
    // StreamWriter.__del__ does.
    try {
        if (!transport || transport->is_closing())
            return;
        EventLoop* loop = anchor ? anchor->loop : nullptr;
        if (loop == nullptr || loop->is_closed()) {
            // CPython only warns here; C++ must let go of the connection, so close it now.
            transport->close();
            if (loop != nullptr)
                loop->warn("ResourceWarning", "loop is closed");
            else
                log_without_loop(LogLevel::warning, "ResourceWarning: loop is closed");
            return;
        }
        transport->close();
        loop->warn("ResourceWarning", "unclosed <StreamWriter transport=" + transport->describe() +
                                          " reader=" + reader.describe() + ">");
    } catch (...) {  // a destructor reports nothing more
    }
}

}  // namespace simrun::io::detail
