#pragma once
// Barrier: a meeting point for a fixed number of tasks (asyncio.Barrier, Python 3.13 rules).
//
// Tasks call wait(); when `parties` tasks are waiting, all of them are released at once (the
// barrier "drains"), and it fills again for the next round. Tasks arriving while it drains
// wait for the next round. reset() and abort() break the current round.
//
// Not thread-safe: use a barrier only from its loop's thread.

#include <cstddef>
#include <memory>
#include <string>

#include "simrun/core/coro.hpp"

namespace simrun {

namespace detail {
struct BarrierCore;
}

/// A barrier for `parties` tasks. Not copyable or movable. `async with barrier as i:` is
/// `std::size_t i = co_await barrier.wait();` (the scope's exit does nothing).
///
/// Destroying a barrier while tasks wait on it is safe: each waiting task gets CancelledError
/// (from the barrier's internal condition or lock, "... was destroyed while a task waited on
/// it").
class Barrier {
  public:
    /// Throws ValueError "parties must be > 0" for 0.
    explicit Barrier(std::size_t parties);
    ~Barrier();
    Barrier(const Barrier&) = delete;
    Barrier& operator=(const Barrier&) = delete;

    /// Waits until `parties` tasks are waiting (the last one returns without suspending) and
    /// returns this task's arrival index in the round, 0 to parties-1. Waits first while the
    /// barrier drains or resets. Throws BrokenBarrierError "Barrier aborted" if the barrier is
    /// broken on arrival, and "Abort or reset of barrier" if reset() or abort() ends the round
    /// while this task waits. A cancelled waiter just leaves: the barrier does not break (so,
    /// as in asyncio 3.13, indices can repeat within a round after a cancellation).
    Coro<std::size_t> wait();
    /// Ends the current round: tasks waiting in it throw "Abort or reset of barrier", and new
    /// arrivals wait until they have left. With nobody waiting, the barrier is filling again
    /// at once, also if it was broken.
    Coro<void> reset();
    /// Breaks the barrier: waiting tasks throw "Abort or reset of barrier", later wait()
    /// calls "Barrier aborted", until reset().
    Coro<void> abort();

    /// The number of tasks needed to trip the barrier.
    std::size_t parties() const noexcept;
    /// The number of tasks waiting in the round being filled (0 while draining, resetting or
    /// broken).
    std::size_t n_waiting() const noexcept;
    /// True once abort() broke the barrier (until reset()).
    bool broken() const noexcept;
    /// asyncio's repr: "<Barrier at 0x... [filling, waiters:2/5]>" (also "draining" and
    /// "resetting"), or "<Barrier at 0x... [broken]>".
    std::string describe() const;

  private:
    std::shared_ptr<detail::BarrierCore> core_;
};

}  // namespace simrun
