#include "program.hpp"

#include <algorithm>
#include <csignal>
#include <sstream>

namespace props {

using namespace simrun;

namespace {

const char* on_cancel_name(OnCancel policy) {
    switch (policy) {
        case OnCancel::propagate:
            return "propagate";
        case OnCancel::swallow_and_return:
            return "swallow_and_return";
        case OnCancel::raise_error:
            return "raise_error";
        case OnCancel::uncancel_and_reraise:
            return "uncancel_and_reraise";
        case OnCancel::cleanup_then_reraise:
            return "cleanup_then_reraise";
    }
    return "?";
}

std::string ms(Duration d) {
    std::ostringstream out;
    out << std::chrono::duration<double, std::milli>(d).count() << "ms";
    return out.str();
}

/// State shared by the coroutines of one run.
struct Env {
    const Program& program;
    Observation& observed;
    std::set<std::string> collected;  // failed tasks whose error the program itself took
    int next_generator = 0;
    std::map<int, int> spawned_times;
};

/// Records an event of the differential campaign's trace (Program::record_events).
void note(Env* env, const std::string& text) {
    if (env->program.record_events)
        env->observed.events.emplace_back(get_running_loop().time(), text);
}

/// The name a task has in the events: "main" for tasks[0], else its task name.
std::string who(int index) {
    return index == 0 ? std::string("main") : current_task().name();
}

/// "ValueError", "CancelledError", "RuntimeError: <message>", ... (as CPython's type names).
std::string error_name(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const BaseException& e) {
        return e.type_name();
    } catch (const ValueError&) {
        return "ValueError";
    } catch (const TimeoutError&) {
        return "TimeoutError";
    } catch (const ExceptionGroup&) {
        return "ExceptionGroup";
    } catch (const RuntimeError& e) {
        return std::string("RuntimeError: ") + e.what();
    } catch (const std::exception& e) {
        return std::string("Exception: ") + e.what();
    } catch (...) {
        return "unknown";
    }
}

std::string task_name(Env& env, int index) {
    int& times = env.spawned_times[index];
    std::string name = "t" + std::to_string(index);
    if (times++ > 0)
        name += "." + std::to_string(times);
    return name;
}

/// task.cancel(), checked against CPython 3.13 as it happens: false on a done task (its count
/// unchanged), else true and one more request counted, even if one is pending already.
bool checked_cancel(Env* env, TaskRef task) {
    const bool was_done = task.done();
    const int before = task.cancelling();
    const bool cancelled = task.cancel();
    const int after = task.cancelling();
    if (was_done)
        ++env->observed.cancels_of_done_tasks;
    else if (before > 0)
        ++env->observed.cancels_of_cancelling;
    if (cancelled != !was_done || after != (was_done ? before : before + 1)) {
        env->observed.cancel_violations.push_back(
            "cancel() of " + task.name() + (was_done ? " (done)" : " (pending)") + " with " +
            std::to_string(before) + " requests returned " + (cancelled ? "true" : "false") +
            ", then " + std::to_string(after) + " requests");
    }
    return cancelled;
}

/// current_task().uncancel(), checked: it returns the count minus one (never below 0), and
/// cancelling() then says the same.
void checked_uncancel(Env* env) {
    TaskRef task = current_task();
    const int before = task.cancelling();
    const int returned = task.uncancel();
    const int after = task.cancelling();
    ++env->observed.uncancels;
    if (returned != std::max(before - 1, 0) || after != returned) {
        env->observed.cancel_violations.push_back("uncancel() in " + task.name() + " with " +
                                                  std::to_string(before) + " requests returned " +
                                                  std::to_string(returned) + ", then " +
                                                  std::to_string(after) + " requests");
    }
}

/// After an await that a cancellation may have "absorbed" (the awaited task swallowed it), a
/// well-behaved task checks whether it is being cancelled.
void stop_if_cancelling() {
    if (current_task().cancelling() > 0)
        throw CancelledError("stopping: cancellation requested");
}

Coro<int> run_task(Env* env, int index);

AsyncGen<int> numbers(Env* env, int id, int count, Duration pause) {
    env->observed.generators_started.insert(id);
    note(env, "gen " + std::to_string(id) + " start");
    std::exception_ptr error;
    bool closing = false;
    try {
        for (int i = 0; i < count; ++i) {
            co_yield i;
            co_await sleep(pause);
        }
    } catch (const GeneratorExit&) {
        closing = true;
    } catch (...) {
        error = std::current_exception();
    }
    // The clean-up runs whichever way the body ended (exhausted, closed, or failed), and awaits
    // unless the body failed.
    ++env->observed.generator_cleanups[id];
    note(env, "gen " + std::to_string(id) + " cleanup");
    if (!error) {
        std::exception_ptr cleanup_error;
        try {
            co_await sleep(std::chrono::milliseconds(1));
        } catch (...) {
            cleanup_error = std::current_exception();
        }
        if (cleanup_error) {
            ++env->observed.generator_cleanups_interrupted[id];
            note(env, "gen " + std::to_string(id) + " cleanup interrupted");
            std::rethrow_exception(cleanup_error);
        }
    }
    ++env->observed.generator_cleanups_completed[id];
    note(env, "gen " + std::to_string(id) + " cleanup done");
    if (error)
        std::rethrow_exception(error);
    (void)closing;
}

Coro<void> sleep_for(Duration d) {
    co_await sleep(d);
}

Coro<void> checked_sleep(Env* env, Duration d) {
    EventLoop& loop = get_running_loop();
    const Duration start = loop.time();
    co_await sleep(d);
    if (loop.time() < start + d) {
        env->observed.timing_violations.push_back("sleep(" + ms(d) + ") from " + ms(start) +
                                                  " woke at " + ms(loop.time()));
    }
}

Coro<void> group_body(Env* env, int first, int second, TaskGroup& group) {
    const auto size = static_cast<int>(env->program.tasks.size());
    // A task group takes every error of its tasks itself (into its ExceptionGroup).
    if (first > 0 && first < size) {
        env->collected.insert(
            group.create_task(run_task(env, first), {.name = task_name(*env, first)}).name());
    }
    if (second > 0 && second < size) {
        env->collected.insert(
            group.create_task(run_task(env, second), {.name = task_name(*env, second)}).name());
    }
    co_return;
}

Coro<void> run_step(Env* env, const Step& step, int self, std::vector<Task<int>>& children,
                    std::vector<AsyncGen<int>>& held) {
    const auto size = static_cast<int>(env->program.tasks.size());
    switch (step.kind) {
        case Step::Kind::sleep:
            co_await checked_sleep(env, step.duration);
            note(env, who(self) + " sleep done");
            break;
        case Step::Kind::yield:
            co_await sleep(Duration::zero());
            note(env, who(self) + " yield done");
            break;
        case Step::Kind::busy:
            sim::busy(step.duration);
            note(env, who(self) + " busy done");
            break;
        case Step::Kind::spawn:
            if (step.target > self && step.target < size) {
                children.push_back(create_task(run_task(env, step.target),
                                               {.name = task_name(*env, step.target)}));
                note(env, who(self) + " spawn " + children.back().name());
            }
            break;
        case Step::Kind::await_child:
            if (step.target < static_cast<int>(children.size())) {
                Task<int>& child = children[static_cast<std::size_t>(step.target)];
                // The awaiter either receives the child's error, or (if it is cancelled while
                // waiting) passes the cancel() on to the child, which in asyncio also counts as
                // looking at the error of an already failed child.
                env->collected.insert(child.name());
                std::string got;
                try {
                    got = "value " + std::to_string(co_await child);
                } catch (const CancelledError&) {
                    if (current_task().cancelling() > 0)
                        throw;
                    got = "CancelledError";
                } catch (const std::exception&) {
                    got = error_name(std::current_exception());
                }
                note(env, who(self) + " await " + child.name() + " -> " + got);
                stop_if_cancelling();
            }
            break;
        case Step::Kind::gather: {
            // With return_exceptions, gather looks at every child's outcome once all are done,
            // even when the gather itself was cancelled meanwhile (asyncio does the same).
            for (const Task<int>& child : children)
                env->collected.insert(child.name());
            std::vector<Outcome<int>> outcomes = co_await gather(children, return_exceptions);
            if (env->program.record_events) {
                std::string got;
                for (const Outcome<int>& outcome : outcomes) {
                    got += got.empty() ? "" : ", ";
                    got += outcome.ok() ? std::to_string(outcome.value.value_or(-1))
                                        : error_name(outcome.error);
                }
                note(env, who(self) + " gather -> [" + got + "]");
            }
            stop_if_cancelling();
            break;
        }
        case Step::Kind::cancel_child:
            if (step.target < static_cast<int>(children.size())) {
                Task<int>& child = children[static_cast<std::size_t>(step.target)];
                // As in asyncio, cancel() of a task that already failed counts as looking at its
                // error: it will not be reported as never retrieved.
                if (child.done())
                    env->collected.insert(child.name());
                const bool cancelled = checked_cancel(env, child);
                note(env, who(self) + " cancel " + child.name() + " -> " +
                              (cancelled ? "True" : "False"));
            }
            break;
        case Step::Kind::raise:
            throw ValueError("step raised");
        case Step::Kind::executor:
            co_await get_running_loop().run_in_executor([] { return 1; },
                                                        step.hangs ? "hang" : "job");
            note(env, who(self) + " executor done");
            break;
        case Step::Kind::generator: {
            AsyncGen<int> generator =
                numbers(env, env->next_generator++, step.count, step.duration);
            int seen = 0;
            while (std::optional<int> value = co_await generator.next()) {
                if (++seen * 2 > step.count + 1)
                    break;  // stop half-way: the rest is closed below
            }
            if (step.target == 1) {
                co_await generator.aclose();
                note(env, who(self) + " aclose done");
            }
            if (step.target == 2)
                held.push_back(std::move(generator));  // dropped when the task ends
            break;  // target 0: dropped here; the loop's finalizer hook closes it
        }
        case Step::Kind::timeout: {
            std::string got = "completed";
            try {
                co_await timeout(step.duration, sleep_for(step.inner));
            } catch (const TimeoutError&) {
                got = "timed out";
            }
            note(env, who(self) + " timeout -> " + got);
            break;
        }
        case Step::Kind::group: {
            std::exception_ptr group_error;
            try {
                co_await task_group(
                    [env, first = step.target, second = step.target2](TaskGroup& group) {
                        return group_body(env, first, second, group);
                    });
            } catch (const ExceptionGroup&) {
                group_error = std::current_exception();
            }
            (void)group_error;  // the group retrieved its tasks' errors itself
            note(env, who(self) + (group_error ? " group -> ExceptionGroup" : " group -> done"));
            stop_if_cancelling();  // the group re-cancels its parent if it was being cancelled
            break;
        }
    }
}

Coro<int> task_body(Env* env, int index) {
    const TaskCode& code = env->program.tasks[static_cast<std::size_t>(index)];
    std::vector<Task<int>> children;
    std::vector<AsyncGen<int>> held;
    std::exception_ptr cancelled;
    note(env, who(index) + " start");
    try {
        for (const Step& step : code.steps)
            co_await run_step(env, step, index, children, held);
        if (code.raise_at_end)
            throw ValueError("task raised at its end");
        co_return code.result;
    } catch (const CancelledError&) {
        cancelled = std::current_exception();
    }
    note(env, who(index) + " caught CancelledError");
    switch (code.on_cancel) {
        case OnCancel::propagate:
            break;
        case OnCancel::swallow_and_return:
            co_return code.result;
        case OnCancel::raise_error:
            throw ValueError("cancelled, raising instead");
        case OnCancel::uncancel_and_reraise:
            checked_uncancel(env);
            break;
        case OnCancel::cleanup_then_reraise:
            co_await sleep(code.cleanup);
            break;
    }
    std::rethrow_exception(cancelled);
}

Coro<int> run_task(Env* env, int index) {
    std::exception_ptr error;
    int value = 0;
    try {
        value = co_await task_body(env, index);
    } catch (const std::exception&) {
        error = std::current_exception();
    } catch (const CancelledError&) {
        note(env, who(index) + " raises CancelledError");
        throw;
    }
    if (!error) {
        note(env, who(index) + " returns " + std::to_string(value));
        co_return value;
    }
    note(env, who(index) + " raises " + error_name(error));
    env->observed.failed_tasks.insert(current_task().name());
    std::rethrow_exception(error);
}

Coro<void> cancel_main_at(Env* env, TaskRef main, Duration when) {
    co_await sleep(when - get_running_loop().time());
    const bool cancelled = checked_cancel(env, main);
    note(env, std::string("canceller cancels main -> ") + (cancelled ? "True" : "False"));
}

Coro<int> main_task(Env* env) {
    EventLoop& loop = get_running_loop();
    env->observed.sigint_in_run = loop.signals().disposition(SIGINT);
    if (env->program.user_sigint_handler) {
        // User code installs its own handler inside run() (signal.signal() in Python).
        if (auto* sim_loop = dynamic_cast<sim::SimLoop*>(&loop))
            sim_loop->fake_signals().set_disposition(SIGINT, SignalDisposition::handler);
    }
    if (env->program.external_cancel) {
        create_task(cancel_main_at(env, current_task(), *env->program.external_cancel),
                    {.name = "canceller"});
    }
    co_return co_await run_task(env, 0);
}

std::string task_name_in(const std::string& description) {
    auto start = description.find("name='");
    if (start == std::string::npos)
        return {};
    start += 6;
    return description.substr(start, description.find('\'', start) - start);
}

}  // namespace

