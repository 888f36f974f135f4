#pragma once
// The simulator's only source of randomness. Every nondeterministic decision (timer ties and
// lateness, executor job costs and completion order, the order of simultaneous events) is one
// choose() call, so a run is fully described by its seed, or by the list of its choices, which
// a property test can generate, shrink and replay.

#include <cstdint>
#include <vector>

namespace simrun::sim {

/// Answers "pick one of `bound` possibilities".
class ChoiceSource {
  public:
    virtual ~ChoiceSource() = default;
    /// A number in [0, bound); bound 0 or 1 gives 0.
    virtual std::uint64_t choose(std::uint64_t bound) = 0;
    /// Choices made so far.
    std::uint64_t count() const noexcept { return count_; }

  protected:
    std::uint64_t count_ = 0;
};

/// Choices from a seeded generator (SplitMix64): same seed, same choices, on every platform.
class SeededChoices final : public ChoiceSource {
  public:
    explicit SeededChoices(std::uint64_t seed) noexcept : state_(seed) {}
    std::uint64_t choose(std::uint64_t bound) override;
    /// The next raw 64-bit number.
    std::uint64_t next() noexcept;

  private:
    std::uint64_t state_;
};

/// Choices read from a list (for property tests and replays). Each entry is taken modulo the
/// bound; once the list is used up every choice is 0 (the "simplest" schedule), so shrinking
/// the list towards empty and towards zeros shrinks the schedule. Every choose() call uses one
/// entry, even with a bound of 0 or 1 (where SeededChoices draws nothing), so a script lines up
/// with the calls, not with a seeded run's random numbers.
class ScriptedChoices final : public ChoiceSource {
  public:
    explicit ScriptedChoices(std::vector<std::uint64_t> script) : script_(std::move(script)) {}
    std::uint64_t choose(std::uint64_t bound) override;
    /// How many entries of the script were used.
    std::size_t used() const noexcept { return position_; }

  private:
    std::vector<std::uint64_t> script_;
    std::size_t position_ = 0;
};

}  // namespace simrun::sim
