// Condition: the ports of CPython's ConditionTests (test_locks.py, 3.13) on both loops, then
// guards, loop binding, destruction with waiters and the 3.13 spurious wake-up.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "locks_support.hpp"

using namespace simrun;
using namespace std::chrono_literals;
using locks_test::ended;
using locks_test::ends_with;
using locks_test::matches_repr;
using locks_test::outcome;
using locks_test::run_body;
using locks_test::str;
using test_support::contains;
using test_support::TestLoop;

namespace {

/// CPython's c1/c2/c3 of test_wait: acquire, wait, record; keeps the lock.
Coro<bool> wait_and_record(Condition* cond, std::vector<int>* result, int tag) {
    co_await cond->acquire();
    co_await cond->wait();
    result->push_back(tag);
    co_return true;
}

/// The c1/c2/c3 of test_notify: as above, then releases.
Coro<bool> wait_record_release(Condition* cond, std::vector<int>* result, int tag) {
    co_await cond->acquire();
    co_await cond->wait();
    result->push_back(tag);
    cond->release();
    co_return true;
}

Coro<bool> wait_for_presult(Condition* cond, std::vector<int>* result, const bool* presult) {
    co_await cond->acquire();
    if (co_await cond->wait_for([presult] { return *presult; })) {
        result->push_back(1);
        cond->release();
    }
    co_return true;
}

Coro<void> wait_on_cond(Condition* cond, bool* waited) {
    LockGuard guard = co_await cond->hold();
    *waited = true;
    co_await cond->wait();
}

/// test_cancelled_error_*'s func(): wait_for(wake) inside `async with cond`, catch the
/// CancelledError, remember it and raise it again.
Coro<void> wait_for_wake(Condition* cond, const bool* wake, std::string* raised) {
    LockGuard guard = co_await cond->hold();
    std::exception_ptr error;
    try {
        co_await cond->wait_for([wake] { return *wake; });
    } catch (const CancelledError&) {
        error = std::current_exception();
    }
    REQUIRE(error);
    *raised = describe_exception(error);
    CHECK(cond->locked());  // wait() re-acquired the lock before throwing
    std::rethrow_exception(error);
}

/// test_cancelled_wakeup's consumer(): takes items while state > 0, ends when state < 0.
Coro<void> consumer(Condition* cond, int* state) {
    LockGuard guard = co_await cond->hold();
    for (;;) {
        co_await cond->wait_for([state] { return *state != 0; });
        if (*state < 0)
            co_return;
        --*state;
    }
}

Coro<void> record_wake(Condition* cond, std::vector<std::string>* woke, std::string name) {
    LockGuard guard = co_await cond->hold();
    try {
        co_await cond->wait();
    } catch (const CancelledError&) {
        woke->push_back(name + " cancelled");
        throw;
    }
    woke->push_back(name);
}

}  // namespace

TEST_SUITE_BEGIN("loop-free");

TEST_CASE("Condition: test_notify_unacquired") {
    Condition cond;
    CHECK_THROWS_WITH_AS(cond.notify(), "cannot notify on un-acquired lock", RuntimeError);
}

TEST_CASE("Condition: test_notify_all_unacquired") {
    Condition cond;
    CHECK_THROWS_WITH_AS(cond.notify_all(), "cannot notify on un-acquired lock", RuntimeError);
}

TEST_SUITE_END();

LOOP_TEST_CASE("Condition: test_wait") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Condition cond;
        std::vector<int> result;
        Task<bool> t1 = create_task(wait_and_record(&cond, &result, 1));
        Task<bool> t2 = create_task(wait_and_record(&cond, &result, 2));
        Task<bool> t3 = create_task(wait_and_record(&cond, &result, 3));
        co_await yield_now();
        CHECK(str(result) == "[]");
        CHECK_FALSE(cond.locked());

        co_await cond.acquire();
        cond.notify();
        co_await yield_now();
        CHECK(str(result) == "[]");
        CHECK(cond.locked());

        cond.release();
        co_await yield_now();
        CHECK(str(result) == "[1]");
        CHECK(cond.locked());

        cond.notify(2);
        co_await yield_now();
        CHECK(str(result) == "[1]");
        CHECK(cond.locked());

        cond.release();
        co_await yield_now();
        CHECK(str(result) == "[1, 2]");
        CHECK(cond.locked());

        cond.release();
        co_await yield_now();
        CHECK(str(result) == "[1, 2, 3]");
        CHECK(cond.locked());
        CHECK((t1.done() && t1.result()));
        CHECK((t2.done() && t2.result()));
        CHECK((t3.done() && t3.result()));
    }());
}

