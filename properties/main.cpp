// The property tests' entry point: doctest runs one TEST_CASE per property, each calling
// rc::check(). Case counts come from RC_PARAMS (default here: 200 cases per property).
#define DOCTEST_CONFIG_IMPLEMENT
#include <cstdio>
#include <cstdlib>
#include <string>

#include <doctest/doctest.h>

#include <simrun/core/event_loop.hpp>

namespace props {
std::string digests_of_fixed_programs(int count);
}

int main(int argc, char** argv) {
    if (argc == 3 &&
        std::string(argv[1]) == "--print-digests") {  // the child of the two-process test
        simrun::set_default_log_handler([](simrun::LogLevel, const std::string&) {});
        std::fputs(props::digests_of_fixed_programs(std::atoi(argv[2])).c_str(), stdout);
        return 0;
    }
    ::setenv("RC_PARAMS", "max_success=200", 0);  // keeps the user's RC_PARAMS if set
    // The programs provoke every report on purpose; the properties check them through handlers.
    simrun::set_default_log_handler([](simrun::LogLevel, const std::string&) {});
    doctest::Context context(argc, argv);
    const int status = context.run();
    if (status != 0) {
        std::fprintf(
            stderr,
            "\nTo replay a failing case: put the RC_PARAMS=\"reproduce=...\" line that rapidcheck "
            "prints below in front of\n  %s -tc=\"<the failing TEST CASE>\"\n",
            argv[0]);
    }
    return status;
}
