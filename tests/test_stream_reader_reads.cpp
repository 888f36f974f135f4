// StreamReader's reads on both loops: read(), readline(), readuntil(), readexactly() and lines()
// (a port of CPython 3.13's test_streams.py: each test keeps its name and its assertions).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "streams_support.hpp"
#include "support.hpp"

using namespace simrun;
using streams_test::DATA;
using test_support::contains;
using test_support::TestLoop;

namespace {

template <class E, class T>
bool raises(EventLoop& loop, Coro<T> coro) {
    try {
        loop.run_until_complete(std::move(coro));
    } catch (const E&) {
        return true;
    }
    return false;
}

}  // namespace

// ---- read -------------------------------------------------------------------------------------

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
