// A first end-to-end check that the pieces fit together; the detailed tests live in the
// per-unit files.
#include "support.hpp"

using namespace simrun;

namespace {
Coro<int> doubled_after(Duration delay, int value) {
    co_await sleep(delay);
    co_return value * 2;
}
}  // namespace

TEST_SUITE_BEGIN("sim-only");

TEST_CASE("run() returns the main coroutine's value in virtual time") {
    test_support::SimFactory loops;
    CHECK(run(doubled_after(std::chrono::hours(2), 21), {.loop_factory = loops.factory()}) == 42);
    CHECK(loops.last().time() == std::chrono::hours(2));
    CHECK(loops.last().is_closed());
    CHECK(detail::live_coroutine_frames() == 0);
}

LOOP_TEST_CASE("run() returns the main coroutine's value and closes its loop") {
    test_support::LoopRecorder<LoopKind> loops;
    CHECK(run(doubled_after(1ms, 21), {.loop_factory = loops.factory()}) == 42);
    CHECK(loops.loops.size() == 1);
    CHECK(loops.last().is_closed());
    CHECK(detail::live_coroutine_frames() == 0);
}

TEST_SUITE_END();
