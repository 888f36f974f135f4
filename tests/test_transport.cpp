// Transport and Protocol: the socket transport's rules (asyncio's selector socket transport,
// CPython 3.13): the order of protocol calls, write buffering and flow control with high/low
// water marks, write_eof, close (flush first) and abort, fatal errors, writes after the
// connection was lost. On both loops, over the loop's network or the in-memory one (always
// where a test needs a small send window or a reset at a chosen moment).
#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support.hpp"
#include "support_net.hpp"

using namespace simrun;
using test_support::contains;
using test_support::eventually;
using test_support::joined;
using test_support::NetLoop;
using test_support::port_of;

namespace {

/// Records every call; writes back what it receives if `echo`.
class Recorder : public Protocol {
  public:
    void connection_made(Transport& transport) override {
        calls.push_back("made");
        this->transport = transport.shared_from_this();
    }
    void data_received(std::string_view data) override {
        if (calls.empty() || calls.back() != "data")
            calls.push_back("data");
        received += data;
        if (echo)
            transport->write(data);
        if (throw_on_data)
            throw ValueError("bad data");
    }
    bool eof_received() override {
        calls.push_back("eof");
        return keep_open;
    }
    void connection_lost(std::exception_ptr error) override {
        calls.push_back(error ? "lost: " + describe_exception(error) : "lost");
        lost = true;
        transport.reset();
    }
    void pause_writing() override {
        calls.push_back("pause");
        if (throw_on_pause)
            throw RuntimeError("cannot pause");
    }
    void resume_writing() override { calls.push_back("resume"); }
    std::string describe() const override { return "<Recorder>"; }

    std::vector<std::string> calls;
    std::string received;
    std::shared_ptr<Transport> transport;
    bool echo = false;
    bool keep_open = false;
    bool lost = false;
    bool throw_on_data = false;
    bool throw_on_pause = false;
};

/// A server whose connections get Recorder protocols, kept in `accepted`.
struct RecordingServer {
    std::shared_ptr<Server> server;
    std::vector<std::shared_ptr<Recorder>> accepted;
    bool echo = false;
    bool keep_open = false;
};

Coro<void> start_recording_server(RecordingServer* s) {
    ProtocolFactory factory = [s]() -> std::shared_ptr<Protocol> {
        auto protocol = std::make_shared<Recorder>();
        protocol->echo = s->echo;
        protocol->keep_open = s->keep_open;
        s->accepted.push_back(protocol);
        return protocol;
    };
    s->server = co_await create_server(factory, "127.0.0.1", 0);
}

Coro<std::shared_ptr<Recorder>> connect_recorder(std::uint16_t port) {
    auto protocol = std::make_shared<Recorder>();
    ProtocolFactory factory = [protocol] { return protocol; };
    auto connection = co_await create_connection(factory, "127.0.0.1", port);
    CHECK(connection.second == protocol);
    CHECK(connection.first == protocol->transport);
    co_return protocol;
}

Coro<void> close_server(RecordingServer* s) {
    s->server->close();
    for (auto& protocol : s->accepted) {
        if (protocol->transport)
            protocol->transport->abort();
    }
    co_await s->server->wait_closed();
}

}  // namespace

