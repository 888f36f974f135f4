// The testing kit's framework-neutral core (simrun/testing.hpp): seed sweeps and their replay
// lines, the environment variables, sharding, limits, the determinism check, the real-time guard
// and Chrome trace export.
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <simrun/testing.hpp>

#include "support.hpp"

using namespace simrun;
using namespace std::chrono_literals;
using simrun::testing::SimTestOptions;
using test_support::contains;

namespace {

/// Sets (or clears) the kit's environment variables for one test, and restores them after.
class KitEnvironment {
  public:
    KitEnvironment() {
        for (const char* name : names) {
            const char* value = std::getenv(name);
            saved_.emplace_back(
                name, value != nullptr ? std::optional<std::string>(value) : std::nullopt);
            ::unsetenv(name);
        }
    }
    ~KitEnvironment() {
        for (const auto& [name, value] : saved_) {
            if (value)
                ::setenv(name, value->c_str(), 1);
            else
                ::unsetenv(name);
        }
    }
    KitEnvironment(const KitEnvironment&) = delete;
    KitEnvironment& operator=(const KitEnvironment&) = delete;
    void set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }

  private:
    static constexpr const char* names[] = {"SIMRUN_SEED",       "SIMRUN_SEEDS",
                                            "SIMRUN_FIRST_SEED", "SIMRUN_SHARD",
                                            "SIMRUN_TRACE_DIR",  "SIMRUN_CHECK_DETERMINISM"};
    std::vector<std::pair<const char*, std::optional<std::string>>> saved_;
};

std::uint64_t current_seed() {
    return sim::running_sim().options().seed;
}

/// Records the seed of each run in `seen`; fails (ValueError) at `failing`.
testing::TestBody recording_body(std::shared_ptr<std::vector<std::uint64_t>> seen,
                                 std::uint64_t failing = 0) {
    return [seen, failing]() -> Coro<void> {
        seen->push_back(current_seed());
        co_await sleep(1s);
        if (current_seed() == failing)
            throw ValueError("boom at seed " + std::to_string(failing));
    };
}

Coro<void> ticker() {
    for (;;)
        co_await sleep(1h);
}

}  // namespace

TEST_SUITE_BEGIN("sim-only");

TEST_CASE("kit: a failing body stops the sweep at its seed, with a replay line and the trace") {
    KitEnvironment environment;
    auto seen = std::make_shared<std::vector<std::uint64_t>>();
    const auto report =
        testing::run_seeds("my test", {.seeds = 20, .first_seed = 3}, recording_body(seen, 7));
    CHECK_FALSE(report.passed);
    REQUIRE(report.failing_seed.has_value());
    CHECK(*report.failing_seed == 7);
    CHECK(report.seeds_run == 5);
    CHECK(*seen == std::vector<std::uint64_t>{3, 4, 5, 6, 7});
    CHECK(report.reason == "ValueError: boom at seed 7");
    CHECK(report.replay == "SIMRUN_SEED=7 " + testing::program_name());
    CHECK(contains(report.message,
                   "simrun: \"my test\" failed with seed 7 (5 seeds run): "
                   "ValueError: boom at seed 7\n"));
    CHECK(contains(report.message, "  replay: SIMRUN_SEED=7 "));
    CHECK(contains(report.message, "set SIMRUN_TRACE_DIR=<dir>"));
    REQUIRE_FALSE(report.trace_tail.empty());
    CHECK(contains(report.message, report.trace_tail.back()));
    CHECK(contains(report.message, "advance to 1.000s"));
    // The tail ends where the body failed (its last step), not with the Runner's clean-up.
    for (const std::string& line : report.trace_tail)
        CHECK_MESSAGE(!contains(line, "Runner.close()"), line);
    CHECK(contains(report.message, ", up to the failure (the Runner's clean-up follows):\n"));
}

TEST_CASE("kit: a passing sweep runs every seed") {
    KitEnvironment environment;
    auto seen = std::make_shared<std::vector<std::uint64_t>>();
    const auto report = testing::run_seeds("passes", {.seeds = 4}, recording_body(seen));
    CHECK(report.passed);
    CHECK(report.seeds_run == 4);
    CHECK(report.message.empty());
    CHECK(*seen == std::vector<std::uint64_t>{1, 2, 3, 4});
}

