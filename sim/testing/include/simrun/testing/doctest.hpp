#pragma once
// doctest glue of the testing kit. Include it after <doctest/doctest.h> (or instead of it) in
// any test file; the main() stays doctest's own.
//
//     SIMRUN_SIM_TEST("the queue drains under any schedule", .seeds = 200) {
//         simrun::Queue<int> queue;
//         ...
//         CHECK(queue.empty());
//         co_return;
//     }
//
// SIMRUN_SIM_TEST(name, options...) is a doctest test case whose body is a coroutine run by
// run_seeds(): a fresh SimLoop per seed, the seed in every failing CHECK's message, a stop at the
// first failing seed and one more failure with the replay line ("SIMRUN_SEED=17 ./tests
// -tc=\"name\""), the trace file and the trace's tail. `options` are SimTestOptions members as
// designated initializers, in declaration order (.seeds = 200, .setup = ...), or nothing.
//
// SIMRUN_LOOP_TEST(name, options...) runs the same coroutine body as SIMRUN_SIM_TEST, then once
// on a real EpollLoop, bounded by SimTestOptions::real_time_limit.
//
// SIMRUN_LOOP_TEST_CASE(name) is a plain (not coroutine) test case run twice, once with
// LoopKind = SimKind and once with LoopKind = EpollKind ("name<sim>", "name<epoll>");
// LoopKind::make() makes a loop of the kind.
//
// Signals: doctest catches SIGINT (and other signals) to report "test case CRASHED". During a
// real-loop test the kit restores SIGINT's default disposition (so a Runner takes it over, as
// asyncio does) and puts doctest's handler back afterwards: nothing to configure.

#include <csignal>
#include <cstdint>
#include <memory>
#include <string>

#include <doctest/doctest.h>

#include "simrun/core/runner.hpp"
#include "simrun/core/timeout.hpp"
#include "simrun/epoll/epoll_loop.hpp"
#include "simrun/sim/loop/sim_loop.hpp"
#include "simrun/testing.hpp"

namespace simrun::testing {

/// The simulation loop, as a loop kind of SIMRUN_LOOP_TEST_CASE.
struct SimKind {
    static constexpr bool is_sim = true;
    /// A SimLoop with default options.
    static std::shared_ptr<EventLoop> make() { return std::make_shared<sim::SimLoop>(); }
};

/// The epoll loop, as a loop kind of SIMRUN_LOOP_TEST_CASE.
struct EpollKind {
    static constexpr bool is_sim = false;
    /// A new EpollLoop.
    static std::shared_ptr<EventLoop> make() { return std::make_shared<EpollLoop>(); }
};

/// While it lives, SIGINT has its default disposition (doctest's crash handler is put back at
/// the end); `active` false does nothing.
class DefaultSigintScope {
  public:
    explicit DefaultSigintScope(bool active = true) : active_(active) {
        if (!active_)
            return;
        struct sigaction default_action {};
        default_action.sa_handler = SIG_DFL;
        sigemptyset(&default_action.sa_mask);
        ::sigaction(SIGINT, &default_action, &saved_);
    }
    ~DefaultSigintScope() {
        if (active_)
            ::sigaction(SIGINT, &saved_, nullptr);
    }
    DefaultSigintScope(const DefaultSigintScope&) = delete;
    DefaultSigintScope& operator=(const DefaultSigintScope&) = delete;

