// FakeExecutor: run_in_executor in virtual time, cost models, workers, and the Runner's executor
// shutdown timeout (docs/semantics.md).
#include <algorithm>
#include <csignal>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "support.hpp"

// Virtual time, fake signals and fake executors: these tests need the simulator.
TEST_SUITE_BEGIN("sim-only");

using namespace simrun;
using test_support::contains;
using test_support::thrown;

namespace {

constexpr const char* kWarning300 =
    "RuntimeWarning: The executor did not finishing joining its threads within 300 seconds.";

/// Log lines of a loop with the virtual time at which each was logged.
struct TimedLog {
    void attach(sim::SimLoop& loop) {
        loop.set_log_handler([this, &loop](LogLevel level, const std::string& line) {
            lines.push_back({loop.time(), level, line});
        });
    }
    struct Line {
        Duration time;
        LogLevel level;
        std::string text;
    };
    std::vector<Line> find(const std::string& part) const {
        std::vector<Line> found;
        for (const Line& line : lines) {
            if (contains(line.text, part))
                found.push_back(line);
        }
        return found;
    }
    std::vector<Line> lines;
};

Coro<int> answer_in_executor() {
    co_return co_await get_running_loop().run_in_executor([] { return 6 * 7; });
}

Coro<std::string> error_from_executor() {
    try {
        co_await get_running_loop().run_in_executor([]() -> int { throw ValueError("bad input"); });
    } catch (const ValueError& error) {
        co_return std::string("ValueError: ") + error.what();
    }
    co_return "no error";
}

Coro<Duration> void_job_time(Duration* ran_at) {
    co_await get_running_loop().run_in_executor([ran_at] { *ran_at = get_running_loop().time(); });
    co_return get_running_loop().time();
}

struct JobRecord {
    std::string name;
    Duration finished;
};

// Submits one job per name at once, awaits them all, and records when each ran.
Coro<void> run_jobs(std::vector<std::string> names, std::vector<JobRecord>* records) {
    EventLoop& loop = get_running_loop();
    std::vector<Future<int>> futures;
    for (const std::string& name : names) {
        futures.push_back(loop.run_in_executor(
            [records, name] {
                records->push_back({name, get_running_loop().time()});
                return 0;
            },
            name));
    }
    for (Future<int>& future : futures)
        co_await future;
}

std::vector<Duration> job_durations(sim::SimOptions options, int jobs) {
    sim::SimLoop loop(std::move(options));
    std::vector<JobRecord> records;
    std::vector<std::string> names;
    for (int i = 0; i < jobs; ++i)  // not "j" + ...: a g++ 12 -O3 false -Wstringop-overflow
        names.push_back(std::string("j").append(std::to_string(i)));
    loop.run_until_complete(run_jobs(names, &records));
    loop.close();
    std::vector<Duration> durations;
    for (const JobRecord& record : records)
        durations.push_back(record.finished);
    return durations;
}

// Leaves a job running in the default executor and returns.
Coro<int> leave_job_behind(Duration first, std::string job_name) {
    co_await sleep(first);
    (void)get_running_loop().run_in_executor([] { return 0; }, std::move(job_name));
    co_return 1;
}

}  // namespace

// ---- results and errors -------------------------------------------------------------------

TEST_CASE("FakeExecutor: run_in_executor returns the function's result") {
    sim::SimLoop loop;
    CHECK(loop.run_until_complete(answer_in_executor()) == 42);
    CHECK(loop.time() == 1ms);  // the default cost: 1 ms per job
    loop.close();
}

TEST_CASE("FakeExecutor: an exception thrown by the job comes back to the awaiting task") {
    sim::SimLoop loop;
    CHECK(loop.run_until_complete(error_from_executor()) == "ValueError: bad input");
    loop.close();
}