LOOP_TEST_CASE("Condition: test_wait_cancel") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Condition cond;
        co_await cond.acquire();
        Task<void> wait = create_task(cond.wait());
        get_running_loop().call_soon([wait]() mutable { wait.cancel(); });
        CHECK(co_await outcome(wait) == "CancelledError");
        CHECK(ends_with(cond.describe(), "[locked]>"));  // no waiters left
        CHECK(cond.locked());
    }());
}

LOOP_TEST_CASE("Condition: test_wait_cancel_contested") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Condition cond;
        co_await cond.acquire();
        CHECK(cond.locked());
        Task<void> wait_task = create_task(cond.wait());
        co_await yield_now();
        CHECK_FALSE(cond.locked());
        // Notify, but contest the lock before cancelling.
        co_await cond.acquire();
        CHECK(cond.locked());
        cond.notify();
        get_running_loop().call_soon([wait_task]() mutable { wait_task.cancel(); });
        get_running_loop().call_soon([&cond] { cond.release(); });
        // Either outcome is allowed ("should not happen, since no cancellation points"); what
        // matters is that the waiter holds the lock again.
        const std::string how = co_await outcome(wait_task);
        CHECK((how == "ok" || how == "CancelledError"));
        CHECK(cond.locked());
    }());
}

LOOP_TEST_CASE("Condition: test_wait_cancel_after_notify") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        // bpo-32841
        bool waited = false;
        Condition cond;
        Task<void> waiter = create_task(wait_on_cond(&cond, &waited));
        co_await yield_now();  // start waiting
        co_await cond.acquire();
        cond.notify();
        co_await yield_now();  // get to acquire()
        waiter.cancel();
        co_await yield_now();  // activate cancellation
        cond.release();
        co_await yield_now();  // cancellation should occur
        CHECK(waiter.cancelled());
        CHECK(waited);
    }());
}

LOOP_TEST_CASE("Condition: test_wait_unacquired") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Condition cond;
        Task<void> wait = create_task(cond.wait());
        CHECK(co_await outcome(wait) == "RuntimeError: cannot wait on un-acquired lock");
    }());
}

LOOP_TEST_CASE("Condition: test_wait_for") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Condition cond;
        bool presult = false;
        std::vector<int> result;
        Task<bool> t = create_task(wait_for_presult(&cond, &result, &presult));
        co_await yield_now();
        CHECK(str(result) == "[]");

        co_await cond.acquire();
        cond.notify();
        cond.release();
        co_await yield_now();
        CHECK(str(result) == "[]");

        presult = true;
        co_await cond.acquire();
        cond.notify();
        cond.release();
        co_await yield_now();
        CHECK(str(result) == "[1]");
        CHECK((t.done() && t.result()));
    }());
}

LOOP_TEST_CASE("Condition: test_wait_for_unacquired") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Condition cond;
        // The predicate can be true at once: no lock needed, its (truthy) value is returned.
        std::optional<std::vector<int>> res = co_await cond.wait_for([] {
            return std::optional<std::vector<int>>({1, 2, 3});
        });
        REQUIRE(res.has_value());
        CHECK(str(*res) == "[1, 2, 3]");
        Task<bool> never = create_task(cond.wait_for([] { return false; }));
        CHECK(co_await outcome(never) == "RuntimeError: cannot wait on un-acquired lock");
    }());
}

