#pragma once
// The 64-bit hash the simulator's trace digest is made of. Defined on the bytes of a text (read
// eight at a time, little-endian whatever the machine), so the same text hashes the same in
// every build: the digest may be compared across compilers and optimisation levels.

#include <cstdint>
#include <string_view>

namespace simrun::detail {

/// Mixes `value` into `hash` (order matters: combine(combine(h, a), b) != combine(combine(h, b),
/// a)).
constexpr std::uint64_t hash_combine(std::uint64_t hash, std::uint64_t value) noexcept {
    hash ^= value + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
    hash *= 0xff51afd7ed558ccdULL;
    return hash ^ (hash >> 32);
}

/// The hash of a text's bytes (constexpr: fixed texts may be hashed at compile time).
constexpr std::uint64_t text_hash(std::string_view text) noexcept {
    std::uint64_t hash = 0xcbf29ce484222325ULL ^ text.size();
    const char* bytes = text.data();
    std::size_t left = text.size();
    for (; left >= 8; left -= 8, bytes += 8) {
        std::uint64_t word = 0;
        for (int i = 0; i < 8; ++i)  // compilers turn this into one load on little-endian CPUs
            word |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
        hash = hash_combine(hash, word);
    }
    if (left > 0) {
        std::uint64_t word = 0;
        for (std::size_t i = 0; i < left; ++i)
            word |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
        hash = hash_combine(hash, word);
    }
    return hash;
}

}  // namespace simrun::detail
