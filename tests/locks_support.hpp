#pragma once
// Helpers shared by the tests of the synchronization primitives (test_lock.cpp,
// test_condition.cpp, test_semaphore.cpp, test_barrier.cpp, test_event.cpp).

#include <chrono>
#include <exception>
#include <regex>
#include <string>
#include <vector>

#include "support.hpp"

namespace locks_test {

/// Runs `body` as the main task of `s.loop` (an IsolatedAsyncioTestCase test method). On the
/// real loop the run is stopped after 5 s (RuntimeError "Event loop stopped before Future
/// completed."), so a bug fails the test instead of hanging it, even one that swallows
/// cancellations; the simulator throws DeadlockError by itself.
template <class Kind>
void run_body(test_support::TestLoop<Kind>& s, simrun::Coro<void> body) {
    if constexpr (Kind::is_sim) {
        s.loop.run_until_complete(std::move(body));
    } else {
        simrun::Task<void> task = s.loop.create_task(std::move(body));
        simrun::EventLoop* loop = &s.loop;
        simrun::TimerHandle limit =
            s.loop.call_later(std::chrono::seconds(5), [loop] { loop->stop(); });
        s.loop.run_until_complete(task);
        limit.cancel();
    }
}

/// "[1, 2, 3]", as Python prints a list.
inline std::string str(const std::vector<int>& items) {
    std::string text = "[";
    for (std::size_t i = 0; i < items.size(); ++i)
        text += (i == 0 ? "" : ", ") + std::to_string(items[i]);
    return text + "]";
}

/// How awaiting `task` ends: "ok", or the exception as "CancelledError: msg", "RuntimeError:
/// ...", "BrokenBarrierError: ...".
template <class T>
simrun::Coro<std::string> outcome(simrun::Task<T> task) {
    std::exception_ptr error;
    try {
        co_await task;
    } catch (...) {
        error = std::current_exception();
    }
    co_return error ? simrun::describe_exception(error) : std::string("ok");
}

/// How a done task ended, without awaiting it (same texts as outcome()).
inline std::string ended(const simrun::TaskRef& task) {
    if (!task.done())
        return "pending";
    if (task.cancelled())
        return "CancelledError";
    std::exception_ptr error = task.exception();
    return error ? simrun::describe_exception(error) : std::string("ok");
}

/// CPython's RGX_REPR from test_locks.py, for our "<Kind at 0x...>" form.
inline bool matches_repr(const std::string& text) {
    static const std::regex pattern(
        R"(^<(Lock|Event|Condition|Semaphore|BoundedSemaphore|Barrier) at 0x[0-9a-f]+ )"
        R"(\[(set|unset|locked|unlocked|filling|draining|resetting|broken))"
        R"((, value:\d+)?(, waiters:\d+)?(, waiters:\d+/\d+)?\]>$)");
    return std::regex_match(text, pattern);
}

/// True if `text` ends with `suffix`.
inline bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Neither `operator co_await` nor the awaiter members: `co_await x` does not compile (the C++
/// side of CPython's "object Lock can't be used in 'await' expression").
template <class T>
constexpr bool awaitable = requires(T& value) {
    value.operator co_await();
}
|| requires(T& value) {
    value.await_ready();
};

}  // namespace locks_test