LOOP_TEST_CASE("Condition: test_notify") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Condition cond;
        std::vector<int> result;
        Task<bool> t1 = create_task(wait_record_release(&cond, &result, 1));
        Task<bool> t2 = create_task(wait_record_release(&cond, &result, 2));
        Task<bool> t3 = create_task(wait_record_release(&cond, &result, 3));
        co_await yield_now();
        CHECK(str(result) == "[]");

        co_await cond.acquire();
        cond.notify(1);
        cond.release();
        co_await yield_now();
        CHECK(str(result) == "[1]");

        co_await cond.acquire();
        cond.notify(1);
        cond.notify(2048);
        cond.release();
        co_await yield_now();
        CHECK(str(result) == "[1, 2, 3]");
        CHECK((t1.done() && t1.result()));
        CHECK((t2.done() && t2.result()));
        CHECK((t3.done() && t3.result()));
    }());
}

LOOP_TEST_CASE("Condition: test_notify_all") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Condition cond;
        std::vector<int> result;
        Task<bool> t1 = create_task(wait_record_release(&cond, &result, 1));
        Task<bool> t2 = create_task(wait_record_release(&cond, &result, 2));
        co_await yield_now();
        CHECK(str(result) == "[]");
        co_await cond.acquire();
        cond.notify_all();
        cond.release();
        co_await yield_now();
        CHECK(str(result) == "[1, 2]");
        CHECK((t1.done() && t1.result()));
        CHECK((t2.done() && t2.result()));
    }());
}

LOOP_TEST_CASE("Condition: test_repr") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Condition cond;
        CHECK(contains(cond.describe(), "[unlocked]"));
        CHECK(matches_repr(cond.describe()));
        co_await cond.acquire();
        CHECK(contains(cond.describe(), "[locked]"));
        cond.release();
        // CPython appends mock waiters; here two tasks really wait.
        auto waiter = [](Condition* cond) -> Coro<void> {
            LockGuard guard = co_await cond->hold();
            co_await cond->wait();
        };
        Task<void> w1 = create_task(waiter(&cond));
        co_await yield_now();
        co_await cond.acquire();
        CHECK(contains(cond.describe(), "[locked, waiters:1]"));
        CHECK(matches_repr(cond.describe()));
        cond.release();
        Task<void> w2 = create_task(waiter(&cond));
        co_await yield_now();
        co_await cond.acquire();
        CHECK(contains(cond.describe(), "[locked, waiters:2]"));
        CHECK(matches_repr(cond.describe()));
        cond.notify_all();
        cond.release();
        co_await w1;
        co_await w2;
    }());
}

LOOP_TEST_CASE("Condition: test_context_manager") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Condition cond;
        CHECK_FALSE(cond.locked());
        {
            LockGuard guard = co_await cond.hold();
            CHECK(cond.locked());
        }
        CHECK_FALSE(cond.locked());
    }());
}

namespace {
Coro<void> explicit_lock_checks(Lock* lock, Condition* cond) {
    CHECK_FALSE(lock->locked());
    CHECK_FALSE(cond->locked());
    {
        LockGuard guard = co_await cond->hold();
        CHECK(lock->locked());
        CHECK(cond->locked());
    }
    CHECK_FALSE(lock->locked());
    CHECK_FALSE(cond->locked());
    {
        LockGuard guard = co_await lock->hold();
        CHECK(lock->locked());
        CHECK(cond->locked());
    }
    CHECK_FALSE(lock->locked());
    CHECK_FALSE(cond->locked());
}
}  // namespace

LOOP_TEST_CASE("Condition: test_explicit_lock") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        // CPython runs f() with a new lock, a given lock, and a given lock and condition: in
        // C++ all three are a Lock and a Condition made on it.
        Lock lock;
        Condition cond(lock);
        co_await explicit_lock_checks(&lock, &cond);
    }());
}

