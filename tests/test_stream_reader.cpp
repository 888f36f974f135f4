// StreamReader fed by hand: feed_data() and feed_eof(), describe(), the limit, flow control,
// exceptions and the one-waiter rule (from CPython 3.13's test_streams.py, plus rules it lacks).
#include <memory>
#include <string>
#include <vector>

#include "streams_support.hpp"
#include "support.hpp"

using namespace simrun;
using streams_test::DATA;
using test_support::contains;
using test_support::TestLoop;

namespace {

/// A transport that only records pause/resume calls (for the reader's flow control).
class RecordingTransport final : public Transport {
  public:
    void write(std::string_view) override {}
    void writelines(const std::vector<std::string>&) override {}
    void write_eof() override {}
    bool can_write_eof() const override { return true; }
    std::size_t get_write_buffer_size() const override { return 0; }
    WriteBufferLimits get_write_buffer_limits() const override { return {}; }
    void set_write_buffer_limits(std::optional<std::int64_t>,
                                 std::optional<std::int64_t>) override {}
    void pause_reading() override {
        reading = false;
        calls.push_back("pause");
    }
    void resume_reading() override {
        reading = true;
        calls.push_back("resume");
    }
    bool is_reading() const override { return reading; }
    void close() override {}
    void abort() override {}
    bool is_closing() const override { return false; }
    std::optional<SocketAddress> peer_address() const override { return std::nullopt; }
    std::optional<SocketAddress> local_address() const override { return std::nullopt; }
    std::string describe() const override { return "<Transport>"; }

    bool reading = true;
    std::vector<std::string> calls;
};

Coro<void> set_error(StreamReader stream) {
    stream.set_exception(std::make_exception_ptr(ValueError("")));
    co_return;
}

}  // namespace

// ---- feed, describe() and flow control ---------------------------------------------------------

TEST_SUITE_BEGIN("loop-free");

TEST_CASE("Streams: test_feed_empty_data") {
    StreamReader stream;
    stream.feed_data("");
    CHECK(stream.buffer() == "");
}

TEST_CASE("Streams: test_feed_nonempty_data") {
    StreamReader stream;
    stream.feed_data(DATA);
    CHECK(stream.buffer() == DATA);
}

TEST_CASE("Streams: test_invalid_limit") {
    CHECK_THROWS_WITH_AS(StreamReader(0), "Limit cannot be <= 0", ValueError);
    CHECK_THROWS_WITH_AS(StreamReader(-1), "Limit cannot be <= 0", ValueError);
}

TEST_CASE("Streams: test_exception") {
    StreamReader stream;
    CHECK(stream.exception() == nullptr);
    auto error = std::make_exception_ptr(ValueError(""));
    stream.set_exception(error);
    CHECK(stream.exception() == error);
}

TEST_CASE("Streams: feed_data after feed_eof is refused (asyncio's assertion)") {
    StreamReader stream;
    stream.feed_eof();
    CHECK_THROWS_WITH_AS(stream.feed_data(""), "feed_data after feed_eof", RuntimeError);
}

TEST_CASE("Streams: test___repr__") {
    CHECK(StreamReader().describe() == "<StreamReader>");
}

TEST_CASE("Streams: test___repr__nondefault_limit") {
    CHECK(StreamReader(123).describe() == "<StreamReader limit=123>");
}

TEST_CASE("Streams: test___repr__eof") {
    StreamReader stream;
    stream.feed_eof();
    CHECK(stream.describe() == "<StreamReader eof>");
}

TEST_CASE("Streams: test___repr__data") {
    StreamReader stream;
    stream.feed_data("data");
    CHECK(stream.describe() == "<StreamReader 4 bytes>");
}

TEST_CASE("Streams: test___repr__exception") {
    StreamReader stream;
    stream.set_exception(std::make_exception_ptr(RuntimeError("")));
    CHECK(stream.describe() == "<StreamReader exception=RuntimeError()>");
}

TEST_CASE("Streams: test___repr__transport") {
    StreamReader stream;
    auto transport = std::make_shared<RecordingTransport>();
    stream.set_transport(transport);
    CHECK(stream.describe() == "<StreamReader transport=<Transport>>");
    CHECK_THROWS_WITH_AS(stream.set_transport(transport), "Transport already set", RuntimeError);
}

