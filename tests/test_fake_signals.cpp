// FakeSignals: injecting signals in virtual time or at a step, dispositions, the default action
// (the simulated process ends) and loop.add_signal_handler (docs/semantics.md, "The simulator").
#include <csignal>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support.hpp"

// Virtual time, fake signals and fake executors: these tests need the simulator.
TEST_SUITE_BEGIN("sim-only");

using namespace simrun;
using test_support::contains;
using test_support::thrown;

namespace {

Coro<void> wait_for_event(Event* event) {
    co_await event->wait();
}

Coro<void> sleep_for(Duration delay) {
    co_await sleep(delay);
}

std::size_t trace_count(const sim::SimLoop& loop, const std::string& kind,
                        const std::string& text) {
    std::size_t n = 0;
    for (const sim::TraceEntry& entry : loop.trace().entries())
        n += entry.kind == kind && entry.text == text ? 1 : 0;
    return n;
}

}  // namespace

// ---- delivery -----------------------------------------------------------------------------

TEST_CASE("FakeSignals: schedule_at delivers at that virtual time and wakes a waiting loop") {
    sim::SimLoop loop;
    Event got;
    std::vector<Duration> handled;
    loop.add_signal_handler(SIGUSR1, [&] {
        handled.push_back(loop.time());
        got.set();
    });
    loop.fake_signals().schedule_at(3s, SIGUSR1);
    loop.run_until_complete(wait_for_event(&got));  // no deadlock: a signal is coming
    CHECK(handled == std::vector<Duration>{3s});
    CHECK(loop.time() == 3s);
    REQUIRE(loop.fake_signals().arrivals().size() == 1);
    CHECK(loop.fake_signals().arrivals()[0] == std::make_pair(Duration(3s), SIGUSR1));
    CHECK(loop.fake_signals().idle());
    loop.close();
}

TEST_CASE("FakeSignals: a scheduled signal earlier than the next timer arrives at its own time") {
    sim::SimLoop loop;
    std::optional<Duration> handled;
    loop.add_signal_handler(SIGUSR2, [&] { handled = loop.time(); });
    loop.fake_signals().schedule_at(2500ms, SIGUSR2);
    CHECK_FALSE(loop.fake_signals().idle());
    CHECK(loop.fake_signals().next_arrival() == Duration(2500ms));
    loop.run_until_complete(sleep_for(10s));
    CHECK(handled == Duration(2500ms));
    CHECK(loop.time() == 10s);
    loop.close();
}

TEST_CASE("FakeSignals: signals scheduled at several times arrive in time order") {
    sim::SimLoop loop;
    std::vector<std::pair<int, Duration>> handled;
    loop.add_signal_handler(SIGUSR1, [&] { handled.emplace_back(SIGUSR1, loop.time()); });
    loop.add_signal_handler(SIGUSR2, [&] { handled.emplace_back(SIGUSR2, loop.time()); });
    loop.fake_signals().schedule_at(5s, SIGUSR2);
    loop.fake_signals().schedule_at(1s, SIGUSR1);
    loop.fake_signals().schedule_at(3s, SIGUSR2);
    loop.run_until_complete(sleep_for(6s));
    CHECK(handled ==
          std::vector<std::pair<int, Duration>>{{SIGUSR1, 1s}, {SIGUSR2, 3s}, {SIGUSR2, 5s}});
    CHECK(loop.fake_signals().arrivals() ==
          std::vector<std::pair<Duration, int>>{{1s, SIGUSR1}, {3s, SIGUSR2}, {5s, SIGUSR2}});
    loop.close();
}

TEST_CASE(
    "FakeSignals: schedule_at_step delivers during the k-th callback; its handler runs right after "
    "it") {
    sim::SimLoop loop;
    std::vector<std::string> order;
    loop.signals().install(SIGUSR1, [&] { order.push_back("H"); });
    loop.fake_signals().schedule_at_step(3, SIGUSR1);
    for (int i = 1; i <= 5; ++i) {
        loop.call_soon([&, i] {
            order.push_back(std::to_string(i));
            if (i == 5)
                loop.stop();
        });
    }
    loop.run_forever();
    CHECK(order == std::vector<std::string>{"1", "2", "3", "H", "4", "5"});
    bool traced = false;
    for (const sim::TraceEntry& entry : loop.trace().entries()) {
        if (entry.kind == "signal" && entry.text == "SIGUSR1 arrived") {
            traced = true;
            CHECK(entry.step == 3);
        }
    }
    CHECK(traced);
    loop.close();
}

