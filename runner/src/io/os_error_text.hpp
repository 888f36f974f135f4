#pragma once
// OSErrors whose text is exactly asyncio's, for the errors asyncio raises without an errno
// ("Multiple exceptions: ...", "could not bind on any address out of [...]"): a plain OSError
// would append the text of its errno value.

#include <exception>
#include <string>

#include "simrun/core/exceptions.hpp"

namespace simrun::io::detail {

/// An OSError (errno `error_number`, 0 for none) whose what() is `text` and nothing else.
class OSErrorWithText : public OSError {
  public:
    OSErrorWithText(int error_number, std::string text)
        : OSError(error_number, text), text_(std::move(text)) {}
    const char* what() const noexcept override { return text_.c_str(); }

  private:
    std::string text_;
};

inline std::exception_ptr os_error_with_text(std::string text, int error_number = 0) {
    return std::make_exception_ptr(OSErrorWithText(error_number, std::move(text)));
}

}  // namespace simrun::io::detail
