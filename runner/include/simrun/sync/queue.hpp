#pragma once
// Queue, LifoQueue, PriorityQueue: queues for producer and consumer tasks (asyncio.Queue,
// asyncio.LifoQueue, asyncio.PriorityQueue, with CPython 3.13's rules and shutdown()).
//
//     Queue<Job> jobs(10);                          // put() waits while 10 jobs are stored
//     co_await jobs.put(Job{...});                  // producer
//     Job job = co_await jobs.get();                // consumer
//     ...; jobs.task_done();                        // consumer, when the job is finished
//     co_await jobs.join();                         // waits until every job put was task_done()
//     jobs.shutdown();                              // puts fail; gets drain, then fail
//
// The three differ only in the order get() returns items; they share BasicQueue<T, Items>.
//
// Rules worth knowing (as in asyncio):
// - A wake-up is not a hand-off. put_nowait() wakes the first waiting getter, but until that task
//   runs, any get_nowait() (or a get() that does not need to wait) may take the item; the woken
//   getter then finds the queue empty and waits again, at the back of the line. The same holds
//   for putters and free slots.
// - A waiter woken and then cancelled before it runs passes its wake-up to the next waiter, so no
//   item and no slot is ever left unclaimed while tasks wait.
// - The queue belongs to the loop of the first put() or get() that had to wait; a later wait from
//   another loop throws RuntimeError "<Queue at 0x... maxsize=0> is bound to a different event
//   loop". Operations that do not wait neither bind nor check. join() binds on its own.
// - Not thread-safe: use it from the tasks and callbacks of one loop. Another thread hands items
//   over with loop.call_soon_threadsafe([&queue, item] { queue.put_nowait(item); }).
// - Destroying a queue while tasks wait in its put(), get() or join() is safe: those calls throw
//   CancelledError "Queue was destroyed while a task waited on it" ("LifoQueue was ...") when
//   the tasks next run. A task woken by the queue just before it was destroyed gets the same
//   error from put() and get() (the queue it would look at is gone); a join() already released
//   returns normally.

#include <cstddef>
#include <functional>
#include <string>
#include <utility>

#include "simrun/core/coro.hpp"
#include "simrun/core/exceptions.hpp"
#include "simrun/sync/detail/queue_core.hpp"
#include "simrun/sync/detail/queue_items.hpp"

namespace simrun {

/// A bounded or unbounded queue of T whose get order is given by `Items` (see
/// sync/detail/queue_items.hpp for what a storage type provides). Use Queue, LifoQueue or
/// PriorityQueue. T may be move-only. Not copyable or movable: waiting tasks refer to it.
template <class T, class Items>
class BasicQueue : private detail::QueueCore {
  public:
    using value_type = T;

    /// A queue holding at most `maxsize` items; 0 means no limit.
    explicit BasicQueue(std::size_t maxsize = 0, Items items = Items())
        : QueueCore(maxsize, Items::kind), items_(std::move(items)) {}
    /// Cancels the waits of tasks still waiting on the queue (see the file comment).
    ~BasicQueue() override = default;

    /// The limit given at construction (0: unbounded).
    using QueueCore::maxsize;
    /// The number of stored items.
    std::size_t qsize() const noexcept override { return items_.size(); }
    /// True if no item is stored.
    using QueueCore::empty;
    /// True if maxsize() > 0 and qsize() >= maxsize(); never for an unbounded queue.
    using QueueCore::full;