LOOP_TEST_CASE("Transport: the protocol calls come in order: made, data, eof, lost") {
    NetLoop<LoopKind> s;
    auto body = []() -> Coro<void> {
        RecordingServer rs;
        rs.echo = true;
        co_await start_recording_server(&rs);
        auto client = co_await connect_recorder(port_of(rs.server));
        CHECK(joined(client->calls) == "made");  // returned once connection_made() has run
        client->transport->write("hello");
        client->transport->write_eof();
        co_await eventually([&client] { return client->lost; });
        CHECK(client->received == "hello");
        // The server's protocol does not keep the connection open at the end of stream, so
        // its transport closes, and the client sees the end of stream, then the close.
        CHECK(joined(client->calls) == "made | data | eof | lost");
        REQUIRE(rs.accepted.size() == 1);
        CHECK(joined(rs.accepted[0]->calls) == "made | data | eof | lost");
        co_await close_server(&rs);
    };
    s.run(body());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Transport: addresses, can_write_eof, is_reading, describe") {
    NetLoop<LoopKind> s;
    auto body = []() -> Coro<void> {
        RecordingServer rs;
        co_await start_recording_server(&rs);
        auto client = co_await connect_recorder(port_of(rs.server));
        Transport& transport = *client->transport;
        CHECK(transport.peer_address() == SocketAddress{"127.0.0.1", port_of(rs.server)});
        REQUIRE(transport.local_address().has_value());
        CHECK(transport.local_address()->host == "127.0.0.1");
        CHECK(transport.can_write_eof());
        CHECK(transport.is_reading());
        CHECK(contains(transport.describe(), "read=polling write=<idle, bufsize=0>>"));
        transport.pause_reading();
        CHECK_FALSE(transport.is_reading());
        CHECK(contains(transport.describe(), "read=idle"));
        transport.resume_reading();
        CHECK(transport.is_reading());
        transport.close();
        CHECK(transport.is_closing());
        CHECK_FALSE(transport.is_reading());
        CHECK(contains(transport.describe(), "<SocketTransport closing"));
        co_await eventually([&client] { return client->lost; });
        co_await close_server(&rs);
    };
    s.run(body());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Transport: set_write_buffer_limits and its ValueError (SW3)") {
    NetLoop<LoopKind> s;
    auto body = []() -> Coro<void> {
        RecordingServer rs;
        co_await start_recording_server(&rs);
        auto client = co_await connect_recorder(port_of(rs.server));
        Transport& transport = *client->transport;
        CHECK(transport.get_write_buffer_limits() == WriteBufferLimits{16384, 65536});
        transport.set_write_buffer_limits(100);
        CHECK(transport.get_write_buffer_limits() == WriteBufferLimits{25, 100});
        transport.set_write_buffer_limits(std::nullopt, 10);
        CHECK(transport.get_write_buffer_limits() == WriteBufferLimits{10, 40});
        transport.set_write_buffer_limits(7, 7);
        CHECK(transport.get_write_buffer_limits() == WriteBufferLimits{7, 7});
        transport.set_write_buffer_limits(0, 0);
        CHECK(transport.get_write_buffer_limits() == WriteBufferLimits{0, 0});
        transport.set_write_buffer_limits();
        CHECK(transport.get_write_buffer_limits() == WriteBufferLimits{16384, 65536});
        CHECK_THROWS_WITH_AS(transport.set_write_buffer_limits(1, 2),
                             "high (1) must be >= low (2) must be >= 0", ValueError);
        CHECK_THROWS_WITH_AS(transport.set_write_buffer_limits(-1),
                             "high (-1) must be >= low (-1) must be >= 0", ValueError);
        CHECK_THROWS_WITH_AS(transport.set_write_buffer_limits(std::nullopt, -2),
                             "high (-8) must be >= low (-2) must be >= 0", ValueError);
        CHECK(transport.get_write_buffer_limits() == WriteBufferLimits{16384, 65536});
        transport.close();
        co_await eventually([&client] { return client->lost; });
        co_await close_server(&rs);
    };
    s.run(body());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "Transport: the protocol is paused above the high-water mark and resumed at the "
    "low one (SW3)") {
    NetLoop<LoopKind> s(true);
    s.fake.window = 4096;
    auto body = []() -> Coro<void> {
        RecordingServer rs;
        co_await start_recording_server(&rs);
        auto client = co_await connect_recorder(port_of(rs.server));
        co_await eventually([&rs] { return rs.accepted.size() == 1 && rs.accepted[0]->transport; });
        Transport& server_side = *rs.accepted[0]->transport;
        server_side.pause_reading();
        Transport& transport = *client->transport;
        transport.set_write_buffer_limits(8000, 2000);
        transport.write(std::string(4096, 'x'));  // taken at once: fills the window
        CHECK(transport.get_write_buffer_size() == 0);
        transport.write(std::string(8000, 'x'));  // buffered, not above high
        CHECK(transport.get_write_buffer_size() == 8000);
        CHECK(joined(client->calls) == "made");
        transport.write("y");  // above high: paused
        CHECK(joined(client->calls) == "made | pause");
        transport.write("z");  // still paused: no second call
        CHECK(joined(client->calls) == "made | pause");
        server_side.resume_reading();
        co_await eventually([&client] { return client->calls.back() == "resume"; });
        CHECK(joined(client->calls) == "made | pause | resume");
        CHECK(transport.get_write_buffer_size() <= 2000);
        co_await eventually([&rs] { return rs.accepted[0]->received.size() == 4096 + 8002; });
        CHECK(rs.accepted[0]->received.size() == 4096 + 8002);
        transport.close();
        co_await eventually([&client] { return client->lost; });
        co_await close_server(&rs);
    };
    s.run(body());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Transport: an error in pause_writing() goes to the exception handler (SW3)") {
    NetLoop<LoopKind> s(true);
    s.fake.window = 16;
    auto body = []() -> Coro<void> {
        RecordingServer rs;
        co_await start_recording_server(&rs);
        auto client = co_await connect_recorder(port_of(rs.server));
        client->throw_on_pause = true;
        client->transport->set_write_buffer_limits(10);
        client->transport->write(std::string(100, 'x'));
        CHECK(joined(client->calls) == "made | pause");
        client->transport->abort();
        co_await eventually([&client] { return client->lost; });
        co_await close_server(&rs);
    };
    s.run(body());
    REQUIRE(s.base.errors.contexts.size() == 1);
    const ExceptionContext& context = s.base.errors.contexts[0];
    CHECK(context.message == "protocol.pause_writing() failed");
    CHECK(context.keys() == std::set<std::string>{"message", "exception", "transport", "protocol"});
    CHECK(context.details.at("protocol") == "<Recorder>");
}

