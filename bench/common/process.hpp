#pragma once
// What the sleepers workload reports about its own process.

#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace bench {

/// The process's peak resident set size (getrusage ru_maxrss), in bytes.
inline std::int64_t peak_rss_bytes() noexcept {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;  // KiB on Linux
}

/// CPU time (user + system) of the whole process so far, in seconds.
inline double process_cpu_seconds() noexcept {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// Prints the sleepers workload's JSON line.
inline void print_sleepers_result(const std::string& name, std::int64_t tasks, double seconds,
                                  double cpu_seconds) {
    std::printf(
        "{\"name\": \"sleepers/%s\", \"tasks\": %lld, \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
        "\"peak_rss_bytes\": %lld}\n",
        name.c_str(), static_cast<long long>(tasks), seconds, cpu_seconds,
        static_cast<long long>(peak_rss_bytes()));
}

}  // namespace bench
