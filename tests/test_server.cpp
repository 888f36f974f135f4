// Server, start_server, create_server: a port of CPython 3.13's test_server.py (each test keeps
// its name and asserts what the original asserts), plus the accept loop's rules (out of
// descriptors, aborted connections, a failing connection never stops the server) and the
// errors of create_server/create_connection. On both loops, over the loop's network or the
// in-memory one (always for injected faults).
#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "loop_timing.hpp"
#include "support.hpp"
#include "support_net.hpp"

using namespace simrun;
using test_support::contains;
using test_support::eventually;
using test_support::NetLoop;
using test_support::port_of;

namespace {

Coro<void> read_then_close(StreamReader rd, StreamWriter wr) {
    std::exception_ptr error;
    try {
        co_await rd.read();
    } catch (...) {
        error = std::current_exception();
    }
    wr.close();  // asyncio's `finally:` (which may await: here after the try)
    co_await wr.wait_closed();
    if (error)
        std::rethrow_exception(error);
}

// ---- test_start_server_1 ----------------------------------------------------------------------

const std::string HELLO_MSG = std::string(1024 * 5, '1') + "\n";

Coro<void> start_server_1_client(std::shared_ptr<Server> srv) {
    const bool serving = co_await eventually([&srv] { return srv->is_serving(); });
    REQUIRE(serving);
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(srv));
    writer.write(HELLO_MSG);
    const std::string one = co_await reader.readexactly(1);
    CHECK(one == "1");
    writer.close();
    co_await writer.wait_closed();
}

Coro<void> serve_forever_in(std::shared_ptr<Server> srv) {
    // Python's `async with srv: await srv.serve_forever()`.
    std::exception_ptr error;
    try {
        co_await srv->serve_forever();
    } catch (...) {
        error = std::current_exception();
    }
    srv->close();
    co_await srv->wait_closed();
    if (error)
        std::rethrow_exception(error);
}

}  // namespace

LOOP_TEST_CASE("Server: test_start_server_1") {
    NetLoop<LoopKind> s;
    TaskRef main_task;
    ClientConnected serve = [task = &main_task](StreamReader reader,
                                                StreamWriter writer) -> Coro<void> {
        co_await reader.readline();
        task->cancel();
        writer.write("1");
        writer.close();
        co_await writer.wait_closed();
    };
    auto srv = s.loop.run_until_complete(
        start_server(serve, "127.0.0.1", 0, ServerOptions{.start_serving = false}));
    CHECK_FALSE(srv->is_serving());
    const std::uint16_t port = port_of(srv);

    Task<void> task = s.loop.create_task(serve_forever_in(srv));
    main_task = task;
    Task<void> client = s.loop.create_task(start_server_1_client(srv));
    CHECK_THROWS_AS(s.run(wait_for(task, 30s)), CancelledError);
    s.run(wait_for(client, 30s));

    CHECK(srv->addresses().empty());
    CHECK_FALSE(srv->is_serving());
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(srv->serve_forever()),
                         ("server <Server sockets=()> is closed"), RuntimeError);
    CHECK(port != 0);
    CHECK(s.base.errors.contexts.empty());
}

namespace {

Coro<void> test_wait_closed_basic() {
    auto srv = co_await start_server(read_then_close, "127.0.0.1", 0);

    // active count = 0, not closed: blocks.
    Task<void> task1 = create_task(srv->wait_closed());
    co_await sleep(0ms);
    CHECK_FALSE(task1.done());

    // active count != 0, not closed: blocks.
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(srv));
    Task<void> task2 = create_task(srv->wait_closed());
    co_await sleep(0ms);
    CHECK_FALSE(task1.done());
    CHECK_FALSE(task2.done());

    srv->close();
    co_await sleep(0ms);
    // active count != 0, closed: blocks.
    Task<void> task3 = create_task(srv->wait_closed());
    co_await sleep(0ms);
    CHECK_FALSE(task1.done());
    CHECK_FALSE(task2.done());
    CHECK_FALSE(task3.done());

    wr.close();
    co_await wr.wait_closed();
    // active count == 0, closed: unblocks.
    co_await task1;
    co_await task2;
    co_await task3;
    co_await srv->wait_closed();  // returns at once
}

Coro<void> test_wait_closed_race() {
    auto srv = co_await start_server(read_then_close, "127.0.0.1", 0);
    Task<void> task = create_task(srv->wait_closed());
    co_await sleep(0ms);
    CHECK_FALSE(task.done());
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(srv));
    EventLoop& loop = get_running_loop();
    loop.call_soon([srv] { srv->close(); });
    StreamWriter writer = wr;
    loop.call_soon([writer]() mutable { writer.close(); });
    co_await srv->wait_closed();
    co_await task;
}

