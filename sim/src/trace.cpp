#include "simrun/sim/trace.hpp"

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
    if (entries_.size() < limit_)
        entries_.push_back(TraceEntry{step, time, std::move(kind), std::move(text)});
}

std::string format_time(Duration time) {
    char buffer[48];
    std::snprintf(buffer, sizeof buffer, "%.3fs", to_seconds(time));
    return buffer;
}

std::string Trace::format(std::size_t first, std::size_t count) const {
    std::string text;
    for (std::size_t i = first; i < entries_.size() && i - first < count; ++i) {
        const TraceEntry& entry = entries_[i];
        char prefix[64];
        std::snprintf(prefix, sizeof prefix, "[t=%s #%llu] ", format_time(entry.time).c_str(),
                      static_cast<unsigned long long>(entry.step));
        text += prefix + entry.kind + " " + entry.text + "\n";
    }
    return text;
}

}  // namespace simrun::sim