LOOP_TEST_CASE("Condition: test_ambiguous_loops") {
    // CPython sets the private _loop; here the lock and the condition are bound by waiting on
    // a first loop, then used on a second one.
    Lock lock;
    Condition bound_cond(lock);
    {
        TestLoop<LoopKind> first;
        run_body(first, [](Lock* lock, Condition* cond) -> Coro<void> {
            co_await lock->acquire();
            Task<void> waiter = create_task(lock->acquire());  // binds the lock
            co_await yield_now();
            lock->release();
            co_await waiter;
            Task<void> cond_waiter = create_task(cond->wait());  // binds the condition
            co_await yield_now();
            co_await lock->acquire();
            cond->notify();
            lock->release();
            co_await cond_waiter;
            lock->release();
        }(&lock, &bound_cond));
    }
    TestLoop<LoopKind> second;
    run_body(second, [](Lock* lock, Condition* bound_cond) -> Coro<void> {
        {
            // wrong_loop_in_lock: acquired at once, no loop involved; cond.acquire() must wait
            // on the lock and finds the mismatch.
            LockGuard guard = co_await lock->hold();
            Condition cond(*lock);
            const std::string text = lock->describe();
            Task<void> acquire = create_task(cond.acquire());
            CHECK(co_await outcome(acquire) ==
                  "RuntimeError: " + text + " is bound to a different event loop");
        }
        {
            // wrong_loop_in_cond: the condition is bound to the first loop.
            LockGuard guard = co_await lock->hold();
            const std::string text = bound_cond->describe();
            Task<void> wait = create_task(bound_cond->wait());
            CHECK(co_await outcome(wait) ==
                  "RuntimeError: " + text + " is bound to a different event loop");
            CHECK(lock->locked());  // the check comes before the release
        }
    }(&lock, &bound_cond));
}

LOOP_TEST_CASE("Condition: test_timeout_in_block") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Condition condition;
        LockGuard guard = co_await condition.hold();
        bool timed_out = false;
        try {
            co_await wait_for(condition.wait(), 5ms);
        } catch (const TimeoutError&) {
            timed_out = true;
        }
        CHECK(timed_out);
        CHECK(condition.locked());
    }());
}

LOOP_TEST_CASE("Condition: test_cancelled_error_wakeup") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        // A CancelledError received while awaiting the wake-up comes out as it went in.
        bool wake = false;
        std::string raised;
        Condition cond;
        Task<void> task = create_task(wait_for_wake(&cond, &wake, &raised));
        co_await yield_now();
        task.cancel("foo");  // the task waits on the condition: cancel it there
        CHECK(co_await outcome(task) == "CancelledError: foo");
        CHECK(raised == "CancelledError: foo");
    }());
}

LOOP_TEST_CASE("Condition: test_cancelled_error_re_aquire") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        // A CancelledError received while re-acquiring the lock comes out as it went in.
        bool wake = false;
        std::string raised;
        Condition cond;
        Task<void> task = create_task(wait_for_wake(&cond, &wake, &raised));
        co_await yield_now();
        co_await cond.acquire();
        wake = true;
        cond.notify();
        co_await yield_now();
        task.cancel("foo");  // the task is re-acquiring the lock: cancel it there
        cond.release();
        CHECK(co_await outcome(task) == "CancelledError: foo");
        CHECK(raised == "CancelledError: foo");
    }());
}

LOOP_TEST_CASE("Condition: test_cancelled_wakeup") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        // A consumer cancelled while its wake-up is pending must not lose the notification.
        Condition condition;
        int state = 0;
        std::vector<Task<void>> c{create_task(consumer(&condition, &state)),
                                  create_task(consumer(&condition, &state))};
        co_await yield_now();  // let them settle
        {
            LockGuard guard = co_await condition.hold();
            ++state;  // produce one item and wake one consumer
            condition.notify(1);
            c[0].cancel();  // cancel it while it waits to run
            try {
                co_await timeout(10ms, condition.wait_for([&state] { return state == 0; }));
            } catch (const TimeoutError&) {
            }
            CHECK(state == 0);
            state = -1;  // clean up
            condition.notify_all();
        }
        co_await c[1];
    }());
}