TEST_CASE("FakeExecutor: a job runs at its virtual completion time (fixed_cost)") {
    sim::SimLoop loop({.executor = {.workers = 4, .cost = sim::fixed_cost(2s)}});
    Duration ran_at{-1};
    CHECK(loop.run_until_complete(void_job_time(&ran_at)) == 2s);
    CHECK(ran_at == 2s);
    loop.close();
}

TEST_CASE("FakeExecutor: with one worker, three 1 s jobs finish at 1, 2 and 3 s in FIFO order") {
    sim::SimLoop loop({.executor = {.workers = 1, .cost = sim::fixed_cost(1s)}});
    std::vector<JobRecord> records;
    loop.run_until_complete(run_jobs({"a", "b", "c"}, &records));
    REQUIRE(records.size() == 3);
    CHECK(records[0].name == "a");
    CHECK(records[0].finished == 1s);
    CHECK(records[1].name == "b");
    CHECK(records[1].finished == 2s);
    CHECK(records[2].name == "c");
    CHECK(records[2].finished == 3s);
    CHECK(loop.time() == 3s);
    loop.close();
}

TEST_CASE("FakeExecutor: with two workers, three 1 s jobs finish at 1, 1 and 2 s") {
    sim::SimLoop loop({.executor = {.workers = 2, .cost = sim::fixed_cost(1s)}});
    std::vector<JobRecord> records;
    loop.run_until_complete(run_jobs({"a", "b", "c"}, &records));
    REQUIRE(records.size() == 3);
    CHECK(std::set<std::string>{records[0].name, records[1].name} ==
          std::set<std::string>{"a", "b"});
    CHECK(records[0].finished == 1s);
    CHECK(records[1].finished == 1s);
    CHECK(records[2].name == "c");
    CHECK(records[2].finished == 2s);
    loop.close();
}

// ---- cost models --------------------------------------------------------------------------

TEST_CASE("FakeExecutor: random_cost durations stay within bounds and depend only on the seed") {
    auto options = [](std::uint64_t seed) {
        return sim::SimOptions{.seed = seed,
                               .executor = {.workers = 100, .cost = sim::random_cost(1s, 2s)}};
    };
    std::vector<Duration> first = job_durations(options(5), 20);
    REQUIRE(first.size() == 20);
    for (Duration d : first) {
        CHECK(d >= 1s);
        CHECK(d <= 2s);
    }
    CHECK(std::set<Duration>(first.begin(), first.end()).size() > 1);  // not all equal
    CHECK(job_durations(options(5), 20) == first);
    bool another_seed_differs = false;
    for (std::uint64_t seed = 6; seed < 10; ++seed)
        another_seed_differs |= job_durations(options(seed), 20) != first;
    CHECK(another_seed_differs);
}

TEST_CASE(
    "FakeExecutor: random_cost with equal bounds is exact; inverted bounds or 0 workers: "
    "ValueError") {
    std::vector<Duration> durations = job_durations(
        {.seed = 3, .executor = {.workers = 10, .cost = sim::random_cost(3s, 3s)}}, 5);
    CHECK(durations == std::vector<Duration>(5, 3s));
    CHECK_THROWS_AS(sim::random_cost(2s, 1s), ValueError);
    sim::SimLoop loop({.executor = {.workers = 0}});
    CHECK_THROWS_AS(loop.fake_executor(), ValueError);
    loop.close();
}

TEST_CASE("FakeExecutor: a cost model sees each job's index and name") {
    std::vector<std::pair<std::uint64_t, std::string>> seen;
    sim::CostModel cost = [&seen](const sim::JobInfo& job,
                                  sim::ChoiceSource&) -> std::optional<Duration> {
        seen.emplace_back(job.index, job.name);
        return std::chrono::seconds(job.index + 1);
    };
    sim::SimLoop loop({.executor = {.workers = 4, .cost = cost}});
    std::vector<JobRecord> records;
    loop.run_until_complete(run_jobs({"x", "y", "z"}, &records));
    CHECK(seen == std::vector<std::pair<std::uint64_t, std::string>>{{0, "x"}, {1, "y"}, {2, "z"}});
    REQUIRE(records.size() == 3);
    CHECK(records[2].name == "z");
    CHECK(records[2].finished == 3s);
    loop.close();
}

