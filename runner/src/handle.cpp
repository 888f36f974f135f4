#include "simrun/handle.hpp"

#include "simrun/event_loop.hpp"

namespace simrun {

void Handle::cancel() {
    if (!state_ || state_->cancelled.exchange(true))
        return;
    // A timer due never (Duration::max()) was not put in the heap: nothing to account for.
    if (state_->is_timer && state_->loop != nullptr && state_->when != Duration::max())
        state_->loop->timer_cancelled();
}

namespace detail {
std::string HandleState::text() const {
    if (task != nullptr)
        return task->trace_name();
    if (purpose != nullptr) {
        std::string text = purpose;
        if (auto subject = about.lock())
            text.append(" ").append(subject->trace_name());
        return text;
    }
    if (!label.empty())
        return label;
    return created_at.short_text();
}
}  // namespace detail

std::string Handle::describe() const {
    if (!state_)
        return "<Handle (empty)>";
    std::string kind = state_->is_timer ? "TimerHandle" : "Handle";
    if (state_->task != nullptr)
        return "<" + kind + " step of " + state_->task->name() + ">";
    std::string text = "<" + kind + " " + state_->created_at.short_text();
    if (cancelled())
        text += " cancelled";
    return text + ">";
}

}  // namespace simrun
