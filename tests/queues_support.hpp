#pragma once
// Helpers shared by the queue tests (test_queue.cpp, test_queue_join_shutdown.cpp,
// test_queue_waiters.cpp, test_queue_items.cpp).

#include <chrono>
#include <exception>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "support.hpp"

namespace queues_test {

using Strings = std::vector<std::string>;

/// describe() without the address: what asyncio's str() shows.
inline std::string shown(const std::string& description) {
    return std::regex_replace(description, std::regex(" at 0x[0-9a-f]+"), "");
}
template <class Q>
std::string shown(const Q& queue) {
    return shown(queue.describe());
}

/// How awaiting `awaitable` ended: "returned", "QueueShutDown", "CancelledError: <message>".
template <class Awaitable>
simrun::Coro<std::string> outcome_of(Awaitable awaitable) {
    try {
        co_await std::move(awaitable);
    } catch (const simrun::QueueShutDown&) {
        co_return "QueueShutDown";
    } catch (const simrun::CancelledError& error) {
        co_return std::string("CancelledError: ") + error.what();
    } catch (const std::exception& error) {
        co_return std::string("error: ") + error.what();
    }
    co_return "returned";
}

/// Runs `body` as the main task of a new loop of `Kind`; nothing may reach the error handler.
template <class Kind>
void run_on(simrun::Coro<void> body) {
    test_support::TestLoop<Kind> s;
    s.loop.run_until_complete(std::move(body));
    CHECK(s.errors.contexts.empty());
}

inline simrun::Coro<void> yield() {
    co_await simrun::sleep(std::chrono::milliseconds(0));
}

}  // namespace queues_test
