#include "simrun/sim/loop/trace.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdio>

namespace simrun::sim {
TraceEntry& Trace::slot() {
    if (entries_.size() < limit_)
        return entries_.emplace_back();
    if (recent_.size() < recent_capacity)
        return recent_.emplace_back();
    TraceEntry& oldest = recent_[recent_next_];
    recent_next_ = (recent_next_ + 1) % recent_capacity;
    return oldest;
}

std::vector<TraceEntry> Trace::last(std::size_t count) const {
    std::vector<TraceEntry> latest;
    const std::size_t dropped = total_ - entries_.size() - recent_.size();
    // Entries before the ring, if no entry was dropped between them and the ring.
    const std::size_t from_kept = dropped > 0 || count <= recent_.size()
                                      ? 0
                                      : std::min(count - recent_.size(), entries_.size());
    latest.reserve(from_kept + std::min(count, recent_.size()));
    latest.insert(latest.end(), entries_.end() - static_cast<std::ptrdiff_t>(from_kept),
                  entries_.end());
    const std::size_t from_ring = std::min(count, recent_.size());
    for (std::size_t i = recent_.size() - from_ring; i < recent_.size(); ++i)
        latest.push_back(recent_[(recent_next_ + i) % recent_.size()]);
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
    for (std::size_t i = first; i < entries_.size() && i - first < count; ++i)
        text += format_entry(entries_[i]) + "\n";
    return text;
}

}  // namespace simrun::sim
