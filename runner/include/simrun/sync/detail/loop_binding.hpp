#pragma once
// LoopBinding: the loop a synchronization primitive belongs to (asyncio's _LoopBoundMixin). A
// primitive is created without a loop; the first operation that must wait binds it to the
// running loop, and a later wait from another loop is refused. Operations that never wait
// neither bind nor check, as in asyncio.

#include <memory>
#include <string>

#include "simrun/core/future.hpp"

namespace simrun::detail {

class LoopBinding {
  public:
    /// The running loop, binding to it on first use. Throws RuntimeError "no running event loop"
    /// outside a loop, and RuntimeError "<what> is bound to a different event loop" when the
    /// running loop is not the bound one. `what` is the primitive's describe() text.
    EventLoop& running_loop(const std::string& what);
    /// True once an operation bound the primitive.
    bool bound() const noexcept { return anchor_ != nullptr; }

  private:
    // The anchor, not the loop's address: a new loop at the address of a destroyed one must
    // not pass for the bound one.
    std::shared_ptr<LoopAnchor> anchor_;
};

}  // namespace simrun::detail
