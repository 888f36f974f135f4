// StreamReader, StreamWriter, open_connection, start_server: a port of CPython 3.13's
// test_streams.py (each test keeps its name and asserts what the original asserts), plus the
// streams rules the original does not cover (flow control, resets, half-close, the unclosed
// writer). The reader-alone tests feed the reader by hand; the network tests run on both loops
// over the loop's network (or the in-memory one of support_net.hpp while a loop has none, and
// always for faults injected at a chosen moment).
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <simrun/io/detail/stream_protocol.hpp>

#include "support.hpp"
#include "support_net.hpp"

using namespace simrun;
using test_support::contains;
using test_support::NetLoop;
using test_support::TestLoop;

namespace {

const std::string DATA = "line1\nline2\nline3\n";

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

template <class E, class T>
bool raises(EventLoop& loop, Coro<T> coro) {
    try {
        loop.run_until_complete(std::move(coro));
    } catch (const E&) {
        return true;
    }
    return false;
}

Coro<void> set_error(StreamReader stream) {
    stream.set_exception(std::make_exception_ptr(ValueError("")));
    co_return;
}

}  // namespace

// ---- feed and read ----------------------------------------------------------------------------

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

LOOP_TEST_CASE("Streams: test_read_zero") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data(DATA);
    CHECK(s.loop.run_until_complete(stream.read(0)) == "");
    CHECK(stream.buffer() == DATA);
}

LOOP_TEST_CASE("Streams: test_read") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    Task<std::string> read_task = s.loop.create_task(stream.read(30));
    s.loop.call_soon([stream]() mutable { stream.feed_data(DATA); });
    CHECK(s.loop.run_until_complete(read_task) == DATA);
    CHECK(stream.buffer() == "");
}

LOOP_TEST_CASE("Streams: test_read_line_breaks") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data("line1");
    stream.feed_data("line2");
    CHECK(s.loop.run_until_complete(stream.read(5)) == "line1");
    CHECK(stream.buffer() == "line2");
}

LOOP_TEST_CASE("Streams: test_read_eof") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    Task<std::string> read_task = s.loop.create_task(stream.read(1024));
    s.loop.call_soon([stream]() mutable { stream.feed_eof(); });
    CHECK(s.loop.run_until_complete(read_task) == "");
    CHECK(stream.buffer() == "");
}

LOOP_TEST_CASE("Streams: test_read_until_eof") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    Task<std::string> read_task = s.loop.create_task(stream.read(-1));
    s.loop.call_soon([stream]() mutable {
        stream.feed_data("chunk1\n");
        stream.feed_data("chunk2");
        stream.feed_eof();
    });
    CHECK(s.loop.run_until_complete(read_task) == "chunk1\nchunk2");
    CHECK(stream.buffer() == "");
}

LOOP_TEST_CASE("Streams: test_read_exception") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data("line\n");
    CHECK(s.loop.run_until_complete(stream.read(2)) == "li");
    stream.set_exception(std::make_exception_ptr(ValueError("")));
    CHECK(raises<ValueError>(s.loop, stream.read(2)));
    // SR6: even read(0) raises, and the buffered data is out of reach.
    CHECK(raises<ValueError>(s.loop, stream.read(0)));
    CHECK(stream.buffer() == "ne\n");
}

LOOP_TEST_CASE("Streams: test_read_limit") {
    TestLoop<LoopKind> s;
    StreamReader stream(3);
    stream.feed_data("chunk");
    CHECK(s.loop.run_until_complete(stream.read(5)) == "chunk");
    CHECK(stream.buffer() == "");
}

LOOP_TEST_CASE("Streams: test_at_eof") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    CHECK_FALSE(stream.at_eof());
    stream.feed_data("some data\n");
    CHECK_FALSE(stream.at_eof());
    s.loop.run_until_complete(stream.readline());
    CHECK_FALSE(stream.at_eof());
    stream.feed_data("some data\n");
    stream.feed_eof();
    s.loop.run_until_complete(stream.readline());
    CHECK(stream.at_eof());
}

// ---- readline ---------------------------------------------------------------------------------

LOOP_TEST_CASE("Streams: test_readline") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data("chunk1 ");
    Task<std::string> read_task = s.loop.create_task(stream.readline());
    s.loop.call_soon([stream]() mutable {
        stream.feed_data("chunk2 ");
        stream.feed_data("chunk3 ");
        stream.feed_data("\n chunk4");
    });
    CHECK(s.loop.run_until_complete(read_task) == "chunk1 chunk2 chunk3 \n");
    CHECK(stream.buffer() == " chunk4");
}

