#pragma once
// The simulator's record of a run: one entry per step (callback run, time jump, signal,
// executor completion, log line), and a digest of all of them. Same seed and same program give
// the same digest, in any build.

#include <cstdint>
#include <string>
#include <vector>

#include "simrun/clock.hpp"

namespace simrun::sim {

/// One thing that happened.
struct TraceEntry {
    std::uint64_t step;  ///< callbacks run before this entry
    Duration time;       ///< virtual time
    std::string kind;    ///< "run", "time", "signal", "executor", "log", ...
    std::string text;    ///< what: "Task-3", "main.cpp:12", "SIGINT arrived", ...
};

/// The trace of one loop.
class Trace {
  public:
    /// Keeps at most `limit` entries (the digest covers every entry, kept or not).
    explicit Trace(std::size_t limit = 200000) : limit_(limit) {}

    void add(std::uint64_t step, Duration time, std::string kind, std::string text);
    const std::vector<TraceEntry>& entries() const noexcept { return entries_; }
    /// Entries recorded, including those not kept.
    std::uint64_t size() const noexcept { return total_; }
    /// FNV-1a 64 over every entry.
    std::uint64_t digest() const noexcept { return digest_; }
    /// Lines "[t=1.250s #42] run Task-3" for entries [first, first + count).
    std::string format(std::size_t first = 0, std::size_t count = 50) const;

  private:
    std::vector<TraceEntry> entries_;
    std::size_t limit_;
    std::uint64_t total_ = 0;
    std::uint64_t digest_ = 0xcbf29ce484222325ULL;
};

/// "1.250s" for a virtual time.
std::string format_time(Duration time);

}  // namespace simrun::sim
