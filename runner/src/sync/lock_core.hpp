#pragma once
// The state of a Lock, shared with the coroutines that wait on it (so a lock destroyed under
// its waiters leaves them something to find), and the operations Condition uses on its lock.

#include <memory>
#include <string>

#include "simrun/core/coro.hpp"
#include "simrun/sync/detail/loop_binding.hpp"

#include "waiters.hpp"

namespace simrun::detail {

struct LockCore {
    explicit LockCore(const void* address) : address(address) {}

    /// "<Lock at 0x... [locked, waiters:1]>".
    std::string describe() const;
    /// Unlocks and wakes the head waiter; RuntimeError "Lock is not acquired." if unlocked.
    void release();
    /// Sets the head waiter's future if it is not done yet (asyncio's _wake_up_first).
    void wake_up_first();
    /// The lock goes away: waiters are cancelled, later operations find `destroyed`.
    void abandon() noexcept;

    WaiterList waiters;
    LoopBinding binding;
    const void* address;  // the Lock (or the Condition owning it), for describe()
    bool locked = false;
    bool destroyed = false;
};

/// Lock::acquire() on a core.
Coro<void> acquire_lock(std::shared_ptr<LockCore> core);

}  // namespace simrun::detail
