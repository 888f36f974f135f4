#pragma once
// Helpers shared by the tests of the Runner's SIGINT rules (test_runner_sigint.cpp,
// test_runner_sigint_escalation.cpp, test_runner_sigint_close.cpp).

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "support.hpp"

namespace sigint_test {

/// What a main coroutine saw; owned by the test, so it outlives the run.
struct Seen {
    bool cancelled = false;
    simrun::Duration cancelled_at{-1};
    int cancelling_when_cancelled = -1;
    bool second_cancel = false;
    int cancelling_at_second_cancel = -1;
    simrun::Duration second_cancel_at{-1};
    bool cleanup_done = false;
    simrun::Duration cleanup_done_at{-1};
    bool after_busy = false;
    simrun::Duration after_busy_at{-1};
    int cancelling_after_busy = -1;
    std::optional<simrun::SignalDisposition> disposition_during_run;
    std::weak_ptr<simrun::detail::TaskBase> leftover;
};

inline simrun::Duration now() {
    return simrun::get_running_loop().time();
}

/// A tight loop of `busy` inside the task, then an await (where a pending cancellation lands).
inline simrun::Coro<int> main_busy(Seen* seen, simrun::Duration busy, simrun::Duration cleanup) {
    simrun::sim::busy(busy);
    seen->after_busy = true;
    seen->after_busy_at = now();
    seen->cancelling_after_busy = simrun::current_task().cancelling();
    bool cancelled = false;
    try {
        co_await simrun::sleep(std::chrono::seconds(1));
    } catch (const simrun::CancelledError&) {
        cancelled = true;
        seen->cancelled = true;
        seen->cancelled_at = now();
        seen->cancelling_when_cancelled = simrun::current_task().cancelling();
    }
    if (cancelled && cleanup > simrun::Duration::zero())
        co_await simrun::sleep(cleanup);
    if (cancelled)
        throw simrun::CancelledError();
    co_return 1;
}

/// Schedules SIGINTs at the given virtual times on every new loop; with `handler`, also
/// collects what reaches the loop's exception handler.
inline std::function<void(simrun::sim::SimLoop&)> sigints_at(
    std::vector<simrun::Duration> times, test_support::HandlerCapture* handler = nullptr) {
    return [times, handler](simrun::sim::SimLoop& loop) {
        if (handler != nullptr)
            handler->attach(loop);
        for (simrun::Duration t : times)
            loop.fake_signals().schedule_at(t, SIGINT);
    };
}

}  // namespace sigint_test
