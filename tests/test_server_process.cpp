// A real server out of descriptors (tests/processes/server_child.cpp): the child lowers its own
// descriptor limit, so the test process is not affected. Suite "real-only".
#include <sys/wait.h>

#include "child_process.hpp"

TEST_SUITE_BEGIN("real-only");

// Not under the sanitizers: their runtimes need descriptors of their own (UBSan's type checks
// open /proc/self/maps), which the child has used up on purpose.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(undefined_behavior_sanitizer)
#define SIMRUN_NO_EMFILE_TEST
#endif
#endif
#else
#define SIMRUN_NO_EMFILE_TEST
#endif

#if !defined(SIMRUN_NO_EMFILE_TEST)
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
#endif

TEST_SUITE_END();