Coro<void> test_close_clients() {
    auto srv = co_await start_server(read_then_close, "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(srv));

    Task<void> task = create_task(srv->wait_closed());
    co_await sleep(0ms);
    CHECK_FALSE(task.done());

    srv->close();
    srv->close_clients();
    const bool done = co_await eventually([&task] { return task.done(); }, 100);
    CHECK(done);
    wr.close();
    co_await wr.wait_closed();
}

Coro<void> test_abort_clients() {
    std::optional<std::pair<StreamReader, StreamWriter>> accepted;
    ClientConnected serve = [slot = &accepted](StreamReader rd, StreamWriter wr) -> Coro<void> {
        slot->emplace(rd, wr);
        co_await wr.wait_closed();
    };
    auto srv = co_await start_server(serve, "127.0.0.1", 0);
    auto [c_rd, c_wr] = co_await open_connection("127.0.0.1", port_of(srv), {.limit = 4096});
    const bool connected = co_await eventually([&accepted] { return accepted.has_value(); });
    REQUIRE(connected);
    StreamWriter s_wr = accepted->second;

    // Get the client's reader into a paused state by sending more than twice its limit.
    s_wr.write(std::string(4096, 'a'));
    s_wr.write(std::string(4096, 'a'));
    s_wr.write(std::string(4096, 'a'));
    StreamWriter client = c_wr;  // (clang 14 cannot capture a structured binding)
    const bool paused = co_await eventually([&client] { return !client.transport().is_reading(); });
    CHECK(paused);

    // Get the writer into a waiting state by sending until the connection takes no more.
    for (int i = 0; i < 256 && s_wr.transport().get_write_buffer_size() == 0; ++i)
        s_wr.write(std::string(256 * 1024, 'a'));
    CHECK(s_wr.transport().get_write_buffer_size() != 0);

    Task<void> task = create_task(srv->wait_closed());
    co_await sleep(0ms);
    CHECK_FALSE(task.done());

    srv->close();
    srv->abort_clients();
    co_await sleep(0ms);
    co_await sleep(0ms);
    CHECK(task.done());
    accepted.reset();
    c_wr.close();
}

}  // namespace

LOOP_TEST_CASE("Server: test_wait_closed_basic") {
    NetLoop<LoopKind> s;
    s.run(test_wait_closed_basic());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Server: test_wait_closed_race") {
    NetLoop<LoopKind> s;
    s.run(test_wait_closed_race());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Server: test_close_clients") {
    NetLoop<LoopKind> s;
    s.run(test_close_clients());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Server: test_abort_clients") {
    NetLoop<LoopKind> s;
    s.run(test_abort_clients());
    CHECK(s.base.errors.contexts.empty());
}

// ---- serve_forever, close, wait_closed -------------------------------------------------------

