#pragma once
// The simulator's record of a run: one entry per step (task step, callback, time jump, signal,
// executor completion, log line), and a digest of all of them. Same seed and same program give
// the same digest, in any build.
//
// A task's step is a "run" entry named after the task ("run worker-1", or for a name the loop
// gave, what the task runs and where it was created: "run Task-3 (fetch() from main.cpp:42)").
// Any other callback is a "call" entry: one the library scheduled says what it is for ("call
// sleep wake-up of worker-1", "call timeout of Task-3 (...)", "call executor job done: load"),
// and one of the user's (call_soon, call_later, ...) names its creation site ("call main.cpp:12").

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "simrun/core/clock.hpp"
#include "simrun/core/detail/text_hash.hpp"

namespace simrun::sim {

/// One thing that happened.
struct TraceEntry {
    std::uint64_t step;  ///< callbacks run before this entry
    Duration time;       ///< virtual time
    std::string kind;    ///< "run" (a task's step), "call" (any other callback), "time", ...
    std::string text;    ///< what: "worker-1", "main.cpp:12", "SIGINT arrived", ...
};

/// An entry's kind and its hash, computed once: at compile time for the loop's own kinds
/// (`constexpr TraceKind run{"run"};`).
struct TraceKind {
    constexpr TraceKind(std::string_view kind) noexcept  // NOLINT: implicit from a text
        : text(kind), hash(detail::text_hash(kind)) {}
    std::string_view text;
    std::uint64_t hash;
};

/// The trace of one loop.
class Trace {
  public:
    /// Keeps the first `limit` entries, and past them the last recent_capacity ones (the
    /// digest covers every entry, kept or not).
    explicit Trace(std::size_t limit = 200000) : limit_(limit) {}

    /// How many of the latest entries are kept past the limit (for last()).
    static constexpr std::size_t recent_capacity = 64;

    /// Records an entry saying `text`.
    void add(std::uint64_t step, Duration time, std::string_view kind, std::string_view text) {
        if (entries_.size() < limit_ && entries_.size() == entries_.capacity()) {
            // The kept entries are about to move: `text` may be one of them (a note quoting an
            // earlier entry), so it is copied first.
            const std::string copy(text);
            add_with(step, time, kind, detail::text_hash(copy),
                     [&copy](std::string& out) { out.assign(copy); });
            return;
        }
        add_with(step, time, kind, detail::text_hash(text),
                 [text](std::string& out) { out.assign(text); });
    }
    /// Records an entry known to the digest by `text_hash` (what it says, hashed by the caller
    /// from the names it is made of, the same in every build); `write_text(out)` writes its
    /// text into `out` (empty), which keeps its capacity from entry to entry: once the first
    /// `limit` entries are kept, recording allocates nothing.
    template <class WriteText>
    void add_with(std::uint64_t step, Duration time, const TraceKind& kind, std::uint64_t text_hash,
                  WriteText&& write_text) {
        digest_ = detail::hash_combine(digest_, step);
        digest_ = detail::hash_combine(digest_, static_cast<std::uint64_t>(time.count()));
        digest_ = detail::hash_combine(digest_, kind.hash);
        digest_ = detail::hash_combine(digest_, text_hash);
        ++total_;
        TraceEntry& entry = slot();
        entry.step = step;
        entry.time = time;
        entry.kind.assign(kind.text);
        entry.text.clear();
        write_text(entry.text);
    }
    const std::vector<TraceEntry>& entries() const noexcept { return entries_; }
    /// Entries recorded, including those not kept.
    std::uint64_t size() const noexcept { return total_; }
    /// Every entry's step, time, kind hash and text hash, mixed in order (detail::hash_combine).
    std::uint64_t digest() const noexcept { return digest_; }
    /// Lines "[t=1.250s #42] run worker-1" for entries [first, first + count).
    std::string format(std::size_t first = 0, std::size_t count = 50) const;
    /// The latest `count` entries recorded, oldest first: fewer if fewer were recorded, and at
    /// most recent_capacity once entries were dropped (never with a gap between them).
    std::vector<TraceEntry> last(std::size_t count) const;
    /// "[t=1.250s #42] run worker-1" (no newline).
    static std::string format_entry(const TraceEntry& entry);

  private:
    /// Where the next entry goes: the next kept entry, or the ring's oldest.
    TraceEntry& slot();

    std::vector<TraceEntry> entries_;
    std::vector<TraceEntry> recent_;  // past the limit: a ring of the latest entries
    std::size_t recent_next_ = 0;     // the oldest one, once the ring is full
    std::size_t limit_;
    std::uint64_t total_ = 0;
    std::uint64_t digest_ = 0xcbf29ce484222325ULL;
};

/// "12.345s": virtual time in seconds, to the millisecond (rounded to nearest).
std::string format_time(Duration time);
/// Appends format_time(time) to `out`.
void append_time(std::string& out, Duration time);

}  // namespace simrun::sim