LOOP_TEST_CASE(
    "Transport: a protocol error in data_received is reported and closes the "
    "connection") {
    NetLoop<LoopKind> s;
    auto body = []() -> Coro<void> {
        RecordingServer rs;
        rs.echo = true;
        co_await start_recording_server(&rs);
        auto client = co_await connect_recorder(port_of(rs.server));
        client->throw_on_data = true;
        client->transport->write("ping");
        co_await eventually([&client] { return client->lost; });
        CHECK(joined(client->calls) == "made | data | lost: ValueError: bad data");
        co_await close_server(&rs);
    };
    s.run(body());
    REQUIRE(s.base.errors.contexts.size() == 1);
    CHECK(s.base.errors.contexts[0].message ==
          "Fatal error: protocol.data_received() call failed.");
    CHECK(s.base.errors.contexts[0].keys() ==
          std::set<std::string>{"message", "exception", "transport", "protocol"});
}

LOOP_TEST_CASE("Transport: a reset is only logged at debug level; connection_lost gets it (K1)") {
    NetLoop<LoopKind> s(true);
    s.loop.set_debug(true);
    auto body = [](test_support::FakeNetwork* net) -> Coro<void> {
        RecordingServer rs;
        co_await start_recording_server(&rs);
        auto client = co_await connect_recorder(port_of(rs.server));
        client->transport->write("data");  // buffered in the client's transport? no: sent
        net->reset(0);
        co_await eventually([&client] { return client->lost; });
        CHECK(client->calls.back() == "lost: ConnectionResetError: recv: Connection reset by peer");
        co_await close_server(&rs);
    };
    s.run(body(&s.fake));
    CHECK(s.base.errors.contexts.empty());
    CHECK(s.base.log.contains("Fatal read error on socket transport"));
}

