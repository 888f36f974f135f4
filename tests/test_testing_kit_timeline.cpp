// The testing kit's HTML timeline (simrun/testing/html_timeline.hpp): a self-contained page that
// embeds the Chrome trace JSON safely, copes with an empty trace, and is written by a failing
// sweep next to the JSON. scripts/check-timeline.sh draws the page in a real browser.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include <simrun/testing.hpp>

#include "support.hpp"

using namespace simrun;
using namespace std::chrono_literals;
using test_support::contains;

namespace {

/// Sets SIMRUN_TRACE_DIR for one test (and clears the sweep's other variables), restoring them
/// after.
class TraceDirScope {
  public:
    explicit TraceDirScope(const std::string& directory) {
        for (const char* name : names) {
            const char* value = std::getenv(name);
            saved_[index(name)] = value ? std::optional<std::string>(value) : std::nullopt;
            ::unsetenv(name);
        }
        ::setenv("SIMRUN_TRACE_DIR", directory.c_str(), 1);
    }
    ~TraceDirScope() {
        for (const char* name : names) {
            if (saved_[index(name)])
                ::setenv(name, saved_[index(name)]->c_str(), 1);
            else
                ::unsetenv(name);
        }
    }
    TraceDirScope(const TraceDirScope&) = delete;
    TraceDirScope& operator=(const TraceDirScope&) = delete;

  private:
    static constexpr const char* names[] = {"SIMRUN_SEED",       "SIMRUN_SEEDS",
                                            "SIMRUN_FIRST_SEED", "SIMRUN_SHARD",
                                            "SIMRUN_TRACE_DIR",  "SIMRUN_CHECK_DETERMINISM"};
    static std::size_t index(const char* name) {
        for (std::size_t i = 0; i < std::size(names); ++i)
            if (std::string(names[i]) == name)
                return i;
        return 0;
    }
    std::optional<std::string> saved_[std::size(names)];
};

std::string read_text(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

std::size_t count(const std::string& text, const std::string& part) {
    std::size_t n = 0;
    for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
        ++n;
    return n;
}

/// The text of the page's <script type="application/json" id="trace-data"> element.
std::string embedded_json(const std::string& page) {
    const std::string open = "<script type=\"application/json\" id=\"trace-data\">";
    const std::size_t start = page.find(open);
    if (start == std::string::npos)
        return "(no trace-data element)";
    const std::size_t end = page.find("</script>", start);
    return page.substr(start + open.size(), end - start - open.size());
}

Coro<void> ticking(int n) {
    for (int i = 0; i < n; ++i)
        co_await sleep(100ms);
}

Coro<void> two_tickers() {
    auto first = create_task(ticking(3));
    auto second = create_task(ticking(2));
    co_await first;
    co_await second;
    throw ValueError("the timeline run fails");
}

}  // namespace

TEST_SUITE_BEGIN("sim-only");

TEST_CASE("timeline: one self-contained page that embeds the Chrome trace JSON") {
    const auto run = testing::run_seed({.setup =
                                            [](sim::SimLoop& loop, std::uint64_t) {
                                                loop.fake_signals().set_disposition(
                                                    SIGUSR1, SignalDisposition::ignored);
                                                loop.fake_signals().schedule_at(150ms, SIGUSR1);
                                                sim::SimNetwork& net = loop.sim_network();
                                                net.add_host("a", "10.0.0.5");
                                                net.add_host("b", "10.0.0.6");
                                                net.partition("a", "b");
                                            }},
                                       1, [] { return two_tickers(); });
    const sim::Trace& trace = run.loop->trace();
    const std::string page = testing::html_timeline(trace, "two tickers");
    CHECK(page.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0) == 0);
    CHECK(contains(page, "<title>two tickers - simrun timeline</title>"));
    CHECK(contains(page, "<h1>two tickers</h1>"));
    CHECK(contains(page, "<body data-rendered=\"\">"));
    CHECK(contains(page, "<canvas id=\"canvas\">"));
    // Nothing from the network: no URL, no src or href attribute, no CSS import or url().
    for (const char* outside : {"http://", "https://", "src=", "href=", "@import", "url(", "//cdn"})
        CHECK_MESSAGE(!contains(page, outside), outside);
    // The JSON as chrome_trace_json() makes it (this trace has no '<' to escape).
    CHECK(embedded_json(page) == testing::chrome_trace_json(trace, "two tickers"));
    // A task the loop named: its name, the coroutine and where it was created.
    CHECK(contains(page,
                   "\"name\":\"thread_name\",\"args\":{\"name\":\"Task-2 (ticking() from "
                   "test_testing_kit_timeline.cpp:"));
    // A network fault and a signal's arrival are global events (drawn across every track, and
    // labelled on the page); a host added, or the Runner installing its SIGINT handler, are not.
    CHECK(contains(page, "\"name\":\"net: partition a b\",\"cat\":\"net\",\"s\":\"g\""));
    CHECK(contains(page, "\"name\":\"net: host a 10.0.0.5\",\"cat\":\"net\",\"s\":\"t\""));
    CHECK(contains(page, "\"name\":\"signal: SIGUSR1 arrived\",\"cat\":\"signal\",\"s\":\"g\""));
    CHECK(contains(
        page, "\"name\":\"signal: handler installed for SIGINT\",\"cat\":\"signal\",\"s\":\"t\""));
    // The last trace lines are listed, numbered from their place in the whole trace.
    const std::vector<sim::TraceEntry> tail = trace.last(testing::html_timeline_tail);
    REQUIRE_FALSE(tail.empty());
    CHECK(contains(page, "<li>" + sim::Trace::format_entry(tail.back()) + "</li>"));
    CHECK(contains(page, "<h2>Last " + std::to_string(tail.size()) + " of " +
                             std::to_string(trace.size()) + " trace entries</h2>"));
    CHECK(contains(page, "start=\"" + std::to_string(trace.size() - tail.size() + 1) + "\""));
    // Two script elements (the data, the code) and a stylesheet, all inline.
    CHECK(count(page, "<script") == 2);
    CHECK(count(page, "</script>") == 2);
    CHECK(count(page, "<style>") == 1);
    CHECK_FALSE(contains(page, "id=\"failure\""));
}

