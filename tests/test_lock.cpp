// Lock and LockGuard: the ports of CPython's LockTests (test_locks.py, 3.13) on both loops, then
// guards, loop binding, destruction with waiters and the 3.13 surprises.
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "locks_support.hpp"

using namespace simrun;
using namespace std::chrono_literals;
using locks_test::awaitable;
using locks_test::ended;
using locks_test::ends_with;
using locks_test::matches_repr;
using locks_test::outcome;
using locks_test::run_body;
using locks_test::str;
using test_support::contains;
using test_support::TestLoop;

namespace {

Coro<bool> acquire_and_record(Lock* lock, std::vector<int>* result, int tag) {
    co_await lock->acquire();
    result->push_back(tag);
    co_return true;
}

/// CPython's lockit(): acquire, await the blocker if any, release in a `finally`.
Coro<void> lockit(Lock* lock, Future<void> blocker) {
    co_await lock->acquire();
    std::exception_ptr error;
    try {
        if (blocker)
            co_await blocker;
    } catch (...) {
        error = std::current_exception();
    }
    lock->release();
    if (error)
        std::rethrow_exception(error);
}

Coro<void> count_acquires(Lock* lock, int* call_count, int* lock_count) {
    ++*call_count;
    co_await lock->acquire();
    ++*lock_count;
}

/// Takes the lock, records `name`, releases it.
Coro<void> take_turn(Lock* lock, std::vector<std::string>* order, std::string name) {
    co_await lock->acquire();
    order->push_back(name);
    lock->release();
}

Coro<void> hold_and_throw(Lock* lock) {
    LockGuard guard = co_await lock->hold();
    CHECK(lock->locked());
    throw ValueError("boom");
}

Coro<void> hold_and_sleep(Lock* lock, bool* entered) {
    LockGuard guard = co_await lock->hold();
    *entered = true;
    co_await sleep(1h);
}

}  // namespace

TEST_SUITE_BEGIN("loop-free");

TEST_CASE("Lock: test_lock") {
    // `await lock` is a TypeError in Python; in C++ it does not compile.
    static_assert(!awaitable<Lock>);
    Lock lock;
    CHECK_FALSE(lock.locked());
}

TEST_CASE("Lock: test_lock_doesnt_accept_loop_parameter") {
    // Python: TypeError "... got an unexpected keyword argument 'loop'"; here no constructor
    // takes a loop.
    static_assert(!std::is_constructible_v<Lock, EventLoop&>);
    static_assert(!std::is_constructible_v<Condition, EventLoop&>);
    static_assert(!std::is_constructible_v<Condition, Lock&, EventLoop&>);
    static_assert(!std::is_constructible_v<Event, EventLoop&>);
    static_assert(!std::is_constructible_v<Semaphore, EventLoop&>);
    static_assert(!std::is_constructible_v<Semaphore, std::int64_t, EventLoop&>);
    static_assert(!std::is_constructible_v<BoundedSemaphore, EventLoop&>);
    static_assert(!std::is_constructible_v<Barrier, std::size_t, EventLoop&>);
}

TEST_CASE("Lock: test_lock_by_with_statement") {
    // `with await lock:` is a TypeError in Python: none of them is awaitable here.
    static_assert(!awaitable<Lock> && !awaitable<Condition> && !awaitable<Semaphore> &&
                  !awaitable<BoundedSemaphore> && !awaitable<Barrier> && !awaitable<Event>);
    Lock lock;
    Condition condition;
    Semaphore semaphore;
    BoundedSemaphore bounded;
    CHECK_FALSE(lock.locked());
    CHECK_FALSE(condition.locked());
    CHECK_FALSE(semaphore.locked());
    CHECK_FALSE(bounded.locked());
}

TEST_CASE("Lock: test_release_not_acquired") {
    Lock lock;
    CHECK_THROWS_WITH_AS(lock.release(), "Lock is not acquired.", RuntimeError);
}

TEST_CASE("Lock: not copyable or movable; a guard is move-only") {
    static_assert(!std::is_copy_constructible_v<Lock> && !std::is_move_constructible_v<Lock>);
    static_assert(!std::is_copy_constructible_v<LockGuard>);
    static_assert(std::is_nothrow_move_constructible_v<LockGuard>);
    static_assert(std::is_nothrow_move_assignable_v<LockGuard>);
    LockGuard empty;
    CHECK_FALSE(empty.owns_lock());
    CHECK_THROWS_WITH_AS(empty.release(), "LockGuard holds no lock", RuntimeError);
}