const char* outcome_name(Observation::Outcome outcome) {
    switch (outcome) {
        case Observation::Outcome::value:
            return "value";
        case Observation::Outcome::keyboard_interrupt:
            return "KeyboardInterrupt";
        case Observation::Outcome::cancelled:
            return "CancelledError";
        case Observation::Outcome::value_error:
            return "ValueError";
        case Observation::Outcome::process_terminated:
            return "ProcessTerminated";
        case Observation::Outcome::deadlock:
            return "DeadlockError";
        case Observation::Outcome::other:
            return "other";
    }
    return "?";
}

std::ostream& operator<<(std::ostream& out, const Program& program) {
    for (std::size_t i = 0; i < program.tasks.size(); ++i) {
        const TaskCode& task = program.tasks[i];
        out << (i == 0 ? "main" : "t" + std::to_string(i))
            << " [on cancel: " << on_cancel_name(task.on_cancel);
        if (task.on_cancel == OnCancel::cleanup_then_reraise)
            out << " " << ms(task.cleanup);
        out << (task.raise_at_end ? ", raises at end" : ", returns " + std::to_string(task.result))
            << "]:";
        for (const Step& step : task.steps) {
            out << " ";
            switch (step.kind) {
                case Step::Kind::sleep:
                    out << "sleep(" << ms(step.duration) << ")";
                    break;
                case Step::Kind::yield:
                    out << "yield";
                    break;
                case Step::Kind::busy:
                    out << "busy(" << ms(step.duration) << ")";
                    break;
                case Step::Kind::spawn:
                    out << "spawn(t" << step.target << ")";
                    break;
                case Step::Kind::await_child:
                    out << "await(child " << step.target << ")";
                    break;
                case Step::Kind::gather:
                    out << "gather";
                    break;
                case Step::Kind::cancel_child:
                    out << "cancel(child " << step.target << ")";
                    break;
                case Step::Kind::raise:
                    out << "raise";
                    break;
                case Step::Kind::executor:
                    out << (step.hangs ? "executor(hangs)" : "executor");
                    break;
                case Step::Kind::generator:
                    out << "generator(" << step.count << " x " << ms(step.duration)
                        << (step.target == 1   ? ", aclose"
                            : step.target == 2 ? ", hold"
                                               : ", drop")
                        << ")";
                    break;
                case Step::Kind::timeout:
                    out << "timeout(" << ms(step.duration) << ", sleep " << ms(step.inner) << ")";
                    break;
                case Step::Kind::group:
                    out << "group(t" << step.target << ", t" << step.target2 << ")";
                    break;
            }
        }
        out << "\n";
    }
    out << "SIGINT at:";
    for (Duration d : program.sigints)
        out << " " << ms(d);
    for (std::uint64_t step : program.sigint_steps)
        out << " (during step " << step << ")";
    if (program.external_cancel)
        out << "; main cancelled by another task at " << ms(*program.external_cancel);
    if (!program.main_thread)
        out << "; off the main thread";
    if (program.sigint_before == SignalDisposition::ignored)
        out << "; SIGINT ignored before run()";
    if (program.sigint_before == SignalDisposition::handler)
        out << "; another SIGINT handler before run()";
    if (program.user_sigint_handler)
        out << "; main installs its own SIGINT handler";
    out << "; workers " << program.workers << "; choices [";
    for (std::size_t i = 0; i < program.choices.size(); ++i)
        out << (i ? " " : "") << program.choices[i];
    out << "]";
    return out;
}

