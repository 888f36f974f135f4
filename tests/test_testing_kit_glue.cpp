// The testing kit's doctest and rapidcheck glue (simrun/testing/doctest.hpp, rapidcheck.hpp).
#include <chrono>
#include <csignal>
#include <memory>

#include <simrun/testing/doctest.hpp>
#include <simrun/testing/rapidcheck.hpp>

#include "support.hpp"

using namespace simrun;
using namespace std::chrono_literals;

namespace {
int glue_runs = 0;
}

TEST_SUITE_BEGIN("sim-only");

SIMRUN_SIM_TEST("kit: SIMRUN_SIM_TEST runs a coroutine body once per seed", .seeds = 5) {
    // Once per seed, in order: seeds 1, 2, ... 5.
    CHECK(sim::running_sim().options().seed == static_cast<std::uint64_t>(++glue_runs));
    const Duration start = get_running_loop().time();
    co_await sleep(1s);
    CHECK(get_running_loop().time() - start == 1s);
}

TEST_CASE("kit: SIMRUN_SIM_TEST ran five seeds") {
    // Runs after the test above when the whole file runs (doctest's default order); a -tc filter
    // that leaves that test out leaves nothing to count.
    if (glue_runs != 0)
        CHECK(glue_runs == 5);
}

SIMRUN_SIM_TEST("kit: a failing CHECK in SIMRUN_SIM_TEST fails the test" * doctest::should_fail(),
                .seeds = 10) {
    co_await sleep(1ms);
    CHECK(sim::running_sim().options().seed != 4);
}

SIMRUN_SIM_TEST("kit: an exception in SIMRUN_SIM_TEST fails the test" * doctest::should_fail()) {
    co_await sleep(1ms);
    throw ValueError("deliberate");
}

SIMRUN_LOOP_TEST("kit: SIMRUN_LOOP_TEST runs the body on the sim and on the epoll loop" *
                     doctest::test_suite("shared"),
                 .seeds = 3) {
    const Duration start = get_running_loop().time();
    co_await sleep(5ms);
    CHECK(get_running_loop().time() - start >= 5ms);
}

namespace {
Coro<int> interrupted_by_a_real_sigint() {
    get_running_loop().call_later(1ms, [] { ::raise(SIGINT); });
    co_await sleep(10s);
    co_return 0;
}
}  // namespace

SIMRUN_LOOP_TEST_CASE("kit: a real SIGINT in a real-loop test is a KeyboardInterrupt, not a crash" *
                      doctest::test_suite("shared")) {
    if constexpr (LoopKind::is_sim) {
        auto loop = std::static_pointer_cast<sim::SimLoop>(LoopKind::make());
        loop->fake_signals().schedule_at(1s, SIGINT);
        CHECK_THROWS_AS(run(sleep(10s), {.loop_factory = [loop] { return loop; }}),
                        KeyboardInterrupt);
    } else {
        CHECK_THROWS_AS(run(interrupted_by_a_real_sigint()), KeyboardInterrupt);
    }
}

namespace {
Coro<void> service_with_jobs() {
    auto job = [] { return 1; };
    for (int i = 0; i < 3; ++i) {
        try {
            auto result = get_running_loop().run_in_executor(job);
            co_await wait_for(std::move(result), 5s);  // a hung job times out
        } catch (const TimeoutError&) {
        }
        co_await sleep(1s);
    }
}
}  // namespace

TEST_CASE("kit: rapidcheck generators and check_in_sim") {
    const bool passed = rc::check("fault plans are well formed and runs end", [] {
        const auto plan = *testing::fault_plans(10s, 2, 3s, 30);
        RC_ASSERT(plan.signals.size() <= 2U);
        for (std::size_t i = 0; i < plan.signals.size(); ++i) {
            RC_ASSERT(plan.signals[i].at <= Duration(10s));
            if (i > 0)
                RC_ASSERT(plan.signals[i - 1].at <= plan.signals[i].at);
        }
        for (const auto& job : plan.jobs)
            RC_ASSERT(!job || *job <= Duration(3s));
        const auto run = testing::check_in_sim(plan, [] { return service_with_jobs(); },
                                               {.allow_keyboard_interrupt = true});
        RC_ASSERT(run.loop->fake_signals().arrivals().size() <= plan.signals.size());
    });
    CHECK(passed);
}

TEST_SUITE_END();
