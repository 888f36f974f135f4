// The testing kit's doctest and rapidcheck glue (simrun/testing/doctest.hpp, rapidcheck.hpp).
#include <chrono>
#include <csignal>
#include <memory>
#include <sstream>

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

namespace {

Coro<void> glue_echo_handler(StreamReader reader, StreamWriter writer) {
    for (std::string line = co_await reader.readline(); !line.empty();
         line = co_await reader.readline()) {
        writer.write(line);
        co_await writer.drain();
    }
    writer.close();
}

Coro<void> glue_echo_server() {
    ServerOptions options;
    std::shared_ptr<Server> server =
        co_await start_server(glue_echo_handler, "0.0.0.0", 7000, options);
    co_await server->serve_forever();
}

Coro<void> glue_echo_once() {
    OpenOptions options;
    auto [reader, writer] = co_await open_connection("server", 7000, options);
    writer.write("ping\n");
    co_await writer.drain();
    const std::string answer = co_await reader.readline();
    writer.close();
    if (answer != "ping\n")
        throw ValueError("echo answered '" + answer + "'");
}

/// Every 500 ms for 5 s, the client's echo must come back within 1 s (it does on a whole
/// network, 10 ms each way).
Coro<void> glue_echo_service() {
    sim::SimNetwork& net = sim::running_sim().sim_network();
    Task<void> server = net.spawn_on("server", glue_echo_server());
    for (int i = 0; i < 10; ++i) {
        co_await sleep(500ms);
        Task<void> echo = net.spawn_on("client", glue_echo_once());
        co_await wait_for(echo, 1s);
    }
    server.cancel();
}

void two_glue_hosts(sim::SimLoop& loop, std::uint64_t) {
    sim::SimNetwork& net = loop.sim_network();
    net.add_host("client", "10.0.0.1");
    net.add_host("server", "10.0.0.2");
    net.set_link("client", "server", sim::LinkOptions{10ms, 10ms, 0});
}

}  // namespace

TEST_CASE("kit: network_fault_plans draws well-formed, healed plans") {
    const bool passed = rc::check("network plans are well formed", [] {
        const auto network = *testing::network_fault_plans(
            {.hosts = {"a", "b", "c"}, .horizon = 5s, .max_faults = 4, .never_crash = {"a"}});
        const auto& faults = network.faults;
        std::size_t before_heal = 0;
        for (std::size_t i = 0; i < faults.size(); ++i) {
            RC_ASSERT(faults[i].at > Duration::zero());
            RC_ASSERT(faults[i].at <= Duration(5s));
            if (i > 0)
                RC_ASSERT(faults[i - 1].at <= faults[i].at);
            const bool one_host = faults[i].kind == sim::FaultKind::crash ||
                                  faults[i].kind == sim::FaultKind::restart;
            RC_ASSERT(one_host == faults[i].b.empty());
            RC_ASSERT(faults[i].a != faults[i].b);
            RC_ASSERT(!(faults[i].kind == sim::FaultKind::crash && faults[i].a == "a"));
            if (faults[i].at < Duration(5s))
                ++before_heal;
        }
        RC_ASSERT(before_heal <= 4U);
        RC_ASSERT(sim::healed(network, 5s) == network);  // nothing left in force at the horizon
    });
    CHECK(passed);
    CHECK_THROWS_AS(testing::network_fault_plans({.hosts = {"a"}}), ValueError);
}

TEST_CASE("kit: a network fault plan is applied by check_in_sim and shrinks to one fault") {
    static testing::FaultPlan last_failing;
    static int runs = 0;
    static int failures = 0;
    runs = failures = 0;
    // checkTestable: rc::check without printing the (expected) failure.
    const auto result = rc::detail::checkTestable([] {
        testing::FaultPlan plan;
        plan.network = *testing::network_fault_plans(
            {.hosts = {"client", "server"}, .horizon = 5s, .never_crash = {"client"}});
        ++runs;
        try {
            testing::check_in_sim(plan, [] { return glue_echo_service(); },
                                  {.setup = two_glue_hosts});
        } catch (...) {
            ++failures;
            last_failing = plan;
            throw;
        }
    });
    CHECK(result.template is<rc::detail::FailureResult>());  // a partition, a hold, a crash...
    CHECK(failures >= 1);
    CHECK(runs > failures);  // some plans (none, or a reset between echoes) pass
    // Shrunk to one fault (the first kind, partition, at the earliest time) and its healing.
    const auto& faults = last_failing.network.faults;
    REQUIRE(faults.size() == 2U);
    CHECK(faults[0].to_string() == "t=0.001s partition client server");
    CHECK(faults[1].to_string() == "t=5.000s repair client server");
    std::ostringstream printed;  // as docs/testing-your-code.md shows it
    printed << last_failing;
    CHECK(printed.str() ==
          "FaultPlan{signals:; jobs:; choices:; network: [t=0.001s partition "
          "client server] [t=5.000s repair client server]}");
}

TEST_SUITE_END();
