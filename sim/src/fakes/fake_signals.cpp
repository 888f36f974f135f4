#include "simrun/sim/fakes/fake_signals.hpp"

#include <csignal>

#include "simrun/sim/loop/sim_loop.hpp"

namespace simrun::sim {

std::string signal_name(int signum) {
    return simrun::detail::signal_text(signum);
}

void FakeSignals::raise(int signum) {
    arrive(signum, loop_.inside_callback_);
}

void FakeSignals::schedule_at(Duration when, int signum) {
    by_time_.emplace(when, signum);
}

void FakeSignals::schedule_at_step(std::uint64_t step, int signum) {
    by_step_.emplace(step, signum);
}

void FakeSignals::set_disposition(int signum, SignalDisposition disposition) {
    Slot& slot = slots_[signum];
    slot = Slot{};
    slot.disposition = disposition;
}

SignalDisposition FakeSignals::disposition(int signum) const {
    auto found = slots_.find(signum);
    return found == slots_.end() ? SignalDisposition::default_action : found->second.disposition;
}

std::uint64_t FakeSignals::install(int signum, std::function<void()> handler,
                                   SignalHandlerOptions options) {
    if (install_fails_)
        throw ValueError("signal only works in main thread of the main interpreter");
    Slot& slot = slots_[signum];
    slot = Slot{};
    slot.disposition = SignalDisposition::handler;
    slot.handler = std::move(handler);
    slot.id = next_id_++;
    slot.options = options;
    slot.arrivals_since_install = static_cast<int>(options.earlier_arrivals);
    loop_.note("signal", "handler installed for " + signal_name(signum));
    return slot.id;
}

bool FakeSignals::is_installed(int signum, std::uint64_t id) const {
    auto found = slots_.find(signum);
    return found != slots_.end() && found->second.id == id &&
           found->second.disposition == SignalDisposition::handler;
}

void FakeSignals::restore_default(int signum) {
    slots_.erase(signum);
    if (escalation_signal_ == signum) {
        escalation_signal_.reset();
        escalation_deadline_.reset();
    }
    loop_.note("signal", "default disposition restored for " + signal_name(signum));
}

void FakeSignals::dispatch_pending() {
    escalation_deadline_.reset();  // the loop reached a step: no need to end the process
    escalation_signal_.reset();
    while (!pending_.empty()) {
        int signum = pending_.front();
        pending_.erase(pending_.begin());
        auto found = slots_.find(signum);
        if (found == slots_.end() || !found->second.handler)
            continue;
        std::function<void()> handler = found->second.handler;
        loop_.note("signal", signal_name(signum) + " handled");
        try {
            handler();
        } catch (...) {
            // The handler interrupted the program (KeyboardInterrupt): further arrivals of the
            // same signal that were waiting asked for the same thing and are merged into it, as
            // a real process merges a signal that arrives while it is still pending.
            std::erase(pending_, signum);
            if (!pending_.empty())
                loop_.notify_signal_arrived();  // other signals still get handled
            throw;
        }
    }
}

std::optional<Duration> FakeSignals::next_arrival() const {
    if (by_time_.empty())
        return std::nullopt;
    return by_time_.begin()->first;
}

void FakeSignals::arrive_due(Duration now, bool inside_callback) {
    while (!by_time_.empty() && by_time_.begin()->first <= now) {
        int signum = by_time_.begin()->second;
        by_time_.erase(by_time_.begin());
        arrive(signum, inside_callback);
    }
}

void FakeSignals::on_step(std::uint64_t step) {
    while (!by_step_.empty() && by_step_.begin()->first <= step) {
        int signum = by_step_.begin()->second;
        by_step_.erase(by_step_.begin());
        arrive(signum, true);
    }
}

void FakeSignals::arrive(int signum, bool inside_callback) {
    const Duration now = loop_.time();
    arrivals_.emplace_back(now, signum);
    loop_.note("signal", signal_name(signum) + " arrived");
    if (arrival_observer_) {
        ArrivalObserver observer = arrival_observer_;  // it may replace itself
        observer(signum, now);
    }
    Slot& slot = slots_[signum];
    switch (slot.disposition) {
        case SignalDisposition::ignored:
            loop_.note("signal", signal_name(signum) + " ignored");
            return;
        case SignalDisposition::default_action:
            loop_.terminate(signum);
        case SignalDisposition::handler:
            break;
    }
    ++slot.arrivals_since_install;
    pending_.push_back(signum);
    loop_.notify_signal_arrived();
    if (inside_callback && slot.options.escalate_after && slot.arrivals_since_install >= 2 &&
        !escalation_deadline_) {
        escalation_deadline_ = now + *slot.options.escalate_after;
        escalation_signal_ = signum;
        loop_.note("signal", "repeated " + signal_name(signum) +
                                 " while stuck in a callback: the process ends at " +
                                 format_time(*escalation_deadline_) +
                                 " unless the loop gets back first");
    }
}

}  // namespace simrun::sim