namespace {
std::vector<std::string> abc() {
    return {"a", "b", "c"};
}  // (g++ 12 rejects {...} in a coroutine)

Coro<void> hang_then_jobs(std::vector<JobRecord>* records) {
    (void)get_running_loop().run_in_executor([] { return 0; }, std::string("hang"));
    co_await run_jobs(abc(), records);
}
}  // namespace

TEST_CASE(
    "FakeExecutor: never_finishes_if_named hangs only the named jobs and keeps their worker busy") {
    sim::SimLoop loop(
        {.executor = {.workers = 2,
                      .cost = sim::never_finishes_if_named("hang", sim::fixed_cost(1s))}});
    std::vector<JobRecord> records;
    loop.run_until_complete(hang_then_jobs(&records));
    REQUIRE(records.size() == 3);  // one worker left: they run one after the other
    CHECK(records[0].finished == 1s);
    CHECK(records[1].finished == 2s);
    CHECK(records[2].finished == 3s);
    CHECK(loop.fake_executor().hung_jobs() == 1);
    CHECK(loop.fake_executor().unfinished_jobs() == 1);
    loop.close();
}

// ---- shutdown_default_executor through the Runner -----------------------------------------

TEST_CASE(
    "Runner: a hung job makes close() warn exactly 300 s (the default timeout) after it began") {
    test_support::HandlerCapture handler;
    TimedLog log;
    test_support::SimFactory loops(
        {.executor = {.workers = 4,
                      .cost = sim::never_finishes_if_named("hang", sim::fixed_cost(1s))}});
    loops.on_new_loop = [&](sim::SimLoop& loop) { log.attach(loop); };
    Runner runner({.loop_factory = loops.factory()});
    CHECK(runner.run(leave_job_behind(5s, "hang")) == 1);
    CHECK(runner.get_loop().time() == 5s);  // close() begins here
    runner.close();
    std::vector<TimedLog::Line> warnings = log.find("did not finishing joining");
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].text == kWarning300);
    CHECK(warnings[0].level == LogLevel::warning);
    CHECK(warnings[0].time == 305s);
    CHECK(loops.last().time() == 305s);
    CHECK(loops.last().is_closed());
    // The trace records the same line at the same instant.
    bool traced = false;
    for (const sim::TraceEntry& entry : loops.last().trace().entries()) {
        if (entry.kind == "log" && contains(entry.text, kWarning300)) {
            traced = true;
            CHECK(entry.time == 305s);
        }
    }
    CHECK(traced);
    CHECK(handler.contexts.empty());
}

TEST_CASE("Runner: executor_shutdown_timeout changes the wait and the number in the warning") {
    TimedLog log;
    test_support::SimFactory loops(
        {.executor = {.workers = 4,
                      .cost = sim::never_finishes_if_named("hang", sim::fixed_cost(1s))}});
    loops.on_new_loop = [&](sim::SimLoop& loop) { log.attach(loop); };
    CHECK(run(leave_job_behind(5s, "hang"),
              {.loop_factory = loops.factory(), .executor_shutdown_timeout = 10s}) == 1);
    std::vector<TimedLog::Line> warnings = log.find("did not finishing joining");
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].text ==
          "RuntimeWarning: The executor did not finishing joining its threads within 10 seconds.");
    CHECK(warnings[0].time == 15s);
    CHECK(loops.last().is_closed());

    TimedLog fractional;
    loops.on_new_loop = [&](sim::SimLoop& loop) { fractional.attach(loop); };
    run(leave_job_behind(Duration::zero(), "hang"),
        {.loop_factory = loops.factory(), .executor_shutdown_timeout = 1500ms});
    warnings = fractional.find("did not finishing joining");
    REQUIRE(warnings.size() == 1);
    CHECK(contains(warnings[0].text, "within 1.5 seconds."));
    CHECK(warnings[0].time == 1500ms);
}

