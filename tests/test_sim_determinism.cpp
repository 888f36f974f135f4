// SimLoop's determinism: one seed, one run (trace digest, order), whatever it shuffles; the choice
// sources, and a run replayed from its recorded choices (docs/semantics.md, "The simulator").
#include <csignal>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sim_loop_support.hpp"
#include "support.hpp"

// Virtual time, fake signals and fake executors: these tests need the simulator.
TEST_SUITE_BEGIN("sim-only");

using namespace simrun;
using sim_loop_test::sleep_for;
using test_support::contains;

namespace {

// A small program with equal-deadline timers, several tasks and executor jobs of random cost:
// every source of nondeterminism the simulator has.
Coro<void> worker(std::vector<int>* order, int id) {
    for (int round = 0; round < 3; ++round) {
        co_await sleep(std::chrono::milliseconds(100));  // equal deadlines: the ties are shuffled
        order->push_back(id);
    }
    int value = co_await get_running_loop().run_in_executor([id] { return id; }, "job");
    order->push_back(100 + value);
}

Coro<void> mixed_program(std::vector<int>* order) {
    std::vector<Task<void>> tasks;
    for (int id = 0; id < 6; ++id)
        tasks.push_back(create_task(worker(order, id)));
    co_await gather(tasks);
}

struct ProgramRun {
    std::uint64_t digest;
    std::uint64_t trace_size;
    std::vector<int> order;
    Duration end;
};

ProgramRun run_mixed_program(sim::SimOptions options) {
    options.executor.cost =
        sim::random_cost(std::chrono::milliseconds(1), std::chrono::milliseconds(50));
    sim::SimLoop loop(options);
    ProgramRun result{};
    loop.run_until_complete(mixed_program(&result.order));
    result.end = loop.time();
    loop.close();
    result.digest = loop.trace().digest();
    result.trace_size = loop.trace().size();
    return result;
}

// Eight timers due at the same instant; returns the order in which they fired.
std::vector<int> equal_deadline_order(sim::SimOptions options) {
    sim::SimLoop loop(options);
    std::vector<int> order;
    for (int i = 0; i < 8; ++i)
        loop.call_at(1s, [&order, i] { order.push_back(i); });
    loop.call_at(2s, [&loop] { loop.stop(); });
    loop.run_forever();
    loop.close();
    return order;
}

/// Wraps a seeded source and records every answer, so a run can be replayed from its choices.
class RecordingChoices final : public sim::ChoiceSource {
  public:
    explicit RecordingChoices(std::uint64_t seed) : inner_(seed) {}
    std::uint64_t choose(std::uint64_t bound) override {
        ++count_;
        std::uint64_t value = inner_.choose(bound);
        recorded.push_back(value);
        return value;
    }
    std::vector<std::uint64_t> recorded;

  private:
    sim::SeededChoices inner_;
};

}  // namespace

// ---- determinism --------------------------------------------------------------------------

TEST_CASE("SimLoop: the same seed and program give the same trace digest and the same order") {
    for (std::uint64_t seed : {0ULL, 7ULL, 12345ULL}) {
        ProgramRun first = run_mixed_program({.seed = seed});
        ProgramRun second = run_mixed_program({.seed = seed});
        CHECK(first.digest == second.digest);
        CHECK(first.trace_size == second.trace_size);
        CHECK(first.order == second.order);
        CHECK(first.end == second.end);
        CHECK(first.order.size() == 24);
    }
}

TEST_CASE("SimLoop: different seeds give different traces of the same program") {
    std::set<std::uint64_t> digests;
    std::set<std::vector<int>> orders;
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        ProgramRun run = run_mixed_program({.seed = seed});
        digests.insert(run.digest);
        orders.insert(run.order);
    }
    CHECK(digests.size() > 1);
    CHECK(orders.size() > 1);
}

