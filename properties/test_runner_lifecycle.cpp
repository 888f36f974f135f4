// A stateful (model-based) test of the Runner's lifecycle: random sequences of run() (returning,
// throwing, interrupted by SIGINT, with an explicit context, nested inside a running loop),
// get_loop(), close() and destruction, each checked against a model of the Runner rules in
// docs/semantics.md.
#include <csignal>
#include <memory>

#include <doctest/doctest.h>
#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include <simrun/sim/sim.hpp>
#include <simrun/simrun.hpp>

using namespace simrun;

namespace {

ContextVar<int> shared_value("shared_value", 0);

struct Model {
    enum class State { created, initialized, closed };
    State state = State::created;
    int loops_made = 0;     // loops the factory made for the current runner
    int context_value = 0;  // shared_value in the runner's context
};

struct System {
    std::unique_ptr<Runner> runner;
    std::vector<std::shared_ptr<sim::SimLoop>> loops;

    void make_runner() {
        loops.clear();
        runner = std::make_unique<Runner>(RunnerOptions{.loop_factory = [this] {
            loops.push_back(std::make_shared<sim::SimLoop>());
            return std::shared_ptr<EventLoop>(loops.back());
        }});
    }
};

using Command = rc::state::Command<Model, System>;

/// The model's side of lazy initialisation.
void initialise(Model& model) {
    if (model.state == Model::State::created) {
        model.state = Model::State::initialized;
        model.loops_made = 1;
    }
}

void check_loops(const Model& model, const System& system) {
    RC_ASSERT(static_cast<int>(system.loops.size()) == model.loops_made);
    if (!system.loops.empty())
        RC_ASSERT(system.loops.back()->is_closed() == (model.state == Model::State::closed));
}

template <class F>
void expect_runner_closed(F&& action) {
    try {
        action();
        RC_FAIL("expected RuntimeError \"Runner is closed\"");
    } catch (const RuntimeError& e) {
        RC_ASSERT(std::string(e.what()) == "Runner is closed");
    }
}

Coro<int> swap_value(int value) {
    const int seen = shared_value.get();
    shared_value.set(value);
    co_await sleep(std::chrono::milliseconds(5));
    co_return seen;
}

struct RunReturning : Command {
    int value = *rc::gen::inRange(1, 1000);
    void apply(Model& model) const override {
        if (model.state == Model::State::closed)
            return;
        initialise(model);
        model.context_value = value;
    }
    void run(const Model& model, System& system) const override {
        if (model.state == Model::State::closed) {
            expect_runner_closed([&] { system.runner->run(swap_value(value)); });
        } else {
            // The runner's context is shared by every run(): the previous run's set is visible.
            RC_ASSERT(system.runner->run(swap_value(value)) == model.context_value);
        }
        Model next = model;
        apply(next);
        check_loops(next, system);
    }
    void show(std::ostream& out) const override { out << "run(returning, sets " << value << ")"; }
};

Coro<int> fail() {
    co_await sleep(std::chrono::milliseconds(1));
    throw ValueError("boom");
}

struct RunThrowing : Command {
    void apply(Model& model) const override {
        if (model.state != Model::State::closed)
            initialise(model);
    }
    void run(const Model& model, System& system) const override {
        if (model.state == Model::State::closed) {
            expect_runner_closed([&] { system.runner->run(fail()); });
            return;
        }
        RC_ASSERT_THROWS_AS(system.runner->run(fail()), ValueError);
        Model next = model;
        apply(next);
        check_loops(next, system);
    }
    void show(std::ostream& out) const override { out << "run(throwing)"; }
};

Coro<int> wait_forever() {
    co_await sleep(std::chrono::hours(1000));
    co_return 0;
}

struct RunInterrupted : Command {
    void apply(Model& model) const override {
        if (model.state != Model::State::closed)
            initialise(model);
    }
    void run(const Model& model, System& system) const override {
        if (model.state == Model::State::closed) {
            expect_runner_closed([&] { system.runner->run(wait_forever()); });
            return;
        }
        auto& loop = static_cast<sim::SimLoop&>(system.runner->get_loop());
        loop.fake_signals().schedule_at(loop.time() + std::chrono::seconds(1), SIGINT);
        bool interrupted = false;
        try {
            system.runner->run(wait_forever());
        } catch (const KeyboardInterrupt&) {
            interrupted = true;
        }
        RC_ASSERT(interrupted);
        Model next = model;
        apply(next);
        check_loops(next, system);
    }
    void show(std::ostream& out) const override { out << "run(interrupted by SIGINT)"; }
};

struct RunWithContext : Command {
    int value = *rc::gen::inRange(1000, 2000);
    void apply(Model& model) const override {
        if (model.state != Model::State::closed)
            initialise(model);  // the shared context is untouched
    }
    void run(const Model& model, System& system) const override {
        Context context;
        context.run([&] { shared_value.set(value); });
        if (model.state == Model::State::closed) {
            expect_runner_closed([&] { system.runner->run(swap_value(0), context); });
            return;
        }
        RC_ASSERT(system.runner->run(swap_value(value + 1), context) == value);
        RC_ASSERT(context.get(shared_value) == value + 1);
        Model next = model;
        apply(next);
        check_loops(next, system);
    }
    void show(std::ostream& out) const override {
        out << "run(explicit context with " << value << ")";
    }
};

Coro<int> nested_run(Runner* runner) {
    try {
        runner->run(swap_value(-1));
    } catch (const RuntimeError& e) {
        co_return std::string(e.what()) == "Runner.run() cannot be called from a running event loop"
            ? 1
            : 0;
    }
    co_return 0;
}

struct RunNestedMisuse : Command {
    void apply(Model& model) const override {
        if (model.state != Model::State::closed)
            initialise(model);
    }
    void run(const Model& model, System& system) const override {
        if (model.state == Model::State::closed) {
            expect_runner_closed([&] { system.runner->run(nested_run(system.runner.get())); });
            return;
        }
        // The rejected coroutine is never started, so the shared value is unchanged.
        RC_ASSERT(system.runner->run(nested_run(system.runner.get())) == 1);
        Model next = model;
        apply(next);
        check_loops(next, system);
    }
    void show(std::ostream& out) const override {
        out << "run(calls run() inside the running loop)";
    }
};

struct GetLoop : Command {
    void apply(Model& model) const override {
        if (model.state != Model::State::closed)
            initialise(model);
    }
    void run(const Model& model, System& system) const override {
        if (model.state == Model::State::closed) {
            expect_runner_closed([&] { system.runner->get_loop(); });
            return;
        }
        EventLoop& loop = system.runner->get_loop();
        RC_ASSERT(&loop == system.loops.back().get());
        Model next = model;
        apply(next);
        check_loops(next, system);
    }
    void show(std::ostream& out) const override { out << "get_loop()"; }
};

struct Close : Command {
    void apply(Model& model) const override {
        if (model.state == Model::State::initialized)
            model.state = Model::State::closed;
    }
    void run(const Model& model, System& system) const override {
        system.runner->close();  // never throws here: a never-used or closed runner is left alone
        Model next = model;
        apply(next);
        check_loops(next, system);
    }
    void show(std::ostream& out) const override { out << "close()"; }
};

struct Destroy : Command {
    void apply(Model& model) const override { model = Model{}; }
    void run(const Model& model, System& system) const override {
        std::shared_ptr<sim::SimLoop> last = system.loops.empty() ? nullptr : system.loops.back();
        system.runner.reset();  // the destructor closes
        if (last)
            RC_ASSERT(last->is_closed());
        (void)model;
        system.make_runner();
        RC_ASSERT(system.loops.empty());  // a new runner makes nothing until used
    }
    void show(std::ostream& out) const override { out << "destroy and make a new runner"; }
};

}  // namespace

TEST_CASE(
    "property: the Runner's lifecycle follows the model through random sequences of run, get_loop, "
    "close and destroy") {
    CHECK(rc::check("runner lifecycle", [] {
        const std::int64_t frames = detail::live_coroutine_frames();
        {
            System system;
            system.make_runner();
            rc::state::check(
                Model{}, system,
                rc::state::gen::execOneOfWithArgs<RunReturning, RunThrowing, RunInterrupted,
                                                  RunWithContext, RunNestedMisuse, GetLoop, Close,
                                                  Destroy>());
        }
        RC_ASSERT(detail::live_coroutine_frames() == frames);
    }));
}