TEST_CASE(
    "kit: SIMRUN_SEED replays exactly that seed, SIMRUN_SEEDS and SIMRUN_FIRST_SEED widen "
    "and move the sweep") {
    KitEnvironment environment;
    auto seen = std::make_shared<std::vector<std::uint64_t>>();
    environment.set("SIMRUN_SEED", "1234");
    auto report = testing::run_seeds("replay", {.seeds = 50}, recording_body(seen, 1234));
    CHECK(*seen == std::vector<std::uint64_t>{1234});
    CHECK(report.failing_seed == std::optional<std::uint64_t>(1234));

    ::unsetenv("SIMRUN_SEED");
    seen->clear();
    environment.set("SIMRUN_SEEDS", "7");
    environment.set("SIMRUN_FIRST_SEED", "100");
    report = testing::run_seeds("wider", {.seeds = 2}, recording_body(seen));
    CHECK(report.passed);
    CHECK(*seen == std::vector<std::uint64_t>{100, 101, 102, 103, 104, 105, 106});

    environment.set("SIMRUN_SEEDS", "lots");
    CHECK(std::string(test_support::thrown<ValueError>([&] { testing::seed_plan({}); })->what()) ==
          std::string("SIMRUN_SEEDS must be a non-negative integer, got 'lots'"));
}

TEST_CASE("kit: SIMRUN_SHARD=i/n splits a sweep into n disjoint parts that cover it") {
    KitEnvironment environment;
    std::vector<std::uint64_t> all;
    for (int shard = 0; shard < 3; ++shard) {
        environment.set("SIMRUN_SHARD", std::to_string(shard) + "/3");
        auto seen = std::make_shared<std::vector<std::uint64_t>>();
        CHECK(testing::run_seeds("shard", {.seeds = 10, .first_seed = 5}, recording_body(seen))
                  .passed);
        CHECK(seen->size() == (shard == 0 ? 4U : 3U));
        all.insert(all.end(), seen->begin(), seen->end());
    }
    std::sort(all.begin(), all.end());
    CHECK(all == std::vector<std::uint64_t>{5, 6, 7, 8, 9, 10, 11, 12, 13, 14});

    for (const char* wrong : {"3/3", "1", "a/2", "0/0"}) {
        environment.set("SIMRUN_SHARD", wrong);
        const auto error = test_support::thrown<ValueError>([&] { testing::seed_plan({}); });
        REQUIRE(error.has_value());
        CHECK(std::string(error->what()) ==
              "SIMRUN_SHARD must be i/n with 0 <= i < n, got '" + std::string(wrong) + "'");
    }
}

TEST_CASE("kit: a livelocked test ends with LivelockError at the kit's limits instead of hanging") {
    KitEnvironment environment;
    const auto report = testing::run_seeds("ticks forever", {.seeds = 3},
                                           []() -> Coro<void> { co_await ticker(); });
    CHECK_FALSE(report.passed);
    CHECK(report.failing_seed == std::optional<std::uint64_t>(1));
    CHECK(contains(report.reason, "LivelockError"));
    CHECK(contains(report.message, "Task-1"));
    // The report lists its own last trace lines: the sweep adds no second copy.
    CHECK(report.trace_tail.empty());
    CHECK(contains(report.message, "Last trace lines:"));
    CHECK_FALSE(contains(report.message, "trace entries"));
}

TEST_CASE("kit: the setup hook sees each fresh loop and its seed; KeyboardInterrupt may pass") {
    KitEnvironment environment;
    SimTestOptions options{.seeds = 3, .setup = [](sim::SimLoop& loop, std::uint64_t seed) {
                               loop.fake_signals().schedule_at(std::chrono::seconds(seed), SIGINT);
                           }};
    const auto body = []() -> Coro<void> { co_await sleep(1h); };
    auto report = testing::run_seeds("interrupted", options, body);
    CHECK(report.reason == "KeyboardInterrupt");
    options.allow_keyboard_interrupt = true;
    report = testing::run_seeds("interrupted", options, body);
    CHECK(report.passed);
}

