#include "simrun/io/streams.hpp"

#include <utility>

#include "simrun/core/event_loop.hpp"
#include "simrun/core/exceptions.hpp"
#include "simrun/io/detail/stream_protocol.hpp"

namespace simrun {

Coro<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, std::uint16_t port,
                                                            OpenOptions options) {
    EventLoop& loop = get_running_loop();
    StreamReader reader(options.limit);
    auto protocol = std::make_shared<io::detail::StreamProtocol>(loop, reader);
    ProtocolFactory factory = [protocol] { return protocol; };
    auto connection =
        co_await create_connection(std::move(factory), std::move(host), port,
                                   ConnectionOptions{options.local_address, options.all_errors});
    StreamWriter writer(std::make_shared<io::detail::WriterState>(std::move(connection.first),
                                                                  std::move(protocol), reader));
    co_return std::pair<StreamReader, StreamWriter>{std::move(reader), std::move(writer)};
}

Coro<std::shared_ptr<Server>> start_server(ClientConnected client_connected, std::string host,
                                           std::uint16_t port, ServerOptions options) {
    return start_server(std::move(client_connected), std::vector<std::string>{std::move(host)},
                        port, options);
}

Coro<std::shared_ptr<Server>> start_server(ClientConnected client_connected,
                                           std::vector<std::string> hosts, std::uint16_t port,
                                           ServerOptions options) {
    if (!client_connected)
        throw ValueError("start_server() needs a client_connected handler");
    (void)StreamReader(options.limit);  // ValueError "Limit cannot be <= 0" now, not per client
    ProtocolFactory factory = [limit = options.limit,
                               handler =
                                   std::move(client_connected)]() -> std::shared_ptr<Protocol> {
        return std::make_shared<io::detail::StreamProtocol>(get_running_loop(), StreamReader(limit),
                                                            handler);
    };
    co_return co_await create_server(std::move(factory), std::move(hosts), port, options);
}

}  // namespace simrun
