#include "simrun/core/coro.hpp"

#include <string>

#include "simrun/core/event_loop.hpp"

namespace simrun::detail {
namespace {
std::atomic<std::int64_t> frames{0};
}

std::int64_t live_coroutine_frames() noexcept {
    return frames.load(std::memory_order_relaxed);
}

void count_frame(std::int64_t delta) noexcept {
    frames.fetch_add(delta, std::memory_order_relaxed);
}

void report_never_awaited(const SourceLocation& origin) noexcept {
    try {
        std::string message = std::string("coroutine '") + origin.function +
                              "' was never awaited (defined in " + std::string(origin.file_name()) +
                              ")";
        if (EventLoop* loop = running_loop_or_null()) {
            loop->warn("RuntimeWarning", message);
        } else {
            log_without_loop(LogLevel::warning, "RuntimeWarning: " + message);
        }
    } catch (...) {  // called from destructors: never throw
    }
}

void throw_already_started(bool finished) {
    if (finished)
        throw RuntimeError("cannot reuse already awaited coroutine");
    throw RuntimeError("coroutine is being awaited already");
}

void throw_empty_coro() {
    throw RuntimeError(
        "cannot await an empty Coro (it was moved from, e.g. into create_task(), or "
        "default-constructed)");
}

}  // namespace simrun::detail
