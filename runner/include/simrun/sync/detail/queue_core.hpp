#pragma once
// QueueCore: everything of an asyncio queue except its items (the waiting getters, putters and
// joiners, the count of unfinished tasks, shutdown, the loop binding). BasicQueue<T, Items>
// adds the items; the rules are those of CPython 3.13's asyncio/queues.py.

#include <cstddef>
#include <deque>
#include <memory>
#include <string>

#include "simrun/core/coro.hpp"
#include "simrun/core/future.hpp"
#include "simrun/sync/detail/loop_binding.hpp"

namespace simrun::detail {

class QueueCore {
  public:
    QueueCore(const QueueCore&) = delete;
    QueueCore& operator=(const QueueCore&) = delete;

    std::size_t maxsize() const noexcept { return maxsize_; }
    /// The number of stored items.
    virtual std::size_t qsize() const noexcept = 0;
    bool empty() const noexcept { return qsize() == 0; }
    bool full() const noexcept { return maxsize_ > 0 && qsize() >= maxsize_; }
    void task_done();
    Coro<void> join();
    void shutdown(bool immediate = false);
    bool is_shut_down() const noexcept { return shut_down_; }
    /// asyncio's repr: "<Queue at 0x... maxsize=0 _getters[1] tasks=2>".
    virtual std::string describe() const = 0;

  protected:
    /// `kind` names the class in reports and waiter labels ("Queue", "LifoQueue", ...).
    QueueCore(std::size_t maxsize, const char* kind) noexcept : maxsize_(maxsize), kind_(kind) {}
    /// Cancels the futures of every task still waiting on the queue (see BasicQueue).
    virtual ~QueueCore();

    /// Which waiters a blocking call joins.
    enum class Side { getters, putters, joiners };

    /// put_nowait()'s checks, in asyncio's order: QueueShutDown, then QueueFull.
    void check_can_put() const;
    /// get_nowait()'s check: QueueShutDown or QueueEmpty when there is no item.
    void check_can_get() const;
    /// After an item was stored: counts an unfinished task and wakes the next getter.
    void item_added();
    /// After an item was taken: wakes the next putter.
    void item_removed() { wake_next(putters_); }
    /// One turn of put()'s or get()'s loop: QueueShutDown if shut down; else waits until
    /// woken, with asyncio's clean-up when the wait fails (the wake-up passes to the next
    /// waiter). The caller re-checks full()/empty() afterwards: a wake-up is not a hand-off.
    Coro<void> wait_turn(Side side);
    /// "<Kind at 0x... maxsize=N[ items][ _getters[n]][ _putters[n]][ tasks=n][ shutdown]>".
    std::string describe_with(const void* self, const std::string& items) const;

  private:
    using Waiters = std::deque<Future<void>>;
    class WaitCleanup;

    /// Removes every stored item (shutdown(immediate=true)); returns how many.
    virtual std::size_t drop_items() noexcept = 0;

    Waiters& waiters_of(Side side) noexcept;
    Future<void> new_waiter(Side side);
    std::shared_ptr<const bool> alive_token();
    [[noreturn]] static void throw_destroyed(const char* kind);
    static void wake_next(Waiters& waiters);
    static void wake_all(Waiters& waiters);
    static void forget(Waiters& waiters, const Future<void>& waiter) noexcept;

    std::size_t maxsize_;
    const char* kind_;
    Waiters getters_;
    Waiters putters_;
    Waiters joiners_;  // asyncio's _finished Event: set exactly when no task is unfinished
    std::size_t unfinished_ = 0;
    bool shut_down_ = false;
    LoopBinding binding_;          // put() and get()
    LoopBinding joiner_binding_;   // join(): asyncio's internal Event binds on its own
    std::shared_ptr<bool> alive_;  // made at the first wait; false once the queue is destroyed
};

}  // namespace simrun::detail
