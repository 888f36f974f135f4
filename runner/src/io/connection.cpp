#include "simrun/io/connection.hpp"

#include <exception>
#include <vector>

#include "simrun/core/event_loop.hpp"
#include "simrun/core/exceptions.hpp"
#include "simrun/io/detail/network_access.hpp"
#include "simrun/io/detail/socket_transport.hpp"

#include "os_error_text.hpp"

namespace simrun {

namespace {

std::string error_text(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return describe_exception(error);
    }
}

// asyncio's choice of what to raise when every address failed.
[[noreturn]] void raise_connect_errors(const std::vector<std::exception_ptr>& errors,
                                       bool all_errors) {
    if (all_errors)
        throw ExceptionGroup("create_connection failed", errors);
    if (errors.size() == 1)
        std::rethrow_exception(errors.front());
    const std::string model = error_text(errors.front());
    bool same = true;
    for (const std::exception_ptr& error : errors)
        same = same && error_text(error) == model;
    if (same)
        std::rethrow_exception(errors.front());
    std::string text = "Multiple exceptions: ";
    for (std::size_t i = 0; i < errors.size(); ++i)
        text += (i == 0 ? "" : ", ") + error_text(errors[i]);
    std::rethrow_exception(io::detail::os_error_with_text(text));
}

}  // namespace

Coro<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>> create_connection(
    ProtocolFactory factory, std::string host, std::uint16_t port, ConnectionOptions options) {
    if (!factory)
        throw ValueError("create_connection() needs a protocol factory");
    EventLoop& loop = get_running_loop();
    io::Network& network = io::detail::current_network();

    std::vector<SocketAddress> addresses = co_await network.resolve(host, port, false);
    if (addresses.empty())
        std::rethrow_exception(io::detail::os_error_with_text("getaddrinfo() returned empty list"));

    std::unique_ptr<io::StreamSocket> socket;
    std::vector<std::exception_ptr> errors;
    for (const SocketAddress& address : addresses) {
        try {
            socket = co_await network.connect(address, io::ConnectOptions{options.local_address});
            break;
        } catch (const OSError&) {
            errors.push_back(std::current_exception());
        }
    }
    if (!socket)
        raise_connect_errors(errors, options.all_errors);

    std::shared_ptr<Protocol> protocol;
    try {
        protocol = factory();
        if (!protocol)
            throw ValueError("the protocol factory returned null");
    } catch (...) {
        socket->close();
        throw;
    }
    Future<void> waiter = loop.create_future<void>();
    waiter.set_label("connection_made");
    auto transport = io::detail::SocketTransport::create(loop, std::move(socket), protocol, {});
    transport->start(waiter);
    try {
        co_await waiter;  // connection_made() has run
    } catch (...) {
        transport->close();
        throw;
    }
    co_return std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>{transport, protocol};
}

}  // namespace simrun
