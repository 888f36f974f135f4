// The SimLoop's simulated network (sim/network): hosts and name resolution, and connections
// (latency, bandwidth, byte order, windows, idle sockets). Sim only.
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

namespace {

template <class E, class T>
std::string raises(Sim& s, Coro<T> coro) {
    try {
        s.loop.run_until_complete(std::move(coro));
    } catch (const E& error) {
        return error.what();
    }
    return "(nothing raised)";
}

}  // namespace

// ---- hosts and names ------------------------------------------------------------------------

namespace {
Coro<std::vector<SocketAddress>> resolve_it(std::string host, bool passive) {
    co_return co_await sim::network().resolve(std::move(host), 80, passive);
}
}  // namespace

TEST_CASE("SimNetwork: hosts resolve to their addresses; localhost is 127.0.0.1") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    CHECK(&s.loop.network() == &net);
    CHECK(net.host("localhost").address() == "127.0.0.1");
    CHECK(net.host("server").address() == "10.0.0.2");
    CHECK(s.loop.run_until_complete(resolve_it("server", false)) ==
          std::vector<SocketAddress>{{"10.0.0.2", 80}});
    CHECK(s.loop.run_until_complete(resolve_it("localhost", false)) ==
          std::vector<SocketAddress>{{"127.0.0.1", 80}});
    CHECK(s.loop.run_until_complete(resolve_it("10.9.9.9", false)) ==
          std::vector<SocketAddress>{{"10.9.9.9", 80}});
    CHECK(s.loop.run_until_complete(resolve_it("", true)) ==
          std::vector<SocketAddress>{{"0.0.0.0", 80}});
    try {
        s.loop.run_until_complete(resolve_it("nowhere", false));
        FAIL("no error");
    } catch (const OSError& error) {
        CHECK(error.error_number() == -2);
        CHECK(std::string(error.what()) == "Name or service not known");
    }
    CHECK_THROWS_AS(net.add_host("server", "10.0.0.3"), ValueError);
    CHECK_THROWS_AS(net.add_host("other", "10.0.0.2"), ValueError);
    CHECK_THROWS_AS(net.add_host("other", "127.0.0.2"), ValueError);
    CHECK_THROWS_AS(net.add_host("other", "10.0.0"), ValueError);
    CHECK_THROWS_AS(net.host("nowhere"), LookupError);
    CHECK_THROWS_AS(net.partition("client", "client"), ValueError);
    CHECK_THROWS_AS(net.partition("client", "nowhere"), LookupError);
}

namespace {
Coro<std::string> host_of_task() {
    co_return sim::network().current_host().name();
}
Coro<std::string> host_of_child() {
    Task<std::string> child = get_running_loop().create_task(host_of_task());
    co_return co_await child;
}
}  // namespace

TEST_CASE("SimNetwork: spawn_on runs a task on a host, and its children stay there") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    CHECK(s.loop.run_until_complete(host_of_task()) == "localhost");
    auto task = net.spawn_on("server", host_of_child());
    CHECK(s.loop.run_until_complete(task) == "server");
    auto other = net.host("client").spawn(host_of_task());
    CHECK(s.loop.run_until_complete(other) == "client");
    CHECK_THROWS_AS(net.spawn_on("nowhere", host_of_task()), LookupError);
}

// ---- connections ----------------------------------------------------------------------------

namespace {
struct Seen {
    std::optional<SocketAddress> server_peer;
    std::optional<SocketAddress> server_local;
};
Coro<void> record_handler(std::shared_ptr<Seen> seen, StreamReader reader, StreamWriter writer) {
    seen->server_peer = writer.peer_address();
    seen->server_local = writer.local_address();
    co_await echo_handler(std::move(reader), std::move(writer));
}
Coro<void> serve_recording(std::shared_ptr<Seen> seen) {
    ServerOptions options;
    ClientConnected handler = [seen](StreamReader reader, StreamWriter writer) {
        return record_handler(seen, std::move(reader), std::move(writer));
    };
    std::shared_ptr<Server> server = co_await start_server(handler, "", 80, options);
    co_await server->serve_forever();
}
}  // namespace