  private:
    bool active_;
    struct sigaction saved_ {};
};

namespace detail {

/// Failed doctest assertions on this thread so far.
inline std::uint64_t& failed_assertions() {
    thread_local std::uint64_t count = 0;
    return count;
}

/// A doctest listener that counts failed assertions (how a sweep sees a failing CHECK).
struct FailureCounter : doctest::IReporter {
    explicit FailureCounter(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData&) override {}
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData& data) override {
        if (data.m_failed)
            ++failed_assertions();
    }
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};

/// The running test case's name ("simrun test" outside one).
inline std::string current_test_name() {
    const doctest::TestCaseData* test = doctest::getContextOptions()->currentTest;
    return test != nullptr && test->m_name != nullptr ? std::string(test->m_name)
                                                      : std::string("simrun test");
}

/// -tc="name" with the characters doctest's filter or a shell would read ('"', ',', '\', '$',
/// '`') replaced by the one-character wildcard '?'.
inline std::string test_filter(const std::string& name) {
    std::string filter = name;
    for (char& c : filter)
        if (c == '"' || c == ',' || c == '\\' || c == '$' || c == '`')
            c = '?';
    return "-tc=\"" + filter + "\"";
}

/// The hooks that connect a sweep to doctest.
inline SweepHooks doctest_hooks(const std::string& name) {
    SweepHooks hooks;
    hooks.around_seed = [](std::uint64_t seed, const std::function<void()>& run) {
        DOCTEST_INFO("simrun seed ", seed, " (replay: SIMRUN_SEED=", seed, ")");
        run();
    };
    hooks.failed_assertions = [] { return failed_assertions(); };
    hooks.replay_arguments = test_filter(name);
    return hooks;
}

/// SIMRUN_SIM_TEST's body: the sweep, reported to doctest.
inline void sim_test(const SimTestOptions& options, const TestBody& body) {
    const std::string name = current_test_name();
    const SweepReport report = run_seeds(name, options, body, doctest_hooks(name));
    if (!report.passed)
        DOCTEST_FAIL_CHECK(report.message);
}

inline Coro<void> bounded(TestBody body, Duration limit) {
    Coro<void> inner = body();
    co_await wait_for(std::move(inner), limit);
}

/// SIMRUN_LOOP_TEST's body: the sweep, then one run on an EpollLoop.
inline void loop_test(const SimTestOptions& options, const TestBody& body) {
    sim_test(options, body);
    DefaultSigintScope sigint;
    DOCTEST_INFO("on the epoll loop");
    try {
        Runner runner(RunnerOptions{.loop_factory = [] {
            return std::shared_ptr<EventLoop>(std::make_shared<EpollLoop>());
        }});
        runner.run(bounded(body, options.real_time_limit));
        runner.close();
    } catch (...) {
        DOCTEST_FAIL_CHECK(("on the epoll loop: " + describe(std::current_exception())));
    }
}

}  // namespace detail
}  // namespace simrun::testing

DOCTEST_REGISTER_LISTENER("simrun-testing-failure-counter", 1,
                          ::simrun::testing::detail::FailureCounter);

TYPE_TO_STRING_AS("sim", ::simrun::testing::SimKind);
TYPE_TO_STRING_AS("epoll", ::simrun::testing::EpollKind);

#define SIMRUN_DETAIL_SIM_TEST(runner, body, name, ...)                                           \
    static ::simrun::Coro<void> body();                                                           \
    DOCTEST_TEST_CASE(name) {                                                                     \
        ::simrun::testing::detail::runner(::simrun::testing::SimTestOptions{__VA_ARGS__}, &body); \
    }                                                                                             \
    static ::simrun::Coro<void> body()

/// A doctest test case whose coroutine body runs in a seed sweep (see the file comment).
#define SIMRUN_SIM_TEST(name, ...) \
    SIMRUN_DETAIL_SIM_TEST(sim_test, DOCTEST_ANONYMOUS(sim_test_body_), name, __VA_ARGS__)

/// SIMRUN_SIM_TEST, then one run of the body on an EpollLoop (see the file comment).
#define SIMRUN_LOOP_TEST(name, ...) \
    SIMRUN_DETAIL_SIM_TEST(loop_test, DOCTEST_ANONYMOUS(loop_test_body_), name, __VA_ARGS__)

#define SIMRUN_DETAIL_LOOP_TEST_CASE(function, name)                                          \
    template <class LoopKind>                                                                 \
    static void function();                                                                   \
    DOCTEST_TEST_CASE_TEMPLATE(name, SimrunLoopKind, ::simrun::testing::SimKind,              \
                               ::simrun::testing::EpollKind) {                                \
        ::simrun::testing::DefaultSigintScope simrun_default_sigint(!SimrunLoopKind::is_sim); \
        function<SimrunLoopKind>();                                                           \
    }                                                                                         \
    template <class LoopKind>                                                                 \
    static void function()

/// A test case run once per loop kind, with `LoopKind` naming it (see the file comment).
#define SIMRUN_LOOP_TEST_CASE(name) \
    SIMRUN_DETAIL_LOOP_TEST_CASE(DOCTEST_ANONYMOUS(simrun_loop_case_), name)
