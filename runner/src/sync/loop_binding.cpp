#include "simrun/sync/detail/loop_binding.hpp"

#include "simrun/core/event_loop.hpp"

namespace simrun::detail {

EventLoop& LoopBinding::running_loop(const std::string& what) {
    EventLoop& loop = get_running_loop();
    if (!anchor_)
        anchor_ = loop.anchor();
    else if (anchor_ != loop.anchor())
        throw RuntimeError(what + " is bound to a different event loop");
    return loop;
}

}  // namespace simrun::detail
