// Properties of Lock and Semaphore under random programs: tasks acquire and release a Lock and a
// Semaphore(k) (explicitly or through guards) with sleeps while holding, cancellers cancel tasks
// at random virtual times, and releasing tasks may cancel the waiter they just woke. All of it
// runs in a seeded SimLoop. Checked: the lock is never held twice and the semaphore never more
// than k times; every acquire that returned is released; tasks acquire in the order they asked,
// except past tasks that are being cancelled (no barging); at the end nothing is held and
// nothing waits. A small model of the waiter futures (pending, woken, cancelled) classifies each
// cancel and is compared with locked() after every step.
#include <cstdint>
#include <list>
#include <memory>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include <doctest/doctest.h>
#include <rapidcheck.h>

#include <simrun/sim/sim.hpp>
#include <simrun/simrun.hpp>

using namespace simrun;

namespace {

using Ms = std::chrono::milliseconds;

// ---- programs -------------------------------------------------------------------------------

struct Round {
    bool semaphore = false;      // else the lock
    bool guard = false;          // hold() and a guard, else acquire() and release()
    int hold_ms = 0;             // 0: one yield while holding
    int pause_ms = 0;            // after releasing; 0: none
    bool cancel_woken = false;   // right after releasing, cancel the waiter it woke
    bool cancel_queued = false;  // right after acquiring, cancel the last waiter in line
};

struct TaskSpec {
    int start_ms = 0;
    std::vector<Round> rounds;
};

struct CancelSpec {
    int target = 0;
    int at_ms = 0;
    int yields = 0;  // yields after the sleep, to land between steps
};

struct Program {
    std::int64_t permits = 1;
    std::vector<TaskSpec> tasks;
    std::vector<CancelSpec> cancels;
    std::uint64_t seed = 0;
};

/// How rapidcheck prints a program: one line per task and per cancel.
void showValue(const Program& program, std::ostream& out) {
    out << "Semaphore(" << program.permits << "), seed " << program.seed << "\n";
    for (std::size_t i = 0; i < program.tasks.size(); ++i) {
        out << "  task " << i << ": start " << program.tasks[i].start_ms << "ms;";
        for (const Round& r : program.tasks[i].rounds) {
            out << " [" << (r.semaphore ? "sem" : "lock") << (r.guard ? " guard" : "")
                << (r.cancel_queued ? " cancel-queued" : "") << " hold " << r.hold_ms << "ms"
                << (r.cancel_woken ? " cancel-woken" : "") << " pause " << r.pause_ms << "ms]";
        }
        out << "\n";
    }
    for (const CancelSpec& c : program.cancels)
        out << "  cancel task " << c.target << " at " << c.at_ms << "ms +" << c.yields
            << " yields\n";
}

/// A uniform integer in [min, max): rapidcheck scales inRange() down with the case's size,
/// which would make half the programs too small to contend.
template <class T>
rc::Gen<T> uniform(T min, T max) {
    return rc::gen::resize(100, rc::gen::inRange<T>(min, max));
}

rc::Gen<Round> rounds() {
    return rc::gen::build<Round>(
        rc::gen::set(&Round::semaphore, rc::gen::arbitrary<bool>()),
        rc::gen::set(&Round::guard, rc::gen::arbitrary<bool>()),
        rc::gen::set(&Round::hold_ms, uniform(0, 5)), rc::gen::set(&Round::pause_ms, uniform(0, 3)),
        rc::gen::set(&Round::cancel_woken,
                     rc::gen::map(uniform(0, 4), [](int n) { return n == 0; })),
        rc::gen::set(&Round::cancel_queued,
                     rc::gen::map(uniform(0, 4), [](int n) { return n == 0; })));
}

rc::Gen<Program> programs() {
    return rc::gen::mapcat(uniform(2, 8), [](int n_tasks) {
        return rc::gen::build<Program>(
            rc::gen::set(&Program::permits, uniform<std::int64_t>(1, 4)),
            rc::gen::set(
                &Program::tasks,
                rc::gen::container<std::vector<TaskSpec>>(
                    static_cast<std::size_t>(n_tasks),
                    rc::gen::build<TaskSpec>(
                        rc::gen::set(&TaskSpec::start_ms, uniform(0, 4)),
                        rc::gen::set(&TaskSpec::rounds,
                                     rc::gen::resize(3, rc::gen::nonEmpty(
                                                            rc::gen::container<std::vector<Round>>(
                                                                rounds()))))))),
            rc::gen::set(
                &Program::cancels,
                rc::gen::resize(
                    6, rc::gen::container<std::vector<CancelSpec>>(rc::gen::build<CancelSpec>(
                           rc::gen::set(&CancelSpec::target, uniform(0, n_tasks)),
                           rc::gen::set(&CancelSpec::at_ms, uniform(0, 12)),
                           rc::gen::set(&CancelSpec::yields, uniform(0, 3)))))),
            rc::gen::set(&Program::seed, uniform<std::uint64_t>(0, 1000000)));
    });
}

// ---- the model of the waiter futures ----------------------------------------------------------

/// asyncio's Lock or Semaphore bookkeeping, as seen from outside: which tasks are listed as
/// waiters and whether their futures are pending, woken or cancelled.
struct PrimitiveModel {
    enum class State { pending, woken, cancelled };
    struct Request {
        int task;
        State state;
    };

