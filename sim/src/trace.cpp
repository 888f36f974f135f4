#include "simrun/sim/trace.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdio>

namespace simrun::sim {
namespace {
void mix(std::uint64_t& digest, const void* data, std::size_t size) noexcept {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) {
        digest ^= bytes[i];
        digest *= 0x100000001b3ULL;
    }
}
void mix_number(std::uint64_t& digest, std::uint64_t value) noexcept {
    unsigned char bytes[8];
    for (int i = 0; i < 8; ++i)
        bytes[i] = static_cast<unsigned char>(value >> (8 * i));
    mix(digest, bytes, sizeof bytes);
}
}  // namespace

void Trace::add(std::uint64_t step, Duration time, std::string kind, std::string text) {
    mix_number(digest_, step);
    mix_number(digest_, static_cast<std::uint64_t>(time.count()));
    mix(digest_, kind.data(), kind.size());
    mix(digest_, "|", 1);
    mix(digest_, text.data(), text.size());
    mix(digest_, "\n", 1);
    ++total_;
    if (entries_.size() < limit_) {
        entries_.push_back(TraceEntry{step, time, std::move(kind), std::move(text)});
    } else if (recent_.size() < recent_capacity) {
        recent_.push_back(TraceEntry{step, time, std::move(kind), std::move(text)});
    } else {
        recent_[recent_next_] = TraceEntry{step, time, std::move(kind), std::move(text)};
        recent_next_ = (recent_next_ + 1) % recent_capacity;
    }
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

std::string format_time(Duration time) {
    char buffer[48];
    std::snprintf(buffer, sizeof buffer, "%.3fs", to_seconds(time));
    return buffer;
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