LOOP_TEST_CASE("Streams: test_readline_limit_with_existing_data") {
    TestLoop<LoopKind> s;
    StreamReader stream(3);
    stream.feed_data("li");
    stream.feed_data("ne1\nline2\n");
    CHECK(raises<ValueError>(s.loop, stream.readline()));
    // The buffer should contain the remaining data after the exception.
    CHECK(stream.buffer() == "line2\n");

    StreamReader other(3);
    other.feed_data("li");
    other.feed_data("ne1");
    other.feed_data("li");
    CHECK(raises<ValueError>(s.loop, other.readline()));
    // No "\n" at the end, and more than the limit: the whole buffer is dropped.
    CHECK(other.buffer() == "");
}

LOOP_TEST_CASE("Streams: test_readline_limit") {
    TestLoop<LoopKind> s;
    {
        StreamReader stream(7);
        s.loop.call_soon([stream]() mutable {
            stream.feed_data("chunk1");
            stream.feed_data("chunk2");
            stream.feed_data("chunk3\n");
            stream.feed_eof();
        });
        CHECK(raises<ValueError>(s.loop, stream.readline()));
        // The buffer had just one line of data, and after the ValueError it is empty.
        CHECK(stream.buffer() == "");
    }
    {
        StreamReader stream(7);
        s.loop.call_soon([stream]() mutable {
            stream.feed_data("chunk1");
            stream.feed_data("chunk2\n");
            stream.feed_data("chunk3\n");
            stream.feed_eof();
        });
        CHECK(raises<ValueError>(s.loop, stream.readline()));
        CHECK(stream.buffer() == "chunk3\n");
    }
    // The limit is strict.
    StreamReader stream(7);
    stream.feed_data("1234567\n");
    CHECK(s.loop.run_until_complete(stream.readline()) == "1234567\n");
    CHECK(stream.buffer() == "");

    stream.feed_data("12345678\n");
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(stream.readline()),
                         "Separator is found, but chunk is longer than limit", ValueError);
    CHECK(stream.buffer() == "");

    stream.feed_data("12345678");
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(stream.readline()),
                         "Separator is not found, and chunk exceed the limit", ValueError);
    CHECK(stream.buffer() == "");
}

LOOP_TEST_CASE("Streams: test_readline_nolimit_nowait") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data(DATA.substr(0, 6));
    stream.feed_data(DATA.substr(6));
    CHECK(s.loop.run_until_complete(stream.readline()) == "line1\n");
    CHECK(stream.buffer() == "line2\nline3\n");
}

LOOP_TEST_CASE("Streams: test_readline_eof") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data("some data");
    stream.feed_eof();
    CHECK(s.loop.run_until_complete(stream.readline()) == "some data");
}

LOOP_TEST_CASE("Streams: test_readline_empty_eof") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_eof();
    CHECK(s.loop.run_until_complete(stream.readline()) == "");
}

LOOP_TEST_CASE("Streams: test_readline_read_byte_count") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data(DATA);
    s.loop.run_until_complete(stream.readline());
    CHECK(s.loop.run_until_complete(stream.read(7)) == "line2\nl");
    CHECK(stream.buffer() == "ine3\n");
}

LOOP_TEST_CASE("Streams: test_readline_exception") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data("line\n");
    CHECK(s.loop.run_until_complete(stream.readline()) == "line\n");
    stream.set_exception(std::make_exception_ptr(ValueError("")));
    CHECK(raises<ValueError>(s.loop, stream.readline()));
    CHECK(stream.buffer() == "");
}

LOOP_TEST_CASE("Streams: lines() yields every line until the end of the stream (SR11)") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data("a\nb\nc");
    stream.feed_eof();
    auto collect = [](StreamReader reader) -> Coro<std::vector<std::string>> {
        std::vector<std::string> lines;
        AsyncGen<std::string> each = reader.lines();
        while (std::optional<std::string> line = co_await each.next())
            lines.push_back(*line);
        co_return lines;
    };
    CHECK(s.loop.run_until_complete(collect(stream)) ==
          std::vector<std::string>{"a\n", "b\n", "c"});
}

// ---- readuntil --------------------------------------------------------------------------------

LOOP_TEST_CASE("Streams: test_readuntil_separator") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(stream.readuntil("")),
                         "Separator should be at least one-byte string", ValueError);
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(stream.readuntil(std::vector<std::string>{""})),
                         "Separator should be at least one-byte string", ValueError);
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(stream.readuntil(std::vector<std::string>{})),
                         "Separator should contain at least one element", ValueError);
}