    explicit PrimitiveModel(bool lock, std::int64_t permits) : is_lock(lock), value(permits) {}

    bool locked() const {
        if (is_lock)
            return held;
        if (value == 0)
            return true;
        for (const Request& r : queue)
            if (r.state != State::cancelled)
                return true;
        return false;
    }
    /// A task calls acquire(): true if it takes the fast path.
    bool call(int task) {
        bool fast = false;
        if (is_lock) {
            fast = !held;
            for (const Request& r : queue)
                fast = fast && r.state == State::cancelled;
            if (fast)
                held = true;
        } else if (!locked()) {
            fast = true;
            --value;
        }
        if (!fast)
            queue.push_back({task, State::pending});
        return fast;
    }
    void release() {
        if (is_lock) {
            held = false;
            wake_first();
        } else {
            ++value;
            wake_next();
        }
    }
    /// The task was cancelled: its future is cancelled if still pending. Returns the state it had
    /// (pending for a task that is not waiting).
    const char* cancel(int task) {
        for (Request& r : queue) {
            if (r.task == task) {
                if (r.state == State::pending) {
                    r.state = State::cancelled;
                    return "queued";
                }
                return r.state == State::woken ? "woken" : "cancelled again";
            }
        }
        return "not waiting";
    }
    /// The waiting task's acquire returned (`ok`) or threw.
    void leave(int task, bool ok) {
        State state = State::pending;
        for (auto it = queue.begin(); it != queue.end(); ++it) {
            if (it->task == task) {
                state = it->state;
                queue.erase(it);
                break;
            }
        }
        if (is_lock) {
            if (ok)
                held = true;
            else if (!held)
                wake_first();
        } else {
            if (!ok && state == State::woken)
                ++value;
            while (value > 0 && wake_next()) {
            }
        }
    }
    /// The task a release() just woke, if any (-1).
    int last_woken = -1;
    /// The last task in line whose future is pending, if any (-1).
    int last_pending() const {
        int task = -1;
        for (const Request& r : queue)
            if (r.state == State::pending)
                task = r.task;
        return task;
    }

    bool is_lock;
    bool held = false;
    std::int64_t value;
    std::list<Request> queue;

  private:
    void wake_first() {
        last_woken = -1;
        if (!queue.empty() && queue.front().state == State::pending) {
            queue.front().state = State::woken;
            last_woken = queue.front().task;
        }
    }
    bool wake_next() {
        for (Request& r : queue) {
            if (r.state == State::pending) {
                --value;
                r.state = State::woken;
                last_woken = r.task;
                return true;
            }
        }
        return false;
    }
};

// ---- the world a program runs in ---------------------------------------------------------------

struct Side {
    Side(bool lock, std::int64_t permits) : model(lock, permits), cap(lock ? 1 : permits) {}
    PrimitiveModel model;
    std::int64_t cap;
    std::int64_t holders = 0;
    int acquired = 0;
    int released = 0;
    std::list<int> in_acquire;  // tasks inside acquire(), in call order
};

struct World {
    explicit World(std::int64_t permits)
        : semaphore(permits), lock_side(true, permits), sem_side(false, permits) {}

    Lock lock;
    Semaphore semaphore;
    Side lock_side;
    Side sem_side;
    std::vector<TaskRef> tasks;
    std::vector<std::string> violations;
    std::vector<std::string> cancels;  // "lock woken", "semaphore queued", ...
    std::string log;

