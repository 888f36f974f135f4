// A real server out of descriptors (tests/processes/server_child.cpp): the child lowers its own
// descriptor limit, so the test process is not affected. Suite "real-only".
#include <sys/wait.h>

#include "child_process.hpp"

TEST_SUITE_BEGIN("real-only");

TEST_CASE(
    "process: a server out of descriptors (EMFILE) reports it once, pauses accepting without "
    "spinning and serves again after the retry delay") {
    test_support::Child child("simrun_server_child", "emfile");
    const int status = child.wait_for_exit();
    INFO("stdout: " << child.stdout_text << "stderr: " << child.stderr_text);
    CHECK_FALSE(child.hung);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK_FALSE(test_support::contains(child.stdout_text, "FAILED"));
    CHECK(test_support::contains(child.stdout_text,
                                 "ok: client 3 is served once descriptors are free"));
    CHECK(test_support::contains(child.stderr_text, "socket.accept() out of system resource"));
}

TEST_SUITE_END();
