#include "simrun/io/detail/network_access.hpp"

#include "simrun/core/event_loop.hpp"

namespace simrun::io::detail {

namespace {
thread_local Network* override_network = nullptr;
}

Network& current_network() {
    if (override_network != nullptr)
        return *override_network;
    return get_running_loop().network();
}

ScopedNetworkOverride::ScopedNetworkOverride(Network& network) noexcept
    : previous_(override_network) {
    override_network = &network;
}

ScopedNetworkOverride::~ScopedNetworkOverride() {
    override_network = previous_;
}

}  // namespace simrun::io::detail