TEST_SUITE_END();

LOOP_TEST_CASE("Lock: test_repr") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Lock lock;
        CHECK(ends_with(lock.describe(), "[unlocked]>"));
        CHECK(matches_repr(lock.describe()));
        co_await lock.acquire();
        CHECK(ends_with(lock.describe(), "[locked]>"));
        CHECK(matches_repr(lock.describe()));
        // Not in CPython's test: the waiter count.
        Task<void> waiter = create_task(lock.acquire());
        co_await yield_now();
        CHECK(ends_with(lock.describe(), "[locked, waiters:1]>"));
        CHECK(matches_repr(lock.describe()));
        lock.release();
        co_await waiter;
        CHECK(ends_with(lock.describe(), "[locked]>"));
    }());
}

LOOP_TEST_CASE("Lock: test_acquire") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Lock lock;
        std::vector<int> result;
        co_await lock.acquire();
        Task<bool> t1 = create_task(acquire_and_record(&lock, &result, 1));
        Task<bool> t2 = create_task(acquire_and_record(&lock, &result, 2));
        co_await yield_now();
        CHECK(str(result) == "[]");
        lock.release();
        co_await yield_now();
        CHECK(str(result) == "[1]");
        co_await yield_now();
        CHECK(str(result) == "[1]");
        Task<bool> t3 = create_task(acquire_and_record(&lock, &result, 3));
        lock.release();
        co_await yield_now();
        CHECK(str(result) == "[1, 2]");
        lock.release();
        co_await yield_now();
        CHECK(str(result) == "[1, 2, 3]");
        CHECK((t1.done() && t1.result()));
        CHECK((t2.done() && t2.result()));
        CHECK((t3.done() && t3.result()));
    }());
}

LOOP_TEST_CASE("Lock: test_acquire_cancel") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Lock lock;
        co_await lock.acquire();
        Task<void> task = create_task(lock.acquire());
        get_running_loop().call_soon([task]() mutable { task.cancel(); });
        CHECK(co_await outcome(task) == "CancelledError");
        CHECK(ends_with(lock.describe(), "[locked]>"));  // no waiters left
    }());
}

LOOP_TEST_CASE("Lock: test_cancel_race") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        // A holds the lock, B and C wait; B is cancelled while A releases.
        Lock lock;
        Future<void> fa = get_running_loop().create_future<void>();
        Task<void> ta = create_task(lockit(&lock, fa));
        co_await yield_now();
        CHECK(lock.locked());
        Task<void> tb = create_task(lockit(&lock, {}));
        co_await yield_now();
        CHECK(contains(lock.describe(), "waiters:1"));
        Task<void> tc = create_task(lockit(&lock, {}));
        co_await yield_now();
        CHECK(contains(lock.describe(), "waiters:2"));

        fa.set_result();
        tb.cancel();
        co_await yield_now();
        CHECK_FALSE(lock.locked());
        CHECK(ta.done());
        CHECK(tb.cancelled());
        co_await tc;
    }());
}

LOOP_TEST_CASE("Lock: test_cancel_release_race") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        // Issue 32734: acquire, three waiters, cancel the first and release at once: exactly
        // one of them takes the lock.
        Lock lock;
        int lock_count = 0;
        int call_count = 0;
        co_await lock.acquire();
        Task<void> t1 = create_task(count_acquires(&lock, &call_count, &lock_count));
        Task<void> t2 = create_task(count_acquires(&lock, &call_count, &lock_count));
        Task<void> t3 = create_task(count_acquires(&lock, &call_count, &lock_count));
        co_await yield_now();
        get_running_loop().call_soon([t1, &lock]() mutable {
            t1.cancel();
            lock.release();
        });
        CHECK(co_await outcome(t1) == "CancelledError");
        CHECK(lock_count == 1);
        CHECK(call_count == 3);
        CHECK((t1.cancelled() && t2.done()));
        t3.cancel();
        co_await yield_now();
        CHECK(t3.cancelled());
    }());
}