TEST_CASE(
    "FakeSignals: raise() inside a callback arrives now; the handler waits for the callback to "
    "end") {
    sim::SimLoop loop;
    int handled = 0;
    int handled_seen_inside = -1;
    int handled_seen_next = -1;
    loop.signals().install(SIGUSR1, [&] { ++handled; });
    loop.call_later(2s, [&] {
        loop.fake_signals().raise(SIGUSR1);
        handled_seen_inside = handled;
        loop.call_soon([&] {
            handled_seen_next = handled;
            loop.stop();
        });
    });
    loop.run_forever();
    CHECK(handled_seen_inside == 0);
    CHECK(handled_seen_next == 1);
    CHECK(loop.fake_signals().arrivals() == std::vector<std::pair<Duration, int>>{{2s, SIGUSR1}});
    loop.close();
}

TEST_CASE(
    "FakeSignals: a signal arriving during a busy callback is recorded at its time, handled "
    "after") {
    sim::SimLoop loop;
    std::optional<Duration> handled;
    loop.add_signal_handler(SIGUSR1, [&] { handled = loop.time(); });
    loop.fake_signals().schedule_at(1s, SIGUSR1);
    loop.call_soon([&] { loop.busy(5s); });
    loop.call_later(6s, [&] { loop.stop(); });
    loop.run_forever();
    CHECK(loop.fake_signals().arrivals() == std::vector<std::pair<Duration, int>>{{1s, SIGUSR1}});
    CHECK(handled == Duration(5s));
    loop.close();
}

// ---- dispositions -------------------------------------------------------------------------

TEST_CASE(
    "FakeSignals: every signal starts with the default disposition; set_disposition changes it") {
    sim::SimLoop loop;
    sim::FakeSignals& signals = loop.fake_signals();
    CHECK(signals.disposition(SIGINT) == SignalDisposition::default_action);
    CHECK(signals.disposition(SIGTERM) == SignalDisposition::default_action);
    signals.set_disposition(SIGINT, SignalDisposition::ignored);
    CHECK(signals.disposition(SIGINT) == SignalDisposition::ignored);
    signals.set_disposition(SIGINT, SignalDisposition::handler);
    CHECK(signals.disposition(SIGINT) == SignalDisposition::handler);
    CHECK(signals.disposition(SIGTERM) == SignalDisposition::default_action);
    loop.close();
}

TEST_CASE("FakeSignals: install / is_installed / restore_default") {
    sim::SimLoop loop;
    SignalPort& signals =
        loop.signals();  // (FakeSignals::install does not repeat the default argument)
    std::uint64_t first = signals.install(SIGINT, [] {});
    CHECK(signals.disposition(SIGINT) == SignalDisposition::handler);
    CHECK(signals.is_installed(SIGINT, first));
    CHECK_FALSE(signals.is_installed(SIGTERM, first));
    std::uint64_t second = signals.install(SIGINT, [] {});
    CHECK(second != first);
    CHECK_FALSE(signals.is_installed(SIGINT, first));  // replaced
    CHECK(signals.is_installed(SIGINT, second));
    loop.fake_signals().set_disposition(SIGINT,
                                        SignalDisposition::handler);  // "someone else" took over
    CHECK_FALSE(signals.is_installed(SIGINT, second));
    std::uint64_t third = signals.install(SIGINT, [] {});
    signals.restore_default(SIGINT);
    CHECK(signals.disposition(SIGINT) == SignalDisposition::default_action);
    CHECK_FALSE(signals.is_installed(SIGINT, third));
    CHECK(trace_count(loop, "signal", "handler installed for SIGINT") == 3);
    CHECK(trace_count(loop, "signal", "default disposition restored for SIGINT") == 1);
    loop.close();
}