namespace {
int planted_runs = 0;

Coro<void> nondeterministic() {
    ++planted_runs;  // state that survives a run: the second run of a seed sleeps longer
    co_await sleep(1s);
    co_await sleep(std::chrono::milliseconds(planted_runs));
}

Coro<void> deterministic() {
    create_task(ticker());
    co_await sleep(3h);
}
}  // namespace

TEST_CASE("kit: the determinism check names the first differing trace entry of each run") {
    KitEnvironment environment;
    planted_runs = 0;
    const auto divergence = testing::check_determinism({}, 5, [] { return nondeterministic(); });
    REQUIRE(divergence.has_value());
    CHECK(divergence->first == "[t=1.001s #3] time advance to 1.001s");
    CHECK(divergence->second == "[t=1.002s #3] time advance to 1.002s");
    CHECK(divergence->index > 0);
    CHECK_FALSE(testing::check_determinism({}, 5, [] { return deterministic(); }).has_value());

    planted_runs = 0;
    const auto report = testing::run_seeds("planted", {.seeds = 3, .check_determinism = true},
                                           [] { return nondeterministic(); });
    CHECK(report.failing_seed == std::optional<std::uint64_t>(1));
    CHECK(report.reason ==
          "the simulation is not deterministic: two runs of the seed differ at "
          "trace entry #" +
              std::to_string(divergence->index));
    CHECK(contains(report.message, "first run:  [t=1.001s #3] time advance to 1.001s\n"));
    CHECK(contains(report.message, "second run: [t=1.002s #3] time advance to 1.002s\n"));
    CHECK(contains(report.replay, "SIMRUN_CHECK_DETERMINISM=1 "));

    planted_runs = 0;
    environment.set("SIMRUN_CHECK_DETERMINISM", "1");
    CHECK_FALSE(
        testing::run_seeds("planted", {.seeds = 3}, [] { return nondeterministic(); }).passed);
    CHECK(testing::run_seeds("fine", {.seeds = 3}, [] { return deterministic(); }).passed);
}

namespace {
Coro<void> reads_the_clock() {
    co_await sleep(2s);
    const auto now = std::chrono::steady_clock::now();
    (void)now;
}
Coro<void> reads_the_wall_clock() {
    co_await sleep(1s);
    (void)std::chrono::system_clock::now();
}
Coro<void> sleeps_for_real() {
    std::this_thread::sleep_for(std::chrono::microseconds(1));
    co_return;
}
Coro<void> reads_randomness() {
    unsigned char byte = 0;
    (void)::getrandom(&byte, 1, 0);
    co_return;
}
}  // namespace

TEST_CASE(
    "kit: the real-time guard catches steady_clock::now(), system_clock::now(), sleeping "
    "and getrandom inside the simulation") {
    KitEnvironment environment;
    CHECK(testing::real_time_guard_linked());
    auto report =
        testing::run_seeds("reads the clock", {.seeds = 2}, [] { return reads_the_clock(); });
    CHECK(report.failing_seed == std::optional<std::uint64_t>(1));
    CHECK(report.reason ==
          "real time leaked into the simulation: clock_gettime(CLOCK_MONOTONIC) "
          "(std::chrono::steady_clock::now()) called by Task-1 at t=2.000s #3");

    report = testing::run_seeds("wall clock", {.seeds = 1}, [] { return reads_the_wall_clock(); });
    CHECK(contains(report.reason,
                   "clock_gettime(CLOCK_REALTIME) "
                   "(std::chrono::system_clock::now()) called by Task-1"));
    report = testing::run_seeds("sleeps", {.seeds = 1}, [] { return sleeps_for_real(); });
    CHECK(contains(report.reason, "nanosleep"));
    report = testing::run_seeds("random", {.seeds = 1}, [] { return reads_randomness(); });
    CHECK(contains(report.reason, ": getrandom called by Task-1"));

    // Off on request, and never outside a simulated run.
    CHECK(testing::run_seeds("allowed", {.seeds = 1, .guard_real_time = false}, [] {
              return reads_the_clock();
          }).passed);
    sim::SimLoop loop;
    {
        testing::RealTimeGuard guard(loop);
        (void)std::chrono::steady_clock::now();
        REQUIRE(guard.count() == 1);
        REQUIRE(guard.reports().size() == 1);
        CHECK(guard.reports().front() ==
              "clock_gettime(CLOCK_MONOTONIC) (std::chrono::steady_clock::now()) called by a "
              "callback outside tasks at t=0.000s #0");
        std::size_t other_thread_count = 0;
        std::thread other([&] {
            (void)std::chrono::steady_clock::now();
            other_thread_count = guard.count();
        });
        other.join();
        CHECK(other_thread_count == 1);  // another thread's call is not the simulation's
    }
    loop.close();
}