TEST_CASE(
    "Runner: close() waits for executor jobs that finish within the timeout, without warning") {
    TimedLog log;
    test_support::SimFactory loops({.executor = {.workers = 4, .cost = sim::fixed_cost(299s)}});
    loops.on_new_loop = [&](sim::SimLoop& loop) { log.attach(loop); };
    CHECK(run(leave_job_behind(5s, "slow"), {.loop_factory = loops.factory()}) == 1);
    CHECK(log.find("did not finishing").empty());
    CHECK(loops.last().time() == 304s);  // close() waited for the job, and not a moment longer
    CHECK(loops.last().is_closed());
}

TEST_CASE("Runner: close() does not wait at all when the executor has nothing to do") {
    TimedLog log;
    test_support::SimFactory loops({.executor = {.workers = 1, .cost = sim::fixed_cost(1s)}});
    loops.on_new_loop = [&](sim::SimLoop& loop) { log.attach(loop); };
    CHECK(run(answer_in_executor(), {.loop_factory = loops.factory()}) == 42);
    CHECK(loops.last().time() == 1s);
    CHECK(log.find("did not finishing").empty());
}

TEST_CASE(
    "Runner: with executor_shutdown_timeout = nullopt a hung job makes close() report a deadlock") {
    test_support::HandlerCapture handler;
    test_support::SimFactory loops(
        {.executor = {.workers = 4,
                      .cost = sim::never_finishes_if_named("hang", sim::fixed_cost(1s))}});
    loops.on_new_loop = [&](sim::SimLoop& loop) { handler.attach(loop); };
    Runner runner({.loop_factory = loops.factory(), .executor_shutdown_timeout = std::nullopt});
    CHECK(runner.run(leave_job_behind(2s, "hang")) == 1);
    auto error = thrown<sim::DeadlockError>([&] { runner.close(); });
    REQUIRE(error);
    CHECK(contains(error->what(), "1 executor job(s) never finish."));
    CHECK(contains(error->what(), "deadlock at t=2.000s"));
    REQUIRE(error->pending_tasks().size() == 1);
    CHECK(contains(error->pending_tasks()[0], "the default executor's shutdown"));
    CHECK(loops.last().is_closed());
    CHECK_THROWS_WITH_AS(runner.get_loop(), "Runner is closed", RuntimeError);
}

TEST_CASE("run(): with no executor timeout a hung job ends in DeadlockError, not a hang") {
    test_support::HandlerCapture handler;
    test_support::SimFactory loops(
        {.executor = {.workers = 4,
                      .cost = sim::never_finishes_if_named("hang", sim::fixed_cost(1s))}});
    loops.on_new_loop = [&](sim::SimLoop& loop) { handler.attach(loop); };
    CHECK_THROWS_AS(run(leave_job_behind(1s, "hang"), {.loop_factory = loops.factory(),
                                                       .executor_shutdown_timeout = std::nullopt}),
                    sim::DeadlockError);
    CHECK(loops.last().is_closed());
}

namespace {
Coro<std::string> submit_after_shutdown() {
    EventLoop& loop = get_running_loop();
    co_await loop.shutdown_default_executor();
    try {
        (void)loop.run_in_executor([] { return 0; });
    } catch (const RuntimeError& error) {
        co_return error.what();
    }
    co_return "accepted";
}
}  // namespace

TEST_CASE("FakeExecutor: after shutdown_default_executor, run_in_executor is refused") {
    sim::SimLoop loop;
    loop.fake_executor();  // make it exist, so the shutdown has something to join
    CHECK(loop.run_until_complete(submit_after_shutdown()) == "Executor shutdown has been called");
    CHECK(loop.fake_executor().is_shutdown());
    loop.close();
}