TEST_CASE("SimNetwork: a client on one host talks to a server on another, one latency per trip") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    auto seen = std::make_shared<Seen>();
    auto server = net.spawn_on("server", serve_recording(seen));
    auto client = net.spawn_on("client", echo_later("server", 80, "hello\n"));
    CHECK(s.loop.run_until_complete(client) == "hello\n");
    // 100 ms start, connect: SYN + SYN-ACK (20 ms), request 10 ms, answer 10 ms.
    CHECK(s.loop.time() == 140ms);
    REQUIRE(seen->server_peer.has_value());
    CHECK(*seen->server_peer == SocketAddress{"10.0.0.1", 40000});  // ephemeral ports from 40000
    CHECK(*seen->server_local == SocketAddress{"10.0.0.2", 80});
    server.cancel();
    CHECK(has_line(s.loop.trace(), "connect client -> server ('10.0.0.2', 80)"));
    CHECK(has_line(s.loop.trace(), "deliver #1 client -> server 6 bytes"));
}

TEST_CASE("SimNetwork: unchanged code on 127.0.0.1 talks to its own host") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    auto local_server = s.loop.create_task(serve_echo(7));
    auto remote_server = net.spawn_on("server", serve_echo(7));
    CHECK(s.loop.run_until_complete(echo_later("127.0.0.1", 7, "mine\n")) == "mine\n");
    auto on_server = net.spawn_on("server", echo_later("localhost", 7, "theirs\n"));
    CHECK(s.loop.run_until_complete(on_server) == "theirs\n");
    local_server.cancel();
    remote_server.cancel();
}

TEST_CASE("SimNetwork: connecting where nothing listens is refused after one round trip") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    auto client = net.spawn_on("client", echo_once("server", 81, "x\n"));
    try {
        s.loop.run_until_complete(client);
        FAIL("no error");
    } catch (const ConnectionRefusedError& error) {
        CHECK(error.error_number() == ECONNREFUSED);
        CHECK(contains(error.what(), "Connect call failed ('10.0.0.2', 81)"));
    }
    CHECK(s.loop.time() == 20ms);
    CHECK(has_line(s.loop.trace(), "refused client -> server ('10.0.0.2', 81)"));
}

TEST_CASE("SimNetwork: bind errors") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    auto first = net.bind({"0.0.0.0", 80}, {});
    CHECK(first->local_address() == SocketAddress{"0.0.0.0", 80});
    try {
        (void)net.bind({"127.0.0.1", 80}, {});
        FAIL("no error");
    } catch (const OSError& error) {
        CHECK(error.error_number() == EADDRINUSE);
    }
    try {
        (void)net.bind({"10.0.0.2", 80}, {});  // another host's address
        FAIL("no error");
    } catch (const OSError& error) {
        CHECK(error.error_number() == EADDRNOTAVAIL);
    }
    auto ephemeral = net.bind({"", 0}, {});
    CHECK(ephemeral->local_address().port == 40000);
}

namespace {
/// Sends `count` numbered chunks, then closes; returns nothing.
Coro<void> send_numbered(std::string host, int count) {
    OpenOptions options;
    auto [reader, writer] = co_await open_connection(host, 90, options);
    for (int i = 0; i < count; ++i) {
        writer.write(std::to_string(i) + ",");
        if (i % 7 == 0)
            co_await writer.drain();
    }
    writer.close();
    co_await writer.wait_closed();
}
Coro<void> receive_all(std::shared_ptr<std::string> out, StreamReader reader, StreamWriter writer) {
    *out = co_await reader.read();
    writer.close();
}
Coro<void> serve_collect(std::shared_ptr<std::string> out) {
    ServerOptions options;
    ClientConnected handler = [out](StreamReader reader, StreamWriter writer) {
        return receive_all(out, std::move(reader), std::move(writer));
    };
    std::shared_ptr<Server> server = co_await start_server(handler, "", 90, options);
    co_await server->serve_forever();
}
Coro<void> wait_for_text(std::shared_ptr<std::string> out) {
    while (out->empty())
        co_await sleep(1ms);
}
}  // namespace

namespace {
/// Hosts "a" and "b", 1 to 50 ms apart (a seeded latency per packet).
void hosts_a_b(sim::SimLoop& loop, std::uint64_t) {
    SimNetwork& net = loop.sim_network();
    net.add_host("a", "10.0.0.1");
    net.add_host("b", "10.0.0.2");
    net.set_link("a", "b", sim::LinkOptions{1ms, 50ms, 0});
}
}  // namespace

SIMRUN_SIM_TEST("SimNetwork: byte order is kept under random latency and many writes", .seeds = 5,
                .setup = hosts_a_b) {
    SimNetwork& net = sim::running_sim().sim_network();
    auto out = std::make_shared<std::string>();
    Task<void> server = net.spawn_on("b", serve_collect(out));
    Task<void> client = net.spawn_on("a", send_numbered("b", 2000));
    co_await client;
    co_await wait_for_text(out);
    std::string expected;
    for (int i = 0; i < 2000; ++i)
        expected += std::to_string(i) + ",";
    CHECK(*out == expected);
    server.cancel();
}

