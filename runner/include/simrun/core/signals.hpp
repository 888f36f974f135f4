#pragma once
// The process-level signal interface a loop exposes (loop.signals()). The Runner installs its
// SIGINT handler through it, so the same Runner code runs against real POSIX signals and against
// the simulator's FakeSignals.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "simrun/core/clock.hpp"

namespace simrun {

/// What currently happens when a signal arrives.
enum class SignalDisposition {
    default_action,  ///< the system default (SIGINT: the process ends)
    ignored,         ///< SIG_IGN
    handler,         ///< some handler is installed (ours or the user's)
};

/// How an installed handler treats repeated signals while the loop is stuck in a callback.
struct SignalHandlerOptions {
    /// If set: when this signal arrives for the second time (or later) since installation while
    /// the loop is inside a callback, and the loop does not reach its next step within this
    /// grace period, the default disposition is restored and the signal raised again, so the
    /// process ends as by the signal ("the second Ctrl-C gets you out").
    std::optional<Duration> escalate_after{};
    /// Arrivals that count as if they had come since installation, for the "second time" rule
    /// of escalate_after: with 1, the first arrival inside a stuck callback already starts the
    /// grace period. The Runner passes the Ctrl-Cs of an interrupted run() to the handler it
    /// installs for close(), so the user's second Ctrl-C, not a third, gets a stuck shutdown out.
    std::uint32_t earlier_arrivals = 0;
};

/// Process-level signal handling, as seen from one loop.
class SignalPort {
  public:
    virtual ~SignalPort() = default;
    /// True if the calling thread is the process's main thread (only it installs handlers).
    virtual bool on_main_thread() const = 0;
    /// The current disposition of `signum`.
    virtual SignalDisposition disposition(int signum) const = 0;
    /// Installs `handler` for `signum`. The handler runs on the loop thread at the loop's next
    /// step after the signal arrived (never inside a signal context, never on another thread);
    /// an exception it throws (KeyboardInterrupt) propagates out of the loop. Returns an id for
    /// is_installed(). Throws ValueError if handlers cannot be installed here.
    virtual std::uint64_t install(int signum, std::function<void()> handler,
                                  SignalHandlerOptions options = {}) = 0;
    /// True if the handler with `id` is still the one installed for `signum`.
    virtual bool is_installed(int signum, std::uint64_t id) const = 0;
    /// Restores the disposition `signum` had before this port installed a handler for it (the
    /// default action if none); does nothing for a signal the port did not install.
    virtual void restore_default(int signum) = 0;
    /// Runs the handlers of signals that arrived (called by the loop at its safe points).
    virtual void dispatch_pending() = 0;
};

namespace detail {
/// "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCHLD", else "signal 12":
/// how traces and logs name a signal (sim::signal_name is the same).
std::string signal_text(int signum);
}  // namespace detail

}  // namespace simrun