LOOP_TEST_CASE("Lock: test_finished_waiter_cancelled") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Lock lock;
        co_await lock.acquire();
        CHECK(lock.locked());
        Task<void> tb = create_task(lock.acquire());
        co_await yield_now();
        CHECK(contains(lock.describe(), "waiters:1"));
        // A second waiter; wake the first and cancel it: the second must still be woken.
        Task<void> tc = create_task(lock.acquire());
        tb.cancel();
        lock.release();
        co_await yield_now();
        CHECK(lock.locked());
        CHECK(tb.cancelled());
        co_await tc;
    }());
}

LOOP_TEST_CASE("Lock: test_release_no_waiters") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Lock lock;
        co_await lock.acquire();
        CHECK(lock.locked());
        lock.release();
        CHECK_FALSE(lock.locked());
    }());
}

LOOP_TEST_CASE("Lock: test_context_manager") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Lock lock;
        CHECK_FALSE(lock.locked());
        {
            LockGuard guard = co_await lock.hold();
            CHECK(lock.locked());
            CHECK(guard.owns_lock());
        }
        CHECK_FALSE(lock.locked());
    }());
}

// ---- beyond CPython's tests -----------------------------------------------------------------

LOOP_TEST_CASE("Lock: no barging: a woken waiter that is cancelled passes its turn on (L3)") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Lock lock;
        std::vector<std::string> order;
        co_await lock.acquire();
        Task<void> a = create_task(take_turn(&lock, &order, "A"));
        Task<void> b = create_task(take_turn(&lock, &order, "B"));
        co_await yield_now();
        lock.release();  // wakes A
        a.cancel();      // A was woken, then cancelled before it ran
        Task<void> c = create_task(take_turn(&lock, &order, "C"));
        std::vector<Task<void>> rest{b, c};
        co_await gather(rest);
        CHECK(a.cancelled());
        CHECK(test_support::joined(order) == "B | C");
        CHECK_FALSE(lock.locked());
    }());
}

LOOP_TEST_CASE(
    "Lock: 3.13: locked() is false while a woken waiter is pending, yet acquire queues") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Lock lock;
        std::vector<std::string> order;
        co_await lock.acquire();
        Task<void> a = create_task(take_turn(&lock, &order, "A"));
        co_await yield_now();
        lock.release();  // A is woken but has not run
        CHECK_FALSE(lock.locked());
        co_await lock.acquire();  // not the fast path: queues behind A
        order.push_back("main");
        lock.release();
        co_await a;
        CHECK(test_support::joined(order) == "A | main");
    }());
}

LOOP_TEST_CASE("Lock: with only cancelled waiters listed, acquire takes the lock at once (L7)") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Lock lock;
        co_await lock.acquire();
        Task<void> b = create_task(lock.acquire());
        co_await yield_now();
        b.cancel();  // B's future is cancelled; B has not run yet
        lock.release();
        co_await lock.acquire();  // fast path: no suspension, so B still has not run
        CHECK_FALSE(b.done());
        CHECK(lock.locked());
        CHECK(co_await outcome(b) == "CancelledError");
        CHECK(ends_with(lock.describe(), "[locked]>"));
    }());
}

LOOP_TEST_CASE("Lock: a guard releases on exception, on cancellation, early, and when moved") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Lock lock;
        // Exception.
        Task<void> thrower = create_task(hold_and_throw(&lock));
        CHECK(co_await outcome(thrower) == "ValueError: boom");
        CHECK_FALSE(lock.locked());
        // Cancellation while holding it across a co_await.
        bool entered = false;
        Task<void> sleeper = create_task(hold_and_sleep(&lock, &entered));
        co_await yield_now();
        CHECK((entered && lock.locked()));
        sleeper.cancel();
        CHECK(co_await outcome(sleeper) == "CancelledError");
        CHECK_FALSE(lock.locked());
        // Early release.
        LockGuard guard = co_await lock.hold();
        guard.release();
        CHECK_FALSE(guard.owns_lock());
        CHECK_FALSE(lock.locked());
        CHECK_THROWS_WITH_AS(guard.release(), "LockGuard holds no lock", RuntimeError);
        // Moved: the new owner releases, the moved-from guard holds nothing.
        {
            LockGuard first = co_await lock.hold();
            LockGuard second = std::move(first);
            CHECK_FALSE(first.owns_lock());  // NOLINT(bugprone-use-after-move)
            CHECK(second.owns_lock());
            CHECK(lock.locked());
            LockGuard third;
            third = std::move(second);
            CHECK(lock.locked());
        }
        CHECK_FALSE(lock.locked());
        // Move-assigning over a guard that holds releases what it held.
        LockGuard holder = co_await lock.hold();
        holder = LockGuard();
        CHECK_FALSE(lock.locked());
    }());
}

