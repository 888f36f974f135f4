#pragma once
// A portable stand-in for std::source_location (clang 14 with libstdc++ 12 lacks it).

#include <cstdint>
#include <string>
#include <string_view>

namespace simrun {

/// Where something was created: the function, file and line of the call that made it.
/// `SourceLocation::current()` used as a default argument records the caller's position.
struct SourceLocation {
    const char* function = "";
    const char* file = "";
    std::uint32_t line = 0;

    static constexpr SourceLocation current(const char* function = __builtin_FUNCTION(),
                                            const char* file = __builtin_FILE(),
                                            std::uint32_t line = __builtin_LINE()) noexcept {
        return SourceLocation{function, file, line};
    }

    /// "file.cpp:42" with the directory stripped, so traces do not depend on the checkout path.
    std::string short_text() const;
    /// The file's name without its directory.
    std::string_view file_name() const noexcept {
        std::string_view path = file;
        const auto slash = path.rfind('/');
        return slash == std::string_view::npos ? path : path.substr(slash + 1);
    }
};

}  // namespace simrun