TEST_CASE("FakeExecutor: a job completes exactly at its cost even with max_timer_lateness") {
    for (std::uint64_t seed = 0; seed < 5; ++seed) {
        sim::SimLoop loop({.seed = seed,
                           .executor = {.workers = 1, .cost = sim::fixed_cost(2s)},
                           .max_timer_lateness = 500ms});
        Duration ran_at{-1};
        loop.run_until_complete(void_job_time(&ran_at));
        CHECK(ran_at == 2s);
        loop.close();
    }
}

namespace {
Coro<std::string> give_up_on_slow_job() {
    std::string outcome;
    try {
        co_await wait_for(get_running_loop().run_in_executor([] { return 1; }, std::string("slow")),
                          1s);
        outcome = "finished";
    } catch (const TimeoutError&) {
        outcome = "timed out at " + sim::format_time(get_running_loop().time());
    }
    co_await sleep(10s);  // the job completes meanwhile, into a cancelled future
    co_return outcome;
}
}  // namespace

TEST_CASE("FakeExecutor: a job finishing after its future was cancelled is dropped quietly") {
    test_support::HandlerCapture handler;
    sim::SimLoop loop({.executor = {.workers = 1, .cost = sim::fixed_cost(5s)}});
    handler.attach(loop);
    CHECK(loop.run_until_complete(give_up_on_slow_job()) == "timed out at 1.000s");
    CHECK(loop.time() == 11s);
    CHECK(loop.fake_executor().unfinished_jobs() == 0);
    CHECK(handler.contexts.empty());
    loop.close();
}

TEST_CASE("Runner: a SIGINT while close() waits for a hung executor job interrupts the wait") {
    TimedLog log;
    test_support::SimFactory loops(
        {.executor = {.workers = 4,
                      .cost = sim::never_finishes_if_named("hang", sim::fixed_cost(1s))}});
    loops.on_new_loop = [&](sim::SimLoop& loop) {
        log.attach(loop);
        loop.fake_signals().schedule_at(100s, SIGINT);
    };
    CHECK_THROWS_AS(run(leave_job_behind(5s, "hang"), {.loop_factory = loops.factory()}),
                    KeyboardInterrupt);
    CHECK(loops.last().time() == 100s);
    CHECK(log.find("did not finishing").empty());
    CHECK(loops.last().is_closed());
}

// ---- cancelling a task that awaits a job ---------------------------------------------------

namespace {

/// What the jobs of cancel_jobs() did, in virtual time.
struct CancelRecord {
    std::vector<JobRecord> ran;          // jobs whose function ran, with when
    std::vector<std::string> cancelled;  // tasks that got CancelledError, with when
    std::vector<std::string> results;    // tasks that got a result
};

Coro<void> await_job(std::string name, CancelRecord* record) {
    auto job = [record, name] {
        record->ran.push_back({name, get_running_loop().time()});
        return 0;
    };
    try {
        co_await to_thread(job, name);
        record->results.push_back(name + " at " + sim::format_time(get_running_loop().time()));
    } catch (const CancelledError&) {
        record->cancelled.push_back(name + " at " + sim::format_time(get_running_loop().time()));
        throw;
    }
}

/// Jobs a, b, c (1 s each, one worker): b is cancelled while queued, a while running (at 0.5 s).
Coro<void> cancel_jobs(CancelRecord* record) {
    Task<void> a = create_task(await_job("a", record));
    Task<void> b = create_task(await_job("b", record));
    Task<void> c = create_task(await_job("c", record));
    co_await sleep(0s);  // every task submitted its job: a runs, b and c wait for the worker
    b.cancel();
    co_await sleep(500ms);
    a.cancel();
    std::vector<TaskRef> tasks{a, b, c};
    co_await gather(tasks, return_exceptions);
}

std::vector<std::string> executor_trace(const sim::SimLoop& loop) {
    std::vector<std::string> lines;
    for (const sim::TraceEntry& entry : loop.trace().entries()) {
        if (entry.kind == "executor")
            lines.push_back(sim::format_time(entry.time) + " " + entry.text);
    }
    return lines;
}

}  // namespace

