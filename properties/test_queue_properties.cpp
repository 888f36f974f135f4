// Property of Queue, LifoQueue and PriorityQueue over random programs: tasks that put, put_nowait,
// get, get_nowait, call task_done(), sleep, cancel each other (also right after a wake-up) and shut
// the queue down, plus tasks that join(); run in a seeded SimLoop and checked against a model of
// the queue (its items in order, the count of unfinished tasks, shutdown).
//
// Checked: every item put is got exactly once, dropped by an immediate shutdown, or still stored
// at the end; items come out in the model's order (FIFO for Queue); qsize() never exceeds
// maxsize and always equals the model's size; every error is the one the model expects; no task
// is left waiting while it could proceed (a wake-up is never lost, Q10); join() is released at
// the virtual time of the task_done() or shutdown(immediate=true) that brought the count to 0,
// and never otherwise.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <rapidcheck.h>

#include <simrun/sim/sim.hpp>
#include <simrun/simrun.hpp>

using namespace simrun;

namespace {

enum class Kind { fifo, lifo, priority };

struct Op {
    enum class Type { put, put_nowait, get, get_nowait, task_done, sleep, cancel, shutdown };
    Type type;
    int arg = 0;  // sleep: milliseconds (0: one loop iteration); get, get_nowait: 0 to call
                  // task_done() right after a successful get; cancel: picks the target among
                  // the actors waiting in put()/get() (else among all); shutdown: 1 for
                  // immediate
};

/// What the controller task does at a virtual time: cancel an actor or shut the queue down.
struct Action {
    int at_ms = 0;
    Op op;
};

struct Program {
    Kind kind = Kind::fifo;
    std::size_t maxsize = 0;
    std::vector<std::vector<Op>> actors;  // each runs its ops in order
    std::vector<bool> resilient;          // per actor: a cancelled op is skipped, not the end
    std::vector<Action> controller;       // sorted by time
    std::vector<int> joiner_delays_ms;
    std::uint64_t seed = 0;
};

const char* kind_name(Kind kind) {
    switch (kind) {
        case Kind::fifo:
            return "Queue";
        case Kind::lifo:
            return "LifoQueue";
        case Kind::priority:
            return "PriorityQueue";
    }
    return "?";
}

std::string describe(const Op& op) {
    static const char* names[] = {"put",       "put_nowait", "get",    "get_nowait",
                                  "task_done", "sleep",      "cancel", "shutdown"};
    std::string text = names[static_cast<int>(op.type)];
    if (op.type == Op::Type::sleep || op.type == Op::Type::cancel || op.type == Op::Type::shutdown)
        text += "(" + std::to_string(op.arg) + ")";
    else if ((op.type == Op::Type::get || op.type == Op::Type::get_nowait) && op.arg != 0)
        text += "(no task_done)";
    return text;
}

std::string describe(const Program& program) {
    std::ostringstream text;
    text << kind_name(program.kind) << "(maxsize=" << program.maxsize << "), seed " << program.seed
         << "\n";
    for (std::size_t a = 0; a < program.actors.size(); ++a) {
        text << "  actor " << a << (program.resilient[a] ? " (resilient)" : "") << ":";
        for (const Op& op : program.actors[a])
            text << " " << describe(op);
        text << "\n";
    }
    text << "  controller:";
    for (const Action& action : program.controller)
        text << " at " << action.at_ms << "ms " << describe(action.op);
    text << "\n";
    for (int delay : program.joiner_delays_ms)
        text << "  joiner after " << delay << "ms\n";
    return text.str();
}

/// A number in [min, max), uniform whatever rapidcheck's current size (which would favour small
/// values early on); it still shrinks toward `min`.
int uniform(int min, int max) {
    return *rc::gen::resize(rc::kNominalSize, rc::gen::inRange(min, max));
}

/// An actor's op. Producers mostly put, consumers mostly get; both sleep, cancel and call
/// task_done() now and then.
rc::Gen<Op> ops(bool producer) {
    using T = Op::Type;
    return rc::gen::exec([producer] {
        const T type = producer ? *rc::gen::weightedElement<T>({{40, T::put},
                                                                {15, T::put_nowait},
                                                                {5, T::get_nowait},
                                                                {5, T::task_done},
                                                                {15, T::sleep},
                                                                {20, T::cancel}})
                                : *rc::gen::weightedElement<T>({{45, T::get},
                                                                {15, T::get_nowait},
                                                                {5, T::put_nowait},
                                                                {5, T::task_done},
                                                                {20, T::sleep},
                                                                {10, T::cancel}});
        int arg = 0;
        if (type == T::sleep)
            arg = *rc::gen::element(0, 1, 2);
        else if (type == T::get || type == T::get_nowait)
            arg = *rc::gen::weightedElement<int>({{9, 0}, {1, 1}});
        else if (type == T::cancel)
            arg = uniform(0, 4);
        return Op{type, arg};
    });
}

rc::Gen<Program> programs() {
    return rc::gen::exec([] {
        Program program;
        program.kind = *rc::gen::element(Kind::fifo, Kind::lifo, Kind::priority);
        program.maxsize = *rc::gen::element<std::size_t>(0, 1, 1, 2, 2, 3);
        const int actors = uniform(2, 7);
        for (int a = 0; a < actors; ++a) {  // a producer, then two consumers, and again
            const bool producer = a % 3 == 0;
            const int length = uniform(1, producer ? 6 : 14);
            program.actors.push_back(*rc::gen::container<std::vector<Op>>(
                static_cast<std::size_t>(length), ops(producer)));
            program.resilient.push_back(*rc::gen::arbitrary<bool>());
        }
        const auto cancels = static_cast<std::size_t>(uniform(0, 4));
        for (std::size_t c = 0; c < cancels; ++c)
            program.controller.push_back(
                Action{uniform(0, 12), Op{Op::Type::cancel, uniform(0, 4)}});
        if (*rc::gen::weightedElement<bool>({{2, true}, {3, false}}))
            program.controller.push_back(
                Action{uniform(0, 12), Op{Op::Type::shutdown, *rc::gen::element(0, 1)}});
        std::stable_sort(program.controller.begin(), program.controller.end(),
                         [](const Action& a, const Action& b) { return a.at_ms < b.at_ms; });
        program.joiner_delays_ms = *rc::gen::container<std::vector<int>>(
            *rc::gen::element<std::size_t>(0, 1, 1, 2),
            rc::gen::resize(rc::kNominalSize, rc::gen::inRange(0, 6)));
        program.seed = *rc::gen::arbitrary<std::uint64_t>();
        return program;
    });
}

/// The reference model: the stored items in get order, the unfinished count, shutdown.
class Model {
  public:
    Model(Kind kind, std::size_t maxsize) : kind_(kind), maxsize_(maxsize) {}