TEST_CASE("kit: the real loop is unaffected by the real-time guard") {
    const auto start = std::chrono::steady_clock::now();
    run([]() -> Coro<void> { co_await sleep(20ms); }());
    CHECK(std::chrono::steady_clock::now() - start >= 20ms);
}

namespace {
Coro<void> worker(int n) {
    for (int i = 0; i < n; ++i)
        co_await sleep(100ms);
}
constexpr int traced_first_line = __LINE__ + 2;
Coro<void> traced() {
    auto first = create_task(worker(3));
    auto second = create_task(worker(2));
    co_await first;
    co_await second;
    throw ValueError("the traced run fails");
}
}  // namespace

TEST_CASE(
    "kit: a run's trace as Chrome trace event JSON; the failing seed's trace is written to "
    "SIMRUN_TRACE_DIR") {
    KitEnvironment environment;
    const auto run = testing::run_seed({.setup =
                                            [](sim::SimLoop& loop, std::uint64_t) {
                                                loop.fake_signals().set_disposition(
                                                    SIGUSR1, SignalDisposition::ignored);
                                                loop.fake_signals().schedule_at(150ms, SIGUSR1);
                                            }},
                                       1, [] { return traced(); });
    const std::string json = testing::chrome_trace_json(run.loop->trace(), "title");
    CHECK(json.rfind("{\"displayTimeUnit\":\"ms\"", 0) == 0);
    // Tasks the loop named are shown with their coroutine and creation site (traced() above).
    CHECK(contains(json,
                   "\"name\":\"thread_name\",\"args\":{\"name\":\"Task-2 (worker() "
                   "from test_testing_kit.cpp:" +
                       std::to_string(traced_first_line) + ")\"}"));
    CHECK(contains(json,
                   "\"name\":\"thread_name\",\"args\":{\"name\":\"Task-3 (worker() "
                   "from test_testing_kit.cpp:" +
                       std::to_string(traced_first_line + 1) + ")\"}"));
    // A callback is a slice on the callbacks' track (tid 2), named for what it does.
    CHECK(contains(json, "\"tid\":2,\"name\":\"sleep wake-up of Task-2 (worker() from "));
    CHECK(contains(json, "\"name\":\"suspended\",\"cat\":\"await\",\"ts\":"));
    CHECK(contains(json, "\"ph\":\"i\",\"pid\":1,\"tid\":1,\"name\":\"signal: SIGUSR1 arrived\""));
    CHECK(contains(json, "\"name\":\"step\",\"cat\":\"step\",\"ts\":10000"));
    CHECK(json.substr(json.size() - 4) == "\n]}\n");

    const auto directory =
        std::filesystem::temp_directory_path() / ("simrun-kit-test-" + std::to_string(::getpid()));
    environment.set("SIMRUN_TRACE_DIR", directory.string());
    const auto report = testing::run_seeds("traced: run", {.seeds = 2}, [] { return traced(); });
    const std::string expected = (directory / "traced__run-seed-1.json").string();
    CHECK(report.trace_file == expected);
    CHECK(contains(report.message, "  trace:  " + expected));
    std::ifstream file(expected);
    std::stringstream text;
    text << file.rdbuf();
    CHECK(contains(text.str(), "\"title\":\"traced: run (seed 1)\""));
    std::filesystem::remove_all(directory);
}

TEST_SUITE_END();
