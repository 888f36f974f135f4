// The simulated network's faults (partition, hold, reset, close, crash, restart), fault plans, and
// the determinism of the whole: a seed replays a run bit for bit. Sim only.
#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <simrun/sim/sim.hpp>
#include <simrun/simrun.hpp>

#include "sim_network_support.hpp"
#include "support.hpp"

using namespace simrun;
using namespace std::chrono_literals;
using sim_network_test::echo_handler;
using sim_network_test::echo_later;
using sim_network_test::echo_once;
using sim_network_test::fixed;
using sim_network_test::has_line;
using sim_network_test::net_lines;
using sim_network_test::serve_echo;
using sim_network_test::two_hosts;
using simrun::sim::SimNetwork;
using test_support::contains;
using test_support::Sim;

TEST_SUITE_BEGIN("sim-only");

// ---- faults ---------------------------------------------------------------------------------

namespace {
Coro<std::string> connect_with_timeout(std::string host, Duration limit) {
    co_return co_await timeout(limit, echo_once(std::move(host), 80, "ping\n"));
}
}  // namespace

TEST_CASE("SimNetwork: a connect under a partition hangs, times out, and works once repaired") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    auto server = net.spawn_on("server", serve_echo(80));
    s.loop.run_until_complete(sleep(10ms));
    net.partition("client", "server");
    auto client = net.spawn_on("client", connect_with_timeout("server", 5s));
    CHECK_THROWS_AS(s.loop.run_until_complete(client), TimeoutError);
    CHECK(s.loop.time() == 10ms + 5s);
    CHECK(net.connections().empty());
    CHECK_FALSE(has_line(s.loop.trace(), "accept queued"));  // the SYN never got through
    net.repair("client", "server");
    auto again = net.spawn_on("client", connect_with_timeout("server", 5s));
    CHECK(s.loop.run_until_complete(again) == "ping\n");
    CHECK(has_line(s.loop.trace(), "partition client server"));
    CHECK(has_line(s.loop.trace(), "repair client server"));
    server.cancel();
}

namespace {
/// Connects, waits for `cut` to happen by hand, then writes a line and reads the answer.
Coro<std::pair<Duration, std::string>> talk_after(std::string host, Duration pause) {
    OpenOptions options;
    auto [reader, writer] = co_await open_connection(host, 80, options);
    co_await sleep(pause);
    writer.write("late\n");
    co_await writer.drain();
    std::string answer = co_await reader.readline();
    const Duration at = get_running_loop().time();
    writer.close();
    co_return std::make_pair(at, answer);
}
Coro<void> fault_at(Duration when, sim::Fault fault) {
    co_await sleep(when - get_running_loop().time());
    sim::network().apply_now(fault);
}
}  // namespace

TEST_CASE("SimNetwork: data sent under a partition waits for the repair, in order") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    auto server = net.spawn_on("server", serve_echo(80));
    auto client = net.spawn_on("client", talk_after("server", 100ms));
    s.loop.run_until_complete(sleep(50ms));  // connected by now
    net.partition("client", "server");
    s.loop.create_task(fault_at(2s, sim::Fault{{}, sim::FaultKind::repair, "client", "server"}));
    auto [at, answer] = s.loop.run_until_complete(client);
    CHECK(answer == "late\n");
    CHECK(at == 2s + 20ms);  // delivered 10 ms after the repair, answered 10 ms later
    server.cancel();
}

TEST_CASE("SimNetwork: hold keeps data in flight until release; connects still pass") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    auto server = net.spawn_on("server", serve_echo(80));
    s.loop.run_until_complete(sleep(10ms));
    net.hold("client", "server");
    auto client = net.spawn_on("client", talk_after("server", Duration::zero()));
    s.loop.create_task(fault_at(3s, sim::Fault{{}, sim::FaultKind::release, "client", "server"}));
    auto [at, answer] = s.loop.run_until_complete(client);
    CHECK(answer == "late\n");
    CHECK(at == 3s + 20ms);
    CHECK(has_line(s.loop.trace(), "hold client server"));
    CHECK(has_line(s.loop.trace(), "release client server"));
    server.cancel();
}