TEST_CASE("SimLoop: shuffle_timer_ties lets seeds reorder timers with equal deadlines") {
    std::set<std::vector<int>> orders;
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        std::vector<int> order = equal_deadline_order({.seed = seed});
        CHECK(order.size() == 8);
        CHECK(std::set<int>(order.begin(), order.end()).size() == 8);  // each fired exactly once
        CHECK(order == equal_deadline_order({.seed = seed}));          // and reproducibly
        orders.insert(order);
    }
    CHECK(orders.size() > 1);
}

TEST_CASE(
    "SimLoop: without shuffle_timer_ties equal deadlines fire in creation order for every seed") {
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        CHECK(equal_deadline_order({.seed = seed, .shuffle_timer_ties = false}) ==
              std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
    }
}

TEST_CASE("SimLoop: timers with distinct deadlines always fire in deadline order") {
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        sim::SimLoop loop({.seed = seed, .max_timer_lateness = 500ms});
        std::vector<int> order;
        for (int i = 9; i >= 0; --i)
            loop.call_at(std::chrono::milliseconds(100 * (i + 1)),
                         [&order, i] { order.push_back(i); });
        loop.call_at(10s, [&] { loop.stop(); });
        loop.run_forever();
        CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
        loop.close();
    }
}

TEST_CASE("SimLoop: call_soon callbacks run in FIFO order whatever the seed") {
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        sim::SimLoop loop({.seed = seed, .max_timer_lateness = 10ms});
        std::vector<int> order;
        loop.call_soon([&] {
            for (int i = 0; i < 50; ++i) {
                loop.call_soon([&order, i] { order.push_back(i); });
                loop.call_later(Duration::zero(), [] {});  // timers with ties between them
            }
        });
        loop.call_later(1s, [&] { loop.stop(); });
        loop.run_forever();
        std::vector<int> expected;
        for (int i = 0; i < 50; ++i)
            expected.push_back(i);
        CHECK(order == expected);
        loop.close();
    }
}

namespace {
Coro<void> yielder(std::vector<int>* order, int id) {
    for (int i = 0; i < 3; ++i) {
        order->push_back(id);
        co_await yield_now();
    }
}
Coro<void> three_yielders(std::vector<int>* order) {
    std::vector<Task<void>> tasks;
    for (int id = 0; id < 3; ++id)
        tasks.push_back(create_task(yielder(order, id)));
    co_await gather(tasks);
}
}  // namespace

TEST_CASE("SimLoop: ready tasks take turns in FIFO order whatever the seed") {
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        sim::SimLoop loop({.seed = seed});
        std::vector<int> order;
        loop.run_until_complete(three_yielders(&order));
        CHECK(order == std::vector<int>{0, 1, 2, 0, 1, 2, 0, 1, 2});
        loop.close();
    }
}

// ---- choice sources -----------------------------------------------------------------------

TEST_CASE("SeededChoices: same seed same answers, always below the bound, 0 for bounds 0 and 1") {
    sim::SeededChoices a(99);
    sim::SeededChoices b(99);
    sim::SeededChoices other(100);
    bool differs = false;
    for (std::uint64_t bound = 2; bound < 200; ++bound) {
        std::uint64_t x = a.choose(bound);
        CHECK(x == b.choose(bound));
        CHECK(x < bound);
        differs = differs || x != other.choose(bound);
    }
    CHECK(differs);
    CHECK(a.choose(0) == 0);
    CHECK(a.choose(1) == 0);
    CHECK(a.count() == 200);
}

TEST_CASE("ScriptedChoices: entries are taken modulo the bound, then every choice is 0") {
    sim::ScriptedChoices script({5, 7, 12});
    CHECK(script.choose(10) == 5);
    CHECK(script.choose(4) == 3);
    CHECK(script.used() == 2);
    CHECK(script.choose(1) == 0);  // consumes the 12
    CHECK(script.used() == 3);
    CHECK(script.choose(1000) == 0);
    CHECK(script.choose(1000) == 0);
    CHECK(script.used() == 3);
    CHECK(script.count() == 5);
}

