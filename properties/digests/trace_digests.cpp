// simrun_trace_digests --trace SEED prints one program's trace.
// simrun_trace_digests FILE [COUNT]: runs COUNT (default 300) random programs of the property
// tests' generator (seeds 1..COUNT, size 50) on the simulator and writes one line per program to
// FILE: "<seed> <trace digest>". scripts/test.sh compares the files its build
// configurations wrote (g++ and clang, Release and Debug, sanitized or not): the same seed must
// give the same digest in every build.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <simrun/simrun.hpp>

#include "../generators.hpp"
#include "../program.hpp"

int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "--trace") {  // one program's whole trace
        simrun::set_default_log_handler([](simrun::LogLevel, const std::string&) {});
        const props::Program program =
            props::programs()(rc::Random(std::strtoul(argv[2], nullptr, 10)), 50).value();
        std::fputs(props::execute(program, true).full_trace.c_str(), stdout);
        return 0;
    }
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: %s FILE [COUNT]\n       %s --trace SEED\n", argv[0], argv[0]);
        return 2;
    }
    const unsigned long count = argc == 3 ? std::strtoul(argv[2], nullptr, 10) : 300;
    std::ofstream out(argv[1]);
    if (!out) {
        std::fprintf(stderr, "simrun_trace_digests: cannot write %s\n", argv[1]);
        return 2;
    }
    simrun::set_default_log_handler([](simrun::LogLevel, const std::string&) {});
    for (unsigned long seed = 1; seed <= count; ++seed) {
        const props::Program program = props::programs()(rc::Random(seed), 50).value();
        const props::Observation observed = props::execute(program);
        char line[64];
        std::snprintf(line, sizeof line, "%lu %016llx\n", seed,
                      static_cast<unsigned long long>(observed.digest));
        out << line;
    }
    std::printf("simrun_trace_digests: %lu programs, digests in %s\n", count, argv[1]);
    return out ? 0 : 1;
}