    std::size_t size() const { return items_.size(); }
    bool empty() const { return items_.empty(); }
    bool full() const { return maxsize_ > 0 && items_.size() >= maxsize_; }
    bool shut_down() const { return shut_down_; }
    std::size_t unfinished() const { return unfinished_; }

    void put(int item) {
        items_.push_back(item);
        ++unfinished_;
    }
    /// The item the queue must give next.
    int take() {
        std::deque<int>::iterator next = items_.begin();
        if (kind_ == Kind::lifo)
            next = std::prev(items_.end());
        else if (kind_ == Kind::priority)
            next = std::min_element(items_.begin(), items_.end());
        const int item = *next;
        items_.erase(next);
        return item;
    }
    /// True if the count reached 0 (join() must be released).
    bool task_done() {
        --unfinished_;
        return unfinished_ == 0;
    }
    /// Returns the dropped items; sets `released` if the count reached 0 from above.
    std::vector<int> shutdown(bool immediate, bool& released) {
        shut_down_ = true;
        released = false;
        if (!immediate)
            return {};
        std::vector<int> dropped(items_.begin(), items_.end());
        items_.clear();
        const std::size_t before = unfinished_;
        unfinished_ -= std::min(unfinished_, dropped.size());
        released = before > 0 && unfinished_ == 0;
        return dropped;
    }
    /// What is left, in get order.
    std::vector<int> drain() {
        std::vector<int> rest;
        while (!items_.empty())
            rest.push_back(take());
        return rest;
    }

