#pragma once
// Helpers every Google Benchmark workload of simrun_bench uses.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

namespace bench {

/// Counts operations; a workload that lost some reports an error instead of a figure.
inline bool check_count(benchmark::State& state, std::uint64_t counted, std::uint64_t expected) {
    if (counted == expected)
        return true;
    const std::string message =
        "counted " + std::to_string(counted) + ", expected " + std::to_string(expected);
    state.SkipWithError(message.c_str());
    return false;
}

inline void set_ops(benchmark::State& state, std::int64_t per_iteration) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * per_iteration);
}

}  // namespace bench
