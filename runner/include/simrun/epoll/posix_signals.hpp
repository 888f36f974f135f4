#pragma once
// PosixSignals: the real loop's SignalPort. It installs one async-signal-safe C handler that
// only records the arrival and wakes the loop; the Python-level handler (the Runner's SIGINT
// logic, add_signal_handler callbacks) runs on the loop thread at its next step. The rule for a
// loop stuck in a callback ("the second Ctrl-C gets you out", docs/semantics.md):
//
//   when a signal installed with `escalate_after` arrives for the second time (or later) since
//   installation, a watchdog thread waits `escalate_after`; if the loop has not dispatched
//   signals in that time (it is stuck in a callback or a blocking call), the watchdog restores
//   the default disposition and sends the signal again, so the process ends as by that signal.
//
// Threads that simrun starts (executor workers, the watchdog) block every signal, so handlers
// never run on them. Threads the user starts should do the same (pthread_sigmask), as with any
// signal-handling program.

#include <csignal>
#include <cstdint>
#include <functional>
#include <map>

#include "simrun/core/signals.hpp"

namespace simrun {

class EventLoop;

/// Real POSIX signals for one loop (see the file comment).
class PosixSignals final : public SignalPort {
  public:
    explicit PosixSignals(EventLoop& loop) : loop_(loop) {}
    /// Restores every disposition this port changed.
    ~PosixSignals() override;
    PosixSignals(const PosixSignals&) = delete;
    PosixSignals& operator=(const PosixSignals&) = delete;

    /// True on the process's main thread (the thread whose id is the process id).
    bool on_main_thread() const override;
    /// What sigaction() reports for `signum`.
    SignalDisposition disposition(int signum) const override;
    /// Installs the recording handler for `signum` (sigaction, SA_RESTART) and remembers the
    /// disposition it replaced. ValueError if `signum` is invalid or cannot be caught (SIGKILL,
    /// SIGSTOP), or if called outside the main thread.
    std::uint64_t install(int signum, std::function<void()> handler,
                          SignalHandlerOptions options = {}) override;
    /// True if the handler with `id` is installed, and sigaction still shows ours.
    bool is_installed(int signum, std::uint64_t id) const override;
    /// Puts back the disposition `signum` had before this port first installed a handler for
    /// it (the default action if there was none), and forgets the handler. Arrivals recorded
    /// but not yet dispatched are dropped. Does nothing for a signal this port did not install.
    void restore_default(int signum) override;
    /// Runs, on the loop thread, the handler once per recorded arrival of each signal, lowest
    /// signal number first. If a handler throws, further pending arrivals of that signal are
    /// merged into the one that threw (a real process merges a signal that is already
    /// pending), and the exception propagates.
    void dispatch_pending() override;
    /// restore_default() for every signal this port installed (the loop's close() and
    /// destructor call it: after that no signal reaches the loop).
    void restore_all() noexcept;

  private:
    struct Installed {
        std::function<void()> handler;
        std::uint64_t id = 0;
        struct sigaction previous {};
    };
    EventLoop& loop_;
    std::map<int, Installed> installed_;
};

/// Ends the process as if by SIGINT's default action, the conventional way for a program to
/// report that it was interrupted (exit status 130 in a shell), as CPython does after an
/// uncaught KeyboardInterrupt. Call it from main() after catching KeyboardInterrupt if the
/// program has something to do first; an uncaught one ends the same way (see below).
[[noreturn]] void exit_as_interrupted() noexcept;

/// Makes a KeyboardInterrupt that nobody catches end the process as by SIGINT, through
/// exit_as_interrupted(), as CPython does, instead of std::terminate's abort (SIGABRT, a core
/// dump): installs a std::terminate handler that looks at the exception in flight and, for
/// anything but a KeyboardInterrupt (or no exception), calls the terminate handler it replaced.
/// Every Runner calls it when constructed. Idempotent; if the program installed its own
/// terminate handler since, ours goes on top again and calls the program's for the rest.
/// Thread-safe.
void install_uncaught_interrupt_handler();

}  // namespace simrun