TEST_CASE("timeline: trace text cannot end the script element, and the titles are escaped") {
    sim::Trace trace;
    trace.add(0, 0s, "run", "</script><script>alert(1)</script>");
    trace.add(1, 1s, "log", "ERROR <!-- & \"quoted\" 'text'");
    const std::string page =
        testing::html_timeline(trace, "a <b> & \"c\" 'd'", "ValueError: </script> & <b>");
    // Only the page's own two script elements end.
    CHECK(count(page, "</script") == 2);
    CHECK(count(page, "</SCRIPT") == 0);
    CHECK_FALSE(contains(page, "<!--"));
    const std::string json = embedded_json(page);
    CHECK_FALSE(contains(json, "<"));
    CHECK(contains(json, "\\u003c/script>\\u003cscript>alert(1)\\u003c/script>"));
    CHECK(contains(json, "ERROR \\u003c!-- & \\\"quoted\\\" 'text'"));
    CHECK(contains(page, "<h1>a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;</h1>"));
    CHECK(contains(page, "<title>a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#39; - simrun"));
    CHECK(contains(page,
                   "<p id=\"failure\">failed: ValueError: &lt;/script&gt; &amp; &lt;b&gt;</p>"));
    CHECK(contains(
        page, "<li>[t=0.000s #0] run &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</li>"));
}

TEST_CASE("timeline: an empty trace gives a page with no events") {
    const sim::Trace trace;
    const std::string page = testing::html_timeline(trace, "nothing");
    CHECK(contains(page, "<h2>Last 0 of 0 trace entries</h2>"));
    CHECK(contains(page, "<ol class=\"tail\" start=\"1\">\n</ol>"));
    const std::string json = embedded_json(page);
    CHECK(json == testing::chrome_trace_json(trace, "nothing"));
    CHECK(contains(json, "\"entries\":0"));
    CHECK_FALSE(contains(json, "\"ph\":\"X\""));
    CHECK(count(page, "</script>") == 2);
}

TEST_CASE("timeline: write_html_timeline creates directories, and reports a path it cannot write") {
    const auto directory = std::filesystem::temp_directory_path() /
                           ("simrun-timeline-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(directory);
    sim::Trace trace;
    trace.add(0, 0s, "run", "Task-1");
    const auto path = directory / "deeper" / "page.html";
    testing::write_html_timeline(trace, path.string(), "written", "boom");
    CHECK(read_text(path) == testing::html_timeline(trace, "written", "boom"));
    // A regular file where a directory should be.
    const std::string blocked = (path / "page.html").string();
    CHECK_THROWS_WITH_AS(testing::write_html_timeline(trace, blocked),
                         ("cannot write the timeline to '" + blocked + "'").c_str(), RuntimeError);
    std::filesystem::remove_all(directory);
}

TEST_CASE("timeline: a failing sweep writes its seed's trace as JSON and as an HTML page") {
    const auto directory = std::filesystem::temp_directory_path() /
                           ("simrun-timeline-sweep-" + std::to_string(::getpid()));
    std::filesystem::remove_all(directory);
    TraceDirScope scope(directory.string());
    const auto report =
        testing::run_seeds("timeline: sweep", {.seeds = 3}, [] { return two_tickers(); });
    REQUIRE_FALSE(report.passed);
    const std::string json = (directory / "timeline__sweep-seed-1.json").string();
    const std::string html = (directory / "timeline__sweep-seed-1.html").string();
    CHECK(report.trace_file == json);
    CHECK(report.timeline_file == html);
    CHECK(contains(report.message, "  trace:  " + json + " (open in https://ui.perfetto.dev)\n"));
    CHECK(contains(report.message, "  html:   " + html + " (a timeline: open in a web browser)\n"));
    const std::string page = read_text(html);
    CHECK(contains(page, "<h1>timeline: sweep (seed 1)</h1>"));
    CHECK(contains(page, "<p id=\"failure\">failed: ValueError: the timeline run fails</p>"));
    CHECK(embedded_json(page) == read_text(json));
    std::filesystem::remove_all(directory);
}

TEST_CASE("timeline: without SIMRUN_TRACE_DIR the failure report says how to get the files") {
    TraceDirScope scope("");  // set but empty: the same as unset
    const auto report =
        testing::run_seeds("timeline: no dir", {.seeds = 1}, [] { return two_tickers(); });
    REQUIRE_FALSE(report.passed);
    CHECK(report.trace_file.empty());
    CHECK(report.timeline_file.empty());
    CHECK(contains(report.message,
                   "  trace:  set SIMRUN_TRACE_DIR=<dir> to get it as Chrome trace JSON and an "
                   "HTML timeline\n"));
}

TEST_SUITE_END();
