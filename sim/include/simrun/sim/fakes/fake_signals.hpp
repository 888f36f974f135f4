#pragma once
// FakeSignals: the simulator's process-level signals. Tests inject signals now, at a virtual
// time, or during the k-th callback; set the "current disposition" and the main-thread flag the
// Runner checks; and read what happened (arrivals()), or watch it happen (on_arrival()).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "simrun/core/clock.hpp"
#include "simrun/core/signals.hpp"

namespace simrun::sim {

class SimLoop;

/// "SIGINT", "SIGTERM", or "signal 12".
std::string signal_name(int signum);

/// Called as a signal arrives: its number and the virtual time.
using ArrivalObserver = std::function<void(int signum, Duration at)>;

/// Simulated signals for one SimLoop (see the file comment).
class FakeSignals final : public SignalPort {
  public:
    explicit FakeSignals(SimLoop& loop) : loop_(loop) {}

    // ---- injection ----
    /// The signal arrives now (as `kill(getpid(), signum)` from inside a callback).
    void raise(int signum);
    /// The signal arrives at virtual time `when` (during a wait, or inside a busy callback).
    void schedule_at(Duration when, int signum);
    /// The signal arrives while the loop runs its `step`-th callback (1-based).
    void schedule_at_step(std::uint64_t step, int signum);
    /// Pretends that some other code set the disposition (e.g. a user handler, or SIG_IGN).
    void set_disposition(int signum, SignalDisposition disposition);
    /// Whether the loop's thread counts as the main thread (default true).
    void set_main_thread(bool main_thread) noexcept { main_thread_ = main_thread; }
    /// Makes install() throw ValueError, as in an embedded interpreter.
    void set_install_fails(bool fails) noexcept { install_fails_ = fails; }

    // ---- SignalPort ----
    bool on_main_thread() const override { return main_thread_; }
    SignalDisposition disposition(int signum) const override;
    std::uint64_t install(int signum, std::function<void()> handler,
                          SignalHandlerOptions options = {}) override;
    bool is_installed(int signum, std::uint64_t id) const override;
    void restore_default(int signum) override;
    void dispatch_pending() override;

    // ---- for the simulator ----
    /// The earliest time-scheduled arrival, if any.
    std::optional<Duration> next_arrival() const;
    /// Makes every time-scheduled signal due at or before `now` arrive.
    void arrive_due(Duration now, bool inside_callback);
    /// Called as the loop starts its `step`-th callback.
    void on_step(std::uint64_t step);
    /// If a repeated signal arrived while the loop was stuck in a callback: when the process
    /// ends unless the loop reaches its next step first.
    std::optional<Duration> escalation_deadline() const noexcept { return escalation_deadline_; }
    /// Signals that arrived, in order (virtual time, number).
    const std::vector<std::pair<Duration, int>>& arrivals() const noexcept { return arrivals_; }
    /// Calls `observer` each time a signal arrives (raise(), schedule_at(), schedule_at_step()),
    /// after it is added to arrivals() and the trace and before its disposition acts (so also for
    /// an ignored signal, and for one whose default action then ends the simulated process).
    /// It runs synchronously where the signal arrives: on the loop's thread, inside the loop's
    /// wait, a busy() callback or the callback that raised it, so it is as deterministic as the
    /// run. One observer at a time; an empty function removes it. An exception it throws leaves
    /// through whatever made the signal arrive (the loop's run call, or raise()).
    void on_arrival(ArrivalObserver observer) { arrival_observer_ = std::move(observer); }
    /// True if nothing is scheduled any more.
    bool idle() const noexcept { return by_time_.empty() && by_step_.empty(); }

  private:
    struct Slot {
        SignalDisposition disposition = SignalDisposition::default_action;
        std::function<void()> handler;
        std::uint64_t id = 0;
        SignalHandlerOptions options;
        int arrivals_since_install = 0;
    };
    void arrive(int signum, bool inside_callback);

    SimLoop& loop_;
    std::map<int, Slot> slots_;
    std::multimap<Duration, int> by_time_;
    std::multimap<std::uint64_t, int> by_step_;
    std::vector<int> pending_;
    std::vector<std::pair<Duration, int>> arrivals_;
    ArrivalObserver arrival_observer_;
    std::optional<Duration> escalation_deadline_;
    std::optional<int> escalation_signal_;
    std::uint64_t next_id_ = 1;
    bool main_thread_ = true;
    bool install_fails_ = false;

    friend class SimLoop;
};

}  // namespace simrun::sim
