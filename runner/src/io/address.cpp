#include "simrun/io/address.hpp"

namespace simrun {

std::string SocketAddress::to_string() const {
    return "('" + host + "', " + std::to_string(port) + ")";
}

}  // namespace simrun
