// open_connection and start_server on both loops: CPython 3.13's test_streams.py network tests,
// handler errors and unclosed-writer warnings (over the loop's network or support_net.hpp's).
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "streams_support.hpp"
#include "support.hpp"
#include "support_net.hpp"

using namespace simrun;
using streams_test::stop;
using test_support::contains;
using test_support::NetLoop;

namespace {

using test_support::ends_with;
using test_support::eventually;
using test_support::port_of;

const std::string HTTP_REPLY = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nTest message";

/// The stand-in for CPython's test HTTP server: answers one request, then closes.
Coro<void> http_handler(StreamReader reader, StreamWriter writer) {
    try {
        co_await reader.readuntil("\r\n\r\n");
    } catch (const ConnectionError&) {
        co_return;  // a test reset the connection
    } catch (const IncompleteReadError&) {
        co_return;  // a test closed it without a request
    }
    writer.write(HTTP_REPLY);
    co_await writer.drain();
    writer.close();
    co_await writer.wait_closed();
}

Coro<std::shared_ptr<Server>> http_server() {
    co_return co_await start_server(http_handler, "127.0.0.1", 0);
}

Coro<void> test_open_connection() {
    auto httpd = co_await http_server();
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(httpd));
    writer.write("GET / HTTP/1.0\r\n\r\n");
    const std::string status = co_await reader.readline();
    CHECK(status == "HTTP/1.0 200 OK\r\n");
    const std::string rest = co_await reader.read();
    CHECK(ends_with(rest, "\r\n\r\nTest message"));
    writer.close();
    co_await writer.wait_closed();
    co_await stop(httpd);
}

Coro<void> test_open_connection_error(test_support::FakeNetwork* net) {
    auto httpd = co_await http_server();
    auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(httpd));
    net->reset(net->links.size() - 1);
    bool reset = false;
    try {
        co_await reader.read();
    } catch (const ConnectionResetError&) {
        reset = true;
    }
    CHECK(reset);
    writer.close();
    co_await sleep(0ms);
    co_await stop(httpd);
}

Coro<std::string> echo_client(std::uint16_t port) {
    auto [reader, writer] = co_await open_connection("127.0.0.1", port);
    writer.write("hello world!\n");
    std::string back = co_await reader.readline();
    writer.close();
    co_await writer.wait_closed();
    co_return back;
}

Coro<void> echo_line(StreamReader reader, StreamWriter writer) {
    std::string data = co_await reader.readline();
    writer.write(data);
    co_await writer.drain();
    writer.close();
    co_await writer.wait_closed();
}

Coro<void> test_start_server() {
    // The handler as a coroutine.
    auto server = co_await start_server(echo_line, "127.0.0.1", 0);
    std::string message = co_await echo_client(port_of(server));
    co_await stop(server);
    CHECK(message == "hello world!\n");

    // The handler as a plain function that starts a task of its own.
    ClientConnected spawner = [](StreamReader reader, StreamWriter writer) -> Coro<void> {
        create_task(echo_line(reader, writer));
        co_return;
    };
    server = co_await start_server(spawner, "127.0.0.1", 0);
    message = co_await echo_client(port_of(server));
    co_await stop(server);
    CHECK(message == "hello world!\n");
}

Coro<void> unhandled_client(std::uint16_t port) {
    auto [reader, writer] = co_await open_connection("localhost", port);
    writer.write("test msg");
    co_await writer.drain();
    writer.close();
    co_await writer.wait_closed();
}

Coro<void> run_unhandled(ClientConnected handler, std::shared_ptr<Server>* kept) {
    auto server = co_await start_server(handler, "localhost", 0, {.start_serving = false});
    co_await server->start_serving();
    co_await unhandled_client(port_of(server));
    co_await sleep(0ms);
    co_await sleep(0ms);
    CHECK(server->is_serving());  // P6: the server survives its handler
    co_await unhandled_client(port_of(server));
    *kept = server;
    server->close();
    co_await server->wait_closed();
}