    Side& side(bool sem) { return sem ? sem_side : lock_side; }
    const char* name(bool sem) const { return sem ? "semaphore" : "lock"; }
    bool real_locked(bool sem) const { return sem ? semaphore.locked() : lock.locked(); }
    std::string real_describe(bool sem) const {
        return sem ? semaphore.describe() : lock.describe();
    }
    static std::string now() {
        EventLoop* loop = running_loop_or_null();  // none while a closing loop drops frames
        return loop == nullptr
                   ? std::string("(closing)")
                   : std::to_string(std::chrono::duration_cast<Ms>(loop->time()).count()) + "ms";
    }
    void note(const std::string& line) { log += now() + " " + line + "\n"; }
    void violation(const std::string& what) { violations.push_back(now() + " " + what); }

    /// The model and the primitive agree on locked() and on the number of listed waiters.
    void compare(bool sem, const char* when) {
        Side& s = side(sem);
        if (s.model.locked() != real_locked(sem))
            violation(std::string(name(sem)) + ": locked() differs from the model " + when);
        const std::string text = real_describe(sem);
        const std::size_t at = text.find("waiters:");
        const std::size_t listed = at == std::string::npos ? 0 : std::stoul(text.substr(at + 8));
        if (listed != s.model.queue.size())
            violation(std::string(name(sem)) + ": " + text + " but the model lists " +
                      std::to_string(s.model.queue.size()) + " " + when);
    }

    void on_call(int task, bool sem) {
        side(sem).model.call(task);
        side(sem).in_acquire.push_back(task);
    }
    void on_acquired(int task, bool sem) {
        Side& s = side(sem);
        // No barging: every task that asked earlier and is still asking is being cancelled.
        for (int earlier : s.in_acquire) {
            if (earlier == task)
                break;
            if (tasks[static_cast<std::size_t>(earlier)].cancelling() == 0)
                violation(std::string(name(sem)) + ": task " + std::to_string(task) +
                          " acquired before task " + std::to_string(earlier) +
                          ", which asked first and is not cancelled");
        }
        s.in_acquire.remove(task);
        s.model.leave(task, true);  // a fast path left no request: leave() finds none
        if (++s.holders > s.cap)
            violation(std::string(name(sem)) + " held " + std::to_string(s.holders) + " times");
        ++s.acquired;
        note("task " + std::to_string(task) + " acquired the " + name(sem));
        compare(sem, "after an acquire");
    }
    void on_failed(int task, bool sem) {
        Side& s = side(sem);
        s.in_acquire.remove(task);
        s.model.leave(task, false);
        note("task " + std::to_string(task) + " cancelled in acquire of the " + name(sem));
        compare(sem, "after a cancelled acquire");
    }
    void on_released(int task, bool sem) {
        Side& s = side(sem);
        --s.holders;
        ++s.released;
        s.model.last_woken = -1;
        s.model.release();
        note("task " + std::to_string(task) + " released the " + name(sem));
        compare(sem, "after a release");
    }
    /// A round's cancel of the last queued waiter, right after acquiring.
    void after_acquire(const Round& round) {
        const int queued = side(round.semaphore).model.last_pending();
        if (round.cancel_queued && queued >= 0)
            cancel(queued);
    }
    /// Cancels `target`, classifying the cancel by what its acquire is doing.
    void cancel(int target) {
        TaskRef& task = tasks[static_cast<std::size_t>(target)];
        if (task.done())
            return;
        for (bool sem : {false, true}) {
            const char* state = side(sem).model.cancel(target);
            if (std::string(state) == "queued" || std::string(state) == "woken")
                cancels.push_back(std::string(name(sem)) + " " + state);
        }
        note("cancel task " + std::to_string(target));
        task.cancel();
        compare(false, "after a cancel");
        compare(true, "after a cancel");
    }
};

/// Tells the world that a guard released its primitive: declared before the guard, so it is
/// destroyed right after it (also when a cancellation unwinds the round).
struct ReleaseNote {
    World* world;
    int task;
    bool sem;
    bool armed = false;
    ~ReleaseNote() {
        if (armed)
            world->on_released(task, sem);
    }
};

Coro<void> pause(int ms) {
    if (ms > 0)
        co_await sleep(Ms(ms));
    else
        co_await yield_now();
}

template <class Primitive>
Coro<void> round_with_guard(World* world, Primitive* primitive, int task, Round round) {
    ReleaseNote note{world, task, round.semaphore};
    world->on_call(task, round.semaphore);
    std::exception_ptr error;
    std::conditional_t<std::is_same_v<Primitive, Lock>, LockGuard, SemaphoreGuard> guard;
    try {
        guard = co_await primitive->hold();
    } catch (...) {
        error = std::current_exception();
    }
    if (error) {
        world->on_failed(task, round.semaphore);
        std::rethrow_exception(error);
    }
    note.armed = true;
    world->on_acquired(task, round.semaphore);
    world->after_acquire(round);
    co_await pause(round.hold_ms);
}  // the guard releases, then the note tells the world

template <class Primitive>
Coro<void> round_explicit(World* world, Primitive* primitive, int task, Round round) {
    world->on_call(task, round.semaphore);
    std::exception_ptr error;
    try {
        co_await primitive->acquire();
    } catch (...) {
        error = std::current_exception();
    }
    if (error) {
        world->on_failed(task, round.semaphore);
        std::rethrow_exception(error);
    }
    world->on_acquired(task, round.semaphore);
    world->after_acquire(round);
    try {
        co_await pause(round.hold_ms);
    } catch (...) {
        error = std::current_exception();
    }
    primitive->release();
    world->on_released(task, round.semaphore);
    if (error)
        std::rethrow_exception(error);
}

Coro<void> worker(World* world, int task, TaskSpec spec) {
    co_await pause(spec.start_ms);
    for (const Round& round : spec.rounds) {
        if (round.semaphore) {
            if (round.guard)
                co_await round_with_guard(world, &world->semaphore, task, round);
            else
                co_await round_explicit(world, &world->semaphore, task, round);
        } else {
            if (round.guard)
                co_await round_with_guard(world, &world->lock, task, round);
            else
                co_await round_explicit(world, &world->lock, task, round);
        }
        const int woken = world->side(round.semaphore).model.last_woken;
        if (round.cancel_woken && woken >= 0)
            world->cancel(woken);
        if (round.pause_ms > 0)
            co_await sleep(Ms(round.pause_ms));
    }
}

Coro<void> canceller(World* world, CancelSpec spec) {
    co_await sleep(Ms(spec.at_ms));
    for (int i = 0; i < spec.yields; ++i)
        co_await yield_now();
    world->cancel(spec.target);
}

}  // namespace

