#include "simrun/io/server.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <exception>
#include <utility>

#include "simrun/core/event_loop.hpp"
#include "simrun/core/exceptions.hpp"
#include "simrun/core/sleep.hpp"
#include "simrun/io/detail/network_access.hpp"
#include "simrun/io/detail/socket_transport.hpp"

#include "os_error_text.hpp"

namespace simrun {

namespace {

/// asyncio's ACCEPT_RETRY_DELAY: how long a socket is not watched after EMFILE and friends.
constexpr Duration accept_retry_delay = std::chrono::seconds(1);

bool out_of_resources(int error) {
    return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

bool ends_accept_round(int error) {
    return error == EAGAIN || error == EWOULDBLOCK || error == EINTR || error == ECONNABORTED;
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

/// Python's repr of a tuple or list of addresses.
std::string address_list(const std::vector<SocketAddress>& addresses, bool tuple) {
    std::string text = tuple ? "(" : "[";
    for (std::size_t i = 0; i < addresses.size(); ++i)
        text += (i == 0 ? "" : ", ") + addresses[i].to_string();
    if (tuple && addresses.size() == 1)
        text += ",";
    return text + (tuple ? ")" : "]");
}

}  // namespace

Server::Server(Key, EventLoop& loop, std::vector<std::unique_ptr<io::ListenSocket>> sockets,
               ProtocolFactory factory, int backlog)
    : anchor_(loop.anchor()), factory_(std::move(factory)), backlog_(std::max(backlog, 1)) {
    for (auto& socket : sockets) {
        addresses_.push_back(socket->local_address());
        listeners_.push_back(Listener{std::move(socket), false, {}});
    }
}

Server::~Server() {
    // Not serving (a serving server is held by its watches) or already closed.
    close_listeners();
}

EventLoop& Server::get_loop() const {
    if (anchor_->loop == nullptr)
        throw RuntimeError("the event loop of " + describe() + " was destroyed");
    return *anchor_->loop;
}

std::string Server::describe() const {
    return "<Server sockets=" + address_list(addresses(), true) + ">";
}

std::vector<SocketAddress> Server::addresses() const {
    return closed_ ? std::vector<SocketAddress>{} : addresses_;
}

// ---- serving ----------------------------------------------------------------------------------

void Server::start_serving_now() {
    if (serving_)
        return;
    if (closed_)
        throw RuntimeError("server " + describe() + " is closed");
    serving_ = true;
    for (std::size_t i = 0; i < listeners_.size(); ++i) {
        listeners_[i].socket->listen(backlog_);
        watch(i, true);
    }
}

Coro<void> Server::start_serving() {
    return [](std::shared_ptr<Server> server) -> Coro<void> {
        server->start_serving_now();
        // Skip one loop iteration so that the watches are in place (asyncio's sleep(0)).
        co_await sleep(Duration::zero());
    }(shared_from_this());
}

void Server::watch(std::size_t index, bool on) {
    Listener& listener = listeners_[index];
    if (listener.watching == on || !listener.socket)
        return;
    listener.watching = on;
    if (on) {
        listener.socket->watch_readable([me = shared_from_this(), index] {
            auto keep = me;  // the callback may be dropped while it runs
            keep->on_acceptable(index);
        });
    } else {
        auto keep = shared_from_this();
        listener.socket->watch_readable({});
    }
}

void Server::on_acceptable(std::size_t index) {
    // As asyncio: up to `backlog` connections per readiness.
    for (int round = 0; round < backlog_ && !closed_; ++round) {
        std::unique_ptr<io::StreamSocket> socket;
        try {
            socket = listeners_[index].socket->accept();
        } catch (const OSError& error) {
            if (ends_accept_round(error.error_number()))
                return;
            if (out_of_resources(error.error_number())) {
                pause_accepting(index, std::current_exception());
                return;
            }
            throw;  // the loop reports it; the socket stays watched
        }
        if (!socket)
            return;
        accept_connection(std::move(socket));
    }
}

void Server::pause_accepting(std::size_t index, std::exception_ptr error) {
    // The later CPython fix (gh-151615): report once, stop watching, retry in a second; 3.13.0
    // went on calling accept() and reported (and rescheduled) up to `backlog` times.
    EventLoop& loop = get_loop();
    ExceptionContext context{"socket.accept() out of system resource", std::move(error), {}, {}};
    context.details["socket"] = "<ListenSocket laddr=" + addresses_[index].to_string() + ">";
    loop.call_exception_handler(context);
    if (closed_)
        return;
    watch(index, false);
    listeners_[index].retry = loop.call_later(accept_retry_delay, [weak = weak_from_this(), index] {
        auto me = weak.lock();
        if (!me)
            return;
        me->listeners_[index].retry = {};  // it ran: nothing to cancel any more
        if (me->serving_)
            me->watch(index, true);
    });
    listeners_[index].retry.state()->describe_as(
        "Server: accept again after running out of resources");
}

void Server::accept_connection(std::unique_ptr<io::StreamSocket> socket) {
    EventLoop& loop = get_loop();
    std::shared_ptr<Protocol> protocol;
    try {
        protocol = factory_();
        if (!protocol)
            throw ValueError("the protocol factory returned null");
    } catch (...) {
        std::exception_ptr error = std::current_exception();
        if (escapes_loop(error))
            throw;
        socket->close();
        // As asyncio: swallowed, and reported only in debug mode.
        if (loop.get_debug()) {
            loop.call_exception_handler(
                {"Error on transport creation for incoming connection", error, {}, {}});
        }
        return;
    }
    auto transport = io::detail::SocketTransport::create(loop, std::move(socket),
                                                         std::move(protocol), shared_from_this());
    transport->start(std::nullopt);
}

Coro<void> Server::serve_forever() {
    return [](std::shared_ptr<Server> server) -> Coro<void> {
        if (server->serving_forever_) {
            throw RuntimeError("server " + server->describe() +
                               " is already being awaited on serve_forever()");
        }
        if (server->closed_)
            throw RuntimeError("server " + server->describe() + " is closed");
        server->start_serving_now();
        Future<void> forever = server->get_loop().create_future<void>();
        forever.set_label("Server.serve_forever");
        server->serving_forever_ = forever;

        std::exception_ptr error;
        try {
            co_await forever;  // only ever cancelled: by the caller's cancel() or by close()
        } catch (...) {
            error = std::current_exception();
        }
        std::exception_ptr wait_error;
        if (is_cancellation(error)) {
            // As asyncio: close, and wait until every client has gone, before re-raising.
            server->close();
            try {
                co_await server->wait_closed();
            } catch (...) {
                wait_error = std::current_exception();
            }
        }
        if (server->serving_forever_.state() == forever.state())
            server->serving_forever_ = {};
        if (wait_error)
            std::rethrow_exception(wait_error);
        if (error)
            std::rethrow_exception(error);
    }(shared_from_this());
}

// ---- closing ----------------------------------------------------------------------------------

void Server::close_listeners() noexcept {
    const bool loop_alive = anchor_->loop != nullptr;
    for (Listener& listener : listeners_) {
        if (loop_alive)
            listener.retry.cancel();
        listener.retry = {};
        listener.watching = false;
        if (listener.socket)
            listener.socket->close();  // stops its watch
    }
}

void Server::close() {
    if (closed_)
        return;
    auto keep = shared_from_this();  // the watches hold the server
    closed_ = true;
    close_listeners();
    serving_ = false;
    if (serving_forever_ && !serving_forever_.done())
        serving_forever_.cancel();
    serving_forever_ = {};
    if (clients_.empty())
        wake_waiters();
}

void Server::wake_waiters() {
    if (waiters_released_)
        return;
    waiters_released_ = true;
    std::vector<Future<void>> waiters = std::move(waiters_);
    for (Future<void>& waiter : waiters) {
        if (!waiter.done())
            waiter.set_result();
    }
}

Coro<void> Server::wait_closed() {
    return [](std::shared_ptr<Server> server) -> Coro<void> {
        if (server->waiters_released_)
            co_return;
        Future<void> waiter = server->get_loop().create_future<void>();
        waiter.set_label("Server.wait_closed");
        server->waiters_.push_back(waiter);
        co_await waiter;
    }(shared_from_this());
}

std::uint64_t Server::attach_client(std::weak_ptr<Transport> transport) {
    std::uint64_t id = next_client_id_++;
    clients_.emplace(id, std::move(transport));
    return id;
}

void Server::detach_client(std::uint64_t id) {
    clients_.erase(id);
    if (clients_.empty() && closed_)
        wake_waiters();
}

std::vector<std::shared_ptr<Transport>> Server::clients() const {
    std::vector<std::shared_ptr<Transport>> snapshot;
    for (const auto& [id, weak] : clients_) {
        if (auto transport = weak.lock())
            snapshot.push_back(std::move(transport));
    }
    return snapshot;
}

void Server::close_clients() {
    for (const auto& transport : clients())
        transport->close();
}

void Server::abort_clients() {
    for (const auto& transport : clients())
        transport->abort();
}

// ---- create_server ----------------------------------------------------------------------------

Coro<std::shared_ptr<Server>> create_server(ProtocolFactory factory, std::string host,
                                            std::uint16_t port, ServerOptions options) {
    return create_server(std::move(factory), std::vector<std::string>{std::move(host)}, port,
                         options);
}

Coro<std::shared_ptr<Server>> create_server(ProtocolFactory factory, std::vector<std::string> hosts,
                                            std::uint16_t port, ServerOptions options) {
    if (!factory)
        throw ValueError("create_server() needs a protocol factory");
    EventLoop& loop = get_running_loop();
    io::Network& network = io::detail::current_network();

    std::vector<SocketAddress> addresses;
    for (const std::string& host : hosts) {
        std::vector<SocketAddress> found = co_await network.resolve(host, port, true);
        if (found.empty()) {
            std::rethrow_exception(
                io::detail::os_error_with_text("getaddrinfo('" + host + "') returned empty list"));
        }
        for (SocketAddress& address : found) {
            if (std::find(addresses.begin(), addresses.end(), address) == addresses.end())
                addresses.push_back(std::move(address));
        }
    }

    const io::BindOptions bind_options{options.reuse_address, options.reuse_port,
                                       options.keep_alive};
    std::vector<std::unique_ptr<io::ListenSocket>> sockets;
    std::exception_ptr failure;
    for (const SocketAddress& address : addresses) {
        try {
            sockets.push_back(network.bind(address, bind_options));
        } catch (const OSError& error) {
            std::string text = "error while attempting to bind on address " + address.to_string() +
                               ": " + lower(error.what());
            if (error.error_number() == EADDRNOTAVAIL) {
                // Assume the address family is not enabled (asyncio's bpo-30945).
                if (loop.get_debug())
                    loop.log(LogLevel::warning, text);
                continue;
            }
            failure = make_os_error(error.error_number(), text);
            break;
        }
    }
    if (!failure && sockets.empty()) {
        failure = io::detail::os_error_with_text("could not bind on any address out of " +
                                                 address_list(addresses, false));
    }
    if (failure) {
        for (auto& socket : sockets)
            socket->close();
        std::rethrow_exception(failure);
    }

    auto server = std::make_shared<Server>(Server::Key{}, loop, std::move(sockets),
                                           std::move(factory), options.backlog);
    if (options.start_serving)
        co_await server->start_serving();
    if (loop.get_debug())
        loop.log(LogLevel::info, server->describe() + " is serving");
    co_return server;
}

}  // namespace simrun