Coro<void> test_drain_raises() {
    ClientConnected close_at_once = [](StreamReader, StreamWriter writer) -> Coro<void> {
        writer.close();
        co_return;
    };
    auto server = co_await start_server(close_at_once, "localhost", 0);
    auto [reader, writer] = co_await open_connection("localhost", port_of(server));
    std::string raised;
    try {
        for (int i = 0; i < 1'000'000; ++i) {  // must not loop forever
            writer.write("foo\n");
            co_await writer.drain();
            if (i % 256 == 255)
                co_await sleep(0ms);  // a sanitized build has no tail calls: keep the stack short
        }
    } catch (const ConnectionResetError&) {
        raised = "ConnectionResetError";
    } catch (const ConnectionAbortedError&) {
        raised = "ConnectionAbortedError";
    } catch (const BrokenPipeError&) {
        raised = "BrokenPipeError";
    }
    CHECK_FALSE(raised.empty());
    co_await stop(server);
}

Coro<void> test_wait_closed_on_close(bool read_all) {
    auto httpd = co_await http_server();
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(httpd));
    wr.write("GET / HTTP/1.0\r\n\r\n");
    const std::string status = co_await rd.readline();
    CHECK(status == "HTTP/1.0 200 OK\r\n");
    if (read_all) {
        const std::string rest = co_await rd.read();
        CHECK(ends_with(rest, "\r\n\r\nTest message"));
        CHECK_FALSE(wr.is_closing());
    }
    wr.close();
    CHECK(wr.is_closing());
    co_await wr.wait_closed();
    co_await stop(httpd);
}

Coro<void> test_async_writer_api_exception_after_close() {
    auto httpd = co_await http_server();
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(httpd));
    wr.write("GET / HTTP/1.0\r\n\r\n");
    const std::string status = co_await rd.readline();
    CHECK(status == "HTTP/1.0 200 OK\r\n");
    const std::string rest = co_await rd.read();
    CHECK(ends_with(rest, "\r\n\r\nTest message"));
    wr.close();
    bool lost = false;
    try {
        wr.write("data");  // dropped silently
        co_await wr.drain();
    } catch (const ConnectionResetError& error) {
        lost = contains(error.what(), "Connection lost");
    }
    CHECK(lost);
    co_await stop(httpd);
}

Coro<void> test_eof_feed_when_closing_writer() {
    auto httpd = co_await http_server();
    auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(httpd));
    wr.close();
    co_await wr.wait_closed();
    CHECK(rd.at_eof());
    const std::string data = co_await rd.read();
    CHECK(data == "");
    co_await stop(httpd);
}

Coro<void> test_unclosed_resource_warnings(test_support::LogCapture* log) {
    auto httpd = co_await http_server();
    auto connection = co_await open_connection("127.0.0.1", port_of(httpd));
    StreamReader rd = connection.first;
    std::optional<StreamWriter> wr(std::move(connection.second));
    wr->write("GET / HTTP/1.0\r\n\r\n");
    const std::string status = co_await rd.readline();
    CHECK(status == "HTTP/1.0 200 OK\r\n");
    const std::string rest = co_await rd.read();
    CHECK(ends_with(rest, "\r\n\r\nTest message"));
    CHECK(log->count("ResourceWarning") == 0);
    wr.reset();  // Python's `del wr`
    CHECK(log->count("ResourceWarning") == 1);
    CHECK(log->count("ResourceWarning: unclosed <StreamWriter transport=<SocketTransport "
                     "closing") == 1);
    co_await sleep(0ms);
    co_await stop(httpd);
}

}  // namespace

LOOP_TEST_CASE("Streams: test_open_connection") {
    NetLoop<LoopKind> s;
    s.run(test_open_connection());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: test_open_connection_error (a reset instead of an injected error)") {
    NetLoop<LoopKind> s(true);
    s.run(test_open_connection_error(&s.fake));
    CHECK(s.base.errors.contexts.empty());  // K1: a reset is not reported
}

LOOP_TEST_CASE("Streams: test_start_server") {
    NetLoop<LoopKind> s;
    s.run(test_start_server());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: test_unhandled_exception") {
    NetLoop<LoopKind> s;
    ClientConnected handle_echo = [](StreamReader, StreamWriter) -> Coro<void> {
        throw std::runtime_error("test");
        co_return;
    };
    std::shared_ptr<Server> server;
    s.run(run_unhandled(handle_echo, &server));
    const auto& messages = s.base.errors.contexts;
    REQUIRE(messages.size() == 2);  // one per client: the server went on serving
    CHECK(messages[0].message == "Unhandled exception in client_connected_cb");
    CHECK(test_support::contains(describe_exception(messages[0].exception), "test"));
    CHECK(messages[0].keys() == std::set<std::string>{"message", "exception", "transport"});
    CHECK(s.base.log.count("ResourceWarning") == 0);  // the failed connection was closed
}