TEST_CASE(
    "FakeExecutor: cancelling a task whose job is queued withdraws the job (it never runs and "
    "frees its place); a running job runs to its end and its result is dropped") {
    sim::SimLoop loop({.executor = {.workers = 1, .cost = sim::fixed_cost(1s)}});
    CancelRecord record;
    loop.run_until_complete(cancel_jobs(&record));
    // The awaiting tasks get CancelledError at once, as asyncio.to_thread's.
    CHECK(record.cancelled == std::vector<std::string>{"b at 0.000s", "a at 0.500s"});
    CHECK(record.results == std::vector<std::string>{"c at 2.000s"});
    // b never ran; c took its place in the queue: it ran from 1 s to 2 s, not from 2 s to 3 s.
    REQUIRE(record.ran.size() == 2);
    CHECK(record.ran[0].name == "a");  // cancelled while running: still ran to its end
    CHECK(record.ran[0].finished == 1s);
    CHECK(record.ran[1].name == "c");
    CHECK(record.ran[1].finished == 2s);
    CHECK(loop.time() == 2s);
    CHECK(test_support::joined(executor_trace(loop)) ==
          "0.000s submit #0 a | 0.000s submit #1 b | 0.000s submit #2 c | "
          "0.000s cancelled #1 b | 1.000s done #0 a | 2.000s done #2 c");
    CHECK(loop.fake_executor().unfinished_jobs() == 0);
    loop.close();
}

TEST_CASE("FakeExecutor: a cancelled queued job leaves the trace deterministic") {
    auto digest = [](std::uint64_t seed) {
        sim::SimLoop loop(
            {.seed = seed, .executor = {.workers = 1, .cost = sim::random_cost(1ms, 2s)}});
        CancelRecord record;
        loop.run_until_complete(cancel_jobs(&record));
        loop.close();
        return std::pair{loop.trace().digest(), record.ran.size()};
    };
    CHECK(digest(3) == digest(3));
    CHECK(digest(3).second == 2);
    CHECK(digest(4) == digest(4));
}

namespace {
/// A job that would never finish waits behind a 1 s job; its task is cancelled at once.
Coro<int> cancel_a_queued_hang() {
    auto never_ends = [] { return 0; };
    Task<int> first = create_task(to_thread([] { return 1; }, "first"));
    Task<int> hang = create_task(to_thread(never_ends, "hang"));
    co_await sleep(0s);
    hang.cancel();
    co_return co_await first;
}
}  // namespace

TEST_CASE("Runner: close() does not wait for a job withdrawn from the executor's queue") {
    TimedLog log;
    test_support::SimFactory loops(
        {.executor = {.workers = 1,
                      .cost = sim::never_finishes_if_named("hang", sim::fixed_cost(1s))}});
    loops.on_new_loop = [&](sim::SimLoop& loop) { log.attach(loop); };
    CHECK(run(cancel_a_queued_hang(), {.loop_factory = loops.factory()}) == 1);
    // Had "hang" started at 1 s, close() would have waited 300 s for it and warned.
    CHECK(loops.last().time() == 1s);
    CHECK(log.find("did not finishing").empty());
    CHECK(loops.last().fake_executor().hung_jobs() == 0);
}

// ---- durations given at submission ---------------------------------------------------------

namespace {

/// Three jobs: "given" with a duration at submission (to_thread), "modelled" and "named" left
/// to the cost model (run_in_executor with JobOptions and with a plain name).
Coro<void> submit_with_durations(std::vector<JobRecord>* records) {
    EventLoop& loop = get_running_loop();
    auto job = [records](std::string name) {
        return [records, name] {
            records->push_back({name, get_running_loop().time()});
            return 0;
        };
    };
    auto given_job = job("given");
    JobOptions given{.name = "given", .sim_duration = 5s};
    Task<int> given_task = create_task(to_thread(given_job, given));
    Future<int> modelled = loop.run_in_executor(job("modelled"), JobOptions{.name = "modelled"});
    Future<int> named = loop.run_in_executor(job("named"), std::string("named"));
    co_await given_task;
    co_await modelled;
    co_await named;
}

}  // namespace

