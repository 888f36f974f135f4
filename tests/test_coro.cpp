// Coro<T>: laziness, values and exceptions through await chains, symmetric transfer, move-only
// results, the "never awaited" report and frame accounting; on both loops.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support.hpp"

using namespace simrun;
using test_support::TestLoop;

namespace {

Coro<int> mark_and_return(bool* ran, int value) {
    *ran = true;
    co_return value;
}

Coro<std::vector<std::string>> laziness_probe() {
    std::vector<std::string> seen;
    bool ran = false;
    Coro<int> child = mark_and_return(&ran, 7);
    seen.push_back(ran ? "ran at creation" : "not run at creation");
    co_await sleep(1ms);
    seen.push_back(ran ? "ran while waiting" : "not run while waiting");
    int value = co_await std::move(child);
    seen.push_back(ran ? "ran when awaited: " + std::to_string(value) : "never ran");
    co_return seen;
}

Coro<int> chain(int depth) {
    if (depth == 0)
        co_return 0;
    co_return 1 + co_await chain(depth - 1);
}

Coro<int> throwing_chain(int depth) {
    if (depth == 0)
        throw ValueError("bottom of the chain");
    co_return 1 + co_await throwing_chain(depth - 1);
}

Coro<std::string> catch_from_chain(int depth) {
    try {
        co_await throwing_chain(depth);
    } catch (const ValueError& e) {
        co_return std::string("caught: ") + e.what();
    }
    co_return "nothing thrown";
}

// Frame addresses seen at the bottom of a chain, to measure the stack the chain used.
std::uintptr_t chain_bottom_frame = 0;

Coro<int> measured_chain(int depth) {
    if (depth == 0) {
        chain_bottom_frame = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
        co_return 0;
    }
    co_return 1 + co_await measured_chain(depth - 1);
}

Coro<std::intptr_t> stack_used_by_chain(int depth) {
    auto top = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
    co_await measured_chain(depth);
    co_return static_cast<std::intptr_t>(top) - static_cast<std::intptr_t>(chain_bottom_frame);
}

Coro<int> one() {
    co_return 1;
}

Coro<std::intptr_t> stack_used_by_sequential_awaits(int count) {
    std::uintptr_t first = 0;
    std::uintptr_t last = 0;
    int sum = 0;
    for (int i = 0; i < count; ++i) {
        sum += co_await one();
        auto here = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
        if (i == 0)
            first = here;
        last = here;
    }
    if (sum != count)
        throw RuntimeError("wrong sum");
    co_return static_cast<std::intptr_t>(first) - static_cast<std::intptr_t>(last);
}

Coro<std::unique_ptr<int>> make_unique_value(int value) {
    co_await sleep(1ms);
    co_return std::make_unique<int>(value);
}

Coro<std::unique_ptr<int>> increment_unique(int value) {
    std::unique_ptr<int> p = co_await make_unique_value(value);
    *p += 1;
    co_return std::move(p);
}

Coro<int> read_unique(int value) {
    std::unique_ptr<int> p = co_await increment_unique(value);
    co_return *p;
}

Coro<void> never_awaited_target() {
    co_return;
}

Coro<void> drop_unstarted_coroutine() {
    { Coro<void> forgotten = never_awaited_target(); }
    co_return;
}

Coro<void> drop_explicitly() {
    Coro<void> skipped = never_awaited_target();
    skipped.drop();
    co_return;
}

Coro<void> await_target() {
    co_await never_awaited_target();
}

Coro<std::string> void_then_string() {
    co_await await_target();
    co_return "after void";
}

Coro<int> throws_before_first_suspension() {
    throw RuntimeError("early");
    co_return 0;
}

Coro<void> wait_forever() {
    Future<void> never = get_running_loop().create_future<void>();
    co_await never;
}

}  // namespace

// Needs no loop: in no suite.
// These need no loop at all.
TEST_SUITE_BEGIN("loop-free");

TEST_CASE("Coro: a default-built Coro owns no frame") {
    Coro<int> empty;
    CHECK_FALSE(static_cast<bool>(empty));
    CHECK_FALSE(empty.done());
}

TEST_SUITE_END();

TEST_SUITE_BEGIN("sim-only");

LOOP_TEST_CASE("Coro: the body does not run until the coroutine is awaited") {
    TestLoop<LoopKind> s;
    bool ran = false;
    {
        Coro<int> created = mark_and_return(&ran, 1);
        CHECK(static_cast<bool>(created));
        CHECK_FALSE(created.done());
        CHECK_FALSE(ran);
        created.drop();
    }
    CHECK_FALSE(ran);
    auto seen = s.loop.run_until_complete(laziness_probe());
    CHECK(seen == std::vector<std::string>{"not run at creation", "not run while waiting",
                                           "ran when awaited: 7"});
}