TEST_CASE(
    "property: Lock and Semaphore(k) under random acquires, holds and cancels: never over-held, "
    "every acquire released, FIFO without barging, nothing held or waiting at the end") {
    const bool ok = rc::check("lock and semaphore invariants", [] {
        const Program program = *programs();
        // The world outlives the loop: frames dropped by a closing loop (only after a failure)
        // still report to it.
        auto world = std::make_unique<World>(program.permits);
        sim::SimLoop loop(sim::SimOptions{.seed = program.seed});
        loop.set_exception_handler([](EventLoop&, const ExceptionContext&) {});
        std::vector<Task<void>> workers;
        for (std::size_t i = 0; i < program.tasks.size(); ++i) {
            workers.push_back(
                loop.create_task(worker(world.get(), static_cast<int>(i), program.tasks[i])));
            world->tasks.push_back(workers.back());
        }
        std::vector<Task<void>> cancellers;
        for (const CancelSpec& spec : program.cancels) {
            if (static_cast<std::size_t>(spec.target) < program.tasks.size())
                cancellers.push_back(loop.create_task(canceller(world.get(), spec)));
        }
        std::string error;
        try {
            loop.run_until_complete(gather(workers, return_exceptions));
            if (!cancellers.empty())
                loop.run_until_complete(gather(cancellers, return_exceptions));
        } catch (const std::exception& e) {
            error = e.what();
        }
        RC_LOG() << "error: " << error << "\n";
        RC_LOG() << "permits " << program.permits << ", seed " << program.seed << "\n"
                 << world->log;
        for (const std::string& v : world->violations)
            RC_LOG() << "VIOLATION " << v << "\n";
        RC_ASSERT(error.empty());
        RC_ASSERT(world->violations.empty());
        for (const Task<void>& task : workers)
            RC_ASSERT(task.done());
        for (bool sem : {false, true}) {
            const Side& side = world->side(sem);
            RC_ASSERT(side.holders == 0);
            RC_ASSERT(side.acquired == side.released);
            RC_ASSERT(side.in_acquire.empty());
            RC_ASSERT(side.model.queue.empty());
        }
        RC_ASSERT(world->lock.describe().ends_with("[unlocked]>"));
        RC_ASSERT(world->semaphore.describe().ends_with(
            "[unlocked, value:" + std::to_string(program.permits) + "]>"));
        const auto has = [&](const std::string& kind) {
            for (const std::string& c : world->cancels)
                if (c.ends_with(kind))
                    return true;
            return false;
        };
        RC_TAG(has("woken") ? "cancels a woken waiter" : "no woken waiter cancelled",
               has("queued") ? "cancels a queued waiter" : "no queued waiter cancelled");
        loop.close();
    });
    CHECK(ok);
}
