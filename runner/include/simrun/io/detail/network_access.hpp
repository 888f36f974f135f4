#pragma once
// Which network the stream functions (create_connection, create_server, open_connection,
// start_server) use: the running loop's, unless a ScopedNetworkOverride says otherwise. The
// override lets tests run the streams over an in-memory network on either loop.

#include "simrun/io/network.hpp"

namespace simrun::io::detail {

/// The network installed on this thread by the innermost ScopedNetworkOverride, else the
/// running loop's (get_running_loop().network()). Throws RuntimeError "no running event loop",
/// or the loop's RuntimeError when it has no network.
Network& current_network();

/// Makes current_network() return `network` on this thread while this object exists. Nests:
/// destroying it restores the previous override. Not copyable.
class ScopedNetworkOverride {
  public:
    explicit ScopedNetworkOverride(Network& network) noexcept;
    ~ScopedNetworkOverride();
    ScopedNetworkOverride(const ScopedNetworkOverride&) = delete;
    ScopedNetworkOverride& operator=(const ScopedNetworkOverride&) = delete;

  private:
    Network* previous_;
};

}  // namespace simrun::io::detail