  private:
    Kind kind_;
    std::size_t maxsize_;
    std::deque<int> items_;
    std::size_t unfinished_ = 0;
    bool shut_down_ = false;
};

struct ActorState {
    Task<void> task;
    bool in_get = false;
    bool in_put = false;
};

struct JoinerState {
    Task<void> task;
    std::uint64_t started_op = 0;
    Duration started_at{};
    bool started_with_work = false;
    std::uint64_t released_op = 0;
    Duration released_at{};
    bool released = false;
};

struct Release {  // the count reached 0
    std::uint64_t op;
    Duration at;
};

/// Everything the run observed; the tasks check the model as they go.
template <class Q>
struct World {
    explicit World(const Program& p)
        : program(p), q(std::make_unique<Q>(p.maxsize)), model(p.kind, p.maxsize) {}

    const Program& program;
    std::unique_ptr<Q> q;
    Model model;
    std::vector<ActorState> actors;
    std::vector<JoinerState> joiners;
    std::vector<Release> releases;
    std::vector<std::string> violations;
    std::map<int, int> got;  // item -> times got
    std::set<int> put_ok;
    std::set<int> dropped;
    std::uint64_t op = 0;  // counts queue operations
    bool ending = false;   // the main task cancels everything: actors stop
    // Coverage.
    bool cancelled_woken_waiter = false;
    bool put_waited = false;
    int shutdown_mode = 0;     // 0 none, 1 graceful, 2 immediate (the first one that ran)
    bool join_waited = false;  // a join() waited and was released