namespace {
Coro<Duration> timed_transfer(std::string host, std::size_t size) {
    OpenOptions options;
    auto [reader, writer] = co_await open_connection(host, 90, options);
    const Duration start = get_running_loop().time();
    writer.write(std::string(size, 'x'));
    writer.close();
    co_await writer.wait_closed();
    co_return start;
}
}  // namespace

TEST_CASE("SimNetwork: bandwidth adds the transmission time") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    net.set_link("client", "server", fixed(10ms, 1000));  // 1000 bytes per second
    auto out = std::make_shared<std::string>();
    auto server = net.spawn_on("server", serve_collect(out));
    auto client = net.spawn_on("client", timed_transfer("server", 500));
    const Duration sent_at = s.loop.run_until_complete(client);
    s.loop.run_until_complete(wait_for_text(out));
    CHECK(out->size() == 500);
    // 500 bytes take 0.5 s on the wire, then 10 ms of latency (the reader polls every 1 ms).
    CHECK(s.loop.time() >= sent_at + 510ms);
    CHECK(s.loop.time() <= sent_at + 512ms);
    server.cancel();
}

namespace {
Coro<void> slow_reader(StreamReader reader, StreamWriter writer) {
    co_await sleep(1s);  // reads nothing for a second
    for (;;) {
        std::string data = co_await reader.read(4096);
        if (data.empty())
            break;
    }
    writer.close();
}
Coro<void> serve_slow() {
    ServerOptions options;
    std::shared_ptr<Server> server = co_await start_server(slow_reader, "", 90, options);
    co_await server->serve_forever();
}
Coro<Duration> write_a_lot(std::string host) {
    OpenOptions options;
    auto [reader, writer] = co_await open_connection(host, 90, options);
    writer.write(std::string(1 << 20, 'x'));  // 1 MiB: far more than window and buffers
    co_await writer.drain();
    const Duration drained = get_running_loop().time();
    writer.close();
    co_await writer.wait_closed();
    co_return drained;
}
}  // namespace

TEST_CASE("SimNetwork: a slow reader pauses the writer's drain() (the window is full)") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    net.options().window = 16 * 1024;
    auto server = net.spawn_on("server", serve_slow());
    auto client = net.spawn_on("client", write_a_lot("server"));
    const Duration drained = s.loop.run_until_complete(client);
    CHECK(drained > 1s);
    server.cancel();
}

// ---- idle sockets and the deadlock check ----------------------------------------------------

namespace {
Coro<void> keep_silent(std::shared_ptr<std::vector<StreamWriter>> keep, StreamWriter writer) {
    keep->push_back(writer);  // keeps the connection open, says nothing
    co_return;
}
Coro<void> serve_silent(std::shared_ptr<std::vector<StreamWriter>> keep) {
    ServerOptions options;
    ClientConnected handler = [keep](StreamReader, StreamWriter writer) {
        return keep_silent(keep, std::move(writer));
    };
    std::shared_ptr<Server> server = co_await start_server(handler, "", 90, options);
    co_await server->serve_forever();
}
Coro<std::string> read_forever(std::string host) {
    OpenOptions options;
    auto [reader, writer] = co_await open_connection(host, 90, options);
    co_return co_await reader.read(10);
}
}  // namespace

TEST_CASE("SimNetwork: a task waiting on an idle connection is a DeadlockError, not a spin") {
    Sim s({.step_limit = 10000});  // a spinning watch would end in LivelockError
    SimNetwork& net = two_hosts(s);
    auto keep = std::make_shared<std::vector<StreamWriter>>();
    auto server = net.spawn_on("server", serve_silent(keep));
    auto client = net.spawn_on("client", read_forever("server"));
    CHECK_THROWS_AS(s.loop.run_until_complete(client), sim::DeadlockError);
    CHECK(s.loop.steps() < 200);
    keep->clear();  // the handler holds `keep`, which holds the writers: break the cycle
}

TEST_CASE("SimNetwork: closing the loop closes every socket") {
    Sim s;
    SimNetwork& net = two_hosts(s);
    auto listener = net.bind({"", 80}, {});
    listener->listen(5);
    s.loop.close();
    CHECK_THROWS_AS(listener->accept(), OSError);
}

TEST_SUITE_END();
