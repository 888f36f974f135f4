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
///
/// Recording is cheap: the first `limit` entries are kept as compact records (step, time, and
/// the numbers of their kind and text in a table of the distinct texts seen, looked up by
/// hash), so an entry whose text was seen before writes no text at all; the texts are put
/// together when entries(), last() or format() is called. Past the limit, a ring of the latest
/// recent_capacity entries keeps their texts written out.
///
/// A const Trace formats lazily, so reading one from two threads at once needs a lock.
class Trace {
  public:
    /// Keeps the first `limit` entries, and past them the last recent_capacity ones (the
    /// digest covers every entry, kept or not).
    explicit Trace(std::size_t limit = 200000) : limit_(limit) {}

    /// How many of the latest entries are kept past the limit (for last()).
    static constexpr std::size_t recent_capacity = 64;

    /// Records an entry saying `text`.
    void add(std::uint64_t step, Duration time, std::string_view kind, std::string_view text) {
        add_with(step, time, TraceKind(kind), detail::text_hash(text),
                 [text](std::string& out) { out.assign(text); });
    }
    /// Records an entry known to the digest by `text_hash` (what it says, hashed by the caller
    /// from the names it is made of, the same in every build; entries with equal hashes say
    /// the same). `write_text(out)` appends its text to `out` (empty), and is called only if
    /// no kept entry had that hash yet, or once the first `limit` entries are kept: recording
    /// then allocates nothing.
    template <class WriteText>
    void add_with(std::uint64_t step, Duration time, const TraceKind& kind, std::uint64_t text_hash,
                  WriteText&& write_text) {
        mix(step, time, kind.hash, text_hash);
        if (records_.size() < limit_) {
            std::uint32_t text = find_text(text_hash, 0);
            if (text == no_text) {
                std::string written;
                write_text(written);
                text = keep_text(text_hash, 0, std::move(written));
            }
            keep(step, time, kind, text);
        } else {
            write_text(ring_slot(step, time, kind).text);
        }
    }
    /// Records an entry saying `prefix` followed by its time ("advance to 1.250s"), known to
    /// the digest by `text_hash` (the time is in the digest already).
    void add_timed(std::uint64_t step, Duration time, const TraceKind& kind,
                   std::uint64_t text_hash, std::string_view prefix);

    /// The kept entries (the first `limit`), their texts put together on the first call and
    /// for entries recorded since.
    const std::vector<TraceEntry>& entries() const;
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
    static constexpr std::uint32_t no_text = 0xffffffffU;
    /// A kept entry: its kind and text by number in texts_.
    struct Record {
        std::uint64_t step;
        Duration time;
        std::uint32_t kind;
        std::uint32_t text;
    };
    /// A distinct text; a `timed` one is followed by its entry's time when read.
    struct Text {
        std::string text;
        bool timed = false;
    };
    /// One slot of the table of texts by hash (open addressing; `text` no_text when free).
    struct TextSlot {
        std::uint64_t key = 0;
        std::uint32_t text = no_text;
    };

    void mix(std::uint64_t step, Duration time, std::uint64_t kind_hash,
             std::uint64_t text_hash) noexcept {
        digest_ = detail::hash_combine(digest_, step);
        digest_ = detail::hash_combine(digest_, static_cast<std::uint64_t>(time.count()));
        digest_ = detail::hash_combine(digest_, kind_hash);
        digest_ = detail::hash_combine(digest_, text_hash);
        ++total_;
    }
    /// The number of the text kept for (hash, space), or no_text. Spaces keep kinds, texts and
    /// timed texts apart.
    std::uint32_t find_text(std::uint64_t hash, std::uint64_t space) const noexcept {
        if (slots_.empty())
            return no_text;
        const std::uint64_t key = detail::hash_combine(hash, space);
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = static_cast<std::size_t>(key) & mask;; i = (i + 1) & mask) {
            const TextSlot& slot = slots_[i];
            if (slot.text == no_text)
                return no_text;
            if (slot.key == key)
                return slot.text;
        }
    }
    std::uint32_t keep_text(std::uint64_t hash, std::uint64_t space, std::string text,
                            bool timed = false);
    void keep(std::uint64_t step, Duration time, const TraceKind& kind, std::uint32_t text) {
        std::uint32_t kind_text = find_text(kind.hash, kind_space);
        if (kind_text == no_text)
            kind_text = keep_text(kind.hash, kind_space, std::string(kind.text));
        records_.push_back(Record{step, time, kind_text, text});
    }
    /// Past the limit: the ring's next slot, with its step, time and kind set and its text
    /// cleared (the ring is not readable by reference: no text recorded can be one of its).
    TraceEntry& ring_slot(std::uint64_t step, Duration time, const TraceKind& kind);
    TraceEntry entry_of(const Record& record) const;

    static constexpr std::uint64_t kind_space = 0x6b696e64;   // "kind"
    static constexpr std::uint64_t timed_space = 0x74696d65;  // "time"

    std::vector<Record> records_;              // the first limit_ entries
    std::vector<Text> texts_;                  // the distinct texts of records_, by number
    std::vector<TextSlot> slots_;              // texts_ by hash: a power of two, half full
    mutable std::vector<TraceEntry> entries_;  // records_ put together, as far as asked
    std::vector<TraceEntry> recent_;           // past the limit: a ring of the latest entries
    std::size_t recent_next_ = 0;              // the oldest one, once the ring is full
    std::size_t limit_;
    std::uint64_t total_ = 0;
    std::uint64_t digest_ = 0xcbf29ce484222325ULL;
};

/// "12.345s": virtual time in seconds, to the millisecond (rounded to nearest).
std::string format_time(Duration time);
/// Appends format_time(time) to `out`.
void append_time(std::string& out, Duration time);

}  // namespace simrun::sim