LOOP_TEST_CASE("Streams: test_unhandled_cancel") {
    NetLoop<LoopKind> s;
    ClientConnected handle_echo = [](StreamReader, StreamWriter writer) -> Coro<void> {
        writer.close();
        current_task().cancel();
        co_return;
    };
    std::shared_ptr<Server> server;
    s.run(run_unhandled(handle_echo, &server));
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: a cancelled handler's connection is closed, nothing reported (P1)") {
    NetLoop<LoopKind> s;
    ClientConnected wait_forever = [](StreamReader reader, StreamWriter) -> Coro<void> {
        co_await reader.read();  // the client never sends anything
    };
    auto body = [](ClientConnected handler) -> Coro<void> {
        auto server = co_await start_server(handler, "127.0.0.1", 0);
        auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
        co_await eventually([] { return all_tasks().size() == 2; });
        for (TaskRef& task : all_tasks()) {
            if (task != current_task())
                task.cancel();
        }
        const std::string data = co_await reader.read();  // the server closed the connection
        CHECK(data == "");
        writer.close();
        co_await writer.wait_closed();
        co_await stop(server);
    };
    s.run(body(wait_forever));
    CHECK(s.base.errors.contexts.empty());
    CHECK_MESSAGE(s.base.log.count("ResourceWarning") == 0, s.base.log.all());
}

LOOP_TEST_CASE("Streams: test_drain_raises") {
    NetLoop<LoopKind> s;
    s.run(test_drain_raises());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: test_wait_closed_on_close") {
    NetLoop<LoopKind> s;
    s.run(test_wait_closed_on_close(true));
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: test_wait_closed_on_close_with_unread_data") {
    NetLoop<LoopKind> s;
    s.run(test_wait_closed_on_close(false));
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: test_async_writer_api") {
    NetLoop<LoopKind> s;
    s.run(test_open_connection());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: test_async_writer_api_exception_after_close") {
    NetLoop<LoopKind> s;
    s.run(test_async_writer_api_exception_after_close());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: test_eof_feed_when_closing_writer") {
    NetLoop<LoopKind> s;
    s.run(test_eof_feed_when_closing_writer());
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: test_unclosed_resource_warnings") {
    NetLoop<LoopKind> s;
    s.run(test_unclosed_resource_warnings(&s.base.log));
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: test_loop_is_closed_resource_warnings") {
    // The last writer handle of an unclosed connection goes after the loop was closed: the
    // connection is closed at once (nothing can run any more) with "loop is closed".
    NetLoop<LoopKind> s;
    std::optional<StreamWriter> kept;
    auto body = [](std::optional<StreamWriter>* kept) -> Coro<void> {
        auto httpd = co_await http_server();
        auto [rd, wr] = co_await open_connection("127.0.0.1", port_of(httpd));
        wr.write("GET / HTTP/1.0\r\n\r\n");
        const std::string rest = co_await rd.read();
        CHECK(ends_with(rest, "\r\n\r\nTest message"));
        kept->emplace(wr);
        co_await stop(httpd);
    };
    s.run(body(&kept));
    s.loop.close();
    CHECK_FALSE(kept->is_closing());
    kept.reset();
    CHECK(s.base.log.count("ResourceWarning") == 1);
    CHECK(s.base.log.count("ResourceWarning: loop is closed") == 1);
    CHECK(s.base.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: test_unclosed_server_resource_warnings") {
    // P3: a handler that returns without closing its writer: the connection is closed when its
    // last writer handle goes, with a ResourceWarning; the client reads end of stream.
    NetLoop<LoopKind> s;
    ClientConnected inner = [](StreamReader, StreamWriter) -> Coro<void> { co_return; };
    auto outer = [](ClientConnected handler) -> Coro<void> {
        auto server = co_await start_server(handler, "127.0.0.1", 0);
        auto [reader, writer] = co_await open_connection("127.0.0.1", port_of(server));
        const std::string data = co_await reader.read();
        CHECK(data == "");
        CHECK_FALSE(writer.is_closing());  // the peer's end of stream is a half-close (P4)
        writer.close();
        co_await writer.wait_closed();
        co_await stop(server);
    };
    s.run(outer(inner));
    CHECK(s.base.log.count("ResourceWarning") == 1);
    CHECK(s.base.log.count("ResourceWarning: unclosed <StreamWriter") == 1);
    CHECK(s.base.errors.contexts.empty());
}
