// SimListenSocket: a bound, maybe listening, simulated socket.

#include <cerrno>

#include "core.hpp"

namespace simrun::sim::net_detail {

SimListenSocket::SimListenSocket(std::shared_ptr<NetCore> core, std::string host,
                                 SocketAddress address)
    : core_(std::move(core)), host_(std::move(host)), address_(std::move(address)) {
    core_->add(*this);
}

SimListenSocket::~SimListenSocket() {
    close();
    core_->remove(*this);
}

void SimListenSocket::listen(int backlog) {
    if (closed_ || core_->closed)
        raise_os_error(EBADF, "listen");
    listening_ = true;
    backlog_ = backlog < 1 ? 1 : backlog;  // as Linux: a backlog of 0 still queues one
    core_->note("listen " + host_ + " " + address_.to_string());
    core_->changed();
    core_->mark(this);
}

std::unique_ptr<io::StreamSocket> SimListenSocket::accept() {
    if (closed_ || core_->closed)
        raise_os_error(EBADF, "accept");
    if (queue_.empty())
        return nullptr;
    std::unique_ptr<SimStreamSocket> socket = std::move(queue_.front());
    queue_.pop_front();
    core_->changed();  // room in the backlog: a waiting connect may go on
    return socket;
}

void SimListenSocket::watch_readable(std::function<void()> callback) {
    auto old = std::exchange(on_readable, std::move(callback));
    read_context = on_readable ? std::optional<Context>(copy_context()) : std::nullopt;
    core_->mark(this);
}

void SimListenSocket::close() noexcept {
    if (closed_)
        return;
    closed_ = true;
    listening_ = false;
    auto found = core_->listeners.find({host_, address_.port});
    if (found != core_->listeners.end() && found->second == this)
        core_->listeners.erase(found);
    if (!core_->closed)
        core_->note("unbind " + host_ + " " + address_.to_string());
    for (auto& socket : queue_)
        socket->abort();  // connections never accepted are reset
    queue_.clear();
    core_->active.erase(watch_id);
    if (!core_->closed)
        core_->changed();
    auto dropped = std::move(on_readable);
    on_readable = nullptr;
}

bool SimListenSocket::readable() const {
    return listening() && !core_->closed && !queue_.empty();
}

bool SimListenSocket::accepting() const {
    return listening() && !core_->closed && queue_.size() < static_cast<std::size_t>(backlog_);
}

void SimListenSocket::enqueue(std::unique_ptr<SimStreamSocket> socket) {
    queue_.push_back(std::move(socket));
    core_->mark(this);
}

}  // namespace simrun::sim::net_detail