    /// Stores `item`, first waiting while the queue is full (in line with the other waiting
    /// putters). Throws QueueShutDown once shutdown() was called, also when it is called while
    /// this put() waits; CancelledError if the task is cancelled while waiting (the item is not
    /// stored); RuntimeError if the queue is bound to another loop (only when it must wait).
    Coro<void> put(T item) {
        while (full())
            co_await wait_turn(Side::putters);
        put_nowait(std::move(item));
    }
    /// Stores `item` without waiting and wakes the first waiting getter. Throws QueueShutDown
    /// after shutdown(), QueueFull if the queue is full.
    void put_nowait(T item) {
        check_can_put();
        items_.push(std::move(item));
        item_added();
    }
    /// Takes the next item, first waiting while the queue is empty (in line with the other
    /// waiting getters). After a shutdown() it still returns the items left, then throws
    /// QueueShutDown (at once after shutdown(true)). Throws CancelledError if the task is
    /// cancelled while waiting (no item is taken); RuntimeError if the queue is bound to another
    /// loop (only when it must wait).
    Coro<T> get() {
        while (empty())
            co_await wait_turn(Side::getters);
        co_return get_nowait();
    }
    /// Takes the next item without waiting and wakes the first waiting putter. Throws
    /// QueueEmpty if there is none, QueueShutDown instead once shutdown() was called.
    T get_nowait() {
        check_can_get();
        T item = items_.pop();
        item_removed();
        return item;
    }

    /// Tells the queue that the work on an item taken earlier is finished. Every successful put
    /// counts one unfinished task; when task_done() brings the count to 0, join() returns.
    /// Throws ValueError "task_done() called too many times" when the count is 0.
    using QueueCore::task_done;
    /// Returns once every item put has been marked task_done() (at once if none is unfinished).
    /// A plain shutdown() does not release it; shutdown(true) counts the items it drops as
    /// done. Throws CancelledError if cancelled, RuntimeError if the join is bound to another
    /// loop (join() binds to a loop separately from put() and get()).
    using QueueCore::join;

    /// Shuts the queue down for good (calling it again is allowed): later puts throw
    /// QueueShutDown, gets return what is left and then throw QueueShutDown. With `immediate`
    /// the stored items are dropped at once (each counted as task_done(), which may release
    /// join()) and gets throw at once. Every waiting putter and getter is woken to see this.
    using QueueCore::shutdown;
    /// True once shutdown() was called.
    using QueueCore::is_shut_down;

    /// asyncio's repr: "<Queue at 0x55d0c0ffee00 maxsize=0 _queue=[1, 2] _getters[1]
    /// _putters[1] tasks=2 shutdown>" (each part after maxsize only when not empty/zero/false).
    /// Items are shown with their operator<< (strings quoted, as in Python); items without one
    /// are only counted: "_queue[2]".
    std::string describe() const override {
        return describe_with(this, detail::describe_items(items_));
    }

  private:
    std::size_t drop_items() noexcept override { return items_.drop_all(); }

    Items items_;
};

/// First in, first out (asyncio.Queue).
template <class T>
class Queue : public BasicQueue<T, detail::FifoItems<T>> {
  public:
    /// A queue holding at most `maxsize` items; 0 means no limit.
    explicit Queue(std::size_t maxsize = 0) : BasicQueue<T, detail::FifoItems<T>>(maxsize) {}
};

/// Last in, first out (asyncio.LifoQueue).
template <class T>
class LifoQueue : public BasicQueue<T, detail::LifoItems<T>> {
  public:
    /// A queue holding at most `maxsize` items; 0 means no limit.
    explicit LifoQueue(std::size_t maxsize = 0) : BasicQueue<T, detail::LifoItems<T>>(maxsize) {}
};

/// Smallest item first, by `Compare` (asyncio.PriorityQueue, whose heap order it reproduces
/// exactly: items that compare equal come out in the same order as in asyncio). Use pairs such
/// as (priority, value), or a Compare that looks only at the priority. If Compare throws, put()
/// and put_nowait() throw it; as in asyncio the item then stays stored, uncounted by join().
template <class T, class Compare = std::less<T>>
class PriorityQueue : public BasicQueue<T, detail::PriorityItems<T, Compare>> {
  public:
    /// A queue holding at most `maxsize` items; 0 means no limit.
    explicit PriorityQueue(std::size_t maxsize = 0, Compare compare = Compare())
        : BasicQueue<T, detail::PriorityItems<T, Compare>>(
              maxsize, detail::PriorityItems<T, Compare>(std::move(compare))) {}
};

}  // namespace simrun
