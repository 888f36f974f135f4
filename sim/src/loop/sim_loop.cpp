#include "simrun/sim/loop/sim_loop.hpp"

#include <algorithm>

#include "simrun/sim/network/sim_network.hpp"

namespace simrun::sim {
namespace {
const char* level_name(LogLevel level) {
    switch (level) {
        case LogLevel::debug:
            return "DEBUG";
        case LogLevel::info:
            return "INFO";
        case LogLevel::warning:
            return "WARNING";
        case LogLevel::error:
            return "ERROR";
    }
    return "?";
}
}  // namespace

SimLoop::SimLoop(SimOptions options)
    : options_(std::move(options)),
      choices_(options_.choices ? options_.choices
                                : std::make_shared<SeededChoices>(options_.seed)),
      signals_(*this),
      trace_(options_.trace_limit),
      time_limit_(options_.time_limit),
      step_limit_(options_.step_limit) {
    set_step_observer(this);
}

SimLoop::~SimLoop() {
    if (!is_closed() && !is_running()) {
        warn("ResourceWarning", "unclosed event loop <SimLoop>");
        close();
    }
    set_step_observer(nullptr);
}

io::Network& SimLoop::network() {
    return sim_network();
}

SimNetwork& SimLoop::sim_network() {
    if (!network_) {
        check_closed();
        network_ = std::make_unique<SimNetwork>(*this);
    }
    return *network_;
}

void SimLoop::note(std::string_view kind, std::string_view text) {
    trace_.add(steps(), now_, kind, text);
}

FakeExecutor& SimLoop::fake_executor() {
    if (!executor_)
        set_default_executor(make_default_executor());
    return *executor_;
}

std::shared_ptr<Executor> SimLoop::make_default_executor() {
    if (!executor_)
        executor_ = std::make_shared<FakeExecutor>(*this, options_.executor);
    return executor_;
}

std::uint64_t SimLoop::timer_sequence() noexcept {
    ++timers_made_;
    if (!options_.shuffle_timer_ties)
        return timers_made_;
    return (choices_->choose(std::uint64_t{1} << 20) << 40) | timers_made_;
}

namespace {
constexpr TraceKind call_kind{"call"};
constexpr TraceKind run_kind{"run"};
constexpr TraceKind time_kind{"time"};
}  // namespace

void SimLoop::before_callback(const detail::HandleState& handle) {
    inside_callback_ = true;
    if (handle.purpose != nullptr) {
        const auto subject = handle.about.lock();
        detail::FutureStateBase::NumberedName parts;
        if (subject && subject->numbered_trace_name(parts)) {
            // "sleep wake-up of Task-7 (worker() from main.cpp:4)": one text for the tasks of
            // one site, each entry with its task's number.
            const std::uint64_t purpose_hash = detail::HandleState::purpose_hash(handle.purpose, 0);
            trace_.add_numbered(
                steps(), now_, call_kind,
                detail::HandleState::purpose_hash(handle.purpose, subject->trace_hash()),
                detail::hash_combine(purpose_hash, parts.suffix_hash), parts.number,
                [&](std::string& out) {
                    out.append(handle.purpose).append(1, ' ').append(parts.prefix);
                },
                [&](std::string& out) { out.append(parts.suffix); });
            signals_.on_step(steps());
            return;
        }
        // "sleep wake-up of worker-1": the subject's name and hash come from the memo.
        const NameMemo* named = subject ? &memo_of(*subject) : nullptr;
        trace_.add_with(steps(), now_, call_kind,
                        detail::HandleState::purpose_hash(handle.purpose, named ? named->hash : 0),
                        [&](std::string& out) {
                            out += handle.purpose;
                            if (named != nullptr)
                                out.append(1, ' ').append(named->name);
                        });
    } else if (handle.label) {
        trace_.add_with(steps(), now_, call_kind, handle.trace_hash(),
                        [&handle](std::string& out) { handle.append_text(out); });
    } else {
        // "main.cpp:12": by creation site, from the memo.
        const SourceLocation& site = handle.created_at;
        SiteMemo& memo =
            site_memo_[((reinterpret_cast<std::uintptr_t>(site.file) >> 3) ^ site.line) %
                       site_memo_.size()];
        if (memo.file != site.file || memo.line != site.line) {
            memo.file = site.file;
            memo.line = site.line;
            memo.hash = handle.trace_hash();
            memo.text.clear();
            handle.append_text(memo.text);
        }
        trace_.add_with(steps(), now_, call_kind, memo.hash,
                        [&memo](std::string& out) { out.assign(memo.text); });
    }
    signals_.on_step(steps());
}

void SimLoop::before_task_step(const detail::TaskBase& task) {
    inside_callback_ = true;
    detail::FutureStateBase::NumberedName parts;
    if (task.numbered_trace_name(parts)) {
        // "run Task-7 (worker() from main.cpp:4)": one text for the tasks of one site.
        trace_.add_numbered(
            steps(), now_, run_kind, task.trace_hash(),
            detail::hash_combine(parts.prefix_hash, parts.suffix_hash), parts.number,
            [](std::string& out) { out.append(detail::FutureStateBase::NumberedName::prefix); },
            [&](std::string& out) { out.append(parts.suffix); });
        signals_.on_step(steps());
        return;
    }
    const NameMemo& memo = memo_of(task);
    trace_.add_with(steps(), now_, run_kind, memo.hash,
                    [&memo](std::string& out) { out.assign(memo.name); });
    signals_.on_step(steps());
}

const SimLoop::NameMemo& SimLoop::memo_of(const detail::FutureStateBase& future) {
    // A memo of the names traced lately, by address. An entry is trusted only if the future's
    // kept hash matches (a task renamed, or a new task at a reused address, has another one);
    // a future that keeps no hash (not a task) is composed again. Only text: the digest uses
    // the hashes, which do not depend on the memo.
    NameMemo& memo =
        name_memo_[(reinterpret_cast<std::uintptr_t>(&future) >> 4) % name_memo_.size()];
    if (memo.future != &future || !future.trace_hash_known() || memo.hash != future.trace_hash()) {
        memo.future = &future;
        memo.hash = future.compose_trace_name(memo.name);  // one composition: text and hash
    }
    return memo;
}

void SimLoop::after_callback() {
    inside_callback_ = false;
    throw_if_terminated();
}

void SimLoop::on_log(LogLevel level, const std::string& message) {
    note("log", std::string(level_name(level)) + " " + message);
}

void SimLoop::wait_for_events(std::optional<Duration> timeout) {
    throw_if_terminated();
    if (steps() >= step_limit_)
        report_livelock(LivelockError::Limit::steps, now_);
    if (has_pending_threadsafe())
        timeout = Duration::zero();
    Duration target = now_;
    if (!timeout || *timeout > Duration::zero()) {
        std::optional<Duration> next;
        if (timeout)
            next = saturating_add(now_, *timeout);
        bool timer_is_next = next.has_value();
        auto consider = [&](std::optional<Duration> when) {
            if (when && (!next || *when < *next)) {
                next = std::max(*when, now_);
                timer_is_next = false;
            }
        };
        if (executor_)
            consider(executor_->next_completion());
        consider(signals_.next_arrival());
        if (!next)
            report_deadlock();
        target = *next;
        // Only timers are late (a loop that wakes up late); jobs and signals keep their times.
        if (timer_is_next && target > now_ && options_.max_timer_lateness > Duration::zero()) {
            auto span = static_cast<std::uint64_t>(options_.max_timer_lateness.count()) + 1;
            target = saturating_add(target,
                                    Duration(static_cast<Duration::rep>(choices_->choose(span))));
        }
    }
    if (target > time_limit_)
        report_livelock(LivelockError::Limit::time, target);
    if (target > now_) {
        now_ = target;
        // The time is in the digest already: the text adds nothing to it.
        static const std::uint64_t advance = detail::text_hash("advance to");
        trace_.add_timed(steps(), now_, time_kind, advance, "advance to ");
    }
    deliver_due();
}

void SimLoop::deliver_due() {
    if (executor_)
        executor_->complete_due(now_);
    signals_.arrive_due(now_, false);
}

void SimLoop::busy(Duration duration) {
    if (!inside_callback_) {
        throw RuntimeError(
            "SimLoop::busy() must be called from inside a callback or task of the running loop");
    }
    if (duration < Duration::zero())
        throw ValueError("SimLoop::busy(): negative duration");
    const Duration end = now_ + duration;
    note("busy", "callback busy until " + format_time(end));
    for (;;) {
        std::optional<Duration> next = signals_.next_arrival();
        std::optional<Duration> deadline = signals_.escalation_deadline();
        if (deadline && *deadline <= end && (!next || *deadline < *next)) {
            now_ = *deadline;
            terminate(*signals_.escalation_signal_);
        }
        if (!next || *next > end)
            break;
        now_ = *next;
        signals_.arrive_due(now_, true);
    }
    now_ = end;
}

void SimLoop::terminate(int signum) {
    if (!terminated_) {
        terminated_ = signum;
        note("process", "ended by " + signal_name(signum) + " (default action)");
    }
    throw_if_terminated();
    throw ProcessTerminated(signum, "unreachable");
}

void SimLoop::throw_if_terminated() const {
    if (terminated_) {
        throw ProcessTerminated(*terminated_, "the simulated process was ended by " +
                                                  signal_name(*terminated_) +
                                                  " at t=" + format_time(now_));
    }
}

std::vector<std::string> SimLoop::pending_task_lines() const {
    std::vector<std::string> pending;
    for (const TaskRef& task : all_tasks())
        pending.push_back(task.name() + " awaits " + task.state()->awaiting());
    return pending;
}

std::string SimLoop::pending_report(const std::vector<std::string>& pending) const {
    // Appended piece by piece: " " + std::to_string(...) trips a g++ 12 -O3 false -Wrestrict.
    std::string report;
    if (executor_ && executor_->hung_jobs() > 0) {
        report.append(" ")
            .append(std::to_string(executor_->hung_jobs()))
            .append(" executor job(s) never finish.");
    }
    report += pending.empty() ? " No task is pending." : " Pending tasks:";
    for (const std::string& line : pending)
        report.append("\n  ").append(line);
    return report;
}

void SimLoop::report_deadlock() {
    std::vector<std::string> pending = pending_task_lines();
    std::string message =
        "deadlock at t=" + format_time(now_) +
        ": nothing is ready and no timer, executor job or signal is coming, so a real loop "
        "would wait forever." +
        pending_report(pending);
    note("deadlock", message);
    throw DeadlockError(message, std::move(pending));
}

void SimLoop::report_livelock(LivelockError::Limit limit, Duration next_event) {
    constexpr std::size_t trace_lines = 20;
    const bool time = limit == LivelockError::Limit::time;
    const std::string option = time ? (limit_hit_ ? "cleanup_time" : "time_limit")
                                    : (limit_hit_ ? "cleanup_steps" : "step_limit");
    const std::string origin =
        limit_hit_
            ? " (the clean-up budget after an earlier LivelockError, SimOptions::" + option + ")"
            : " (SimOptions::" + option + ")";
    std::string message =
        "livelock at t=" + format_time(now_) + " after " + std::to_string(steps()) + " callbacks: ";
    if (time) {
        message += "the virtual-time limit " + format_time(time_limit_) + origin +
                   " was reached; the next event is due at t=" + format_time(next_event) + ".";
    } else {
        message += "the step limit of " + std::to_string(step_limit_) + " callbacks" + origin +
                   " was reached with more to run.";
    }
    const std::string headline = message;
    message +=
        " Something keeps the loop busy without the program finishing (or the run "
        "needs a higher limit).";
    std::vector<std::string> pending = pending_task_lines();
    message += pending_report(pending);
    message += "\nLast trace lines:";
    for (const TraceEntry& entry : trace_.last(trace_lines))
        message += "\n  " + Trace::format_entry(entry);
    note("livelock", headline);
    // The clean-up that follows (Runner::close()) gets a budget of its own.
    time_limit_ = saturating_add(now_, options_.cleanup_time);
    step_limit_ = options_.cleanup_steps > no_step_limit - steps()
                      ? no_step_limit
                      : steps() + options_.cleanup_steps;
    limit_hit_ = true;
    throw LivelockError(message, limit, std::move(pending));
}

void SimLoop::on_close() {
    if (executor_)
        executor_->discard();
    if (network_)
        network_->close_all();  // no socket outlives the loop's life
    note("loop", "closed");
}

LoopFactory factory(SimOptions options) {
    return [options = std::move(options)] { return std::make_shared<SimLoop>(options); };
}

SimLoop& running_sim() {
    auto* loop = dynamic_cast<SimLoop*>(running_loop_or_null());
    if (loop == nullptr)
        throw RuntimeError("simrun::sim: the running loop is not a simrun::sim::SimLoop");
    return *loop;
}

void busy(Duration duration) {
    running_sim().busy(duration);
}

}  // namespace simrun::sim
