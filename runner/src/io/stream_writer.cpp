#include "simrun/io/stream_writer.hpp"

#include <utility>

#include "simrun/core/exceptions.hpp"
#include "simrun/core/sleep.hpp"
#include "simrun/io/detail/stream_protocol.hpp"

namespace simrun {

namespace {

Coro<void> drain_writer(std::shared_ptr<io::detail::WriterState> state) {
    if (std::exception_ptr error = state->reader.exception())
        std::rethrow_exception(error);
    if (state->transport->is_closing()) {
        // Let connection_lost() run first, so that a closed connection reports itself
        // instead of returning (code that writes and drains in a loop would never see it).
        co_await sleep(Duration::zero());
    }
    co_await io::detail::StreamProtocol::drain(state->protocol);
}

Coro<void> wait_writer_closed(std::shared_ptr<io::detail::WriterState> state) {
    Future<void> closed = state->protocol->closed();
    co_await closed;
}

}  // namespace

StreamWriter::StreamWriter(std::shared_ptr<io::detail::WriterState> state)
    : state_(std::move(state)) {}

void StreamWriter::write(std::string_view data) {
    state_->transport->write(data);
}

void StreamWriter::writelines(const std::vector<std::string>& chunks) {
    state_->transport->writelines(chunks);
}

void StreamWriter::write_eof() {
    state_->transport->write_eof();
}

bool StreamWriter::can_write_eof() const {
    return state_->transport->can_write_eof();
}

void StreamWriter::close() {
    state_->transport->close();
}

bool StreamWriter::is_closing() const {
    return state_->transport->is_closing();
}

Coro<void> StreamWriter::wait_closed() {
    return wait_writer_closed(state_);
}

Coro<void> StreamWriter::drain() {
    return drain_writer(state_);
}

std::optional<SocketAddress> StreamWriter::peer_address() const {
    return state_->transport->peer_address();
}

std::optional<SocketAddress> StreamWriter::local_address() const {
    return state_->transport->local_address();
}

Transport& StreamWriter::transport() const {
    return *state_->transport;
}

std::string StreamWriter::describe() const {
    return "<StreamWriter transport=" + state_->transport->describe() +
           " reader=" + state_->reader.describe() + ">";
}

}  // namespace simrun