LOOP_TEST_CASE("Streams: test_readuntil_multi_chunks") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data("lineAAA");
    CHECK(s.loop.run_until_complete(stream.readuntil("AAA")) == "lineAAA");
    CHECK(stream.buffer() == "");

    stream.feed_data("lineAAA");
    CHECK(s.loop.run_until_complete(stream.readuntil("AAA")) == "lineAAA");
    CHECK(stream.buffer() == "");

    stream.feed_data("lineAAAxxx");
    CHECK(s.loop.run_until_complete(stream.readuntil("AAA")) == "lineAAA");
    CHECK(stream.buffer() == "xxx");
}

LOOP_TEST_CASE("Streams: test_readuntil_multi_chunks_1") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data("QWEaa");
    stream.feed_data("XYaa");
    stream.feed_data("a");
    CHECK(s.loop.run_until_complete(stream.readuntil("aaa")) == "QWEaaXYaaa");
    CHECK(stream.buffer() == "");

    stream.feed_data("QWEaa");
    stream.feed_data("XYa");
    stream.feed_data("aa");
    CHECK(s.loop.run_until_complete(stream.readuntil("aaa")) == "QWEaaXYaaa");
    CHECK(stream.buffer() == "");

    stream.feed_data("aaa");
    CHECK(s.loop.run_until_complete(stream.readuntil("aaa")) == "aaa");
    CHECK(stream.buffer() == "");

    stream.feed_data("Xaaa");
    CHECK(s.loop.run_until_complete(stream.readuntil("aaa")) == "Xaaa");
    CHECK(stream.buffer() == "");

    stream.feed_data("XXX");
    stream.feed_data("a");
    stream.feed_data("a");
    stream.feed_data("a");
    CHECK(s.loop.run_until_complete(stream.readuntil("aaa")) == "XXXaaa");
    CHECK(stream.buffer() == "");
}

LOOP_TEST_CASE("Streams: test_readuntil_eof") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    const std::string data = "some dataAA";
    stream.feed_data(data);
    stream.feed_eof();
    try {
        s.loop.run_until_complete(stream.readuntil("AAA"));
        FAIL("no IncompleteReadError");
    } catch (const IncompleteReadError& error) {
        CHECK(contains(error.what(), "undefined expected bytes"));
        CHECK(error.partial() == data);
        CHECK_FALSE(error.expected().has_value());
    }
    CHECK(stream.buffer() == "");
}

LOOP_TEST_CASE("Streams: test_readuntil_limit_found_sep") {
    TestLoop<LoopKind> s;
    StreamReader stream(3);
    stream.feed_data("some dataAA");
    try {
        s.loop.run_until_complete(stream.readuntil("AAA"));
        FAIL("no LimitOverrunError");
    } catch (const LimitOverrunError& error) {
        CHECK(contains(error.what(), "not found"));
        CHECK(error.consumed() == 9);
    }
    CHECK(stream.buffer() == "some dataAA");

    stream.feed_data("A");
    try {
        s.loop.run_until_complete(stream.readuntil("AAA"));
        FAIL("no LimitOverrunError");
    } catch (const LimitOverrunError& error) {
        CHECK(contains(error.what(), "is found"));
        CHECK(error.consumed() == 9);
    }
    CHECK(stream.buffer() == "some dataAAA");
}

LOOP_TEST_CASE("Streams: test_readuntil_multi_separator") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    // Simple case.
    stream.feed_data("line 1\nline 2\r");
    const std::vector<std::string> ends{"\r", "\n"};
    CHECK(s.loop.run_until_complete(stream.readuntil(ends)) == "line 1\n");
    CHECK(s.loop.run_until_complete(stream.readuntil(ends)) == "line 2\r");
    CHECK(stream.buffer() == "");
    // The first end position matches, even if that is a longer match.
    stream.feed_data("ABCDEFG");
    CHECK(s.loop.run_until_complete(stream.readuntil(std::vector<std::string>{"DEF", "BCDE"})) ==
          "ABCDE");
    CHECK(stream.buffer() == "FG");
}

LOOP_TEST_CASE("Streams: test_readuntil_multi_separator_limit") {
    TestLoop<LoopKind> s;
    StreamReader stream(3);
    stream.feed_data("some dataA");
    CHECK_THROWS_WITH_AS(
        s.loop.run_until_complete(stream.readuntil(std::vector<std::string>{"A", "ome dataA"})),
        "Separator is found, but chunk is longer than limit", LimitOverrunError);
    CHECK(stream.buffer() == "some dataA");
}

