#pragma once
// Helpers shared by the gather() tests (test_gather.cpp, test_gather_cpython.cpp).

#include <chrono>
#include <utility>

#include <simrun/simrun.hpp>

namespace gather_test {

inline simrun::Coro<void> yields(int count) {
    for (int i = 0; i < count; ++i)
        co_await simrun::sleep(std::chrono::seconds(0));
}

/// asyncio's test_utils.run_briefly (and GatherTestsBase._run_loop): lets the callbacks queued so
/// far, and those they queue, run.
inline void run_briefly(simrun::EventLoop& loop) {
    loop.run_until_complete(yields(3));
}

/// gather(...) called inside a task of `loop` (a coroutine argument needs a loop).
template <bool ReturnAll, class... C>
auto gather_in_task(simrun::EventLoop& loop, C... coros) {
    using simrun::Coro;
    using simrun::gather;
    using simrun::return_exceptions;
    if constexpr (ReturnAll) {
        return loop.run_until_complete(
            [](C... inner) -> Coro<decltype(gather(return_exceptions, std::move(inner)...))> {
                co_return gather(return_exceptions, std::move(inner)...);
            }(std::move(coros)...));
    } else {
        return loop.run_until_complete(
            [](C... inner) -> Coro<decltype(gather(std::move(inner)...))> {
                co_return gather(std::move(inner)...);
            }(std::move(coros)...));
    }
}

}  // namespace gather_test
