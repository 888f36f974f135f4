#pragma once
// Texts that are seldom set (a cancel message, a built label), kept out of line: a null pointer
// costs 8 bytes where an empty std::string costs 32, in objects made by the million.

#include <memory>
#include <string>
#include <utility>

namespace simrun::detail {

/// `*text`, or "" for null.
inline const std::string& text_or_empty(const std::unique_ptr<std::string>& text) noexcept {
    static const std::string empty;
    return text ? *text : empty;
}

/// Sets an out-of-line text; an empty one is not allocated.
inline void set_text(std::unique_ptr<std::string>& slot, std::string text) {
    if (text.empty()) {
        slot.reset();
    } else if (slot) {
        *slot = std::move(text);
    } else {
        slot = std::make_unique<std::string>(std::move(text));
    }
}

}  // namespace simrun::detail
