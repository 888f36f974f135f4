#include "simrun/sim/loop/trace.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <string>

namespace simrun::sim {
std::uint32_t Trace::new_text(std::uint64_t hash, std::uint64_t space, Text*& own) {
    if (records_.size() >= limit_ && texts_.size() >= text_capacity) {
        Text& text = next_ring_slot().own;
        text.text.clear();
        text.timed = false;
        text.number_at = no_text;
        own = &text;
        return no_text;
    }
    own = &texts_.emplace_back();
    const auto number = static_cast<std::uint32_t>(texts_.size() - 1);
    try {
        insert_slot(detail::hash_combine(hash, space), number);
    } catch (...) {
        texts_.pop_back();
        throw;
    }
    return number;
}

void Trace::insert_slot(std::uint64_t key, std::uint32_t value) {
    if ((used_slots_ + 1) * 2 > slots_.size()) {
        // Grow to keep the table at most half full; the numbers stay.
        std::vector<TextSlot> grown(slots_.empty() ? 64 : slots_.size() * 2);
        const std::size_t mask = grown.size() - 1;
        for (const TextSlot& slot : slots_) {
            if (slot.text == no_text)
                continue;
            std::size_t i = static_cast<std::size_t>(slot.key) & mask;
            while (grown[i].text != no_text)
                i = (i + 1) & mask;
            grown[i] = slot;
        }
        slots_ = std::move(grown);
    }
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>(key) & mask;
    while (slots_[i].text != no_text)
        i = (i + 1) & mask;
    slots_[i] = TextSlot{key, value};
    ++used_slots_;
}

void Trace::forget_new_text(std::uint32_t text, std::uint64_t hash, std::uint64_t space) noexcept {
    if (text == no_text) {
        // The ring slot's own text was being written: the entry there (the oldest) loses it.
        next_ring_slot().own.text.clear();
        return;
    }
    // The latest key inserted: no other key's probe passes over its slot, so it can go.
    const std::uint64_t key = detail::hash_combine(hash, space);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(key) & mask; slots_[i].text != no_text;
         i = (i + 1) & mask) {
        if (slots_[i].key == key) {
            slots_[i] = TextSlot{};
            --used_slots_;
            break;
        }
    }
    texts_.pop_back();
}

std::uint32_t Trace::new_kind(const TraceKind& kind) {
    if (records_.size() >= limit_ && kinds_.size() >= kind_capacity) {
        next_ring_slot().own_kind.assign(kind.text);
        return no_text;
    }
    kinds_.push_back(Kind{kind.hash, std::string(kind.text)});
    const auto number = static_cast<std::uint32_t>(kinds_.size() - 1);
    try {
        insert_slot(detail::hash_combine(kind.hash, kind_space), number);
    } catch (...) {
        kinds_.pop_back();
        throw;
    }
    return last_kind_ = number;
}

void Trace::add_timed(std::uint64_t step, Duration time, const TraceKind& kind,
                      std::uint64_t text_hash, std::string_view prefix) {
    std::uint32_t text = find_text(text_hash, timed_space);
    if (text == no_text) {
        Text* own = nullptr;
        text = new_text(text_hash, timed_space, own);
        try {
            own->text.assign(prefix);
        } catch (...) {
            forget_new_text(text, text_hash, timed_space);
            throw;
        }
        own->timed = true;
    }
    keep(Record{step, time, kind_number(kind), text, 0});
    mix(step, time, kind.hash, text_hash);
}

TraceEntry Trace::entry_of(const Record& record, const RingSlot* slot) const {
    TraceEntry entry{record.step,
                     record.time,
                     record.kind == no_text ? slot->own_kind : kinds_[record.kind].text,
                     {}};
    const Text& text = record.text == no_text ? slot->own : texts_[record.text];
    if (text.number_at == no_text) {
        entry.text = text.text;
    } else {
        const std::string_view whole = text.text;
        entry.text.append(whole.substr(0, text.number_at))
            .append(std::to_string(record.number))
            .append(whole.substr(text.number_at));
    }
    if (text.timed)
        append_time(entry.text, record.time);
    return entry;
}

const std::vector<TraceEntry>& Trace::entries() const {
    if (entries_.size() < records_.size()) {
        entries_.reserve(records_.size());
        for (std::size_t i = entries_.size(); i < records_.size(); ++i)
            entries_.push_back(entry_of(records_[i]));
    }
    return entries_;
}

std::vector<TraceEntry> Trace::last(std::size_t count) const {
    std::vector<TraceEntry> latest;
    const std::size_t dropped = total_ - records_.size() - ring_count_;
    // Entries before the ring, if no entry was dropped between them and the ring.
    const std::size_t from_kept =
        dropped > 0 || count <= ring_count_ ? 0 : std::min(count - ring_count_, records_.size());
    const std::size_t from_ring = std::min(count, ring_count_);
    latest.reserve(from_kept + from_ring);
    for (std::size_t i = records_.size() - from_kept; i < records_.size(); ++i)
        latest.push_back(entry_of(records_[i]));
    // The ring's oldest slot is ring_next_ once full, slot 0 before.
    const std::size_t oldest = ring_count_ < recent_capacity ? 0 : ring_next_;
    for (std::size_t i = ring_count_ - from_ring; i < ring_count_; ++i) {
        const RingSlot& slot = ring_[(oldest + i) % recent_capacity];
        latest.push_back(entry_of(slot.record, &slot));
    }
    return latest;
}

void append_time(std::string& out, Duration time) {
    const auto nanoseconds = time.count();
    // Rounded to the nearest millisecond, halves away from zero, in integers (no printf: this
    // runs at every time step).
    const bool negative = nanoseconds < 0;
    const std::uint64_t magnitude = negative ? 0 - static_cast<std::uint64_t>(nanoseconds)
                                             : static_cast<std::uint64_t>(nanoseconds);
    const std::uint64_t milliseconds = magnitude / 1'000'000 + (magnitude % 1'000'000 >= 500'000);
    char buffer[32];
    char* end = buffer + sizeof buffer;
    char* p = end;
    *--p = 's';
    std::uint64_t fraction = milliseconds % 1000;
    for (int i = 0; i < 3; ++i, fraction /= 10)
        *--p = static_cast<char>('0' + fraction % 10);
    *--p = '.';
    std::uint64_t seconds = milliseconds / 1000;
    do {
        *--p = static_cast<char>('0' + seconds % 10);
        seconds /= 10;
    } while (seconds > 0);
    if (negative && milliseconds > 0)
        *--p = '-';
    out.append(p, end);
}

std::string format_time(Duration time) {
    std::string text;
    append_time(text, time);
    return text;
}

std::string Trace::format_entry(const TraceEntry& entry) {
    char prefix[64];
    std::snprintf(prefix, sizeof prefix, "[t=%s #%llu] ", format_time(entry.time).c_str(),
                  static_cast<unsigned long long>(entry.step));
    return prefix + entry.kind + " " + entry.text;
}

std::string Trace::format(std::size_t first, std::size_t count) const {
    std::string text;
    for (std::size_t i = first; i < records_.size() && i - first < count; ++i)
        text += format_entry(entry_of(records_[i])) + "\n";
    return text;
}

}  // namespace simrun::sim