TEST_CASE(
    "FakeExecutor: a duration given at submission replaces the cost model, which is not asked") {
    std::vector<std::string> asked;
    sim::CostModel cost = [&asked](const sim::JobInfo& job,
                                   sim::ChoiceSource&) -> std::optional<Duration> {
        asked.push_back(job.name);
        return 1s;
    };
    sim::SimLoop loop({.executor = {.workers = 4, .cost = cost}});
    std::vector<JobRecord> records;
    loop.run_until_complete(submit_with_durations(&records));
    REQUIRE(records.size() == 3);
    CHECK(std::set<std::string>{records[0].name, records[1].name} ==
          std::set<std::string>{"modelled", "named"});
    CHECK(records[0].finished == 1s);
    CHECK(records[1].finished == 1s);
    CHECK(records[2].name == "given");
    CHECK(records[2].finished == 5s);
    CHECK(asked == std::vector<std::string>{"modelled", "named"});
    loop.close();
}

TEST_CASE(
    "FakeExecutor: a given duration counts from when a worker starts the job; a negative one "
    "counts as 0") {
    sim::SimLoop loop({.executor = {.workers = 1, .cost = sim::fixed_cost(1s)}});
    std::vector<Duration> done;
    loop.fake_executor().on_job_done(
        [&done](const sim::JobInfo&, Duration at) { done.push_back(at); });
    Future<int> first = loop.run_in_executor([] { return 1; }, {.sim_duration = 3s});
    Future<int> second = loop.run_in_executor([] { return 2; }, JobOptions{.sim_duration = -5s});
    Future<int> third = loop.run_in_executor([] { return 3; }, JobOptions{.sim_duration = 2s});
    CHECK(loop.run_until_complete(third) == 3);
    CHECK(first.result() == 1);
    CHECK(second.result() == 2);
    CHECK(done == std::vector<Duration>{3s, 3s, 5s});
    loop.close();
}

TEST_CASE(
    "Runner: a job submitted with JobOptions::never never finishes: close() warns 300 s later") {
    TimedLog log;
    test_support::SimFactory loops({.executor = {.workers = 2, .cost = sim::fixed_cost(1s)}});
    loops.on_new_loop = [&](sim::SimLoop& loop) { log.attach(loop); };
    auto leave_hung_job = []() -> Coro<int> {
        co_await sleep(5s);
        (void)get_running_loop().run_in_executor(
            [] { return 0; }, JobOptions{.name = "stuck", .sim_duration = JobOptions::never});
        co_return 1;
    };
    CHECK(run(leave_hung_job(), {.loop_factory = loops.factory()}) == 1);
    CHECK(loops.last().fake_executor().hung_jobs() == 1);
    std::vector<TimedLog::Line> warnings = log.find("did not finishing joining");
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].text == kWarning300);
    CHECK(warnings[0].time == 305s);
}

TEST_CASE("FakeExecutor: a cost model's Duration::max() means never, as a timer's") {
    sim::SimLoop loop({.executor = {.workers = 1, .cost = sim::fixed_cost(Duration::max())}});
    (void)loop.run_in_executor([] { return 0; });
    CHECK(loop.fake_executor().hung_jobs() == 1);
    CHECK_FALSE(loop.fake_executor().next_completion().has_value());
    loop.close();
}

// ---- worker count --------------------------------------------------------------------------

