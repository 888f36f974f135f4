// The simulator's trace keeps its first entries as compact records and puts their texts
// together only when read (sim/include/simrun/sim/loop/trace.hpp): what is read must be what
// was recorded, whatever the order of recording and reading. And the ready queue's ring
// (runner/include/simrun/core/detail/ring_queue.hpp).
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "simrun/core/detail/ring_queue.hpp"
#include "simrun/sim/sim.hpp"

#include "support.hpp"

// The trace alone: no loop runs.
TEST_SUITE_BEGIN("loop-free");

using namespace simrun;
using namespace std::chrono_literals;

namespace {
std::vector<std::string> lines(const std::vector<sim::TraceEntry>& entries) {
    std::vector<std::string> out;
    for (const sim::TraceEntry& entry : entries)
        out.push_back(sim::Trace::format_entry(entry));
    return out;
}

constexpr sim::TraceKind call{"call"};
constexpr sim::TraceKind time_kind{"time"};
}  // namespace

TEST_CASE("Trace records: a text seen before is not written again, and reads back the same") {
    sim::Trace trace;
    int written = 0;
    auto add = [&](std::uint64_t step, const std::string& text) {
        trace.add_with(step, Duration(step), call, detail::text_hash(text), [&](std::string& out) {
            ++written;
            out += text;
        });
    };
    add(0, "main.cpp:12");
    add(1, "sleep wake-up of worker-1");
    add(2, "main.cpp:12");
    add(3, "main.cpp:12");
    add(4, "sleep wake-up of worker-1");
    CHECK(written == 2);
    CHECK(trace.size() == 5);
    CHECK(lines(trace.entries()) == std::vector<std::string>{
                                        "[t=0.000s #0] call main.cpp:12",
                                        "[t=0.000s #1] call sleep wake-up of worker-1",
                                        "[t=0.000s #2] call main.cpp:12",
                                        "[t=0.000s #3] call main.cpp:12",
                                        "[t=0.000s #4] call sleep wake-up of worker-1",
                                    });
}

TEST_CASE("Trace records: entries() read part-way grows with the entries recorded since") {
    sim::Trace trace;
    trace.add(0, 0s, "run", "Task-1");
    const std::vector<sim::TraceEntry>& first = trace.entries();
    REQUIRE(first.size() == 1);
    trace.add(1, 1s, "run", "Task-2");
    trace.add(2, 2s, "run", "Task-1");
    CHECK(lines(trace.entries()) == std::vector<std::string>{
                                        "[t=0.000s #0] run Task-1",
                                        "[t=1.000s #1] run Task-2",
                                        "[t=2.000s #2] run Task-1",
                                    });
    CHECK(trace.format(1, 1) == "[t=1.000s #1] run Task-2\n");
    CHECK(lines(trace.last(2)) ==
          std::vector<std::string>{"[t=1.000s #1] run Task-2", "[t=2.000s #2] run Task-1"});
}

TEST_CASE("Trace records: a timed entry reads its own time, kept or past the limit") {
    const std::uint64_t advance = detail::text_hash("advance to");
    sim::Trace kept;
    sim::Trace limited(1);
    for (sim::Trace* trace : {&kept, &limited}) {
        trace->add_timed(0, 1250ms, time_kind, advance, "advance to ");
        trace->add_timed(1, 2s, time_kind, advance, "advance to ");
        trace->add_timed(2, 3500ms, time_kind, advance, "advance to ");
    }
    CHECK(lines(kept.entries()) == std::vector<std::string>{
                                       "[t=1.250s #0] time advance to 1.250s",
                                       "[t=2.000s #1] time advance to 2.000s",
                                       "[t=3.500s #2] time advance to 3.500s",
                                   });
    CHECK(limited.entries().size() == 1);  // the first kept, the other two in the ring
    CHECK(lines(limited.last(3)) == std::vector<std::string>{
                                        "[t=1.250s #0] time advance to 1.250s",
                                        "[t=2.000s #1] time advance to 2.000s",
                                        "[t=3.500s #2] time advance to 3.500s",
                                    });
    CHECK(kept.digest() == limited.digest());
    // The same hash recorded as a plain text is another text: the two never mix.
    kept.add_with(3, 4s, time_kind, advance, [](std::string& out) { out += "plain"; });
    CHECK(kept.entries().back().text == "plain");
    kept.add_timed(4, 5s, time_kind, advance, "advance to ");
    CHECK(kept.entries().back().text == "advance to 5.000s");
}