LOOP_TEST_CASE("Streams: test_readuntil_multi_separator_negative_offset") {
    // The buffer is big enough for the shortest separator (but does not contain it) and too
    // small for the longest: the offset must not become negative.
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data("data");
    Task<std::string> readuntil_task =
        s.loop.create_task(stream.readuntil(std::vector<std::string>{"A", "long sep"}));
    s.loop.call_soon([stream]() mutable { stream.feed_data("Z"); });
    s.loop.call_soon([stream]() mutable { stream.feed_data("Aaaa"); });
    CHECK(s.loop.run_until_complete(readuntil_task) == "dataZA");
    CHECK(stream.buffer() == "aaa");
}

LOOP_TEST_CASE("Streams: test_readuntil_bytearray") {
    // asyncio accepts any bytes-like separator; here: any bytes in a std::string.
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data("some data\r\n");
    CHECK(s.loop.run_until_complete(stream.readuntil(std::string{'\r', '\n'})) == "some data\r\n");
    CHECK(stream.buffer() == "");
}

LOOP_TEST_CASE("Streams: readuntil with exactly the limit before the separator is allowed") {
    TestLoop<LoopKind> s;
    StreamReader stream(4);
    stream.feed_data("abcd\nabcde\n");
    CHECK(s.loop.run_until_complete(stream.readuntil("\n")) == "abcd\n");
    CHECK_THROWS_AS(s.loop.run_until_complete(stream.readuntil("\n")), LimitOverrunError);
    CHECK(stream.buffer() == "abcde\n");  // kept: it can still be read another way
    CHECK(s.loop.run_until_complete(stream.readexactly(6)) == "abcde\n");
}

LOOP_TEST_CASE(
    "Streams: readline waits while the data without a separator is exactly the "
    "limit") {
    TestLoop<LoopKind> s;
    StreamReader stream(7);
    stream.feed_data("1234567");
    Task<std::string> line = s.loop.create_task(stream.readline());
    s.loop.call_soon([stream]() mutable { stream.feed_data("\n"); });
    CHECK(s.loop.run_until_complete(line) == "1234567\n");
}

// ---- readexactly ------------------------------------------------------------------------------

LOOP_TEST_CASE("Streams: test_readexactly_zero_or_less") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data(DATA);
    CHECK(s.loop.run_until_complete(stream.readexactly(0)) == "");
    CHECK(stream.buffer() == DATA);
    CHECK_THROWS_WITH_AS(s.loop.run_until_complete(stream.readexactly(-1)),
                         "readexactly size can not be less than zero", ValueError);
    CHECK(stream.buffer() == DATA);
}

LOOP_TEST_CASE("Streams: test_readexactly") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    const auto n = static_cast<std::int64_t>(2 * DATA.size());
    Task<std::string> read_task = s.loop.create_task(stream.readexactly(n));
    s.loop.call_soon([stream]() mutable {
        stream.feed_data(DATA);
        stream.feed_data(DATA);
        stream.feed_data(DATA);
    });
    CHECK(s.loop.run_until_complete(read_task) == DATA + DATA);
    CHECK(stream.buffer() == DATA);
}

LOOP_TEST_CASE("Streams: test_readexactly_limit") {
    TestLoop<LoopKind> s;
    StreamReader stream(3);
    stream.feed_data("chunk");
    CHECK(s.loop.run_until_complete(stream.readexactly(5)) == "chunk");
    CHECK(stream.buffer() == "");
}

LOOP_TEST_CASE("Streams: test_readexactly_eof") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    const auto n = static_cast<std::int64_t>(2 * DATA.size());
    Task<std::string> read_task = s.loop.create_task(stream.readexactly(n));
    s.loop.call_soon([stream]() mutable {
        stream.feed_data(DATA);
        stream.feed_eof();
    });
    try {
        s.loop.run_until_complete(read_task);
        FAIL("no IncompleteReadError");
    } catch (const IncompleteReadError& error) {
        CHECK(error.partial() == DATA);
        CHECK(error.expected() == std::optional<std::size_t>(36));
        CHECK(std::string(error.what()) == "18 bytes read on a total of 36 expected bytes");
    }
    CHECK(stream.buffer() == "");
}

LOOP_TEST_CASE("Streams: test_readexactly_exception") {
    TestLoop<LoopKind> s;
    StreamReader stream;
    stream.feed_data("line\n");
    CHECK(s.loop.run_until_complete(stream.readexactly(2)) == "li");
    stream.set_exception(std::make_exception_ptr(ValueError("")));
    CHECK(raises<ValueError>(s.loop, stream.readexactly(2)));
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

// ---- over a network: connecting, servers ------------------------------------------------------

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

Coro<void> stop(std::shared_ptr<Server> server) {
    server->close();
    co_await server->wait_closed();
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