    void expect(bool condition, const std::string& what) {
        if (!condition)
            violations.push_back(what + " (at " + sim::format_time(get_running_loop().time()) +
                                 ", op " + std::to_string(op) + ")");
    }
    void check_size() {
        expect(q->qsize() == model.size(), "qsize() " + std::to_string(q->qsize()) +
                                               " differs from the model's " +
                                               std::to_string(model.size()));
        expect(program.maxsize == 0 || q->qsize() <= program.maxsize, "qsize() above maxsize");
    }
    void count_release() { releases.push_back(Release{op, get_running_loop().time()}); }
    void took(int item) {
        expect(!model.empty(), "got " + std::to_string(item) + " from an empty model");
        if (model.empty())
            return;
        const int expected = model.take();
        expect(item == expected,
               "got " + std::to_string(item) + ", the model expected " + std::to_string(expected));
        ++got[item];
    }
};

template <class Q>
void finish_task(World<Q>* world) {
    ++world->op;
    try {
        world->q->task_done();
        world->expect(world->model.unfinished() > 0, "task_done() accepted at 0");
        if (world->model.unfinished() > 0 && world->model.task_done())
            world->count_release();
    } catch (const ValueError&) {
        world->expect(world->model.unfinished() == 0, "ValueError with unfinished tasks");
    }
}

/// A cancel or a shutdown, by an actor (`by` is its index) or by the controller.
template <class Q>
void control(World<Q>* world, const Op& op, std::size_t by) {
    if (op.type == Op::Type::cancel) {
        // The target: preferably an actor waiting in put() or get() (perhaps just woken).
        std::vector<std::size_t> waiting;
        std::vector<std::size_t> running;
        for (std::size_t a = 0; a < world->actors.size(); ++a) {
            const ActorState& state = world->actors[a];
            if (a == by || !state.task || state.task.done())
                continue;
            ((state.in_get || state.in_put) ? waiting : running).push_back(a);
        }
        const std::vector<std::size_t>& candidates = waiting.empty() ? running : waiting;
        if (candidates.empty())
            return;
        ActorState& other =
            world->actors[candidates[static_cast<std::size_t>(op.arg) % candidates.size()]];
        // Woken but not run yet: the future it waits on is already done.
        if ((other.in_get || other.in_put) &&
            other.task.describe().find("wait_for=<Future finished") != std::string::npos)
            world->cancelled_woken_waiter = true;
        other.task.cancel();
        return;
    }
    ++world->op;
    const bool immediate = op.arg == 1;
    if (world->shutdown_mode == 0)
        world->shutdown_mode = immediate ? 2 : 1;
    world->q->shutdown(immediate);
    bool released = false;
    for (int dropped : world->model.shutdown(immediate, released))
        world->dropped.insert(dropped);
    if (released)
        world->count_release();
    world->check_size();
}

template <class Q>
Coro<void> controller(World<Q>* world) {
    int now_ms = 0;
    for (const Action& action : world->program.controller) {
        co_await sleep(std::chrono::milliseconds(action.at_ms - now_ms));
        now_ms = action.at_ms;
        control(world, action.op, world->actors.size());
    }
}

/// Runs op `step` of actor `index`, checking the model.
template <class Q>
Coro<void> perform(World<Q>* world, std::size_t index, std::size_t step) {
    Q& q = *world->q;
    Model& model = world->model;
    const Op& op = world->program.actors[index][step];
    const int item = static_cast<int>(index * 100 + step);
    ActorState& self = world->actors[index];
    switch (op.type) {
        case Op::Type::put:
        case Op::Type::put_nowait: {
            ++world->op;
            const bool nowait = op.type == Op::Type::put_nowait;
            if (!nowait && q.full() && !q.is_shut_down())
                world->put_waited = true;
            try {
                if (nowait) {
                    q.put_nowait(item);
                } else {
                    self.in_put = true;
                    co_await q.put(item);
                    self.in_put = false;
                }
                world->expect(!model.shut_down() && !model.full(), "a put succeeded");
                model.put(item);
                world->put_ok.insert(item);
            } catch (const QueueShutDown&) {
                self.in_put = false;
                world->expect(model.shut_down(), "QueueShutDown before shutdown()");
            } catch (const QueueFull&) {
                world->expect(nowait && model.full() && !model.shut_down(), "QueueFull unexpected");
            } catch (...) {  // CancelledError: the op is abandoned
                self.in_put = false;
                throw;
            }
            world->check_size();
            break;
        }
        case Op::Type::get:
        case Op::Type::get_nowait: {
            ++world->op;
            const bool nowait = op.type == Op::Type::get_nowait;
            try {
                int taken = 0;
                if (nowait) {
                    taken = q.get_nowait();
                } else {
                    self.in_get = true;
                    taken = co_await q.get();
                    self.in_get = false;
                }
                world->took(taken);
                if (op.arg == 0)
                    finish_task(world);
            } catch (const QueueShutDown&) {
                self.in_get = false;
                world->expect(model.shut_down() && model.empty(), "QueueShutDown unexpected");
            } catch (const QueueEmpty&) {
                world->expect(nowait && model.empty() && !model.shut_down(),
                              "QueueEmpty unexpected");
            } catch (...) {  // CancelledError: the op is abandoned
                self.in_get = false;
                throw;
            }
            world->check_size();
            break;
        }
        case Op::Type::task_done:
            finish_task(world);
            break;
        case Op::Type::sleep:
            co_await sleep(std::chrono::milliseconds(op.arg));
            break;
        case Op::Type::cancel:
        case Op::Type::shutdown:
            control(world, op, index);
            break;
    }
}

template <class Q>
Coro<void> actor(World<Q>* world, std::size_t index) {
    const std::size_t steps = world->program.actors[index].size();
    for (std::size_t step = 0; step < steps; ++step) {
        std::exception_ptr cancelled;
        try {
            co_await perform(world, index, step);
        } catch (const CancelledError&) {
            cancelled = std::current_exception();
        }
        // A resilient actor abandons the cancelled op and goes on with the next one (withdrawing
        // the request with uncancel(), as a task that swallows a cancellation must), until the
        // end of the run; the others end.
        if (cancelled) {
            if (world->ending || !world->program.resilient[index])
                std::rethrow_exception(cancelled);
            current_task().uncancel();
        }
    }
}

template <class Q>
Coro<void> joiner(World<Q>* world, std::size_t index, int delay_ms) {
    co_await sleep(std::chrono::milliseconds(delay_ms));
    JoinerState& self = world->joiners[index];
    self.started_op = world->op;
    self.started_at = get_running_loop().time();
    self.started_with_work = world->model.unfinished() > 0;
    co_await world->q->join();
    self.released = true;
    world->join_waited = world->join_waited || self.started_with_work;
    self.released_op = world->op;
    self.released_at = get_running_loop().time();
}

constexpr Duration end_of_activity = 200ms;  // far beyond the longest program

/// No task waits in put() or get() while it could proceed: a wake-up was never lost.
template <class Q>
void check_nobody_stranded(World<Q>* world) {
    for (std::size_t a = 0; a < world->actors.size(); ++a) {
        const ActorState& state = world->actors[a];
        if (state.task.done())
            continue;
        const std::string who = "actor " + std::to_string(a);
        if (state.in_get)
            world->expect(world->model.empty() && !world->model.shut_down(),
                          who + " still waits in get()");
        if (state.in_put)
            world->expect(world->model.full() && !world->model.shut_down(),
                          who + " still waits in put()");
    }
}

/// Checks between the ticks, when the program is quiescent: every action happens on a whole
/// millisecond, and everything it sets off runs before virtual time moves on.
template <class Q>
Coro<void> checker(World<Q>* world) {
    co_await sleep(500us);
    for (int tick = 0; tick < 60; ++tick) {
        check_nobody_stranded(world);
        co_await sleep(1ms);
    }
}

template <class Q>
Coro<void> main_task(World<Q>* world) {
    for (std::size_t a = 0; a < world->program.actors.size(); ++a)
        world->actors.push_back(ActorState{});
    for (std::size_t a = 0; a < world->program.actors.size(); ++a)
        world->actors[a].task = create_task(actor(world, a));
    Task<void> control_task = create_task(controller(world));
    Task<void> check_task = create_task(checker(world));
    world->joiners.resize(world->program.joiner_delays_ms.size());
    for (std::size_t j = 0; j < world->joiners.size(); ++j)
        world->joiners[j].task = create_task(joiner(world, j, world->program.joiner_delays_ms[j]));

    co_await sleep(end_of_activity);  // every task has finished or waits for good

    check_nobody_stranded(world);
    // join() released exactly when the count reached 0 after it started.
    for (std::size_t j = 0; j < world->joiners.size(); ++j) {
        const JoinerState& state = world->joiners[j];
        const std::string who = "joiner " + std::to_string(j);
        if (!state.started_with_work) {
            world->expect(state.released && state.released_op == state.started_op &&
                              state.released_at == state.started_at,
                          who + " with nothing unfinished did not return at once");
            continue;
        }
        auto release = std::find_if(world->releases.begin(), world->releases.end(),
                                    [&](const Release& r) { return r.op > state.started_op; });
        if (release == world->releases.end()) {
            world->expect(!state.released, who + " released while tasks were unfinished");
        } else {
            world->expect(state.released, who + " not released after the count reached 0");
            world->expect(!state.released || (state.released_at == release->at &&
                                              state.released_op >= release->op),
                          who + " released at the wrong time");
        }
    }

    // The end: cancel what still waits, collect every outcome.
    std::vector<Task<void>> tasks;
    for (const ActorState& state : world->actors)
        tasks.push_back(state.task);
    for (const JoinerState& state : world->joiners)
        tasks.push_back(state.task);
    tasks.push_back(control_task);
    tasks.push_back(check_task);
    world->ending = true;
    for (Task<void>& task : tasks)
        task.cancel();
    for (const Task<void>& task : tasks) {
        try {
            co_await task;
        } catch (const CancelledError&) {
        } catch (const std::exception& error) {
            world->violations.push_back(std::string("a task failed: ") + error.what());
        }
    }
}

struct RunResult {
    std::vector<std::string> violations;
    bool cancelled_woken_waiter = false;
    bool put_waited = false;
    int shutdown_mode = 0;
    bool join_waited = false;
};

template <class Q>
RunResult execute(const Program& program) {
    World<Q> world(program);
    std::vector<std::string> handled;
    {
        sim::SimLoop loop(sim::SimOptions{.seed = program.seed});
        loop.set_exception_handler([&handled](EventLoop&, const ExceptionContext& context) {
            handled.push_back(context.message);
        });
        try {
            loop.run_until_complete(main_task(&world));
        } catch (const std::exception& error) {
            world.violations.push_back(std::string("the run failed: ") + error.what());
        }
        loop.close();
    }
    for (const std::string& message : handled)
        world.violations.push_back("exception handler: " + message);

    // What is left in the queue comes out in the model's order.
    std::vector<int> left;
    while (!world.q->empty())
        left.push_back(world.q->get_nowait());
    const std::vector<int> expected = world.model.drain();
    if (left != expected)
        world.violations.push_back("the items left differ from the model's");
    // Conservation: each item put is got once, dropped, or left; nothing else is ever got.
    for (const auto& [item, times] : world.got) {
        if (world.put_ok.count(item) == 0)
            world.violations.push_back("got " + std::to_string(item) + ", never put");
        if (times != 1)
            world.violations.push_back("got " + std::to_string(item) + " more than once");
    }
    for (int item : world.put_ok) {
        const int fates = (world.got.count(item) > 0 ? 1 : 0) +
                          static_cast<int>(world.dropped.count(item)) +
                          static_cast<int>(std::count(left.begin(), left.end(), item));
        if (fates != 1)
            world.violations.push_back("item " + std::to_string(item) + " lost or duplicated");
    }
    return RunResult{world.violations, world.cancelled_woken_waiter, world.put_waited,
                     world.shutdown_mode, world.join_waited};
}

RunResult execute(const Program& program) {
    switch (program.kind) {
        case Kind::fifo:
            return execute<Queue<int>>(program);
        case Kind::lifo:
            return execute<LifoQueue<int>>(program);
        case Kind::priority:
            return execute<PriorityQueue<int>>(program);
    }
    return {};
}

}  // namespace