TEST_CASE("Trace records: kinds with the hash of a text stay kinds; many texts stay apart") {
    sim::Trace trace;
    trace.add(0, 0s, "run", "run");
    trace.add(1, 0s, "call", "run");
    for (int i = 0; i < 1000; ++i)  // enough distinct texts to grow the table several times
        trace.add(2, 0s, "k" + std::to_string(i % 7), "text " + std::to_string(i));
    const std::vector<sim::TraceEntry>& entries = trace.entries();
    REQUIRE(entries.size() == 1002);
    CHECK(sim::Trace::format_entry(entries[0]) == "[t=0.000s #0] run run");
    CHECK(sim::Trace::format_entry(entries[1]) == "[t=0.000s #1] call run");
    for (int i = 0; i < 1000; ++i) {
        CHECK(entries[static_cast<std::size_t>(i) + 2].kind == "k" + std::to_string(i % 7));
        CHECK(entries[static_cast<std::size_t>(i) + 2].text == "text " + std::to_string(i));
    }
}

TEST_CASE("Trace records: a note quoting an entry read by reference is intact, kept or not") {
    sim::Trace trace(2);
    trace.add(0, 0s, "k", "the first entry, with a text past SSO");
    const std::string& first = trace.entries().front().text;
    trace.add(1, 0s, "k", first);  // kept: the table of texts grows, not the entries read
    for (std::size_t i = 0; i < 3 * sim::Trace::recent_capacity; ++i)
        trace.add(2, 0s, "k", first);  // past the limit: through the ring, again and again
    CHECK(trace.entries().size() == 2);
    CHECK(trace.entries()[1].text == "the first entry, with a text past SSO");
    CHECK(trace.last(1).front().text == "the first entry, with a text past SSO");
}

TEST_CASE("Trace records: past the limit, with the tables full, entries keep their own texts") {
    sim::Trace trace(1);
    const std::size_t texts = sim::Trace::text_capacity + 100;
    for (std::size_t i = 0; i < texts; ++i)
        trace.add(i, 0s, "k", "distinct text number " + std::to_string(i));
    std::vector<sim::TraceEntry> tail = trace.last(3);
    REQUIRE(tail.size() == 3);
    CHECK(tail[0].text == "distinct text number " + std::to_string(texts - 3));
    CHECK(tail[2].text == "distinct text number " + std::to_string(texts - 1));
    // A text seen before still comes from the table, next to the ring's own ones.
    trace.add(texts, 0s, "k", "distinct text number 5");
    trace.add_timed(texts + 1, 1s, time_kind, 77, "at ");
    for (int i = 0; i < 300; ++i)  // more kinds than the list keeps past the limit
        trace.add(texts + 2, 0s, "kind " + std::to_string(i), "x");
    tail = trace.last(sim::Trace::recent_capacity);
    REQUIRE(tail.size() == sim::Trace::recent_capacity);
    CHECK(tail.back().kind == "kind 299");
    CHECK(tail.back().text == "x");
    trace.add(texts + 3, 0s, "k", "distinct text number 5");
    trace.add_timed(texts + 4, 2s, time_kind, 78, "at ");
    tail = trace.last(2);
    CHECK(sim::Trace::format_entry(tail[0]) ==
          "[t=0.000s #" + std::to_string(texts + 3) + "] k distinct text number 5");
    CHECK(sim::Trace::format_entry(tail[1]) ==
          "[t=2.000s #" + std::to_string(texts + 4) + "] time at 2.000s");
    CHECK(trace.entries().size() == 1);
    CHECK(trace.size() == texts + 304);
}