namespace {
Coro<void> read_and_keep(std::shared_ptr<std::string> error, StreamReader reader,
                         StreamWriter writer) {
    try {
        co_await reader.read();
    } catch (const std::exception& e) {
        *error = e.what();
    }
    writer.close();
}
Coro<void> serve_reading(std::shared_ptr<std::string> error) {
    ServerOptions options;
    ClientConnected handler = [error](StreamReader reader, StreamWriter writer) {
        return read_and_keep(error, std::move(reader), std::move(writer));
    };
    std::shared_ptr<Server> server = co_await start_server(handler, "", 80, options);
    co_await server->serve_forever();
}
Coro<std::string> read_until_error(std::string host) {
    OpenOptions options;
    auto [reader, writer] = co_await open_connection(host, 80, options);
    try {
        std::string data = co_await reader.read();
        co_return "eof after " + std::to_string(data.size()) + " bytes";
    } catch (const ConnectionResetError& error) {
        co_return std::string("reset: ") + error.what();
    }
}
}  // namespace

TEST_CASE("SimNetwork: reset(connection) resets both ends") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    auto server_error = std::make_shared<std::string>();
    auto server = net.spawn_on("server", serve_reading(server_error));
    auto client = net.spawn_on("client", read_until_error("server"));
    s.loop.run_until_complete(sleep(100ms));
    REQUIRE(net.connections().size() == 1);
    const sim::ConnectionInfo info = net.connections().at(0);
    CHECK(info.to_string() == "#1 client ('10.0.0.1', 40000) -> server ('10.0.0.2', 80)");
    net.reset(info.id);
    CHECK(s.loop.run_until_complete(client) == "reset: recv: Connection reset by peer");
    s.loop.run_until_complete(sleep(10ms));
    CHECK(contains(*server_error, "Connection reset by peer"));
    CHECK(net.connections().empty());
    CHECK_THROWS_AS(net.reset(info.id), LookupError);
    CHECK(has_line(s.loop.trace(), "reset #1 client <-> server (fault)"));
    server.cancel();
}

TEST_CASE("SimNetwork: close(connection) ends both directions with end of stream") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    auto server_error = std::make_shared<std::string>();
    auto server = net.spawn_on("server", serve_reading(server_error));
    auto client = net.spawn_on("client", read_until_error("server"));
    s.loop.run_until_complete(sleep(100ms));
    REQUIRE(net.close_random().has_value());
    CHECK(s.loop.run_until_complete(client) == "eof after 0 bytes");
    CHECK(server_error->empty());
    CHECK(has_line(s.loop.trace(), "close #1 client <-> server"));
    server.cancel();
}

namespace {
Coro<std::string> write_after_peer_closed(std::string host) {
    OpenOptions options;
    auto [reader, writer] = co_await open_connection(host, 90, options);
    (void)co_await reader.read();  // the server closed
    writer.write("more");          // the send fails at once with EPIPE
    std::string errors;
    for (int i = 0; i < 2; ++i) {
        try {
            co_await writer.drain();
        } catch (const BrokenPipeError& error) {
            errors += std::string("BrokenPipeError: ") + error.what() + "; ";
        } catch (const ConnectionResetError& error) {
            errors += std::string("ConnectionResetError: ") + error.what() + "; ";
        }
    }
    co_return errors;
}
Coro<void> close_at_once(StreamReader, StreamWriter writer) {
    writer.close();
    co_await writer.wait_closed();
}
Coro<void> serve_closing() {
    ServerOptions options;
    std::shared_ptr<Server> server = co_await start_server(close_at_once, "", 90, options);
    co_await server->serve_forever();
}
}  // namespace

TEST_CASE("SimNetwork: writing to a peer that closed fails with BrokenPipeError") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    auto server = net.spawn_on("server", serve_closing());
    auto client = net.spawn_on("client", write_after_peer_closed("server"));
    // As on the epoll loop: the first drain() only knows the connection was lost (asyncio's
    // rule), the next one raises the send's error.
    CHECK(s.loop.run_until_complete(client) ==
          "ConnectionResetError: Connection lost: Connection reset by peer; "
          "BrokenPipeError: send: Broken pipe; ");
    server.cancel();
}