TEST_CASE(
    "property: queues lose and duplicate no item, keep their order and size bound, never strand a "
    "waiter, and release join() exactly when the count of unfinished tasks reaches 0") {
    struct Coverage {
        int cases = 0;
        int woken_cancelled = 0;
        int full = 0;
        int shutdowns = 0;
        int joins = 0;
    };
    auto coverage = std::make_shared<Coverage>();
    CHECK(rc::check("queue model", [coverage] {
        const Program program = *programs();
        const RunResult outcome = execute(program);
        RC_LOG() << describe(program);
        for (const std::string& violation : outcome.violations)
            RC_LOG() << "violation: " << violation << "\n";
        static const char* shutdowns[] = {"no shutdown", "shutdown", "shutdown(immediate)"};
        RC_TAG(
            shutdowns[outcome.shutdown_mode],
            outcome.cancelled_woken_waiter ? "woken waiter cancelled" : "no woken waiter cancelled",
            outcome.put_waited ? "a put waited (full queue)" : "no put waited");
        ++coverage->cases;
        coverage->woken_cancelled += outcome.cancelled_woken_waiter ? 1 : 0;
        coverage->full += outcome.put_waited ? 1 : 0;
        coverage->shutdowns += outcome.shutdown_mode != 0 ? 1 : 0;
        coverage->joins += outcome.join_waited ? 1 : 0;
        RC_ASSERT(outcome.violations.empty());
    }));
    // The generator reaches the interesting cases often enough to mean something.
    MESSAGE("cases " << coverage->cases << ": woken waiter cancelled in "
                     << coverage->woken_cancelled << ", put waited on a full queue in "
                     << coverage->full << ", shutdown in " << coverage->shutdowns
                     << ", join() waited and was released in " << coverage->joins);
    if (coverage->cases >= 100) {  // typically about 20%, 30%, 40% and 10% of the cases
        CHECK(coverage->woken_cancelled * 20 >= coverage->cases);
        CHECK(coverage->full * 10 >= coverage->cases);
        CHECK(coverage->shutdowns * 10 >= coverage->cases);
        CHECK(coverage->joins * 40 >= coverage->cases);
    }
}