LOOP_TEST_CASE("Server: serve_forever() twice, and after close(): RuntimeError (V7)") {
    NetLoop<LoopKind> s;
    auto body = []() -> Coro<void> {
        auto srv = co_await start_server(read_then_close, "127.0.0.1", 0);
        Task<void> forever = create_task(srv->serve_forever());
        co_await sleep(0ms);
        const std::string name = srv->describe();
        CHECK(name == "<Server sockets=(('127.0.0.1', " + std::to_string(port_of(srv)) + "),)>");
        bool refused = false;
        try {
            co_await srv->serve_forever();
        } catch (const RuntimeError& error) {
            refused = std::string(error.what()) ==
                      "server " + name + " is already being awaited on serve_forever()";
        }
        CHECK(refused);
        srv->close();  // cancels the pending serve_forever()
        bool cancelled = false;
        try {
            co_await forever;
        } catch (const CancelledError&) {
            cancelled = true;
        }
        CHECK(cancelled);
        CHECK_FALSE(srv->is_serving());
        bool closed = false;
        try {
            co_await srv->serve_forever();
        } catch (const RuntimeError& error) {
            closed = std::string(error.what()) == "server <Server sockets=()> is closed";
        }
        CHECK(closed);
    };
    s.run(body());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "Server: a cancelled serve_forever() returns only once every client has gone "
    "(V7)") {
    NetLoop<LoopKind> s;
    auto body = []() -> Coro<void> {
        auto srv = co_await start_server(read_then_close, "127.0.0.1", 0);
        Task<void> forever = create_task(srv->serve_forever());
        auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(srv));
        co_await sleep(0ms);
        forever.cancel();
        for (int i = 0; i < 5; ++i)
            co_await sleep(0ms);
        CHECK_FALSE(forever.done());  // closed, but waiting for the client
        CHECK(srv->addresses().empty());
        wr.close();
        co_await wr.wait_closed();
        bool cancelled = false;
        try {
            co_await forever;
        } catch (const CancelledError&) {
            cancelled = true;
        }
        CHECK(cancelled);
    };
    s.run(body());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Server: close() keeps existing connections open (V3)") {
    NetLoop<LoopKind> s;
    auto body = []() -> Coro<void> {
        ClientConnected echo = [](StreamReader rd, StreamWriter wr) -> Coro<void> {
            for (;;) {
                std::string line = co_await rd.readline();
                if (line.empty())
                    break;
                wr.write(line);
            }
            wr.close();
            co_await wr.wait_closed();
        };
        auto srv = co_await start_server(echo, "127.0.0.1", 0);
        const std::uint16_t port = port_of(srv);
        auto [rd, wr] = co_await open_connection("127.0.0.1", port);
        wr.write("one\n");
        const std::string one = co_await rd.readline();
        CHECK(one == "one\n");
        srv->close();
        CHECK_FALSE(srv->is_serving());
        wr.write("two\n");
        const std::string two = co_await rd.readline();
        CHECK(two == "two\n");
        bool refused = false;
        try {
            co_await open_connection("127.0.0.1", port);
        } catch (const ConnectionRefusedError&) {
            refused = true;
        }
        CHECK(refused);
        wr.close();
        co_await wr.wait_closed();
        co_await srv->wait_closed();
    };
    s.run(body());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "Server: start_serving=false binds without listening; start_serving() listens "
    "(N4, V2)") {
    NetLoop<LoopKind> s;
    auto body = []() -> Coro<void> {
        auto srv = co_await start_server(read_then_close, "127.0.0.1", 0, {.start_serving = false});
        const std::uint16_t port = port_of(srv);
        CHECK_FALSE(srv->is_serving());
        bool refused = false;
        try {
            co_await open_connection("127.0.0.1", port);
        } catch (const ConnectionRefusedError& error) {
            refused = contains(error.what(),
                               "Connect call failed ('127.0.0.1', " + std::to_string(port) + ")");
        }
        CHECK(refused);
        co_await srv->start_serving();
        co_await srv->start_serving();  // idempotent
        CHECK(srv->is_serving());
        auto [rd, wr] = co_await open_connection("127.0.0.1", port);
        wr.close();
        co_await wr.wait_closed();
        srv->close();
        co_await srv->wait_closed();
    };
    s.run(body());
    CHECK(s.base.errors.contexts.empty());
}

// ---- the accept loop --------------------------------------------------------------------------

namespace {

Coro<void> echo_once(StreamReader rd, StreamWriter wr) {
    std::string line = co_await rd.readline();
    wr.write(line);
    wr.close();
    co_await wr.wait_closed();
}

Coro<std::string> ask(std::uint16_t port, std::string line) {
    auto [rd, wr] = co_await open_connection("127.0.0.1", port);
    wr.write(line);
    std::string answer = co_await rd.readline();
    wr.close();
    co_await wr.wait_closed();
    co_return answer;
}

}  // namespace

// The retry delay is a real second: on the simulator only (the rule is the same code on both).
TEST_CASE("Server: out of descriptors: reported once, accepting again 1 s later (Z2)" *
          doctest::test_suite("sim-only")) {
    using LoopKind = test_support::SimKind;
    NetLoop<LoopKind> s(true);
    auto body = [](test_support::FakeNetwork* net) -> Coro<void> {
        auto srv = co_await start_server(echo_once, "127.0.0.1", 0);
        net->fail_accepts(EMFILE, 1);
        const Duration start = get_running_loop().time();
        Task<std::string> first = create_task(ask(port_of(srv), "a\n"));
        Task<std::string> second = create_task(ask(port_of(srv), "b\n"));
        const std::string a = co_await first;
        const std::string b = co_await second;
        CHECK(a == "a\n");
        CHECK(b == "b\n");
        CHECK(test_support::elapsed_is<LoopKind>(get_running_loop(), start, 1s));
        srv->close();
        co_await srv->wait_closed();
    };
    s.run(body(&s.fake));
    const auto& errors = s.base.errors.contexts;
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].message == "socket.accept() out of system resource");
    CHECK(errors[0].keys() == std::set<std::string>{"message", "exception", "socket"});
    bool emfile = false;
    try {
        std::rethrow_exception(errors[0].exception);
    } catch (const OSError& error) {
        emfile = error.error_number() == EMFILE;
    }
    CHECK(emfile);
}