TEST_CASE("FakeSignals: set_install_fails makes install() throw ValueError and changes nothing") {
    sim::SimLoop loop;
    sim::FakeSignals& signals = loop.fake_signals();
    signals.set_install_fails(true);
    CHECK_THROWS_AS(signals.install(SIGINT, [] {}, {}), ValueError);
    CHECK(signals.disposition(SIGINT) == SignalDisposition::default_action);
    signals.set_install_fails(false);
    std::uint64_t id = signals.install(SIGINT, [] {}, {});
    CHECK(signals.is_installed(SIGINT, id));
    loop.close();
}

TEST_CASE("FakeSignals: the main-thread flag defaults to true and can be cleared") {
    sim::SimLoop loop;
    CHECK(loop.fake_signals().on_main_thread());
    CHECK(loop.signals().on_main_thread());
    loop.fake_signals().set_main_thread(false);
    CHECK_FALSE(loop.signals().on_main_thread());
    CHECK(&loop.signals() == &loop.fake_signals());
    loop.close();
}

TEST_CASE("FakeSignals: SIGINT with the default disposition ends the simulated process") {
    sim::SimLoop loop;
    loop.fake_signals().schedule_at(2s, SIGINT);
    auto ended = thrown<ProcessTerminated>([&] { loop.run_until_complete(sleep_for(10s)); });
    REQUIRE(ended);
    CHECK(ended->signal_number() == SIGINT);
    CHECK(contains(ended->what(), "SIGINT"));
    CHECK(contains(ended->what(), "t=2.000s"));
    CHECK(loop.terminated());
    CHECK(loop.time() == 2s);
    CHECK(trace_count(loop, "process", "ended by SIGINT (default action)") == 1);
    loop.close();
}

TEST_CASE("FakeSignals: raise(SIGTERM) inside a callback ends the process from that callback") {
    sim::SimLoop loop;
    bool after_raise = false;
    loop.call_later(1s, [&] {
        loop.fake_signals().raise(SIGTERM);
        after_raise = true;
    });
    auto ended = thrown<ProcessTerminated>([&] { loop.run_until_complete(sleep_for(5s)); });
    REQUIRE(ended);
    CHECK(ended->signal_number() == SIGTERM);
    CHECK_FALSE(after_raise);
    CHECK(loop.time() == 1s);
    CHECK(loop.terminated());
    loop.close();
}

TEST_CASE("FakeSignals: an ignored signal does nothing but is recorded") {
    sim::SimLoop loop;
    loop.fake_signals().set_disposition(SIGINT, SignalDisposition::ignored);
    loop.fake_signals().schedule_at(1s, SIGINT);
    loop.run_until_complete(sleep_for(3s));
    CHECK_FALSE(loop.terminated());
    CHECK(loop.time() == 3s);
    CHECK(loop.fake_signals().arrivals() == std::vector<std::pair<Duration, int>>{{1s, SIGINT}});
    CHECK(trace_count(loop, "signal", "SIGINT ignored") == 1);
    loop.close();
}

TEST_CASE(
    "FakeSignals: a disposition set by other code (no callable here) neither ends nor disturbs") {
    sim::SimLoop loop;
    loop.fake_signals().set_disposition(SIGINT, SignalDisposition::handler);
    loop.fake_signals().schedule_at(1s, SIGINT);
    loop.run_until_complete(sleep_for(3s));
    CHECK_FALSE(loop.terminated());
    CHECK(loop.time() == 3s);
    CHECK(loop.fake_signals().arrivals().size() == 1);
    loop.close();
}

TEST_CASE("FakeSignals: signal_name") {
    CHECK(sim::signal_name(SIGINT) == "SIGINT");
    CHECK(sim::signal_name(SIGTERM) == "SIGTERM");
    CHECK(sim::signal_name(SIGUSR1) == "SIGUSR1");
    CHECK(sim::signal_name(64) == "signal 64");
}

// ---- loop.add_signal_handler --------------------------------------------------------------

