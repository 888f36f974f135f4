#pragma once
// Private to the library: the loop that runs on this thread is set by EventLoop::run_forever's
// scope (event_loop.cpp) and read by get_running_loop() (running_loop.cpp).

namespace simrun {
class EventLoop;
namespace detail {

/// Marks `loop` as the loop running on the calling thread (null: none).
void set_running_loop(EventLoop* loop) noexcept;

}  // namespace detail
}  // namespace simrun
