// SimStreamSocket: one end of a simulated connection.

#include <algorithm>
#include <cerrno>

#include "core.hpp"

namespace simrun::sim::net_detail {

SimStreamSocket::SimStreamSocket(std::shared_ptr<NetCore> core, std::shared_ptr<Link> link,
                                 int side)
    : core_(std::move(core)), link_(std::move(link)), side_(side) {
    core_->add(*this);
    link_->end[side_] = this;
}

SimStreamSocket::~SimStreamSocket() {
    close();
    core_->remove(*this);
    link_->end[side_] = nullptr;
}

void SimStreamSocket::check_usable(const char* operation) const {
    if (closed_ || core_->closed)  // as Python's operations on a closed socket
        raise_os_error(EBADF, operation);
}

std::size_t SimStreamSocket::send(std::string_view data) {
    check_usable("send");
    if (link_->reset[side_])
        raise_os_error(ECONNRESET, "send");
    if (write_shut_ || link_->severed || link_->to[side_].peer_closed)
        raise_os_error(EPIPE, "send");
    Direction& out = link_->to[1 - side_];
    const std::size_t window = core_->options.window;
    const std::size_t room = window > out.used() ? window - out.used() : 0;
    const std::size_t taken = std::min(room, data.size());
    if (taken == 0)
        return 0;
    Segment segment;
    segment.data.assign(data.substr(0, taken));
    core_->transmit(link_, side_, std::move(segment));
    return taken;
}

std::optional<std::string> SimStreamSocket::receive(std::size_t max_bytes) {
    if (max_bytes == 0)  // 0 bytes would read as the end of the stream
        throw ValueError("receive() needs max_bytes > 0");
    check_usable("recv");
    if (link_->reset[side_])
        raise_os_error(ECONNRESET, "recv");
    Direction& in = link_->to[side_];
    if (!in.buffer.empty()) {
        const std::size_t count = std::min(max_bytes, in.buffer.size());
        std::string data = in.buffer.substr(0, count);
        in.buffer.erase(0, count);
        core_->mark_link(*link_);  // the peer may be able to send again
        return data;
    }
    if (in.eof)
        return std::string();
    return std::nullopt;
}

void SimStreamSocket::shutdown_write() {
    check_usable("shutdown");
    if (write_shut_ || link_->reset[side_] || link_->to[1 - side_].fin_sent)
        return;
    write_shut_ = true;
    link_->to[1 - side_].fin_sent = true;
    Segment fin;
    fin.kind = Segment::Kind::fin;
    core_->transmit(link_, side_, std::move(fin));
}

void SimStreamSocket::close() noexcept {
    finish(false);
}

void SimStreamSocket::abort() noexcept {
    finish(true);
}

void SimStreamSocket::finish(bool reset) noexcept {
    if (closed_)
        return;
    closed_ = true;
    link_->closed[side_] = true;
    link_->to[side_].buffer.clear();  // unread data is gone
    if (!core_->closed && core_->loop != nullptr && !core_->loop->is_closed()) {
        try {
            if (reset) {
                if (!link_->reset[side_] && !link_->reset[1 - side_])
                    core_->reset_link(*link_, "aborted");
            } else if (!link_->reset[side_] && !link_->to[1 - side_].fin_closes_sent) {
                link_->to[1 - side_].fin_sent = true;
                link_->to[1 - side_].fin_closes_sent = true;
                Segment fin;
                fin.kind = Segment::Kind::fin;
                fin.closes = true;
                core_->transmit(link_, side_, std::move(fin));
            }
            core_->mark_link(*link_);
        } catch (...) {  // only a closed loop can refuse a timer: nothing left to deliver to
        }
    }
    core_->active.erase(watch_id);
    core_->forget_if_done(*link_);
    // Last: a dropped callback may hold the transport that owns this socket.
    auto dropped_read = std::move(on_readable);
    auto dropped_write = std::move(on_writable);
    on_readable = nullptr;
    on_writable = nullptr;
}

void SimStreamSocket::watch_readable(std::function<void()> callback) {
    auto old = std::exchange(on_readable, std::move(callback));
    read_context = on_readable ? std::optional<Context>(copy_context()) : std::nullopt;
    core_->mark(this);
}

void SimStreamSocket::watch_writable(std::function<void()> callback) {
    auto old = std::exchange(on_writable, std::move(callback));
    write_context = on_writable ? std::optional<Context>(copy_context()) : std::nullopt;
    core_->mark(this);
}

std::optional<SocketAddress> SimStreamSocket::peer_address() const {
    if (closed_)
        return std::nullopt;
    return link_->address[1 - side_];
}

std::optional<SocketAddress> SimStreamSocket::local_address() const {
    return link_->address[side_];
}

bool SimStreamSocket::readable() const {
    if (closed_ || core_->closed)
        return false;
    const Direction& in = link_->to[side_];
    return link_->reset[side_] || !in.buffer.empty() || in.eof;
}

bool SimStreamSocket::writable() const {
    if (closed_ || core_->closed)
        return false;
    if (link_->reset[side_] || link_->severed || link_->to[side_].peer_closed)
        return true;  // an error to report
    return link_->to[1 - side_].used() < core_->options.window;
}

void SimStreamSocket::kill() noexcept {
    closed_ = true;
}

}  // namespace simrun::sim::net_detail