TEST_CASE("add_signal_handler: the callback runs through call_soon, not inside the signal's step") {
    sim::SimLoop loop;
    std::vector<std::string> order;
    loop.add_signal_handler(SIGUSR1, [&] { order.push_back("cb"); });
    CHECK(loop.fake_signals().disposition(SIGUSR1) == SignalDisposition::handler);
    loop.call_soon([&] {
        loop.fake_signals().raise(SIGUSR1);
        loop.call_soon([&] { order.push_back("queued before"); });  // queued before the cb
        order.push_back("raiser");
    });
    loop.call_later(1s, [&] { loop.stop(); });
    loop.run_forever();
    CHECK(order == std::vector<std::string>{"raiser", "queued before", "cb"});
    loop.close();
}

TEST_CASE("add_signal_handler: every arrival runs the callback once") {
    sim::SimLoop loop;
    std::vector<Duration> times;
    loop.add_signal_handler(SIGUSR1, [&] { times.push_back(loop.time()); });
    for (int i = 1; i <= 3; ++i)
        loop.fake_signals().schedule_at(std::chrono::seconds(i), SIGUSR1);
    loop.run_until_complete(sleep_for(4s));
    CHECK(times == std::vector<Duration>{1s, 2s, 3s});
    loop.close();
}

TEST_CASE(
    "remove_signal_handler: restores the default disposition; false when there is nothing to "
    "remove") {
    sim::SimLoop loop;
    int calls = 0;
    loop.add_signal_handler(SIGUSR1, [&] { ++calls; });
    CHECK(loop.remove_signal_handler(SIGUSR1));
    CHECK(loop.fake_signals().disposition(SIGUSR1) == SignalDisposition::default_action);
    CHECK_FALSE(loop.remove_signal_handler(SIGUSR1));
    CHECK_FALSE(loop.remove_signal_handler(SIGUSR2));
    // With the default disposition back, SIGUSR1 ends the process (its POSIX default action).
    loop.fake_signals().schedule_at(1s, SIGUSR1);
    CHECK_THROWS_AS(loop.run_until_complete(sleep_for(2s)), ProcessTerminated);
    CHECK(calls == 0);
    loop.close();
}

TEST_CASE("add_signal_handler: an empty callback is a ValueError; a closed loop refuses") {
    sim::SimLoop loop;
    CHECK_THROWS_AS(loop.add_signal_handler(SIGUSR1, {}), ValueError);
    CHECK(loop.fake_signals().disposition(SIGUSR1) == SignalDisposition::default_action);
    loop.close();
    CHECK_THROWS_WITH_AS(loop.add_signal_handler(SIGUSR1, [] {}), "Event loop is closed",
                         RuntimeError);
}

TEST_CASE(
    "FakeSignals: a default-action signal during a busy callback ends the process at its arrival") {
    sim::SimLoop loop;
    loop.fake_signals().schedule_at(2s, SIGINT);
    bool returned = false;
    loop.call_soon([&] {
        loop.busy(10s);
        returned = true;
    });
    auto ended = thrown<ProcessTerminated>([&] { loop.run_forever(); });
    REQUIRE(ended);
    CHECK(ended->signal_number() == SIGINT);
    CHECK_FALSE(returned);
    CHECK(loop.time() == 2s);
    CHECK(loop.terminated());
    loop.close();
}

namespace {
Coro<int> swallow_everything_around_busy() {
    try {
        sim::busy(10s);
    } catch (...) {  // a simulated death cannot be caught away
    }
    co_return 1;
}
}  // namespace

TEST_CASE(
    "FakeSignals: catching ProcessTerminated inside the callback does not revive the process") {
    sim::SimLoop loop;
    loop.fake_signals().schedule_at(2s, SIGINT);
    CHECK_THROWS_AS(loop.run_until_complete(swallow_everything_around_busy()), ProcessTerminated);
    CHECK(loop.terminated());
    CHECK_THROWS_AS(loop.run_until_complete(sleep_for(1s)),
                    ProcessTerminated);  // and it stays dead
    loop.close();
}

