// Real SIGINTs sent to a real process (tests/processes/sigint_child.cpp) running a Runner on the
// epoll loop. Each scenario must end within a bounded time; a child that hangs is killed and the
// test fails. Suite "real-only".
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <string>

#include "child_process.hpp"

using namespace std::chrono_literals;
using test_support::Clock;
using test_support::contains;

TEST_SUITE_BEGIN("real-only");

namespace {

/// A running simrun_sigint_child.
class Child : public test_support::Child {
  public:
    explicit Child(const std::string& scenario)
        : test_support::Child("simrun_sigint_child", scenario) {}
};

bool ended_by_sigint(int status) {
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGINT;
}

}  // namespace

TEST_CASE(
    "process: one SIGINT while the main task awaits runs the clean-up, then the process "
    "reports KeyboardInterrupt and ends by SIGINT") {
    Child child("await");
    REQUIRE(child.wait_for_line("ready"));
    child.interrupt();
    const int status = child.wait_for_exit();
    INFO("stdout: " << child.stdout_text << "stderr: " << child.stderr_text);
    CHECK_FALSE(child.hung);
    CHECK(ended_by_sigint(status));
    CHECK(contains(child.stdout_text, "cleanup started\ncleanup done\nKeyboardInterrupt\n"));
    CHECK_FALSE(contains(child.stdout_text, "returned"));
}

TEST_CASE("process: a second SIGINT during a slow clean-up raises KeyboardInterrupt at once") {
    Child child("slow-cleanup");
    REQUIRE(child.wait_for_line("ready"));
    child.interrupt();
    REQUIRE(child.wait_for_line("cleanup started"));
    const auto second = Clock::now();
    child.interrupt();
    const int status = child.wait_for_exit();
    INFO("stdout: " << child.stdout_text << "stderr: " << child.stderr_text);
    CHECK_FALSE(child.hung);
    CHECK(Clock::now() - second < 10s);  // the clean-up would take 30 s
    CHECK(ended_by_sigint(status));
    CHECK(contains(child.stdout_text, "KeyboardInterrupt\n"));
    CHECK_FALSE(contains(child.stdout_text, "cleanup done"));
}

// ThreadSanitizer delivers signals only when the thread reaches one of its interceptors, which a
// tight loop never does: there the signal would wait forever, so this case is not built under it.
#if !defined(__SANITIZE_THREAD__)
TEST_CASE(
    "process: two SIGINTs during a tight loop end the process by SIGINT once the grace "
    "period runs out") {
    Child child("tight-loop");
    REQUIRE(child.wait_for_line("ready"));
    child.interrupt();
    std::this_thread::sleep_for(20ms);
    const auto second = Clock::now();
    child.interrupt();
    // Two Ctrl-Cs sent before the spinning child was scheduled merge into one pending signal
    // (a loaded machine): repeat the second until the child ends, as a user would.
    std::optional<int> ended;
    for (int tries = 0; tries < 10 && !ended; ++tries) {
        ended = child.wait_for_exit_within(1s);
        if (!ended)
            child.interrupt();
    }
    const int status = ended ? *ended : child.wait_for_exit();
    const auto took = Clock::now() - second;
    INFO("stdout: " << child.stdout_text << "stderr: " << child.stderr_text);
    CHECK_FALSE(child.hung);
    CHECK(ended_by_sigint(status));
    CHECK(took >= 200ms);  // the grace period (RunnerOptions::sigint_grace_period) was honoured
    CHECK(contains(child.stderr_text, "did not get back from a callback within the grace period"));
    CHECK_FALSE(contains(child.stdout_text, "KeyboardInterrupt"));
}
#endif

TEST_CASE(
    "process: one SIGINT with a worker thread stuck in a job ends after the executor "
    "shutdown timeout") {
    Child child("stuck-worker");
    REQUIRE(child.wait_for_line("ready"));
    child.interrupt();
    const int status = child.wait_for_exit();
    INFO("stdout: " << child.stdout_text << "stderr: " << child.stderr_text);
    CHECK_FALSE(child.hung);
    CHECK(ended_by_sigint(status));
    CHECK(contains(child.stderr_text,
                   "The executor did not finishing joining its threads within 0.2 seconds."));
    CHECK(contains(child.stdout_text, "KeyboardInterrupt\n"));
}

TEST_CASE(
    "process: a KeyboardInterrupt that leaves main() uncaught ends the process by SIGINT, not "
    "by abort") {
    Child child("uncaught");
    REQUIRE(child.wait_for_line("ready"));
    child.interrupt();
    const int status = child.wait_for_exit();
    INFO("stdout: " << child.stdout_text << "stderr: " << child.stderr_text);
    CHECK_FALSE(child.hung);
    CHECK(ended_by_sigint(status));  // a shell shows 130
    CHECK_FALSE(WCOREDUMP(status));
    CHECK(contains(child.stdout_text, "cleanup started\ncleanup done\n"));
    CHECK_FALSE(contains(child.stdout_text, "returned"));
    CHECK_FALSE(contains(child.stderr_text, "terminate called"));
}

TEST_CASE("process: any other uncaught exception still goes to the previous terminate handler") {
    Child child("uncaught-error");
    REQUIRE(child.wait_for_line("ready"));
    const int status = child.wait_for_exit();
    INFO("stdout: " << child.stdout_text << "stderr: " << child.stderr_text);
    CHECK_FALSE(child.hung);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGABRT);
    // libstdc++'s verbose terminate handler, which ours replaced and called.
    CHECK(contains(child.stderr_text, "terminate called after throwing an instance of"));
    CHECK(contains(child.stderr_text, "not an interrupt"));
}

namespace {

/// The first SIGINT interrupts run(); close() then cancels a task whose clean-up holds the loop
/// thread for 10 s. The second SIGINT must end the process after the 200 ms grace period.
void second_sigint_during_a_stuck_close(const std::string& scenario) {
    Child child(scenario);
    REQUIRE(child.wait_for_line("ready"));
    child.interrupt();
    REQUIRE(child.wait_for_line("leftover cleanup started"));
    const auto second = Clock::now();
    child.interrupt();
    const int status = child.wait_for_exit();
    const auto took = Clock::now() - second;
    INFO("stdout: " << child.stdout_text << "stderr: " << child.stderr_text);
    CHECK_FALSE(child.hung);
    CHECK(ended_by_sigint(status));
    CHECK(took >= 200ms);  // the grace period
    CHECK(took < 5s);      // not the end of the 10 s clean-up (nor a third Ctrl-C)
    CHECK(contains(child.stderr_text, "did not get back from a callback within the grace period"));
    CHECK_FALSE(contains(child.stdout_text, "leftover cleanup done"));
    CHECK_FALSE(contains(child.stdout_text, "KeyboardInterrupt"));
}

}  // namespace

TEST_CASE(
    "process: a second SIGINT while close() is stuck in a blocking clean-up ends the process "
    "after the grace period") {
    second_sigint_during_a_stuck_close("blocked-close");
}

// A clean-up spinning without a system call never lets ThreadSanitizer deliver the signal (see
// above): not built under it.
#if !defined(__SANITIZE_THREAD__)
TEST_CASE(
    "process: a second SIGINT while close() is stuck in a spinning clean-up ends the process "
    "after the grace period") {
    second_sigint_during_a_stuck_close("spinning-close");
}
#endif

TEST_SUITE_END();
