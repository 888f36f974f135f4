// Real SIGINTs sent to a real process (tests/processes/sigint_child.cpp) running a Runner on the
// epoll loop. Each scenario must end within a bounded time; a child that hangs is killed and the
// test fails. Suite "real-only".
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <thread>

#include "support.hpp"

using namespace std::chrono_literals;
using test_support::contains;

extern char** environ;

TEST_SUITE_BEGIN("real-only");

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto give_up_after = 20s;  // far above every expected time; only a hang reaches it

/// simrun_sigint_child, built next to the test binary.
std::string child_program() {
    char self[4096];
    const ssize_t length = ::readlink("/proc/self/exe", self, sizeof self - 1);
    REQUIRE(length > 0);
    std::string path(self, static_cast<std::size_t>(length));
    return path.substr(0, path.rfind('/') + 1) + "simrun_sigint_child";
}

/// A running simrun_sigint_child with its stdout and stderr captured.
class Child {
  public:
    explicit Child(const std::string& scenario) {
        int out[2];
        int err[2];
        REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
        posix_spawnattr_t attributes;
        posix_spawnattr_init(&attributes);
        // The child starts with no blocked signal and SIGINT at its default action, whatever
        // the test runner (doctest catches SIGINT) has set.
        sigset_t none;
        sigset_t defaults;
        sigemptyset(&none);
        sigemptyset(&defaults);
        sigaddset(&defaults, SIGINT);
        posix_spawnattr_setsigmask(&attributes, &none);
        posix_spawnattr_setsigdefault(&attributes, &defaults);
        posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        std::string program = child_program();
        char* arguments[] = {program.data(), const_cast<char*>(scenario.c_str()), nullptr};
        const int spawned =
            ::posix_spawn(&pid_, program.c_str(), &actions, &attributes, arguments, environ);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attributes);
        ::close(out[1]);
        ::close(err[1]);
        out_ = out[0];
        err_ = err[0];
        REQUIRE(spawned == 0);
    }

    ~Child() {
        if (!status_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(out_);
        ::close(err_);
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    /// Waits until the child printed `line`; false if it did not within the limit.
    bool wait_for_line(const std::string& line) {
        const auto deadline = Clock::now() + give_up_after;
        while (!contains(stdout_text, line + "\n")) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left <= 0ms)
                return false;
            pollfd watched{out_, POLLIN, 0};
            if (::poll(&watched, 1, static_cast<int>(left.count())) > 0 &&
                !read_some(out_, stdout_text))
                return contains(stdout_text, line + "\n");  // end of output
        }
        return true;
    }

    void interrupt() const { ::kill(pid_, SIGINT); }

    /// Waits for the child to end (killing it after the limit); returns its wait status.
    int wait_for_exit() {
        const auto deadline = Clock::now() + give_up_after;
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (Clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                hung = true;
                break;
            }
            std::this_thread::sleep_for(2ms);  // polling a real process: nothing better to await
        }
        status_ = status;
        while (read_some(out_, stdout_text)) {
        }
        while (read_some(err_, stderr_text)) {
        }
        return status;
    }

    std::string stdout_text;
    std::string stderr_text;
    bool hung = false;

  private:
    static bool read_some(int fd, std::string& into) {
        char buffer[4096];
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got <= 0)
            return false;
        into.append(buffer, static_cast<std::size_t>(got));
        return true;
    }

    pid_t pid_ = -1;
    int out_ = -1;
    int err_ = -1;
    std::optional<int> status_;
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
    std::this_thread::sleep_for(20ms);  // two separate Ctrl-Cs, not one merged pending signal
    const auto second = Clock::now();
    child.interrupt();
    const int status = child.wait_for_exit();
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
