#pragma once
// Time assertions that hold on both loops: exact on the simulator, "at least" on the real loop
// (a real timer never fires early; how late it fires varies).

#include <regex>
#include <string>

#include <simrun/simrun.hpp>

namespace test_support {

/// `text` on the sim; on the real loop, `text` without its " at <n>ms" stamps: the real times
/// vary, what is left is what happened and in which order.
template <class Kind>
std::string timed(const std::string& text) {
    if constexpr (Kind::is_sim)
        return text;
    else
        return std::regex_replace(text, std::regex(" at -?[0-9]+ms"), "");
}

/// The loop's time since `start`: exactly `expected` on the sim; at least `expected` on the real
/// loop.
template <class Kind>
bool elapsed_is(const simrun::EventLoop& loop, simrun::Duration start, simrun::Duration expected) {
    const simrun::Duration elapsed = loop.time() - start;
    if constexpr (Kind::is_sim)
        return elapsed == expected;
    else
        return elapsed >= expected;
}

}  // namespace test_support