LOOP_TEST_CASE(
    "Transport: writes after the connection was lost are dropped; from the fifth on "
    "each logs a warning (SW1)") {
    NetLoop<LoopKind> s;
    auto body = [](test_support::LogCapture* log) -> Coro<void> {
        RecordingServer rs;
        co_await start_recording_server(&rs);
        auto client = co_await connect_recorder(port_of(rs.server));
        std::shared_ptr<Transport> transport = client->transport;
        transport->abort();
        transport->write("");  // empty: nothing at all
        for (int i = 0; i < 4; ++i)
            transport->write("lost");
        CHECK(log->count("socket.send() raised exception.") == 0);
        transport->write("lost");
        transport->writelines({"lost", "again"});
        transport->write("lost");
        CHECK(log->count("socket.send() raised exception.") == 3);
        CHECK(transport->get_write_buffer_size() == 0);
        co_await eventually([&client] { return client->lost; });
        co_await close_server(&rs);
    };
    s.run(body(&s.base.log));
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Transport: write_eof() after the buffer is flushed; no write afterwards (SW7)") {
    NetLoop<LoopKind> s(true);
    s.fake.window = 10;
    auto body = []() -> Coro<void> {
        RecordingServer rs;
        rs.keep_open = true;
        co_await start_recording_server(&rs);
        auto client = co_await connect_recorder(port_of(rs.server));
        std::shared_ptr<Transport> kept = client->transport;  // the protocol lets go when lost
        Transport& transport = *kept;
        transport.write("0123456789abcdef");  // 6 bytes wait in the buffer
        transport.write_eof();
        transport.write_eof();  // a no-op
        CHECK_THROWS_WITH_AS(transport.write("x"), "Cannot call write() after write_eof()",
                             RuntimeError);
        CHECK_THROWS_WITH_AS(transport.writelines({"x"}),
                             "Cannot call writelines() after write_eof()", RuntimeError);
        co_await eventually(
            [&rs] { return !rs.accepted.empty() && rs.accepted[0]->calls.back() == "eof"; });
        CHECK(rs.accepted[0]->received == "0123456789abcdef");
        // Half-closed: the other direction still works.
        CHECK_FALSE(transport.is_closing());
        rs.accepted[0]->transport->write("reply");
        co_await eventually([&client] { return client->received == "reply"; });
        CHECK(client->received == "reply");
        rs.accepted[0]->transport->close();
        co_await eventually([&client] { return client->lost; });
        CHECK(joined(client->calls) == "made | data | eof | lost");
        transport.close();
        co_await close_server(&rs);
    };
    s.run(body());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Transport: close() flushes the buffer first, abort() drops it (SW8)") {
    NetLoop<LoopKind> s(true);
    s.fake.window = 1000;
    auto body = []() -> Coro<void> {
        RecordingServer rs;
        rs.keep_open = true;
        co_await start_recording_server(&rs);

        auto graceful = co_await connect_recorder(port_of(rs.server));
        graceful->transport->write(std::string(5000, 'g'));
        CHECK(graceful->transport->get_write_buffer_size() == 4000);
        graceful->transport->close();
        graceful->transport->close();  // idempotent
        co_await sleep(0ms);
        CHECK_FALSE(graceful->lost);  // still flushing
        co_await eventually([&graceful] { return graceful->lost; });
        CHECK(joined(graceful->calls) == "made | lost");
        co_await eventually(
            [&rs] { return rs.accepted.size() == 1 && rs.accepted[0]->calls.back() == "eof"; });
        CHECK(rs.accepted[0]->received.size() == 5000);

        auto hasty = co_await connect_recorder(port_of(rs.server));
        hasty->transport->write(std::string(5000, 'h'));
        hasty->transport->abort();
        CHECK(hasty->transport->get_write_buffer_size() == 0);
        co_await eventually([&hasty] { return hasty->lost; });
        CHECK(joined(hasty->calls) == "made | lost");
        co_await eventually(
            [&rs] { return rs.accepted.size() == 2 && rs.accepted[1]->calls.back() == "eof"; });
        CHECK(rs.accepted[1]->received.size() == 1000);  // only what was in flight
        co_await close_server(&rs);
    };
    s.run(body());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Transport: create_connection() with an empty factory or one returning null") {
    NetLoop<LoopKind> s;
    auto body = []() -> Coro<void> {
        RecordingServer rs;
        co_await start_recording_server(&rs);
        bool empty = false;
        try {
            co_await create_connection(ProtocolFactory{}, "127.0.0.1", port_of(rs.server));
        } catch (const ValueError&) {
            empty = true;
        }
        CHECK(empty);
        bool null = false;
        try {
            ProtocolFactory factory = [] { return std::shared_ptr<Protocol>(); };
            co_await create_connection(factory, "127.0.0.1", port_of(rs.server));
        } catch (const ValueError& error) {
            null = std::string(error.what()) == "the protocol factory returned null";
        }
        CHECK(null);
        co_await close_server(&rs);
    };
    s.run(body());
    CHECK(s.base.errors.contexts.empty());
}