TEST_CASE("FakeSignals: schedule_at delivers exactly at its time even with max_timer_lateness") {
    for (std::uint64_t seed = 0; seed < 5; ++seed) {
        sim::SimLoop loop({.seed = seed, .max_timer_lateness = 500ms});
        std::optional<Duration> handled;
        loop.add_signal_handler(SIGUSR1, [&] { handled = loop.time(); });
        loop.fake_signals().schedule_at(1s, SIGUSR1);
        loop.run_until_complete(sleep_for(10s));
        REQUIRE(loop.fake_signals().arrivals().size() == 1);
        CHECK(loop.fake_signals().arrivals()[0].first == 1s);
        CHECK(handled == Duration(1s));
        loop.close();
    }
}

// ---- observing arrivals --------------------------------------------------------------------

TEST_CASE(
    "FakeSignals: on_arrival sees every arrival (time, step, callback, raise) with its virtual "
    "time, before the handler runs") {
    sim::SimLoop loop;
    std::vector<std::string> events;
    loop.fake_signals().on_arrival([&events, &loop](int signum, Duration at) {
        CHECK(at == loop.time());
        events.push_back("arrived " + sim::signal_name(signum) + " " + sim::format_time(at));
    });
    loop.add_signal_handler(SIGUSR1, [&events, &loop] {
        events.push_back("handled SIGUSR1 " + sim::format_time(loop.time()));
    });
    loop.fake_signals().set_disposition(SIGUSR2, SignalDisposition::ignored);
    loop.fake_signals().schedule_at(2s, SIGUSR1);
    loop.fake_signals().schedule_at(3s, SIGUSR2);  // ignored, but it arrives
    loop.call_later(1s, [&loop] { loop.fake_signals().raise(SIGUSR1); });
    loop.call_later(4s, [&loop] { loop.busy(2s); });  // a signal arrives inside it at 5 s
    loop.fake_signals().schedule_at(5s, SIGUSR1);
    loop.run_until_complete(sleep_for(10s));
    CHECK(test_support::joined(events) ==
          "arrived SIGUSR1 1.000s | handled SIGUSR1 1.000s | arrived SIGUSR1 2.000s | "
          "handled SIGUSR1 2.000s | arrived SIGUSR2 3.000s | arrived SIGUSR1 5.000s | "
          "handled SIGUSR1 6.000s");
    CHECK(loop.fake_signals().arrivals().size() == 4);
    loop.fake_signals().on_arrival({});  // removed
    loop.fake_signals().raise(SIGUSR2);
    CHECK(loop.fake_signals().arrivals().size() == 5);
    CHECK(events.size() == 7);
    loop.close();
}

TEST_CASE(
    "FakeSignals: on_arrival runs even for a signal whose default action ends the process, and "
    "its trace entries keep the run deterministic") {
    auto run_once = [](std::uint64_t seed) {
        sim::SimLoop loop({.seed = seed});
        std::vector<std::pair<int, Duration>> seen;
        loop.fake_signals().on_arrival([&seen, &loop](int signum, Duration at) {
            seen.emplace_back(signum, at);
            loop.note("test", "observer saw " + sim::signal_name(signum));
        });
        loop.fake_signals().schedule_at(2s, SIGTERM);
        CHECK_THROWS_AS(loop.run_until_complete(sleep_for(5s)), ProcessTerminated);
        CHECK(seen == std::vector<std::pair<int, Duration>>{{SIGTERM, 2s}});
        CHECK(trace_count(loop, "test", "observer saw SIGTERM") == 1);
        loop.close();
        return loop.trace().digest();
    };
    CHECK(run_once(1) == run_once(1));
}

TEST_CASE("FakeSignals: an exception thrown by the arrival observer leaves through run") {
    sim::SimLoop loop;
    loop.add_signal_handler(SIGUSR1, [] {});
    loop.fake_signals().on_arrival([](int, Duration) { throw ValueError("observer failed"); });
    loop.fake_signals().schedule_at(1s, SIGUSR1);
    CHECK_THROWS_WITH_AS(loop.run_until_complete(sleep_for(3s)), "observer failed", ValueError);
    loop.fake_signals().on_arrival({});
    loop.close();
}

TEST_SUITE_END();
