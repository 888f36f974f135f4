// SimLoop's virtual time: it starts at zero, jumps to the next timer and never goes back; timer
// lateness; and sim::busy(), time spent inside a callback (docs/semantics.md, "The simulator").
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "sim_loop_support.hpp"
#include "support.hpp"

// Virtual time, fake signals and fake executors: these tests need the simulator.
TEST_SUITE_BEGIN("sim-only");

using namespace simrun;
using sim_loop_test::sleep_for;

namespace {

Coro<std::vector<Duration>> yield_and_record_times(int yields) {
    std::vector<Duration> times;
    for (int i = 0; i < yields; ++i) {
        times.push_back(get_running_loop().time());
        co_await yield_now();
    }
    co_return times;
}

Coro<std::vector<Duration>> sleeps_recording_wake_times(int count, Duration each) {
    std::vector<Duration> times;
    for (int i = 0; i < count; ++i) {
        co_await sleep(each);
        times.push_back(get_running_loop().time());
    }
    co_return times;
}

}  // namespace

// ---- virtual time -------------------------------------------------------------------------

TEST_CASE("SimLoop: virtual time starts at zero") {
    sim::SimLoop loop;
    CHECK(loop.time() == Duration::zero());
    loop.close();
}

TEST_CASE("SimLoop: a 10-hour sleep advances virtual time by exactly 10 hours") {
    sim::SimLoop loop;
    loop.run_until_complete(sleep_for(std::chrono::hours(10)));
    CHECK(loop.time() == std::chrono::hours(10));
    loop.close();
}

TEST_CASE("SimLoop: time does not move while callbacks or tasks are ready") {
    sim::SimLoop loop;
    std::vector<Duration> times = loop.run_until_complete(yield_and_record_times(200));
    REQUIRE(times.size() == 200);
    for (Duration t : times)
        CHECK(t == Duration::zero());
    CHECK(loop.time() == Duration::zero());

    std::vector<Duration> callback_times;
    std::function<void(int)> chain = [&](int left) {
        callback_times.push_back(loop.time());
        if (left == 0) {
            loop.stop();
            return;
        }
        loop.call_soon([&chain, left] { chain(left - 1); });
    };
    loop.call_soon([&chain] { chain(100); });
    loop.run_forever();
    CHECK(callback_times.size() == 101);
    CHECK(loop.time() == Duration::zero());
    loop.close();
}

TEST_CASE("SimLoop: time jumps exactly to the next timer's deadline") {
    sim::SimLoop loop;
    std::vector<Duration> fired;
    loop.call_later(7s, [&] { fired.push_back(loop.time()); });
    loop.call_later(5s, [&] { fired.push_back(loop.time()); });
    loop.call_later(std::chrono::milliseconds(5250), [&] { fired.push_back(loop.time()); });
    loop.call_later(8s, [&] { loop.stop(); });
    loop.run_forever();
    CHECK(fired == std::vector<Duration>{5s, std::chrono::milliseconds(5250), 7s});
    CHECK(loop.time() == 8s);
    loop.close();
}

TEST_CASE(
    "SimLoop: a cancelled timer leaves the heap at once if it was the last one pushed, "
    "else when purged; either way it never fires and the others keep their order") {
    sim::SimLoop loop;
    std::vector<int> fired;
    TimerHandle first = loop.call_later(1s, [&] { fired.push_back(1); });
    TimerHandle middle = loop.call_later(3s, [&] { fired.push_back(3); });
    TimerHandle last = loop.call_later(2s, [&] { fired.push_back(2); });
    TimerHandle newest = loop.call_later(4s, [&] { fired.push_back(4); });
    last.cancel();  // not the last entry (newest was pushed after it): stays, purged later
    CHECK(last.state()->in_heap);
    newest.cancel();  // still the heap's last entry: removed at once
    CHECK_FALSE(newest.state()->in_heap);
    middle.cancel();  // inside the heap (the cancelled `last` is behind it): stays too
    CHECK(middle.state()->in_heap);
    loop.call_later(5s, [&] { loop.stop(); });
    loop.run_forever();
    CHECK(fired == std::vector<int>{1});
    CHECK_FALSE(middle.state()->in_heap);
    CHECK_FALSE(last.state()->in_heap);
    CHECK(loop.time() == 5s);
    CHECK_FALSE(first.cancelled());
    loop.close();
}

TEST_CASE("SimLoop: a timer whose deadline already passed fires without moving time") {
    sim::SimLoop loop;
    loop.run_until_complete(sleep_for(3s));
    std::optional<Duration> fired;
    loop.call_at(1s, [&] {
        fired = loop.time();
        loop.stop();
    });
    loop.run_forever();
    CHECK(fired == 3s);
    loop.close();
}

