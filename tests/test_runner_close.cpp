// Runner::close()'s shutdown steps: the default executor's shutdown timeout (CPython 3.13's
// test_base_events.py) and async generators closed before the executor is shut down.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runners_support.hpp"
#include "support.hpp"

using namespace simrun;
using namespace std::chrono_literals;
using runners_test::Teardown;

TEST_SUITE_BEGIN("sim-only");

// ================================================================================================
// test_base_events.py: BaseEventLoopTests.test_shutdown_default_executor_timeout
// ================================================================================================

namespace {
namespace executor_timeout {
Coro<void> main() {
    (void)get_running_loop().run_in_executor([] {}, "hang");  // never finishes
    co_return;
}
}  // namespace executor_timeout
}  // namespace

TEST_CASE("BaseEventLoopTests.test_shutdown_default_executor_timeout") {
    Teardown teardown;
    std::vector<std::pair<Duration, std::string>> lines;  // (virtual time, log line)
    test_support::SimFactory loops(sim::SimOptions{
        .executor = {.workers = 1,
                     .cost = sim::never_finishes_if_named("hang", sim::fixed_cost(1ms))}});
    loops.on_new_loop = [&lines](sim::SimLoop& loop) {
        loop.set_log_handler([&lines, &loop](LogLevel, const std::string& line) {
            lines.emplace_back(loop.time(), line);
        });
    };
    SUBCASE("Runner.close() waits 300 s of virtual time, then warns") {
        run(executor_timeout::main(), {.loop_factory = loops.factory()});
        REQUIRE(lines.size() == 1);
        CHECK(lines[0].first == 300s);
        CHECK(lines[0].second ==
              "RuntimeWarning: The executor did not finishing joining its threads within 300 "
              "seconds.");
    }
    SUBCASE("loop.shutdown_default_executor(timeout=0.01), as the original") {
        std::shared_ptr<EventLoop> loop = loops.factory()();
        (void)loop->run_in_executor([] {}, "hang");
        loop->run_until_complete(loop->shutdown_default_executor(10ms));
        REQUIRE(lines.size() == 1);
        CHECK(lines[0].first == 10ms);
        CHECK(lines[0].second ==
              "RuntimeWarning: The executor did not finishing joining its threads within 0.01 "
              "seconds.");
        loop->run_until_complete(loop->shutdown_asyncgens());
        loop->close();
    }
    REQUIRE(loops.loops.size() == 1);
    CHECK(loops.last().fake_executor().hung_jobs() == 1);
    CHECK(loops.last().fake_executor().is_shutdown());
    teardown.check(loops);
}

// ================================================================================================
// Beyond the CPython tests: the order of close()'s steps
// ================================================================================================

namespace {
namespace asyncgens_before_executor {
/// Yields forever; closing it runs a job on the default executor and records its result.
AsyncGen<int> cleans_up_on_the_executor(std::shared_ptr<std::atomic<bool>> job_ran,
                                        std::vector<std::string>* events) {
    bool closing = false;
    try {
        for (;;)
            co_yield 1;
    } catch (const GeneratorExit&) {
        closing = true;
    }
    if (closing) {
        auto job = [job_ran] {
            job_ran->store(true);
            return 7;
        };
        const int value = co_await to_thread(job, "generator clean-up");
        events->push_back("clean-up job returned " + std::to_string(value));
    }
}
/// Leaves the generator suspended at its first co_yield for close() to finish.
Coro<void> main(std::optional<AsyncGen<int>>* gen, std::shared_ptr<std::atomic<bool>> job_ran,
                std::vector<std::string>* events) {
    gen->emplace(cleans_up_on_the_executor(std::move(job_ran), events));
    (void)co_await (*gen)->next();
}
}  // namespace asyncgens_before_executor
}  // namespace

LOOP_TEST_CASE(
    "Runner: close() closes async generators before it shuts the default executor down, so a "
    "generator's clean-up can still run executor jobs") {
    Teardown teardown;
    test_support::HandlerCapture handler;
    test_support::LoopRecorder<LoopKind> loops;
    loops.on_new_loop = [&handler](EventLoop& loop) { handler.attach(loop); };
    auto job_ran = std::make_shared<std::atomic<bool>>(false);
    std::vector<std::string> events;
    {
        std::optional<AsyncGen<int>> gen;
        run(asyncgens_before_executor::main(&gen, job_ran, &events),
            {.loop_factory = loops.factory()});
        REQUIRE(gen.has_value());
        CHECK(gen->finished());
    }
    CHECK(job_ran->load());
    CHECK(events == std::vector<std::string>{"clean-up job returned 7"});
    // Had the executor been shut down first, to_thread would have thrown RuntimeError "Executor
    // shutdown has been called" inside the clean-up, and aclose() reported it here.
    std::string reported;
    for (const ExceptionContext& context : handler.contexts)
        reported += context.format() + "\n";
    INFO(reported);
    CHECK(handler.contexts.empty());
    teardown.check(loops);
}

TEST_SUITE_END();
