#pragma once
// The glue between a transport and a stream (asyncio's StreamReaderProtocol with its
// FlowControlMixin), and the shared state behind StreamWriter handles. Internal.

#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "simrun/core/coro.hpp"
#include "simrun/core/future.hpp"
#include "simrun/io/stream_reader.hpp"
#include "simrun/io/stream_writer.hpp"
#include "simrun/io/streams.hpp"
#include "simrun/io/transport.hpp"

namespace simrun {

class EventLoop;

namespace io::detail {

/// Feeds a StreamReader from a transport and does the writer's flow control. With a
/// ClientConnected handler (server side), connection_made() makes the StreamWriter and runs
/// the handler as a task.
class StreamProtocol final : public Protocol, public std::enable_shared_from_this<StreamProtocol> {
  public:
    StreamProtocol(EventLoop& loop, StreamReader reader, ClientConnected handler = {});
    ~StreamProtocol() override;

    void connection_made(Transport& transport) override;
    void data_received(std::string_view data) override;
    bool eof_received() override;
    void connection_lost(std::exception_ptr error) override;
    void pause_writing() override;
    void resume_writing() override;
    std::string describe() const override { return "<StreamReaderProtocol>"; }

    /// Done once the connection is lost: None, or the error that ended it.
    const Future<void>& closed() const noexcept { return closed_; }
    /// asyncio's _drain_helper: throws ConnectionResetError "Connection lost" once lost;
    /// waits while writing is paused.
    static Coro<void> drain(std::shared_ptr<StreamProtocol> protocol);

  private:
    std::shared_ptr<simrun::detail::LoopAnchor> anchor_;
    StreamReader reader_;
    ClientConnected handler_;
    Future<void> closed_;
    std::list<Future<void>> drain_waiters_;
    bool paused_ = false;
    bool connection_lost_ = false;
};

/// What every copy of one StreamWriter shares. Its destruction closes a connection that is
/// still open (StreamWriter's "closing on last use").
struct WriterState {
    WriterState(std::shared_ptr<Transport> transport, std::shared_ptr<StreamProtocol> protocol,
                StreamReader reader);
    ~WriterState();
    WriterState(const WriterState&) = delete;
    WriterState& operator=(const WriterState&) = delete;

    std::shared_ptr<Transport> transport;
    std::shared_ptr<StreamProtocol> protocol;
    StreamReader reader;
    std::shared_ptr<simrun::detail::LoopAnchor> anchor;
};

}  // namespace io::detail
}  // namespace simrun