LOOP_TEST_CASE("Condition: test_cancelled_wakeup_relock") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        // The same, with the cancel while the consumer re-acquires the lock.
        Condition condition;
        int state = 0;
        std::vector<Task<void>> c{create_task(consumer(&condition, &state)),
                                  create_task(consumer(&condition, &state))};
        co_await yield_now();
        {
            LockGuard guard = co_await condition.hold();
            ++state;
            condition.notify(1);
            co_await yield_now();  // the consumer wakes and waits for the lock
            c[0].cancel();
            try {
                co_await timeout(10ms, condition.wait_for([&state] { return state == 0; }));
            } catch (const TimeoutError&) {
            }
            CHECK(state == 0);
            state = -1;
            condition.notify_all();
        }
        co_await c[1];
    }());
}

// ---- beyond CPython's tests -----------------------------------------------------------------

LOOP_TEST_CASE("Condition: 3.13: cancelling a waiter never notified wakes another one") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Condition cond;
        std::vector<std::string> woke;
        Task<void> a = create_task(record_wake(&cond, &woke, "A"));
        Task<void> b = create_task(record_wake(&cond, &woke, "B"));
        co_await yield_now();
        a.cancel();  // nobody calls notify()
        CHECK(co_await outcome(a) == "CancelledError");
        co_await b;  // woken spuriously by A's way out
        CHECK(test_support::joined(woke) == "A cancelled | B");
        CHECK_FALSE(cond.locked());
    }());
}

LOOP_TEST_CASE("Condition: wait_for returns the predicate's final value") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Condition cond;
        int calls = 0;
        LockGuard guard = co_await cond.hold();
        Task<void> notifier = create_task([](Condition* cond) -> Coro<void> {
            LockGuard guard = co_await cond->hold();
            cond->notify_all();
        }(&cond));
        const int value = co_await cond.wait_for([&calls] { return ++calls >= 2 ? 42 : 0; });
        CHECK(value == 42);
        CHECK(calls == 2);
        CHECK(cond.locked());
        CHECK(notifier.done());
    }());
}

LOOP_TEST_CASE("Condition: a guard from hold() releases the condition's lock on exception") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Lock lock;
        Condition cond(lock);
        bool thrown = false;
        try {
            LockGuard guard = co_await cond.hold();
            CHECK(lock.locked());
            throw ValueError("boom");
        } catch (const ValueError&) {
            thrown = true;
        }
        CHECK(thrown);
        CHECK_FALSE(lock.locked());
    }());
}

LOOP_TEST_CASE(
    "Condition: destroyed while tasks wait: they get CancelledError and keep a shared lock") {
    TestLoop<LoopKind> s;
    run_body(s, []() -> Coro<void> {
        Lock lock;
        auto cond = std::make_unique<Condition>(lock);
        Task<void> waiter = create_task([](Condition* cond) -> Coro<void> {
            co_await cond->acquire();
            co_await cond->wait();
        }(cond.get()));
        co_await yield_now();
        CHECK(contains(cond->describe(), "waiters:1"));
        cond.reset();
        CHECK(co_await outcome(waiter) ==
              "CancelledError: Condition was destroyed while a task waited on it");
        CHECK(lock.locked());  // re-acquired, as every wait() does
        lock.release();
        // With its own lock: the lock goes too; a waiter of the condition gives the lock up,
        // a task waiting for the lock fails.
        auto own = std::make_unique<Condition>();
        Task<void> second = create_task([](Condition* cond) -> Coro<void> {
            LockGuard guard = co_await cond->hold();
            co_await cond->wait();
        }(own.get()));
        co_await yield_now();
        co_await own->acquire();
        Task<void> third = create_task([](Condition* cond) -> Coro<void> {
            LockGuard guard = co_await cond->hold();
        }(own.get()));
        co_await yield_now();
        CHECK(contains(own->describe(), "[locked, waiters:1]"));
        own.reset();
        CHECK(co_await outcome(second) ==
              "CancelledError: Condition was destroyed while a task waited on it");
        CHECK(co_await outcome(third) ==
              "CancelledError: Lock was destroyed while a task waited on it");
    }());
    CHECK(s.errors.contexts.empty());
}