namespace {
Coro<int> count_cancelled(std::shared_ptr<int> cancelled) {
    try {
        co_await sleep(1h);
    } catch (const CancelledError&) {
        ++*cancelled;
        throw;
    }
    co_return 0;
}
Coro<void> spawn_children(std::shared_ptr<int> cancelled) {
    std::vector<Task<int>> children;
    for (int i = 0; i < 3; ++i)
        children.push_back(get_running_loop().create_task(count_cancelled(cancelled)));
    co_await sleep(1h);
}
}  // namespace

TEST_CASE(
    "SimNetwork: crash resets the host's connections, closes its listeners, cancels its "
    "tasks; restart brings it back") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    auto server_error = std::make_shared<std::string>();
    auto cancelled = std::make_shared<int>(0);
    auto server = net.spawn_on("server", serve_reading(server_error));
    auto workers = net.spawn_on("server", spawn_children(cancelled));
    auto bystander = s.loop.create_task(count_cancelled(std::make_shared<int>(0)));
    auto client = net.spawn_on("client", read_until_error("server"));
    s.loop.run_until_complete(sleep(100ms));
    net.crash("server");
    CHECK_FALSE(net.host("server").is_up());
    CHECK(s.loop.run_until_complete(client) == "reset: recv: Connection reset by peer");
    s.loop.run_until_complete(sleep(10ms));
    CHECK(server.cancelled());
    CHECK(workers.cancelled());
    CHECK(*cancelled == 3);
    CHECK_FALSE(bystander.done());
    CHECK_THROWS_AS(net.spawn_on("server", serve_echo(80)), RuntimeError);
    // A crashed host answers nothing: a connect waits.
    auto waiting = net.spawn_on("client", connect_with_timeout("server", 2s));
    CHECK_THROWS_AS(s.loop.run_until_complete(waiting), TimeoutError);
    net.restart("server");
    // Up again, nothing listens: refused, until the service is started again.
    auto refused = net.spawn_on("client", connect_with_timeout("server", 2s));
    CHECK_THROWS_AS(s.loop.run_until_complete(refused), ConnectionRefusedError);
    auto again = net.spawn_on("server", serve_echo(80));
    auto works = net.spawn_on("client", echo_later("server", 80, "back\n"));
    CHECK(s.loop.run_until_complete(works) == "back\n");
    CHECK(has_line(s.loop.trace(), "crash server"));
    CHECK(has_line(s.loop.trace(), "restart server"));
    again.cancel();
    bystander.cancel();
}

TEST_CASE("SimNetwork: a crash during a connect's wait leaves no connection behind") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    auto server = net.spawn_on("server", serve_echo(80));
    s.loop.run_until_complete(sleep(10ms));
    net.partition("client", "server");
    auto client = net.spawn_on("client", connect_with_timeout("server", 10s));
    s.loop.run_until_complete(sleep(1s));
    net.crash("client");
    CHECK_THROWS_AS(s.loop.run_until_complete(client), CancelledError);
    net.repair("client", "server");
    s.loop.run_until_complete(sleep(1s));
    CHECK(net.connections().empty());
    server.cancel();
}

// ---- fault plans ----------------------------------------------------------------------------

TEST_CASE("FaultPlan: one line per fault; random plans are seeded and end healed") {
    sim::FaultPlan plan{{
        {1s, sim::FaultKind::partition, "a", "b", std::nullopt},
        {2s, sim::FaultKind::reset, "", "", 3},
        {2s, sim::FaultKind::close, "a", "", std::nullopt},
        {3s, sim::FaultKind::crash, "b", "", std::nullopt},
    }};
    CHECK(plan.to_string() ==
          "t=1.000s partition a b\nt=2.000s reset #3\nt=2.000s close random a\n"
          "t=3.000s crash b\n");
    sim::SeededChoices one(5);
    sim::SeededChoices two(5);
    const std::vector<std::string> hosts{"a", "b", "c"};
    sim::FaultPlan first = sim::random_fault_plan(one, hosts, 10s, 20);
    CHECK(first == sim::random_fault_plan(two, hosts, 10s, 20));
    CHECK(first.faults.size() >= 20);
    // Whatever is in force at the horizon is undone there.
    int partitions = 0;
    int crashes = 0;
    for (const sim::Fault& fault : first.faults) {
        CHECK(fault.at <= 10s);
        if (fault.kind == sim::FaultKind::partition)
            ++partitions;
        if (fault.kind == sim::FaultKind::repair)
            --partitions;
        if (fault.kind == sim::FaultKind::crash)
            ++crashes;
        if (fault.kind == sim::FaultKind::restart)
            --crashes;
    }
    (void)partitions;
    (void)crashes;
    sim::SeededChoices three(5);
    CHECK_THROWS_AS(sim::random_fault_plan(three, {"a"}, 10s, 3), ValueError);
}