std::string describe(const Program& program) {
    std::ostringstream out;
    out << program;
    return out.str();
}

Observation execute(const Program& program, bool full_trace) {
    Observation observed;
    Env env{program, observed, {}, 0, {}};
    std::shared_ptr<sim::SimLoop> loop;
    sim::SimOptions options;
    options.choices = std::make_shared<sim::ScriptedChoices>(program.choices);
    options.max_timer_lateness = program.max_lateness;
    options.executor.workers = static_cast<std::size_t>(std::max(1, program.workers));
    options.executor.cost = sim::never_finishes_if_named(
        "hang", sim::random_cost(std::chrono::milliseconds(1), std::chrono::milliseconds(2000)));
    if (!program.job_costs.empty()) {
        options.executor.cost = [costs = program.job_costs](
                                    const sim::JobInfo& job,
                                    sim::ChoiceSource&) -> std::optional<Duration> {
            if (job.name == "hang")
                return std::nullopt;
            return costs[job.index % costs.size()];
        };
    }
    auto record = [&observed, &program, &loop](const std::string& text) {
        if (program.record_events && loop)
            observed.events.emplace_back(loop->time(), text);
    };
    RunnerOptions runner_options;
    runner_options.executor_shutdown_timeout = program.executor_timeout;
    runner_options.sigint_grace_period = program.grace;
    runner_options.loop_factory = [&] {
        loop = std::make_shared<sim::SimLoop>(options);
        loop->fake_signals().set_main_thread(program.main_thread);
        if (program.sigint_before != SignalDisposition::default_action)
            loop->fake_signals().set_disposition(SIGINT, program.sigint_before);
        for (Duration when : program.sigints)
            loop->fake_signals().schedule_at(when, SIGINT);
        for (std::uint64_t step : program.sigint_steps)
            loop->fake_signals().schedule_at_step(step, SIGINT);
        loop->set_log_handler(
            [&observed, record, raw = loop.get()](LogLevel, const std::string& line) {
                if (line.find("The executor did not finishing joining") != std::string::npos) {
                    observed.executor_warnings.push_back(raw->time());
                    record("warning executor-join-timeout");
                }
            });
        loop->set_exception_handler([&observed, record](EventLoop&,
                                                        const ExceptionContext& context) {
            if (context.message.find("was destroyed but it is pending") != std::string::npos) {
                ++observed.destroyed_pending_reports;
                record("report destroyed-pending " +
                       (context.task ? context.task.name() : std::string("?")));
            } else if (context.message.find("exception was never retrieved") != std::string::npos) {
                if (context.future) {
                    ++observed.reported[task_name_in(context.future->description)];
                    record("report never-retrieved " + task_name_in(context.future->description));
                }
            } else if (context.message == "unhandled exception during asyncio.run() shutdown" &&
                       context.task) {
                ++observed.reported["shutdown:" + context.task.name()];
                record("report shutdown " + context.task.name());
            } else {
                record("report other " + context.message);
            }
        });
        return loop;
    };
    const std::int64_t frames_before = detail::live_coroutine_frames();
    try {
        observed.value = run(main_task(&env), runner_options);
        observed.outcome = Observation::Outcome::value;
    } catch (const KeyboardInterrupt&) {
        observed.outcome = Observation::Outcome::keyboard_interrupt;
    } catch (const CancelledError&) {
        observed.outcome = Observation::Outcome::cancelled;
    } catch (const ProcessTerminated&) {
        observed.outcome = Observation::Outcome::process_terminated;
    } catch (const sim::DeadlockError& e) {
        observed.outcome = Observation::Outcome::deadlock;
        observed.other_error = e.what();
    } catch (const ValueError&) {
        observed.outcome = Observation::Outcome::value_error;
    } catch (const std::exception& e) {
        observed.other_error = e.what();
    } catch (const BaseException& e) {
        observed.other_error = std::string(e.type_name()) + ": " + e.what();
    }
    observed.frames_after = detail::live_coroutine_frames() - frames_before;
    if (observed.outcome == Observation::Outcome::value)
        record("outcome value " + std::to_string(observed.value));
    else if (observed.outcome == Observation::Outcome::other)
        record("outcome other " + observed.other_error);
    else
        record(std::string("outcome ") + outcome_name(observed.outcome));
    if (loop) {
        observed.end_time = loop->time();
        observed.loop_closed = loop->is_closed();
        observed.pending_tasks_after = loop->all_tasks().size();
        observed.digest = loop->trace().digest();
        if (sim::FakeExecutor* executor = loop->fake_executor_if_made()) {
            observed.executor_shut_down = executor->is_shutdown();
            observed.hung_jobs = executor->hung_jobs();
        }
        observed.sigint_after = loop->fake_signals().disposition(SIGINT);
        Duration last{};
        int installs = 0;
        for (const sim::TraceEntry& entry : loop->trace().entries()) {
            if (entry.time < last)
                observed.time_monotonic = false;
            last = entry.time;
            if (entry.kind == "executor" && entry.text == "join requested" &&
                !observed.executor_join_started) {
                observed.executor_join_started = entry.time;
            }
            if (entry.kind == "signal" && entry.text == "SIGINT handled")
                observed.last_sigint_handled = entry.time;
            if (entry.kind == "signal" && entry.text == "handler installed for SIGINT" &&
                ++installs == 2) {
                observed.close_started = entry.time;
            }
            if (entry.kind == "signal" && entry.text == "SIGINT arrived" && installs >= 2)
                observed.close_interrupted = true;
        }
        observed.sigint_installs = installs;
        const auto& entries = loop->trace().entries();
        std::size_t first = entries.size() > 25 ? entries.size() - 25 : 0;
        observed.trace_excerpt = loop->trace().format(first, 25);
        if (full_trace)
            observed.full_trace = loop->trace().format(0, entries.size());
    }
    for (const std::string& name : env.collected)
        observed.retrieved[name] = 1;
    return observed;
}

}  // namespace props