TEST_CASE("default_worker_count is min(32, cpu_count + 4), an unknown (0) count as 1") {
    CHECK(default_worker_count(0) == 5);
    CHECK(default_worker_count(1) == 5);
    CHECK(default_worker_count(4) == 8);
    CHECK(default_worker_count(28) == 32);
    CHECK(default_worker_count(29) == 32);
    CHECK(default_worker_count(1000) == 32);
}

TEST_CASE(
    "FakeExecutor: the default worker count comes from SimOptions::cpu_count (default 4: 8 "
    "workers), never from the machine") {
    sim::SimLoop default_loop;
    CHECK(default_loop.options().cpu_count == 4);
    CHECK(default_loop.fake_executor().workers() == 8);
    default_loop.close();
    sim::SimLoop one_cpu({.cpu_count = 1});
    CHECK(one_cpu.fake_executor().workers() == 5);
    one_cpu.close();
    sim::SimLoop big({.cpu_count = 64});
    CHECK(big.fake_executor().workers() == 32);
    big.close();
    sim::SimLoop explicit_count({.executor = {.workers = 3}, .cpu_count = 64});
    CHECK(explicit_count.fake_executor().workers() == 3);
    explicit_count.close();
}

TEST_CASE("FakeExecutor: with the default 8 workers, a ninth concurrent 1 s job waits") {
    std::vector<Duration> finished = job_durations({.executor = {.cost = sim::fixed_cost(1s)}}, 9);
    REQUIRE(finished.size() == 9);
    CHECK(std::count(finished.begin(), finished.end(), Duration(1s)) == 8);
    CHECK(finished[8] == 2s);
}

// ---- observing completions -----------------------------------------------------------------

TEST_CASE(
    "FakeExecutor: on_job_done sees each finished job (index, name, virtual time) in order, "
    "synchronously in the loop") {
    sim::SimLoop loop({.executor = {.workers = 2, .cost = sim::fixed_cost(1s)}});
    std::vector<std::string> seen;
    loop.fake_executor().on_job_done([&seen, &loop](const sim::JobInfo& job, Duration at) {
        CHECK(at == loop.time());
        seen.push_back(std::to_string(job.index) + " " + job.name + " " + sim::format_time(at));
        loop.note("test", "observed #" + std::to_string(job.index));
    });
    std::vector<JobRecord> records;
    loop.run_until_complete(run_jobs({"a", "b", "c"}, &records));
    REQUIRE(seen.size() == 3);
    CHECK(std::set<std::string>(seen.begin(), seen.begin() + 2) ==
          std::set<std::string>{"0 a 1.000s", "1 b 1.000s"});
    CHECK(seen[2] == "2 c 2.000s");
    // Each observation follows its job's "done" entry in the trace, before anything else runs.
    std::vector<std::string> order;
    for (const sim::TraceEntry& entry : loop.trace().entries()) {
        if (entry.kind == "executor" && contains(entry.text, "done #"))
            order.push_back(entry.text.substr(0, 7));
        if (entry.kind == "test")
            order.push_back(entry.text);
    }
    REQUIRE(order.size() == 6);
    for (std::size_t i = 0; i < 6; i += 2)
        CHECK(order[i + 1] == "observed #" + order[i].substr(6, 1));
    loop.fake_executor().on_job_done({});  // removed: no call
    loop.run_until_complete(run_jobs({"d"}, &records));
    CHECK(seen.size() == 3);
    loop.close();
}

TEST_CASE("FakeExecutor: an observer may remove itself while it runs") {
    sim::SimLoop loop({.executor = {.workers = 2, .cost = sim::fixed_cost(1s)}});
    int calls = 0;
    sim::FakeExecutor& executor = loop.fake_executor();
    executor.on_job_done([&calls, &executor](const sim::JobInfo&, Duration) {
        ++calls;
        executor.on_job_done({});
    });
    std::vector<JobRecord> records;
    loop.run_until_complete(run_jobs({"a", "b", "c"}, &records));
    CHECK(records.size() == 3);
    CHECK(calls == 1);
    loop.close();
}

TEST_SUITE_END();