TEST_CASE("SimLoop: successive sleeps add up to the exact virtual time") {
    sim::SimLoop loop;
    std::vector<Duration> times = loop.run_until_complete(sleeps_recording_wake_times(5, 1500ms));
    CHECK(times == std::vector<Duration>{1500ms, 3000ms, 4500ms, 6000ms, 7500ms});
    loop.close();
}

TEST_CASE("SimLoop: time never goes backwards and no timer fires early, with or without lateness") {
    for (Duration lateness : {Duration::zero(), Duration(37ms)}) {
        for (std::uint64_t seed = 0; seed < 5; ++seed) {
            sim::SimLoop loop({.seed = seed, .max_timer_lateness = lateness});
            std::vector<Duration> seen;
            bool early = false;
            // Deadlines chosen out of order, with ties, some scheduled from inside callbacks.
            for (int i = 0; i < 30; ++i) {
                Duration when = std::chrono::milliseconds((i * 7919) % 1000);
                loop.call_at(when, [&, when] {
                    seen.push_back(loop.time());
                    early = early || loop.time() < when;
                    Duration again = when + std::chrono::milliseconds(13);
                    loop.call_at(again, [&, again] {
                        seen.push_back(loop.time());
                        early = early || loop.time() < again;
                    });
                });
            }
            loop.call_at(5s, [&] { loop.stop(); });
            loop.run_forever();
            CHECK_FALSE(early);
            REQUIRE(seen.size() == 60);
            for (std::size_t i = 1; i < seen.size(); ++i)
                CHECK(seen[i - 1] <= seen[i]);
            loop.close();
        }
    }
}

// ---- timer lateness -----------------------------------------------------------------------

TEST_CASE(
    "SimLoop: max_timer_lateness makes timers late, never early, and never later than the bound") {
    bool some_late = false;
    for (std::uint64_t seed = 0; seed < 5; ++seed) {
        sim::SimLoop loop({.seed = seed, .max_timer_lateness = 50ms});
        std::vector<Duration> times =
            loop.run_until_complete(sleeps_recording_wake_times(20, 100ms));
        Duration previous = Duration::zero();
        for (Duration t : times) {
            Duration slept = t - previous;
            CHECK(slept >= 100ms);
            CHECK(slept <= 150ms);
            some_late = some_late || slept > 100ms;
            previous = t;
        }
        loop.close();
    }
    CHECK(some_late);
}

TEST_CASE("SimLoop: without max_timer_lateness every timer fires exactly on time") {
    for (std::uint64_t seed = 0; seed < 3; ++seed) {
        sim::SimLoop loop({.seed = seed});
        std::vector<Duration> times =
            loop.run_until_complete(sleeps_recording_wake_times(10, 100ms));
        for (std::size_t i = 0; i < times.size(); ++i)
            CHECK(times[i] == 100ms * static_cast<int>(i + 1));
        loop.close();
    }
}

// ---- busy ---------------------------------------------------------------------------------

namespace {
Coro<Duration> busy_then_report(Duration how_long) {
    sim::busy(how_long);
    co_return get_running_loop().time();
}
}  // namespace

TEST_CASE(
    "SimLoop::busy: virtual time passes inside the callback; only valid inside one, never "
    "negative") {
    sim::SimLoop loop;
    CHECK(loop.run_until_complete(busy_then_report(10s)) == 10s);
    CHECK(loop.time() == 10s);
    CHECK_THROWS_AS(loop.busy(1s), RuntimeError);
    CHECK_THROWS_AS(sim::busy(1s), RuntimeError);  // no running loop
    CHECK_THROWS_AS(sim::running_sim(), RuntimeError);
    bool value_error = false;
    loop.call_soon([&] {
        try {
            loop.busy(-1s);
        } catch (const ValueError&) {
            value_error = true;
        }
        loop.stop();
    });
    loop.run_forever();
    CHECK(value_error);  // a negative duration
    CHECK(loop.time() == 10s);
    loop.close();
}

TEST_CASE("SimLoop: run() with sim::factory() runs on a simulated loop") {
    test_support::SimFactory loops({.seed = 3});
    CHECK(run(busy_then_report(2s), {.loop_factory = loops.factory()}) == 2s);
    REQUIRE(loops.loops.size() == 1);
    CHECK(loops.last().options().seed == 3);
    CHECK(loops.last().is_closed());
    CHECK(run(busy_then_report(1s), {.loop_factory = sim::factory()}) == 1s);
}

TEST_SUITE_END();