namespace {
/// A client that retries echo requests until `count` succeeded; returns the attempts.
Coro<int> retrying_client(int count) {
    int attempts = 0;
    int done = 0;
    while (done < count) {
        ++attempts;
        try {
            std::string answer =
                co_await timeout(2s, echo_once("server", 80, std::to_string(done) + "\n"));
            if (answer == std::to_string(done) + "\n")
                ++done;
        } catch (const OSError&) {
        } catch (const TimeoutError&) {
        } catch (const IncompleteReadError&) {
        }
        co_await sleep(600ms);  // 20 requests take more than the plan's 10 s
    }
    co_return attempts;
}
/// Restarts the echo service whenever its host is up and it is not running.
Coro<void> supervisor() {
    SimNetwork& net = sim::network();
    std::optional<Task<void>> service;
    for (;;) {
        if (net.host("server").is_up() && (!service || service->done()))
            service = net.spawn_on("server", serve_echo(80));
        co_await sleep(500ms);
    }
}
std::uint64_t run_plan(std::uint64_t seed, const sim::FaultPlan& plan, std::string* lines) {
    Sim s({.seed = seed});
    SimNetwork& net = two_hosts(s);
    net.set_link("client", "server", sim::LinkOptions{1ms, 20ms, 0});
    net.apply(plan);
    auto keeper = s.loop.create_task(supervisor());
    auto client = net.spawn_on("client", retrying_client(20));
    s.loop.run_until_complete(client);
    keeper.cancel();
    if (lines != nullptr) {
        for (const std::string& line : net_lines(s.loop.trace()))
            *lines += line + "\n";
    }
    return s.loop.trace().digest();
}
}  // namespace

TEST_CASE("SimNetwork: apply(plan) runs each fault at its time; a seed replays bit for bit") {
    sim::SeededChoices choices(11);
    sim::FaultPlan plan = sim::random_fault_plan(choices, {"client", "server"}, 10s, 12);
    // The client program must survive: only the server crashes.
    std::erase_if(plan.faults, [](const sim::Fault& fault) {
        return (fault.kind == sim::FaultKind::crash || fault.kind == sim::FaultKind::restart) &&
               fault.a == "client";
    });
    std::string lines_one;
    std::string lines_two;
    const std::uint64_t one = run_plan(3, plan, &lines_one);
    const std::uint64_t two = run_plan(3, plan, &lines_two);
    CHECK(one == two);
    CHECK(lines_one == lines_two);
    INFO(lines_one);
    INFO(plan.to_string());
    for (const sim::Fault& fault : plan.faults)
        CHECK(contains(lines_one, "fault " + fault.to_string()));
    const std::uint64_t other = run_plan(4, plan, nullptr);
    CHECK(other != one);
}

TEST_CASE("SimNetwork: the same seed gives the same trace; another seed other timings") {
    auto run = [](std::uint64_t seed) {
        Sim s({.seed = seed});
        SimNetwork& net = s.loop.sim_network();
        net.add_host("client", "10.0.0.1");
        net.add_host("server", "10.0.0.2");
        auto server = net.spawn_on("server", serve_echo(80));
        auto client = net.spawn_on("client", echo_later("server", 80, "x\n"));
        s.loop.run_until_complete(client);
        server.cancel();
        return std::make_pair(s.loop.trace().digest(), s.loop.time());
    };
    CHECK(run(1) == run(1));
    CHECK(run(1).second != run(2).second);
    CHECK(run(1).first != run(2).first);
}

TEST_SUITE_END();
