// The property tests' entry point: doctest runs one TEST_CASE per property, each calling
// rc::check(). Case counts come from RC_PARAMS (default here: 200 cases per property).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

int main(int argc, char** argv) {
    ::setenv("RC_PARAMS", "max_success=200", 0);  // keeps the user's RC_PARAMS if set
    doctest::Context context(argc, argv);
    return context.run();
}
