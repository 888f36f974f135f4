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
/// Recording is cheap: an entry is a compact record (step, time, and the numbers of its kind
/// and its text in a table of the distinct texts seen, looked up by hash), so an entry whose
/// text was seen before writes no text at all; the texts are put together when entries(),
/// last() or format() is called. The first `limit` entries are kept, then a ring of the latest
/// recent_capacity. Past the limit, the table stops growing at text_capacity texts (and
/// kind_capacity kinds): an entry of the ring with a new text keeps its own copy.
///
/// A const Trace formats lazily, so reading one from two threads at once needs a lock, and the
/// vector entries() returns is a cache: it holds what was recorded when it was last called.
class Trace {
  public:
    /// Keeps the first `limit` entries, and past them the last recent_capacity ones (the
    /// digest covers every entry, kept or not).
    explicit Trace(std::size_t limit = 200000) : limit_(limit) {}

    /// How many of the latest entries are kept past the limit (for last()).
    static constexpr std::size_t recent_capacity = 64;
    /// How many distinct texts the table keeps.
    static constexpr std::size_t text_capacity = std::size_t{1} << 16;

    /// Records an entry saying `text`.
    void add(std::uint64_t step, Duration time, std::string_view kind, std::string_view text) {
        add_with(step, time, TraceKind(kind), detail::text_hash(text),
                 [text](std::string& out) { out.assign(text); });
    }
    /// Records an entry known to the digest by `text_hash` (what it says, hashed by the caller
    /// from the names it is made of, the same in every build; entries with equal hashes say
    /// the same). `write_text(out)` appends its text to `out` (empty); it is called only for a
    /// hash not seen yet: recording an entry seen before allocates nothing.
    template <class WriteText>
    void add_with(std::uint64_t step, Duration time, const TraceKind& kind, std::uint64_t text_hash,
                  WriteText&& write_text) {
        std::uint32_t text = find_text(text_hash, 0);
        if (text == no_text) {
            Text* own = nullptr;
            text = new_text(text_hash, 0, own);
            try {
                write_text(own->text);
            } catch (...) {
                forget_new_text(text, text_hash, 0);
                throw;
            }
        }
        keep(Record{step, time, kind_number(kind), text, 0});
        mix(step, time, kind.hash, text_hash);
    }
    /// Records an entry saying a text with `number` in it ("run Task-7 (worker() from
    /// main.cpp:4)"), known to the digest by `text_hash`: `write_before(out)` and
    /// `write_after(out)` append what comes before and after the number, the same for every
    /// entry with this `key`; they are called only for a key not seen yet. So entries that
    /// differ only by their number (tasks named by the loop) share one text.
    template <class WriteBefore, class WriteAfter>
    void add_numbered(std::uint64_t step, Duration time, const TraceKind& kind,
                      std::uint64_t text_hash, std::uint64_t key, std::uint64_t number,
                      WriteBefore&& write_before, WriteAfter&& write_after) {
        std::uint32_t text = find_text(key, numbered_space);
        if (text == no_text) {
            Text* own = nullptr;
            text = new_text(key, numbered_space, own);
            try {
                write_before(own->text);
                own->number_at = static_cast<std::uint32_t>(own->text.size());
                write_after(own->text);
            } catch (...) {
                forget_new_text(text, key, numbered_space);
                throw;
            }
        }
        keep(Record{step, time, kind_number(kind), text, number});
        mix(step, time, kind.hash, text_hash);
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
    /// An entry: its kind and text by number (kinds_, texts_). In the ring, a text or kind the
    /// tables had no room for is the slot's own (no_text then).
    struct Record {
        std::uint64_t step;
        Duration time;
        std::uint32_t kind;
        std::uint32_t text;
        std::uint64_t number;  // for a text with a number in it
    };
    /// A distinct text; a `timed` one is followed by its entry's time when read, a numbered
    /// one has its entry's number inserted at `number_at`.
    struct Text {
        std::string text;
        bool timed = false;
        std::uint32_t number_at = no_text;
    };
    /// One slot of the table of texts by hash (open addressing; `text` no_text when free).
    struct TextSlot {
        std::uint64_t key = 0;
        std::uint32_t text = no_text;
    };
    struct RingSlot {
        Record record{};
        Text own;              // the text, if record.text is no_text
        std::string own_kind;  // the kind, if record.kind is no_text
    };

    void mix(std::uint64_t step, Duration time, std::uint64_t kind_hash,
             std::uint64_t text_hash) noexcept {
        digest_ = detail::hash_combine(digest_, step);
        digest_ = detail::hash_combine(digest_, static_cast<std::uint64_t>(time.count()));
        digest_ = detail::hash_combine(digest_, kind_hash);
        digest_ = detail::hash_combine(digest_, text_hash);
        ++total_;
    }
    /// The number of the text (or for kind_space, of the kind) kept for (hash, space), or
    /// no_text. Spaces keep texts, timed and numbered texts and kinds apart.
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
    /// Room for a new text, empty, set in `own`: in the table while it has room (its number
    /// is returned), else in the ring slot the entry is about to take (no_text is returned).
    std::uint32_t new_text(std::uint64_t hash, std::uint64_t space, Text*& own);
    /// Undoes new_text() (the text could not be written): the latest text leaves the table.
    void forget_new_text(std::uint32_t text, std::uint64_t hash, std::uint64_t space) noexcept;
    /// Adds `key` -> `value` to the table (growing it to stay at most half full).
    void insert_slot(std::uint64_t key, std::uint32_t value);
    /// The number of a kind: the last one recorded, else from the table (kind_space).
    std::uint32_t kind_number(const TraceKind& kind) {
        if (last_kind_ < kinds_.size() && kinds_[last_kind_].hash == kind.hash)
            return last_kind_;
        const std::uint32_t number = find_text(kind.hash, kind_space);
        return number != no_text ? last_kind_ = number : new_kind(kind);
    }
    /// Adds a kind to the list while it has room (kind_capacity past the limit), else writes
    /// it into the ring slot the entry is about to take and returns no_text.
    std::uint32_t new_kind(const TraceKind& kind);
    static constexpr std::size_t kind_capacity = 256;
    void keep(const Record& record) {
        if (records_.size() < limit_) {
            records_.push_back(record);
            return;
        }
        // A slot's own text and kind are read only when its record says so (no_text): they are
        // left as they are, so recording an entry seen before touches the record alone.
        next_ring_slot().record = record;
        ring_next_ = (ring_next_ + 1) % recent_capacity;
        ring_count_ += ring_count_ < recent_capacity;
    }
    /// Past the limit: the ring slot the next entry takes.
    RingSlot& next_ring_slot() {
        if (ring_.empty())
            ring_.resize(recent_capacity);
        return ring_[ring_next_];
    }
    TraceEntry entry_of(const Record& record, const RingSlot* slot = nullptr) const;

    static constexpr std::uint64_t kind_space = 0x6b696e64;      // "kind"
    static constexpr std::uint64_t timed_space = 0x74696d65;     // "time"
    static constexpr std::uint64_t numbered_space = 0x6e756d62;  // "numb"

    struct Kind {
        std::uint64_t hash;
        std::string text;
    };
    std::vector<Record> records_;  // the first limit_ entries
    std::vector<Text> texts_;      // the distinct texts, by number
    std::vector<TextSlot> slots_;  // texts_ and kinds_ by hash: a power of two, half full
    std::vector<Kind> kinds_;      // the distinct kinds, by number
    std::uint32_t last_kind_ = 0;  // the kind recorded last
    std::size_t used_slots_ = 0;   // slots_ in use (texts and kinds)
    mutable std::vector<TraceEntry> entries_;  // records_ put together, as far as asked
    std::vector<RingSlot> ring_;  // past the limit: the latest entries (recent_capacity slots)
    std::size_t ring_next_ = 0;   // the slot the next entry takes (the oldest, once full)
    std::size_t ring_count_ = 0;  // slots filled
    std::size_t limit_;
    std::uint64_t total_ = 0;
    std::uint64_t digest_ = 0xcbf29ce484222325ULL;
};

/// "12.345s": virtual time in seconds, to the millisecond (rounded to nearest).
std::string format_time(Duration time);
/// Appends format_time(time) to `out`.
void append_time(std::string& out, Duration time);

}  // namespace simrun::sim