LOOP_TEST_CASE("Coro: values of every kind come back through co_await") {
    TestLoop<LoopKind> s;
    CHECK(s.loop.run_until_complete(void_then_string()) == "after void");
    CHECK(s.loop.run_until_complete(chain(5)) == 5);
}

LOOP_TEST_CASE("Coro: a value propagates through an await chain 10000 deep") {
    TestLoop<LoopKind> s;
    CHECK(s.loop.run_until_complete(chain(10000)) == 10000);
}

LOOP_TEST_CASE("Coro: an exception propagates through an await chain 10000 deep") {
    TestLoop<LoopKind> s;
    CHECK(s.loop.run_until_complete(catch_from_chain(10000)) == "caught: bottom of the chain");
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(throwing_chain(10000)), "bottom of the chain",
                         ValueError);
}

// Symmetric transfer is a tail call only where the compiler can emit one. The instrumented frames
// of AddressSanitizer and ThreadSanitizer rule it out under g++ (about 130-180 bytes per level
// then), so a sanitized build checks a bound per level instead of a constant; every other build
// checks the constant.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::intptr_t stack_limit_for_10000_awaits = 10000 * 512;
#else
constexpr std::intptr_t stack_limit_for_10000_awaits = 64 * 1024;
#endif

LOOP_TEST_CASE("Coro: a deep await chain does not grow the stack (symmetric transfer)") {
    TestLoop<LoopKind> s;
    std::intptr_t used = s.loop.run_until_complete(stack_used_by_chain(10000));
    INFO("stack used by a 10000-deep chain: " << used << " bytes");
    CHECK(used < stack_limit_for_10000_awaits);
}

LOOP_TEST_CASE(
    "Coro: awaiting many synchronously finishing coroutines in a row does not grow the stack") {
    TestLoop<LoopKind> s;
    std::intptr_t used = s.loop.run_until_complete(stack_used_by_sequential_awaits(10000));
    INFO("stack growth over 10000 sequential awaits: " << used << " bytes");
    CHECK(used < stack_limit_for_10000_awaits);
}

LOOP_TEST_CASE("Coro: an exception thrown before the first suspension reaches the awaiter") {
    TestLoop<LoopKind> s;
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(throws_before_first_suspension()), "early",
                         RuntimeError);
}

LOOP_TEST_CASE("Coro: move-only results pass through a chain of Coro") {
    TestLoop<LoopKind> s;
    CHECK(s.loop.run_until_complete(read_unique(41)) == 42);
}

LOOP_TEST_CASE(
    "Coro: destroying an unstarted Coro while a loop runs warns 'coroutine ... was never "
    "awaited'") {
    TestLoop<LoopKind> s;
    s.loop.run_until_complete(drop_unstarted_coroutine());
    CHECK(s.log.count("RuntimeWarning: coroutine 'never_awaited_target' was never awaited") == 1);
    bool at_warning_level = false;
    for (const auto& [level, line] : s.log.lines) {
        if (line.find("was never awaited") != std::string::npos)
            at_warning_level = level == LogLevel::warning;
    }
    CHECK(at_warning_level);
}

LOOP_TEST_CASE("Coro: awaited or explicitly dropped coroutines are not reported as never awaited") {
    TestLoop<LoopKind> s;
    s.loop.run_until_complete(await_target());
    s.loop.run_until_complete(drop_explicitly());
    CHECK_FALSE(s.log.contains("never awaited"));
}

LOOP_TEST_CASE("Coro: live_coroutine_frames counts frames and returns to its baseline") {
    const std::int64_t baseline = detail::live_coroutine_frames();
    {
        TestLoop<LoopKind> s;
        bool ran = false;
        Coro<int> pending = mark_and_return(&ran, 3);
        CHECK(detail::live_coroutine_frames() == baseline + 1);
        pending.drop();
        CHECK(detail::live_coroutine_frames() == baseline);
        CHECK(s.loop.run_until_complete(chain(100)) == 100);
        CHECK(s.loop.run_until_complete(read_unique(1)) == 2);
        CHECK(s.loop.run_until_complete(catch_from_chain(50)) == "caught: bottom of the chain");
        CHECK(detail::live_coroutine_frames() == baseline);
        // A task still pending when the loop closes: its frames go with it.
        Task<void> stuck = s.loop.create_task(wait_forever());
        s.loop.run_until_complete(sleep(1ms));
        CHECK(detail::live_coroutine_frames() > baseline);
        s.loop.close();
        CHECK(detail::live_coroutine_frames() == baseline);
        CHECK(s.errors.count("Task was destroyed but it is pending!") == 1);
    }
    CHECK(detail::live_coroutine_frames() == baseline);
}

TEST_SUITE_END();