TEST_CASE("Trace records: numbered entries share a text and read back their own numbers") {
    for (const std::size_t limit : {std::size_t{1000}, std::size_t{1}}) {
        CAPTURE(limit);
        sim::Trace trace(limit);
        int written = 0;
        for (std::uint64_t n = 1; n <= 3; ++n) {
            trace.add_numbered(
                n, 0s, call, 100 + n, 7, n,
                [&](std::string& out) {
                    ++written;
                    out += "wake-up of Task-";
                },
                [](std::string& out) { out += " (worker() from main.cpp:4)"; });
        }
        // Another key: another text, though the number is the same.
        trace.add_numbered(
            4, 0s, call, 200, 8, 3, [](std::string& out) { out += "run Task-"; },
            [](std::string&) {});
        CHECK(written == 1);
        std::vector<std::string> expected = {
            "[t=0.000s #1] call wake-up of Task-1 (worker() from main.cpp:4)",
            "[t=0.000s #2] call wake-up of Task-2 (worker() from main.cpp:4)",
            "[t=0.000s #3] call wake-up of Task-3 (worker() from main.cpp:4)",
            "[t=0.000s #4] call run Task-3",
        };
        CHECK(lines(trace.last(4)) == expected);
    }
}

TEST_CASE("Trace records: a text whose writing throws is not kept, and the entry not counted") {
    for (const std::size_t limit : {std::size_t{1000}, std::size_t{1}}) {
        CAPTURE(limit);
        sim::Trace trace(limit);
        trace.add(0, 0s, "k", "first");
        sim::Trace same(limit);
        same.add(0, 0s, "k", "first");
        auto fail = [](std::string& out) {
            out += "half";
            throw std::runtime_error("no text");
        };
        CHECK_THROWS_AS(trace.add_with(1, 0s, call, 42, fail), std::runtime_error);
        CHECK_THROWS_AS(trace.add_numbered(1, 0s, call, 43, 44, 1, fail, fail), std::runtime_error);
        CHECK(trace.size() == 1);
        CHECK(trace.digest() == same.digest());
        // The hash is free again: the next entry with it writes (and shows) its text.
        trace.add_with(1, 0s, call, 42, [](std::string& out) { out += "whole"; });
        trace.add_numbered(
            2, 0s, call, 43, 44, 7, [](std::string& out) { out += "n"; }, [](std::string&) {});
        CHECK(lines(trace.last(3)) == std::vector<std::string>{"[t=0.000s #0] k first",
                                                               "[t=0.000s #1] call whole",
                                                               "[t=0.000s #2] call n7"});
    }
}

// ---- the ready queue's ring ---------------------------------------------------------------

TEST_CASE("RingQueue: first in, first out across growth and wrap-around; clear keeps none") {
    detail::RingQueue<std::shared_ptr<int>> queue;
    std::vector<int> popped;
    int next = 0;
    // Push and pop at different rates so the ring wraps and grows while holding items.
    for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < 7; ++i)
            queue.push_back(std::make_shared<int>(next++));
        for (int i = 0; i < 5; ++i)
            popped.push_back(*queue.pop_front());
    }
    CHECK(queue.size() == 100);
    while (!queue.empty())
        popped.push_back(*queue.pop_front());
    REQUIRE(popped.size() == 350);
    for (int i = 0; i < 350; ++i)
        CHECK(popped[static_cast<std::size_t>(i)] == i);
    auto watched = std::make_shared<int>(7);
    queue.push_back(watched);
    queue.push_back(watched);
    CHECK(watched.use_count() == 3);
    queue.clear();
    CHECK(queue.empty());
    CHECK(watched.use_count() == 1);  // no copy left behind in the buffer
    queue.push_back(std::make_shared<int>(8));
    CHECK(*queue.pop_front() == 8);
}

TEST_CASE("RingQueue: a burst past keep_capacity gives its buffer back once emptied") {
    detail::RingQueue<std::shared_ptr<int>> queue;
    const std::size_t burst = 4 * detail::RingQueue<std::shared_ptr<int>>::keep_capacity;
    for (std::size_t i = 0; i < burst; ++i)
        queue.push_back(std::make_shared<int>(static_cast<int>(i)));
    CHECK(queue.capacity() >= burst);
    for (std::size_t i = 0; i < burst; ++i)
        CHECK(*queue.pop_front() == static_cast<int>(i));
    CHECK(queue.capacity() == 0);
    queue.push_back(std::make_shared<int>(1));  // and works again after
    CHECK(*queue.pop_front() == 1);
    CHECK(queue.capacity() == 64);  // small ones are kept
}

TEST_SUITE_END();