LOOP_TEST_CASE("Server: an aborted connection quietly ends the accept round (Z1)") {
    NetLoop<LoopKind> s(true);
    auto body = [](test_support::FakeNetwork* net) -> Coro<void> {
        auto srv = co_await start_server(echo_once, "127.0.0.1", 0);
        net->fail_accepts(ECONNABORTED, 1);
        const std::string answer = co_await ask(port_of(srv), "x\n");
        CHECK(answer == "x\n");
        srv->close();
        co_await srv->wait_closed();
    };
    s.run(body(&s.fake));
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Server: a reset connection or a failing handler never stops the server (P6)") {
    NetLoop<LoopKind> s(true);
    auto body = [](test_support::FakeNetwork* net) -> Coro<void> {
        ClientConnected flaky = [](StreamReader rd, StreamWriter wr) -> Coro<void> {
            std::string line;
            try {
                line = co_await rd.readline();
            } catch (const ConnectionResetError&) {
                co_return;  // the reset client
            }
            if (line == "throw\n")
                throw ValueError("handler failed");
            wr.write(line);
            co_await wr.drain();
            wr.close();
            co_await wr.wait_closed();
        };
        auto srv = co_await start_server(flaky, "127.0.0.1", 0);
        {
            auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(srv));
            net->reset(net->links.size() - 1);
            co_await sleep(0ms);
            wr.close();
        }
        const std::string failed = co_await ask(port_of(srv), "throw\n");
        CHECK(failed == "");
        const std::string answer = co_await ask(port_of(srv), "fine\n");
        CHECK(answer == "fine\n");
        CHECK(srv->is_serving());
        srv->close();
        co_await srv->wait_closed();
    };
    s.run(body(&s.fake));
    // The reset is not reported (K1); the failed handler is.
    REQUIRE(s.base.errors.contexts.size() == 1);
    CHECK(s.base.errors.contexts[0].message == "Unhandled exception in client_connected_cb");
}

// ---- errors of create_server and create_connection -------------------------------------------

LOOP_TEST_CASE(
    "Server: binding an address in use: 'error while attempting to bind on address' "
    "(N3)") {
    NetLoop<LoopKind> s;
    auto body = []() -> Coro<void> {
        auto first = co_await start_server(read_then_close, "127.0.0.1", 0);
        const std::uint16_t port = port_of(first);
        bool in_use = false;
        try {
            co_await start_server(read_then_close, "127.0.0.1", port);
        } catch (const OSError& error) {
            in_use = error.error_number() == EADDRINUSE &&
                     std::string(error.what())
                             .rfind("error while attempting to bind on address ('127.0.0.1', " +
                                        std::to_string(port) + "): ",
                                    0) == 0;
        }
        CHECK(in_use);
        first->close();
        co_await first->wait_closed();
    };
    s.run(body());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Server: no address could be bound: 'could not bind on any address out of' (N3)") {
    NetLoop<LoopKind> s(true);
    auto body = []() -> Coro<void> {
        bool none = false;
        try {
            co_await start_server(read_then_close, "10.9.9.9", 8080);
        } catch (const OSError& error) {
            none = std::string(error.what()) ==
                   "could not bind on any address out of [('10.9.9.9', 8080)]";
        }
        CHECK(none);
    };
    s.run(body());
}

LOOP_TEST_CASE("Server: a refused connection: 'Connect call failed' (N1)") {
    NetLoop<LoopKind> s;
    auto body = []() -> Coro<void> {
        auto srv = co_await start_server(read_then_close, "127.0.0.1", 0);
        const std::uint16_t port = port_of(srv);
        srv->close();
        co_await srv->wait_closed();
        bool refused = false;
        try {
            co_await open_connection("127.0.0.1", port);
        } catch (const ConnectionRefusedError& error) {
            refused = error.error_number() == ECONNREFUSED &&
                      contains(error.what(),
                               "Connect call failed ('127.0.0.1', " + std::to_string(port) + ")");
        }
        CHECK(refused);
    };
    s.run(body());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "Server: every address refused: 'Multiple exceptions', or an ExceptionGroup "
    "(N1)") {
    NetLoop<LoopKind> s(true);
    s.fake.names["multi"] = {"127.0.0.2", "127.0.0.3"};
    auto body = []() -> Coro<void> {
        std::string text;
        try {
            co_await open_connection("multi", 8080);
        } catch (const OSError& error) {
            text = error.what();
        }
        CHECK(text.rfind("Multiple exceptions: Connect call failed ('127.0.0.2', 8080)", 0) == 0);
        CHECK(contains(text, ", Connect call failed ('127.0.0.3', 8080)"));
        std::size_t grouped = 0;
        try {
            co_await open_connection("multi", 8080, {.all_errors = true});
        } catch (const ExceptionGroup& group) {
            grouped = std::string(group.what()) == "create_connection failed"
                          ? group.exceptions().size()
                          : 0;
        }
        CHECK(grouped == 2);
    };
    s.run(body());
}
