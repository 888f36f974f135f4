// StreamWriter over a connection on both loops: flow control and drain(), resets, a closed peer,
// half-close and addresses (the streams rules CPython 3.13's test_streams.py does not cover).
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <simrun/io/detail/stream_protocol.hpp>

#include "streams_support.hpp"
#include "support.hpp"
#include "support_net.hpp"

using namespace simrun;
using streams_test::stop;
using test_support::contains;
using test_support::eventually;
using test_support::NetLoop;
using test_support::port_of;
using test_support::TestLoop;

// ---- flow control, resets, half-close ---------------------------------------------------------

namespace {

/// A connection's server side, kept where the test can reach it.
struct Accepted {
    std::optional<StreamReader> reader;
    std::optional<StreamWriter> writer;
};

/// Keeps the connection's reader and writer in `slot`, then waits (until the test closes it).
ClientConnected keep_in(Accepted* slot) {
    return [slot](StreamReader reader, StreamWriter writer) -> Coro<void> {
        slot->reader.emplace(reader);
        slot->writer.emplace(writer);
        co_return;
    };
}

/// Waits for `go`, then reads until the end of the stream and answers with the byte count.
Coro<void> count_after(Event* go, StreamReader reader, StreamWriter writer) {
    co_await go->wait();
    const std::string all = co_await reader.read();
    writer.write(std::to_string(all.size()) + "\n");
    writer.close();
    co_await writer.wait_closed();
}

Coro<void> test_flow_control() {
    Event go;
    ClientConnected handler = [go = &go](StreamReader r, StreamWriter w) {
        return count_after(go, std::move(r), std::move(w));
    };
    auto server = co_await start_server(handler, "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
    const std::string chunk(64 * 1024, 'x');
    const WriteBufferLimits limits = wr.transport().get_write_buffer_limits();
    std::size_t written = 0;
    std::size_t max_buffer = 0;
    Task<void> blocked;
    // Write and drain until a drain() stays blocked: the reader reads nothing, so once the
    // connection (and, on a real network, the kernel's buffers) is full, writing is paused.
    for (int i = 0; i < 1024 && !blocked; ++i) {
        wr.write(chunk);
        written += chunk.size();
        max_buffer = std::max(max_buffer, wr.transport().get_write_buffer_size());
        Task<void> drain = create_task(wr.drain());
        for (int k = 0; k < 3; ++k)
            co_await sleep(0ms);
        if (drain.done())
            co_await drain;
        else
            blocked = drain;
    }
    REQUIRE(blocked);
    CHECK(wr.transport().get_write_buffer_size() > limits.high);
    CHECK(max_buffer <= limits.high + chunk.size());  // write + drain keeps the buffer bounded
    for (int k = 0; k < 5; ++k)
        co_await sleep(0ms);
    CHECK_FALSE(blocked.done());  // drain() waits while nobody reads
    go.set();
    co_await blocked;  // the reader reads: the buffer drains to the low-water mark
    CHECK(wr.transport().get_write_buffer_size() <= limits.low);
    wr.write_eof();
    const std::string count = co_await rd.readline();
    CHECK(count == std::to_string(written) + "\n");
    wr.close();
    co_await wr.wait_closed();
    co_await stop(server);
}

Coro<void> test_writelines_pauses() {
    Event go;
    ClientConnected handler = [go = &go](StreamReader r, StreamWriter w) {
        return count_after(go, std::move(r), std::move(w));
    };
    auto server = co_await start_server(handler, "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
    // More than the connection and the server's reader (up to twice its limit) can take.
    const std::vector<std::string> chunks(8, std::string(64 * 1024, 'w'));
    wr.writelines(chunks);
    CHECK(wr.transport().get_write_buffer_size() > 64 * 1024);
    Task<void> drain = create_task(wr.drain());
    for (int k = 0; k < 5; ++k)
        co_await sleep(0ms);
    CHECK_FALSE(drain.done());  // CPython 3.13.0 would not pause here (gh-127655)
    go.set();
    co_await drain;
    wr.write_eof();
    const std::string count = co_await rd.readline();
    CHECK(count == std::to_string(8 * 64 * 1024) + "\n");
    wr.close();
    co_await stop(server);
}

/// Checks (inside a coroutine) that awaiting `awaitable` throws an E.
#define CHECK_RAISES(E, awaitable)                                     \
    do {                                                               \
        const bool raised_##E = co_await raises_in<E>(awaitable);      \
        CHECK_MESSAGE(raised_##E, "expected " #E " from " #awaitable); \
    } while (false)

template <class E, class Awaitable>
Coro<bool> raises_in(Awaitable awaitable) {
    try {
        co_await std::move(awaitable);
    } catch (const E&) {
        co_return true;
    }
    co_return false;
}

Coro<void> test_reset_reader_side(test_support::FakeNetwork* net) {
    Accepted accepted;
    auto server = co_await start_server(keep_in(&accepted), "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
    wr.write("abc");
    const bool arrived = co_await eventually(
        [&accepted] { return accepted.reader && accepted.reader->buffer() == "abc"; });
    REQUIRE(arrived);
    net->reset(net->links.size() - 1);
    StreamReader s_rd = *accepted.reader;
    StreamWriter s_wr = *accepted.writer;
    co_await eventually([&s_rd] { return s_rd.exception() != nullptr; });
    // K2: the reset hides the buffered data; every read raises it.
    CHECK(s_rd.buffer() == "abc");
    CHECK_RAISES(ConnectionResetError, s_rd.read(1));
    CHECK_RAISES(ConnectionResetError, s_rd.readline());
    // K3: the writer's side.
    CHECK(s_wr.is_closing());
    CHECK_RAISES(ConnectionResetError, s_wr.drain());
    CHECK_RAISES(ConnectionResetError, s_wr.wait_closed());
    CHECK_RAISES(ConnectionResetError, s_wr.wait_closed());  // again (SW9)
    s_wr.write("dropped");                                   // silently
    CHECK(s_wr.transport().get_write_buffer_size() == 0);
    // The client's end was reset too.
    CHECK_RAISES(ConnectionResetError, rd.read());
    accepted = {};
    co_await stop(server);
}

Coro<void> test_reset_while_draining(test_support::FakeNetwork* net) {
    Accepted accepted;
    auto server = co_await start_server(keep_in(&accepted), "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
    wr.write(std::string(200 * 1024, 'd'));  // nobody reads: paused
    Task<void> drain = create_task(wr.drain());
    co_await sleep(0ms);
    CHECK_FALSE(drain.done());
    net->reset(net->links.size() - 1);
    CHECK_RAISES(ConnectionResetError, drain);
    CHECK(wr.is_closing());
    accepted = {};
    co_await stop(server);
}

Coro<void> test_write_to_closed_peer() {
    ClientConnected close_at_once = [](StreamReader, StreamWriter writer) -> Coro<void> {
        writer.close();
        co_return;
    };
    auto server = co_await start_server(close_at_once, "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
    StreamReader reader = rd;  // (clang 14 cannot capture a structured binding)
    co_await eventually([&reader] { return reader.at_eof(); });
    CHECK(rd.at_eof());
    wr.write("x");  // the peer is gone: EPIPE
    bool lost = false;
    try {
        co_await wr.drain();
    } catch (const ConnectionResetError& error) {
        lost = contains(error.what(), "Connection lost");
    }
    CHECK(lost);  // K4: the first drain does not know the error yet
    CHECK_RAISES(BrokenPipeError, wr.drain());
    CHECK_RAISES(BrokenPipeError, rd.read());
    CHECK_RAISES(BrokenPipeError, wr.wait_closed());
    co_await stop(server);
}

Coro<void> test_abort_while_draining() {
    Accepted accepted;
    auto server = co_await start_server(keep_in(&accepted), "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
    wr.write(std::string(200 * 1024, 'a'));
    Task<void> drain = create_task(wr.drain());
    co_await sleep(0ms);
    CHECK_FALSE(drain.done());
    wr.transport().abort();
    co_await drain;  // SW6: a paused drain returns normally when the connection ends cleanly
    CHECK_RAISES(ConnectionResetError, wr.drain());
    accepted = {};
    co_await stop(server);
}

Coro<void> test_half_close() {
    ClientConnected reply_after_eof = [](StreamReader reader, StreamWriter writer) -> Coro<void> {
        const std::string request = co_await reader.read();  // until the client's write_eof()
        const bool at_eof = reader.at_eof();
        const bool closing = writer.is_closing();
        writer.write("got " + request + (at_eof ? " at eof" : "") + (closing ? " closing" : ""));
        co_await writer.drain();
        writer.close();
        co_await writer.wait_closed();
    };
    auto server = co_await start_server(reply_after_eof, "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
    CHECK(wr.can_write_eof());
    wr.write("request");
    wr.write_eof();
    CHECK_THROWS_WITH_AS(wr.write("more"), "Cannot call write() after write_eof()", RuntimeError);
    const std::string reply = co_await rd.read();
    CHECK(reply == "got request at eof");
    CHECK(rd.at_eof());
    CHECK_FALSE(wr.is_closing());
    wr.close();
    co_await wr.wait_closed();
    co_await stop(server);
}

Coro<void> test_addresses() {
    Accepted accepted;
    auto server = co_await start_server(keep_in(&accepted), "127.0.0.1", 0);
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(server));
    co_await eventually([&accepted] { return accepted.writer.has_value(); });
    REQUIRE(accepted.writer);
    CHECK(wr.peer_address() == server->addresses().at(0));
    CHECK(accepted.writer->local_address() == server->addresses().at(0));
    CHECK(accepted.writer->peer_address() == wr.local_address());
    CHECK(contains(wr.describe(), "<StreamWriter transport=<SocketTransport "));
    CHECK(contains(wr.describe(), " reader=<StreamReader transport=<SocketTransport "));
    accepted.writer->close();
    accepted = {};
    wr.close();
    co_await wr.wait_closed();
    co_await stop(server);
}

Coro<void> test_multiple_drain() {
    auto protocol =
        std::make_shared<io::detail::StreamProtocol>(get_running_loop(), StreamReader());
    protocol->pause_writing();
    get_running_loop().call_later(5ms, [protocol] { protocol->resume_writing(); });
    int drained = 0;
    auto drainer = [](std::shared_ptr<io::detail::StreamProtocol> stream,
                      int* count) -> Coro<void> {
        co_await io::detail::StreamProtocol::drain(std::move(stream));
        ++*count;
    };
    std::vector<Task<void>> drainers;
    for (int i = 0; i < 10; ++i)
        drainers.push_back(create_task(drainer(protocol, &drained)));
    co_await gather(drainers);
    CHECK(drained == 10);
}

}  // namespace

LOOP_TEST_CASE(
    "Streams: a writer to a slow reader is paused, its buffer stays bounded, and "
    "drain() waits until the reader reads") {
    NetLoop<LoopKind> s;
    s.run(test_flow_control());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: writelines() pauses writing too, so drain() waits after it (SW2)") {
    NetLoop<LoopKind> s(true);
    s.run(test_writelines_pauses());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: a reset as the reader and the writer see it (K2, K3, SR6, SW9)") {
    NetLoop<LoopKind> s(true);
    s.run(test_reset_reader_side(&s.fake));
    CHECK(s.base.errors.contexts.empty());  // K1: not reported
}

LOOP_TEST_CASE("Streams: a reset while the writer waits in drain() (K3, SW6)") {
    NetLoop<LoopKind> s(true);
    s.run(test_reset_while_draining(&s.fake));
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "Streams: writing to a closed peer: 'Connection lost' first, then the "
    "BrokenPipeError (K4)") {
    NetLoop<LoopKind> s(true);
    s.run(test_write_to_closed_peer());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "Streams: a drain blocked while paused returns when the connection is aborted; "
    "the next raises (SW6)") {
    NetLoop<LoopKind> s(true);
    s.run(test_abort_while_draining());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE(
    "Streams: the peer's end of stream is a half-close; write after write_eof() "
    "(P4, SW7)") {
    NetLoop<LoopKind> s;
    s.run(test_half_close());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: peer and local addresses, describe()") {
    NetLoop<LoopKind> s;
    s.run(test_addresses());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: test_multiple_drain") {
    TestLoop<LoopKind> s;
    s.loop.run_until_complete(test_multiple_drain());
    CHECK(s.errors.contexts.empty());
}
