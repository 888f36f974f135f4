#pragma once
// Child processes for the process tests (test_real_signals.cpp, test_server_process.cpp): a
// program of tests/processes/, started with posix_spawn, its output captured, bounded in time.
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

extern char** environ;

namespace test_support {

using Clock = std::chrono::steady_clock;
inline constexpr auto give_up_after =
    std::chrono::seconds(20);  // far above every expected time; only a hang reaches it

/// A program built next to the test binary.
inline std::string child_program(const std::string& name) {
    char self[4096];
    const ssize_t length = ::readlink("/proc/self/exe", self, sizeof self - 1);
    REQUIRE(length > 0);
    std::string path(self, static_cast<std::size_t>(length));
    return path.substr(0, path.rfind('/') + 1) + name;
}

/// A running child program (built next to the test binary) with its stdout and stderr
/// captured; killed if it is still running when this object goes.
class Child {
  public:
    Child(const std::string& name, const std::string& scenario) {
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
        std::string program = child_program(name);
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
        while (!test_support::contains(stdout_text, line + "\n")) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left <= std::chrono::milliseconds(0))
                return false;
            pollfd watched{out_, POLLIN, 0};
            if (::poll(&watched, 1, static_cast<int>(left.count())) > 0 &&
                !read_some(out_, stdout_text))
                return test_support::contains(stdout_text, line + "\n");  // end of output
        }
        return true;
    }

    void interrupt() const { ::kill(pid_, SIGINT); }

    /// Waits for the child to end (killing it after the limit); returns its wait status.
    int wait_for_exit() { return *wait_for_exit_within(give_up_after, true); }

    /// Waits at most `limit` for the child to end; its wait status, or nullopt if it still
    /// runs (then, if `kill_after`, kills it, marks it hung and returns that status).
    std::optional<int> wait_for_exit_within(Clock::duration limit, bool kill_after = false) {
        const auto deadline = Clock::now() + limit;
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (Clock::now() > deadline && !kill_after)
                return std::nullopt;
            if (Clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                hung = true;
                break;
            }
            std::this_thread::sleep_for(
                std::chrono::milliseconds(2));  // polling a real process: nothing better to await
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

}  // namespace test_support