LOOP_TEST_CASE("Lock: a guard whose lock was released behind its back reports, never throws") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Lock lock;
        {
            LockGuard guard = co_await lock.hold();
            lock.release();
        }
        CHECK_FALSE(lock.locked());
    }());
    REQUIRE(s.errors.contexts.size() == 1);
    CHECK(s.errors.contexts[0].message == "LockGuard could not release its lock");
    CHECK(describe_exception(s.errors.contexts[0].exception) ==
          "RuntimeError: Lock is not acquired.");
}

LOOP_TEST_CASE("Lock: bound to the loop of its first wait; waiting on another loop throws") {
    Lock lock;
    {
        TestLoop<LoopKind> first;
        run_body(first, [](Lock* lock) -> Coro<void> {
            co_await lock->acquire();
            Task<void> waiter = create_task(lock->acquire());  // waits: binds to this loop
            co_await yield_now();
            lock->release();
            co_await waiter;
            lock->release();
        }(&lock));
    }
    TestLoop<LoopKind> second;
    run_body(second, [](Lock* lock) -> Coro<void> {
        co_await lock->acquire();  // uncontended: never checks the loop (B3)
        CHECK(lock->locked());
        const std::string text = lock->describe();
        Task<void> waiter = create_task(lock->acquire());
        CHECK(co_await outcome(waiter) ==
              "RuntimeError: " + text + " is bound to a different event loop");
        CHECK(ends_with(lock->describe(), "[locked]>"));  // the failed acquire left nothing
        lock->release();
    }(&lock));
}

LOOP_TEST_CASE("Lock: destroyed while tasks wait: they get CancelledError, guards do nothing") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        auto lock = std::make_unique<Lock>();
        bool entered = false;
        Task<void> holder = create_task(hold_and_sleep(lock.get(), &entered));
        Task<void> woken = create_task(lock->acquire());
        Task<void> queued = create_task(lock->acquire());
        co_await yield_now();
        CHECK(contains(lock->describe(), "waiters:2"));
        lock->release();  // no owner: wakes `woken`, which has not run yet
        lock.reset();
        const std::string message = "CancelledError: Lock was destroyed while a task waited on it";
        CHECK(co_await outcome(woken) == message);
        CHECK(co_await outcome(queued) == message);
        holder.cancel();  // its guard outlives the lock and releases nothing
        CHECK(co_await outcome(holder) == "CancelledError");
    }());
    CHECK(s.errors.contexts.empty());
}

LOOP_TEST_CASE("Lock: a waiter whose frame is destroyed by a closing loop leaves the line") {
    Lock lock;
    {
        TestLoop<LoopKind> s;
        run_body(s, [](Lock* lock) -> Coro<void> {
            co_await lock->acquire();
            create_task(lock->acquire());
            co_await yield_now();
            CHECK(contains(lock->describe(), "waiters:1"));
        }(&lock));
        s.loop.close();  // destroys the pending waiter's frame
        CHECK(s.errors.count("Task was destroyed but it is pending!") == 1);
    }
    CHECK(ends_with(lock.describe(), "[locked]>"));
    lock.release();
}

TEST_CASE("Lock: a deadlock report names the waiter Lock.acquire" *
          doctest::test_suite("sim-only")) {
    test_support::Sim s;
    Lock lock;
    const auto error = test_support::thrown<sim::DeadlockError>([&] {
        s.loop.run_until_complete([](Lock* lock) -> Coro<void> {
            co_await lock->acquire();
            co_await lock->acquire();  // not re-entrant: waits for itself forever
        }(&lock));
    });
    REQUIRE(error.has_value());
    CHECK(contains(error->what(), "Lock.acquire"));
}
