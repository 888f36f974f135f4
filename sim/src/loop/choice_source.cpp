#include "simrun/sim/loop/choice_source.hpp"

namespace simrun::sim {

std::uint64_t SeededChoices::next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

std::uint64_t SeededChoices::choose(std::uint64_t bound) {
    ++count_;
    if (bound <= 1)
        return 0;
    return next() % bound;  // the tiny bias of a modulo does not matter for scheduling
}

std::uint64_t ScriptedChoices::choose(std::uint64_t bound) {
    ++count_;
    if (position_ >= script_.size())
        return 0;
    std::uint64_t value = script_[position_++];
    return bound <= 1 ? 0 : value % bound;
}

}  // namespace simrun::sim