TEST_CASE("SimLoop: the same script gives the same digest, and the script decides timer ties") {
    std::vector<std::uint64_t> reverse = {7, 6, 5, 4, 3, 2, 1, 0};
    auto run_script = [](std::vector<std::uint64_t> script) {
        auto choices = std::make_shared<sim::ScriptedChoices>(std::move(script));
        sim::SimLoop loop({.choices = choices});
        std::vector<int> order;
        for (int i = 0; i < 8; ++i) {
            loop.call_at(1s, [&order, &loop, i] {
                order.push_back(i);
                loop.note("fired", std::to_string(i));  // so that the digest sees the order
            });
        }
        loop.call_at(2s, [&loop] { loop.stop(); });
        loop.run_forever();
        loop.close();
        return std::make_pair(order, loop.trace().digest());
    };
    auto [reversed, digest1] = run_script(reverse);
    auto [reversed_again, digest2] = run_script(reverse);
    auto [in_order, digest3] = run_script({});
    CHECK(reversed == std::vector<int>{7, 6, 5, 4, 3, 2, 1, 0});
    CHECK(reversed_again == reversed);
    CHECK(digest1 == digest2);
    CHECK(in_order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});  // an empty script: all zeros
    CHECK(digest3 != digest1);
}

TEST_CASE(
    "SimLoop: replaying a seeded run's recorded choices through ScriptedChoices reproduces it") {
    auto recorder = std::make_shared<RecordingChoices>(2024);
    ProgramRun original = run_mixed_program({.choices = recorder});
    ProgramRun seeded = run_mixed_program({.seed = 2024});
    CHECK(original.digest == seeded.digest);  // the recorder changes nothing
    REQUIRE(!recorder->recorded.empty());

    auto script = std::make_shared<sim::ScriptedChoices>(recorder->recorded);
    ProgramRun replay = run_mixed_program({.choices = script});
    CHECK(replay.digest == original.digest);
    CHECK(replay.order == original.order);
    CHECK(replay.end == original.end);
    CHECK(script->used() == recorder->recorded.size());
}

TEST_CASE("SimLoop: options.choices replaces the seeded source and every choice goes through it") {
    auto recorder = std::make_shared<RecordingChoices>(1);
    sim::SimLoop loop({.seed = 1, .choices = recorder});
    CHECK(&loop.choices() == recorder.get());
    loop.call_later(1s, [] {});
    loop.call_later(1s, [&loop] { loop.stop(); });
    loop.run_forever();
    CHECK(recorder->count() >= 2);  // one tie-break per timer at least
    loop.close();
}

namespace {
Coro<int> interrupted_program() {
    std::vector<Task<void>> tasks;
    for (int i = 0; i < 4; ++i)
        tasks.push_back(create_task(sleep_for(std::chrono::milliseconds(300 * i))));
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
        sim::running_sim().note("main", "cancelled");
    }
    co_await gather(tasks);
    co_return 1;
}
}  // namespace

TEST_CASE(
    "SimLoop: a Runner program with signals and executor shutdown is deterministic per seed") {
    auto digest_of = [](std::uint64_t seed) {
        test_support::SimFactory loops({.seed = seed, .max_timer_lateness = 20ms});
        loops.on_new_loop = [](sim::SimLoop& loop) {
            loop.fake_signals().schedule_at(500ms, SIGINT);
        };
        int result = run(interrupted_program(), {.loop_factory = loops.factory()});
        CHECK(result == 1);
        return std::make_pair(loops.last().trace().digest(), loops.last().trace().format(0, 1000));
    };
    auto first = digest_of(11);
    auto second = digest_of(11);
    CHECK(first.first == second.first);
    CHECK(first.second == second.second);
    CHECK(contains(first.second, "main cancelled"));
    CHECK(contains(first.second, "SIGINT arrived"));
}

TEST_SUITE_END();
