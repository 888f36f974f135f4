#include "generators.hpp"

#include <chrono>

namespace props {
namespace {

Duration milliseconds_in(int low, int high) {
    return std::chrono::milliseconds(*rc::gen::inRange(low, high + 1));
}

Step draw_main_step() {
    Step step;
    step.kind = *rc::gen::weightedElement<Step::Kind>(
        {{6, Step::Kind::sleep}, {2, Step::Kind::yield}, {2, Step::Kind::busy}});
    if (step.kind == Step::Kind::sleep)
        step.duration = milliseconds_in(1, 3000);
    if (step.kind == Step::Kind::busy)
        step.duration = milliseconds_in(1, 3000);
    return step;
}

Step draw_child_step() {
    Step step;
    step.kind = *rc::gen::weightedElement<Step::Kind>({{5, Step::Kind::sleep},
                                                       {2, Step::Kind::yield},
                                                       {2, Step::Kind::await_child},
                                                       {1, Step::Kind::gather},
                                                       {1, Step::Kind::cancel_child},
                                                       {1, Step::Kind::raise},
                                                       {2, Step::Kind::executor},
                                                       {4, Step::Kind::generator},
                                                       {2, Step::Kind::timeout}});
    switch (step.kind) {
        case Step::Kind::sleep:
            step.duration = milliseconds_in(1, 3000);
            break;
        case Step::Kind::await_child:
        case Step::Kind::cancel_child:
            step.target = *rc::gen::inRange(0, 3);
            break;
        case Step::Kind::executor:
            // Rare paths (the executor's shutdown timeout, cancel() of a done task) are made
            // common by the properties that check them, on top of these programs: more hung
            // jobs here would leave more tasks stuck and the other steps less often reached.
            step.hangs = *rc::gen::weightedElement<bool>({{4, false}, {1, true}});
            break;
        case Step::Kind::generator:
            step.count = *rc::gen::inRange(1, 6);
            step.duration = milliseconds_in(1, 50);
            step.target = *rc::gen::inRange(0, 3);  // drop, aclose, hold until the task ends
            break;
        case Step::Kind::timeout:
            step.duration = milliseconds_in(1, 1000);
            step.inner = milliseconds_in(1, 1000);
            break;
        default:
            break;
    }
    return step;
}

TaskCode draw_task(bool main) {
    TaskCode task;
    const int steps = *rc::gen::inRange(0, main ? 6 : 5);
    for (int i = 0; i < steps; ++i)
        task.steps.push_back(main ? draw_main_step() : draw_child_step());
    task.on_cancel = *rc::gen::weightedElement<OnCancel>({{4, OnCancel::propagate},
                                                          {1, OnCancel::swallow_and_return},
                                                          {1, OnCancel::raise_error},
                                                          {1, OnCancel::uncancel_and_reraise},
                                                          {2, OnCancel::cleanup_then_reraise}});
    if (task.on_cancel == OnCancel::cleanup_then_reraise)
        task.cleanup = milliseconds_in(1, 2000);
    task.result = *rc::gen::inRange(0, 100);
    task.raise_at_end = *rc::gen::weightedElement<bool>({{9, false}, {1, true}});
    return task;
}

}  // namespace

rc::Gen<Program> programs(int max_children) {
    return rc::gen::exec([max_children] {
        Program program;
        const int children = *rc::gen::inRange(0, max_children + 1);
        program.tasks.push_back(draw_task(true));
        for (int i = 1; i <= children; ++i)
            program.tasks.push_back(draw_task(false));
        // Attach each child to a parent of lower index: a spawn, or a one-task group.
        for (int i = 1; i <= children; ++i) {
            const int parent = *rc::gen::inRange(0, i);
            auto& steps = program.tasks[static_cast<std::size_t>(parent)].steps;
            Step attach;
            attach.kind = (parent > 0 && *rc::gen::weightedElement<bool>({{4, false}, {1, true}}))
                              ? Step::Kind::group
                              : Step::Kind::spawn;
            attach.target = i;
            const int position = *rc::gen::inRange(0, static_cast<int>(steps.size()) + 1);
            steps.insert(steps.begin() + position, attach);
        }
        // SIGINTs and the external cancel fall between whole milliseconds (1 and 3 us past),
        // so they never tie with a timer.
        const int sigints = *rc::gen::weightedElement<int>({{2, 0}, {4, 1}, {4, 2}});
        // Most SIGINTs come while the program runs; some late enough to hit the executor's
        // 300 s shutdown wait.
        const int latest_ms = *rc::gen::weightedElement<int>({{6, 8000}, {1, 400000}});
        if (sigints >= 1)
            program.sigints.push_back(milliseconds_in(1, latest_ms) + std::chrono::microseconds(1));
        if (sigints == 2) {
            // Half of the second SIGINTs come soon after the first (a user pressing Ctrl-C twice).
            const bool soon = *rc::gen::arbitrary<bool>();
            program.sigints.push_back(
                (soon ? program.sigints[0] - std::chrono::microseconds(1) + milliseconds_in(1, 1500)
                      : milliseconds_in(1, 8000)) +
                std::chrono::microseconds(3));
            std::sort(program.sigints.begin(), program.sigints.end());
        }
        // Some SIGINTs arrive during a given callback instead of at a given time.
        if (*rc::gen::weightedElement<bool>({{4, false}, {1, true}})) {
            program.sigint_steps.push_back(static_cast<std::uint64_t>(*rc::gen::inRange(1, 60)));
        }
        // A quarter of the programs: the main task ending cancelled is a path of the model.
        if (*rc::gen::weightedElement<bool>({{3, false}, {1, true}})) {
            program.external_cancel = milliseconds_in(1, 8000) + std::chrono::microseconds(2);
        }
        program.workers = *rc::gen::inRange(1, 4);
        program.choices =
            *rc::gen::container<std::vector<std::uint64_t>>(rc::gen::arbitrary<std::uint64_t>());
        return program;
    });
}

}  // namespace props
