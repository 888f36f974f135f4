#include "model.hpp"

#include <algorithm>
#include <vector>

namespace props {
namespace {

using Outcome = Observation::Outcome;

struct Event {
    Duration time;
    bool sigint;  // else: the external cancel
};

class Model {
  public:
    Model(const Program& program, Duration end_time) : program_(program), end_time_(end_time) {
        if (!program.sigint_steps.empty())
            undecided("a SIGINT at a scheduling step (the model follows time)");
        for (Duration s : program.sigints)
            events_.push_back({s, true});
        if (program.external_cancel)
            events_.push_back({*program.external_cancel, false});
        std::sort(events_.begin(), events_.end(),
                  [](const Event& a, const Event& b) { return a.time < b.time; });
        for (std::size_t i = 1; i < events_.size(); ++i) {
            if (events_[i].time == events_[i - 1].time)
                undecided("two events at the same instant");
        }
    }

    Prediction run() {
        if (!result_.decided)
            return result_;
        const TaskCode& main = program_.tasks.at(0);
        const auto& steps = main.steps;
        std::size_t i = 0;
        while (i < steps.size()) {
            const Step& step = steps[i];
            if (step.kind == Step::Kind::sleep) {
                if (const Event* e = next_event_before(now_ + step.duration)) {
                    now_ = e->time;
                    consume();
                    if (e->sigint) {
                        if (++interrupts_ >= 2)
                            return keyboard_interrupt(now_, "second SIGINT while main awaited");
                        ++requests_;
                    } else {
                        ++requests_;
                    }
                    return cancelled(main,
                                     e->sigint ? "SIGINT while main awaited" : "external cancel");
                }
                now_ += step.duration;
                ++i;
            } else if (step.kind == Step::Kind::busy) {
                // One callback: busy and spawn steps run back to back without suspending.
                Duration end = now_;
                std::size_t j = i;
                while (j < steps.size() &&
                       (steps[j].kind == Step::Kind::busy || steps[j].kind == Step::Kind::spawn)) {
                    if (steps[j].kind == Step::Kind::busy)
                        end += steps[j].duration;
                    ++j;
                }
                int pending = 0;
                std::optional<Duration> deadline;
                while (const Event* e = next_event_before(end + Duration(1))) {
                    if (!e->sigint)
                        return undecided("external cancel during a busy callback");
                    const Duration arrived = e->time;
                    consume();
                    ++pending;
                    if (arrivals_seen_ >= 2 && !deadline)
                        deadline = arrived + program_.grace;
                }
                if (deadline && *deadline <= end) {
                    result_.outcome = Outcome::process_terminated;
                    result_.at = *deadline;
                    result_.why = "two SIGINTs while stuck in a busy callback; grace ran out";
                    return result_;
                }
                now_ = end;
                i = j;
                if (pending > 0) {
                    if (i == steps.size())
                        return keyboard_interrupt(now_, "SIGINT handled after main finished");
                    ++interrupts_;
                    if (pending >= 2)
                        return keyboard_interrupt(now_,
                                                  "two SIGINTs handled after a busy callback");
                    ++requests_;
                    return cancelled(main, "SIGINT handled after a busy callback");
                }
            } else {
                ++i;  // yield, spawn: no time passes
            }
        }
        if (main.raise_at_end)
            return finished(Outcome::value_error, 0, "main raised at its end");
        return finished(Outcome::value, main.result, "main returned");
    }

  private:
    const Event* next_event_before(Duration limit) {
        if (next_ < events_.size() && events_[next_].time < limit)
            return &events_[next_];
        return nullptr;
    }
    void consume() {
        if (events_[next_].sigint)
            ++arrivals_seen_;
        ++next_;
    }

    Prediction undecided(const std::string& why) {
        result_.decided = false;
        result_.why = why;
        return result_;
    }

    Prediction keyboard_interrupt(Duration at, const std::string& why) {
        result_.outcome = Outcome::keyboard_interrupt;
        result_.at = at;
        result_.why = why;
        // close() still runs after run() threw; a SIGINT that finds it running interrupts it too,
        // and that one is then the last SIGINT handled.
        for (std::size_t k = next_; k < events_.size(); ++k) {
            if (events_[k].sigint && events_[k].time > at) {
                if (events_[k].time <= end_time_) {
                    result_.at = events_[k].time;
                    result_.why += "; another SIGINT interrupted close()";
                }
                break;
            }
        }
        return result_;
    }

    /// Main finished at now_: later SIGINTs that still find the loop running (close()) raise
    /// KeyboardInterrupt out of close().
    Prediction finished(Outcome outcome, int value, const std::string& why) {
        for (std::size_t k = next_; k < events_.size(); ++k) {
            if (events_[k].sigint && events_[k].time > now_ && events_[k].time <= end_time_) {
                return keyboard_interrupt(events_[k].time, why + "; then a SIGINT during close()");
            }
        }
        result_.outcome = outcome;
        result_.value = value;
        result_.why = why;
        return result_;
    }

    /// The main task ends cancelled: the Runner's rule 6.
    Prediction main_cancelled(const std::string& why) {
        bool interrupt = interrupts_ > 0 && std::max(0, requests_ - 1) == 0;
        return finished(interrupt ? Outcome::keyboard_interrupt : Outcome::cancelled, 0, why);
    }

    Prediction cancelled(const TaskCode& main, const std::string& why) {
        switch (main.on_cancel) {
            case OnCancel::propagate:
                return main_cancelled(why + "; main let it out");
            case OnCancel::swallow_and_return:
                return finished(Outcome::value, main.result, why + "; main swallowed it");
            case OnCancel::raise_error:
                return finished(Outcome::value_error, 0, why + "; main raised ValueError");
            case OnCancel::uncancel_and_reraise:
                requests_ = std::max(0, requests_ - 1);
                return main_cancelled(why + "; main uncancelled and re-raised");
            case OnCancel::cleanup_then_reraise: {
                if (const Event* e = next_event_before(now_ + main.cleanup)) {
                    now_ = e->time;
                    consume();
                    if (e->sigint && ++interrupts_ >= 2)
                        return keyboard_interrupt(now_, why + "; second SIGINT during clean-up");
                    ++requests_;  // the clean-up's sleep is cancelled: main ends cancelled
                    return main_cancelled(why + "; cancelled again during clean-up");
                }
                now_ += main.cleanup;
                return main_cancelled(why + "; main cleaned up and re-raised");
            }
        }
        return undecided("unknown policy");
    }

    const Program& program_;
    Duration end_time_;
    std::vector<Event> events_;
    std::size_t next_ = 0;
    Duration now_{};
    int interrupts_ = 0;     // SIGINTs handled by the Runner while main was not done
    int requests_ = 0;       // cancel requests on main
    int arrivals_seen_ = 0;  // SIGINT arrivals since the handler was installed
    Prediction result_;
};

}  // namespace

Prediction predict(const Program& program, Duration end_time) {
    return Model(program, end_time).run();
}

}  // namespace props
