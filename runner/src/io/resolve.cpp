// Name resolution for the epoll network: getaddrinfo, in the default executor for names (as
// asyncio's loop.getaddrinfo), at once for numeric hosts (as asyncio's _ipaddr_info).
#include <netdb.h>

#include <algorithm>
#include <cerrno>

#include "simrun/core/exceptions.hpp"

#include "epoll_network.hpp"
#include "os_error_text.hpp"

namespace simrun::io::detail {
namespace {

struct AddrinfoList {
    addrinfo* first = nullptr;
    AddrinfoList() = default;
    ~AddrinfoList() {
        if (first != nullptr)
            ::freeaddrinfo(first);
    }
    AddrinfoList(const AddrinfoList&) = delete;
    AddrinfoList& operator=(const AddrinfoList&) = delete;
};

Coro<std::vector<SocketAddress>> resolve_on(std::shared_ptr<NetworkCore> core, std::string host,
                                            std::uint16_t port, bool passive) {
    EventLoop& loop = core->open_loop();
    if (auto numeric = lookup(host, port, passive, true))
        co_return std::move(*numeric);
    auto addresses = loop.run_in_executor(
        [host, port, passive] { return *lookup(host, port, passive, false); }, "getaddrinfo");
    co_return co_await addresses;
}

}  // namespace

std::optional<std::vector<SocketAddress>> lookup(const std::string& host, std::uint16_t port,
                                                 bool passive, bool numeric_only) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags =
        AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) | (numeric_only ? AI_NUMERICHOST : 0);
    const std::string service = std::to_string(port);
    AddrinfoList list;
    // No host: every interface when passive (0.0.0.0 and ::), the loopback addresses otherwise.
    const int status =
        ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &list.first);
    if (status != 0) {
        const int error = errno;  // before anything else can change it
        if (numeric_only && status == EAI_NONAME)
            return std::nullopt;  // a name: look it up in the executor
        if (status == EAI_SYSTEM)
            raise_os_error(error, "getaddrinfo");
        // Python's socket.gaierror: the code, and exactly getaddrinfo's text.
        std::rethrow_exception(os_error_with_text(::gai_strerror(status), status));
    }
    std::vector<SocketAddress> addresses;
    for (const addrinfo* entry = list.first; entry != nullptr; entry = entry->ai_next) {
        SocketAddress address = to_socket_address(entry->ai_addr, entry->ai_addrlen);
        if (std::find(addresses.begin(), addresses.end(), address) == addresses.end())
            addresses.push_back(std::move(address));
    }
    if (addresses.empty())  // asyncio's own message for this case
        std::rethrow_exception(os_error_with_text("getaddrinfo() returned empty list"));
    return addresses;
}

Coro<std::vector<SocketAddress>> EpollNetwork::resolve(std::string host, std::uint16_t port,
                                                       bool passive) {
    return resolve_on(core_, std::move(host), port, passive);
}

}  // namespace simrun::io::detail