TEST_CASE(
    "Streams: feed_data pauses the transport above twice the limit; reads resume it at "
    "the limit (SR2, SR3)") {
    StreamReader stream(4);
    auto transport = std::make_shared<RecordingTransport>();
    stream.set_transport(transport);
    stream.feed_data("12345678");  // 8 bytes: not above 2 * 4
    CHECK(transport->calls.empty());
    stream.feed_data("9");  // 9 bytes: paused
    CHECK(transport->calls == std::vector<std::string>{"pause"});
    CHECK(contains(stream.describe(), " paused"));
    stream.feed_data("0");  // already paused: no second call
    CHECK(transport->calls.size() == 1);
}

TEST_SUITE_END();

LOOP_TEST_CASE(
    "Streams: reads resume a paused transport once the buffer is down to the limit "
    "(SR3)") {
    TestLoop<LoopKind> s;
    StreamReader stream(4);
    auto transport = std::make_shared<RecordingTransport>();
    stream.set_transport(transport);
    stream.feed_data("123456789");
    CHECK(transport->calls == std::vector<std::string>{"pause"});
    CHECK(s.loop.run_until_complete(stream.read(4)) == "1234");  // 5 left: still paused
    CHECK(transport->calls.size() == 1);
    CHECK(s.loop.run_until_complete(stream.read(1)) == "5");  // 4 left: resumed
    CHECK(transport->calls == std::vector<std::string>{"pause", "resume"});
}

LOOP_TEST_CASE("Streams: a read that must wait resumes a paused transport first (SR3)") {
    TestLoop<LoopKind> s;
    StreamReader stream(1);
    auto transport = std::make_shared<RecordingTransport>();
    stream.set_transport(transport);
    stream.feed_data("abc");
    Task<std::string> read = s.loop.create_task(stream.readexactly(5));
    s.loop.call_later(1ms, [stream]() mutable { stream.feed_data("de"); });
    CHECK(s.loop.run_until_complete(read) == "abcde");
    // Paused at "abc", resumed to wait, paused again at "abcde", resumed once it was read.
    CHECK(transport->calls == std::vector<std::string>{"pause", "resume", "pause", "resume"});
}

// ---- exception propagation --------------------------------------------------------------------

LOOP_TEST_CASE("Streams: test_exception_waiter") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    Task<std::string> t1 = s.loop.create_task(stream.readline());
    Task<void> t2 = s.loop.create_task(set_error(stream));
    s.loop.run_until_complete(t2);
    CHECK_THROWS_AS(s.loop.run_until_complete(t1), ValueError);
}

LOOP_TEST_CASE("Streams: test_exception_cancel") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    Task<std::string> t = s.loop.create_task(stream.readline());
    s.loop.run_until_complete(sleep(0ms));
    t.cancel();
    s.loop.run_until_complete(sleep(0ms));
    // The following line fails if set_exception() isn't careful.
    stream.set_exception(std::make_exception_ptr(RuntimeError("message")));
    s.loop.run_until_complete(sleep(0ms));
    CHECK(t.cancelled());
    CHECK(stream.describe() == "<StreamReader exception=RuntimeError('message')>");  // no waiter
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE("Streams: test___repr__waiter") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    Task<std::string> read = s.loop.create_task(stream.read(1));
    s.loop.run_until_complete(sleep(0ms));
    CHECK(contains(stream.describe(), "<StreamReader waiter=<Future pending"));
    stream.feed_data("x");
    CHECK(s.loop.run_until_complete(read) == "x");
    CHECK(stream.describe() == "<StreamReader>");
}

LOOP_TEST_CASE(
    "Streams: only one coroutine may wait for data; readline() reports readuntil() "
    "(SR4)") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    Task<std::string> first = s.loop.create_task(stream.read(5));
    s.loop.run_until_complete(sleep(0ms));
    CHECK_THROWS_WITH_AS(
        s.loop.run_until_complete(stream.read(5)),
        "read() called while another coroutine is already waiting for incoming data", RuntimeError);
    CHECK_THROWS_WITH_AS(
        s.loop.run_until_complete(stream.readline()),
        "readuntil() called while another coroutine is already waiting for incoming data",
        RuntimeError);
    CHECK_THROWS_WITH_AS(
        s.loop.run_until_complete(stream.readexactly(2)),
        "readexactly() called while another coroutine is already waiting for incoming data",
        RuntimeError);
    stream.feed_data("hello");
    CHECK(s.loop.run_until_complete(first) == "hello");
}

LOOP_TEST_CASE("Streams: a cancelled read leaves the reader usable (SR12)") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    Task<std::string> read = s.loop.create_task(stream.readexactly(3));
    s.loop.run_until_complete(sleep(0ms));
    read.cancel();
    CHECK_THROWS_AS(s.loop.run_until_complete(read), CancelledError);
    stream.feed_data("abc");
    CHECK(s.loop.run_until_complete(stream.readexactly(3)) == "abc");
}
