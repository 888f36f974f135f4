#include "simrun/core/handle.hpp"

#include <cstdint>

#include "simrun/core/detail/text_hash.hpp"
#include "simrun/core/event_loop.hpp"

namespace simrun {

void Handle::cancel() {
    if (state_)
        state_->cancel();
}

namespace detail {

void HandleState::cancel() noexcept {
    if (cancelled.exchange(true))
        return;
    // Only a timer still in the heap is counted (one due never, Duration::max(), never was).
    if (in_heap && loop != nullptr)
        loop->timer_cancelled(*this);
}

std::string HandleState::text() const {
    std::string text;
    append_text(text);
    return text;
}

void HandleState::append_text(std::string& out) const {
    if (purpose != nullptr) {
        out += purpose;
        if (auto subject = about.lock()) {
            out += ' ';
            subject->append_trace_name(out);
        }
    } else if (label) {
        out += *label;
    } else {
        out += created_at.short_text();  // the simulator keeps it in a memo by site
    }
}

std::uint64_t HandleState::purpose_hash(const char* purpose, std::uint64_t subject_hash) {
    // The purpose's hash, remembered by the address of its text (a string literal).
    struct Memo {
        const char* purpose = nullptr;
        std::uint64_t hash = 0;
    };
    thread_local Memo memo[16];
    Memo& entry = memo[(reinterpret_cast<std::uintptr_t>(purpose) >> 3) % 16];
    if (entry.purpose != purpose) {
        entry.purpose = purpose;
        entry.hash = text_hash(purpose);
    }
    return hash_combine(entry.hash, subject_hash);
}

std::uint64_t HandleState::trace_hash() const {
    if (purpose != nullptr) {
        const auto subject = about.lock();
        return purpose_hash(purpose, subject ? subject->trace_hash() : 0);
    }
    if (label)
        return text_hash(*label);
    return hash_combine(text_hash(created_at.file_name()), created_at.line);
}
}  // namespace detail

std::string Handle::describe() const {
    if (!state_)
        return "<Handle (empty)>";
    std::string kind = state_->is_timer ? "TimerHandle" : "Handle";
    std::string text = "<" + kind + " " + state_->created_at.short_text();
    if (cancelled())
        text += " cancelled";
    return text + ">";
}

}  // namespace simrun
