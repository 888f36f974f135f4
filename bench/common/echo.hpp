#pragma once
// The network workloads (issue 10, item 7), defined once for simrun (simrun_net_bench.cpp), Asio
// (peers/asio_net_bench.cpp) and asyncio (peers/asyncio_net_bench.py, which repeats these
// numbers), and what their processes report. Each run is a process of its own, so that its peak
// RSS is that workload's alone.
//
//   echo   A server and kEchoClients clients in one process, on one loop, over loopback
//          (127.0.0.1, a port the system chooses; listen backlog = the number of clients). Every
//          client connects first (not timed); then each client, kEchoMessages times, writes one
//          line of kEchoLineBytes bytes ("\n" included), waits for the echo and checks it. The
//          server echoes every line it reads until end of stream. Timed: from the first write to
//          the last echo. Reported: messages per second (wall and CPU), the round trips' p50 and
//          p99, peak RSS. One JSON line: {"name": "echo/<impl>", ...}.
//   idle   A server whose handler waits for a line that never comes; N connections to it, idle.
//          Reported per connection: heap bytes (mallinfo2, malloc headers included; asyncio:
//          tracemalloc) and RSS growth (from /proc/self/statm), for the server's side and, where
//          measured, the client's side separately. Kernel socket buffers are in neither.
//          JSON lines {"name": "idle_server/<impl>", ...} and {"name": "idle_client/<impl>", ...}.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/process.hpp"

namespace bench {

inline constexpr int kEchoClients = 1'000;
inline constexpr int kEchoMessages = 100;
inline constexpr int kEchoLineBytes = 64;
inline constexpr int kIdleConnections = 10'000;

/// The line client `client` sends: kEchoLineBytes bytes ending in "\n".
inline std::string echo_line(int client) {
    std::string line = "client " + std::to_string(client) + " ";
    line.resize(kEchoLineBytes - 1, 'x');
    line += '\n';
    return line;
}

/// Raises the soft limit of open descriptors to the hard limit; returns the new soft limit.
inline std::int64_t raise_descriptor_limit() noexcept {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return -1;
    if (limit.rlim_cur != limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
        ::getrlimit(RLIMIT_NOFILE, &limit);
    }
    return static_cast<std::int64_t>(limit.rlim_cur);
}

/// How many idle connections fit: `wanted`, or fewer if the descriptor limit (two descriptors per
/// connection, both ends in this process, plus a margin) does not allow them.
inline int idle_connections_allowed(int wanted) noexcept {
    const std::int64_t limit = raise_descriptor_limit();
    const std::int64_t fit = (limit - 64) / 2;
    return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(wanted, fit)));
}

/// A non-blocking connect() to 127.0.0.1:`port` on a plain kernel socket (the other side of the
/// idle measurements, which costs the process no heap); the descriptor, or -1 with errno set.
inline int raw_connect_loopback(std::uint16_t port) noexcept {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 &&
        errno != EINPROGRESS) {
        const int error = errno;
        ::close(fd);
        errno = error;
        return -1;
    }
    return fd;
}

/// The process's resident set size now, in bytes (/proc/self/statm).
inline std::int64_t current_rss_bytes() noexcept {
    std::FILE* file = std::fopen("/proc/self/statm", "r");
    if (file == nullptr)
        return 0;
    long long pages = 0;
    long long resident = 0;
    const int read = std::fscanf(file, "%lld %lld", &pages, &resident);
    std::fclose(file);
    return read == 2 ? resident * ::sysconf(_SC_PAGESIZE) : 0;
}

/// The `fraction` quantile (nearest rank) of `samples`, which it sorts.
inline double quantile(std::vector<double>& samples, double fraction) {
    if (samples.empty())
        return 0;
    std::sort(samples.begin(), samples.end());
    const auto rank = static_cast<std::size_t>(fraction * static_cast<double>(samples.size()));
    return samples[std::min(rank, samples.size() - 1)];
}

/// What one echo run measured.
struct EchoResult {
    std::int64_t clients = 0;
    std::int64_t messages = 0;        // round trips completed and checked, all clients
    double seconds = 0;               // the timed phase, by the clock of `clock`
    double cpu_seconds = 0;           // the process's CPU time during the timed phase
    std::vector<double> round_trips;  // seconds, one per message
    const char* clock = "wall";       // "wall", or "virtual" on the simulated network
};

/// Prints the echo workload's JSON line for implementation `name`.
inline void print_echo_result(const std::string& name, EchoResult& result) {
    const double p50 = quantile(result.round_trips, 0.50);
    const double p99 = quantile(result.round_trips, 0.99);
    const double messages = static_cast<double>(result.messages);
    std::printf(
        "{\"name\": \"echo/%s\", \"clients\": %lld, \"messages\": %lld, \"clock\": \"%s\", "
        "\"seconds\": %.6f, \"cpu_seconds\": %.6f, \"messages_per_second\": %.1f, "
        "\"messages_per_cpu_second\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, "
        "\"peak_rss_bytes\": %lld}\n",
        name.c_str(), static_cast<long long>(result.clients),
        static_cast<long long>(result.messages), result.clock, result.seconds, result.cpu_seconds,
        result.seconds > 0 ? messages / result.seconds : 0.0,
        result.cpu_seconds > 0 ? messages / result.cpu_seconds : 0.0, p50 * 1e6, p99 * 1e6,
        static_cast<long long>(peak_rss_bytes()));
    std::fflush(stdout);
}

/// Prints one idle-connection JSON line: `side` is "server" or "client".
inline void print_idle_result(const std::string& side, const std::string& name, int connections,
                              std::int64_t heap_bytes, std::int64_t rss_bytes) {
    const double n = connections > 0 ? connections : 1;
    std::printf(
        "{\"name\": \"idle_%s/%s\", \"connections\": %d, \"heap_bytes_per_connection\": %.1f, "
        "\"rss_bytes_per_connection\": %.1f}\n",
        side.c_str(), name.c_str(), connections, static_cast<double>(heap_bytes) / n,
        static_cast<double>(rss_bytes) / n);
    std::fflush(stdout);
}

}  // namespace bench
