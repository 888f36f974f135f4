#include "simrun/core/task.hpp"

#include <array>
#include <cstring>

#include "simrun/core/detail/text_hash.hpp"
#include "simrun/core/event_loop.hpp"

namespace simrun {
namespace detail {
namespace {
thread_local TaskBase* running_task = nullptr;

/// Marks `task` as the running task for the scope of one step.
class RunningTaskScope {
  public:
    explicit RunningTaskScope(TaskBase& task) {
        if (running_task != nullptr) {
            throw RuntimeError("Cannot enter into task " + task.describe() +
                               " while another task " + running_task->describe() +
                               " is being executed.");
        }
        running_task = &task;
    }
    ~RunningTaskScope() { running_task = nullptr; }
    RunningTaskScope(const RunningTaskScope&) = delete;
    RunningTaskScope& operator=(const RunningTaskScope&) = delete;
};

}  // namespace

TaskBase* current_task_state() noexcept {
    return running_task;
}

std::optional<std::string> take_start_cancellation() {
    return running_task != nullptr ? running_task->take_start_cancellation() : std::nullopt;
}

void suspend_current_task(FutureStateBase& future, std::coroutine_handle<> at) {
    TaskBase* task = running_task;
    if (task == nullptr)
        throw RuntimeError("a future can only be awaited from inside a task");
    task->wait_on(future, at);
}

void deliver_pending_cancellation(bool awaited_cancelled) {
    if (running_task != nullptr)
        running_task->deliver_pending_cancellation(awaited_cancelled);
}

TaskBase::TaskBase(EventLoop& loop, const Context* context, std::string name,
                   SourceLocation created_at, std::uint64_t number)
    : FutureStateBase(loop, created_at),
      name_(number != 0 ? nullptr : std::make_unique<std::string>(std::move(name))),
      number_(number) {
    if (context != nullptr) {
        given_context_ = context->shared_data();
    } else {
        own_context_.vars = current_context_data().vars;
    }
}

Context TaskBase::context() const {
    if (given_context_)
        return Context::sharing(given_context_, *given_context_);
    return Context::sharing(shared_from_this(), const_cast<ContextData&>(own_context_));
}

TaskBase::~TaskBase() {
    if (waiting_on_)
        waiting_on_->remove_waiter(*this);
    // The timer's callback points to this task. A sleep disarms it when it ends; this is for
    // a timer the loop may still hold if the task's frame went some other way.
    if (sleep_timer_)
        sleep_timer_->cancelled.store(true, std::memory_order_relaxed);
}

namespace {
/// What follows a loop-given task name in traces, " (worker() from main.cpp:42)", and its hash:
/// the same for every task of one coroutine function made at one site, so it is composed once
/// while it stays in a small memo (only a memo: texts and hashes never depend on it).
struct TraceSuffix {
    const char* function = nullptr;
    const char* made_by = nullptr;
    const char* file = nullptr;
    std::uint32_t line = 0;
    bool filled = false;
    std::string text;
    std::uint64_t hash = 0;
};

void compose_suffix(TraceSuffix& suffix) {
    // What the task runs (its coroutine function; a lambda's "operator()" says nothing) and
    // where it was created: the user's code, not the library's.
    const char* function = suffix.function;
    const bool named_function =
        function != nullptr && *function != '\0' && std::strcmp(function, "operator()") != 0;
    const bool known_site = suffix.made_by != nullptr || suffix.line != 0;
    std::string& text = suffix.text;
    text.clear();
    if (named_function || known_site) {
        text += " (";
        if (named_function) {
            text.append(function).append("()").append(!known_site                 ? ""
                                                      : suffix.made_by != nullptr ? " in "
                                                                                  : " from ");
        }
        if (suffix.made_by != nullptr) {
            text += suffix.made_by;
        } else if (known_site) {
            text += SourceLocation{"", suffix.file, suffix.line}.short_text();
        }
        text += ')';
    }
    suffix.hash = text_hash(text);
}

// Trivially destructible, so that it can be read while the thread's thread_locals are destroyed.
thread_local bool suffix_memo_gone = false;

struct SuffixMemo {
    std::array<TraceSuffix, 64> entries;
    ~SuffixMemo() { suffix_memo_gone = true; }
};

/// The suffix from the memo; composed into `spare` once the thread's memo is destroyed (a loop
/// run by a thread_local's destructor).
const TraceSuffix& trace_suffix(const SourceLocation& coro_origin, const char* made_by,
                                const SourceLocation& site, TraceSuffix& spare) {
    const char* file = made_by != nullptr ? nullptr : site.file;
    const std::uint32_t line = made_by != nullptr ? 0 : site.line;
    const auto fill = [&](TraceSuffix& entry) -> const TraceSuffix& {
        entry.function = coro_origin.function;
        entry.made_by = made_by;
        entry.file = file;
        entry.line = line;
        entry.filled = true;
        compose_suffix(entry);
        return entry;
    };
    if (suffix_memo_gone)
        return fill(spare);
    thread_local SuffixMemo memo;
    const auto key = reinterpret_cast<std::uintptr_t>(coro_origin.function) ^
                     (reinterpret_cast<std::uintptr_t>(made_by) >> 2) ^
                     (reinterpret_cast<std::uintptr_t>(file) >> 4) ^ line;
    TraceSuffix& entry = memo.entries[(key ^ (key >> 7)) % memo.entries.size()];
    if (entry.filled && entry.function == coro_origin.function && entry.made_by == made_by &&
        entry.file == file && entry.line == line)
        return entry;
    return fill(entry);
}
/// "Task-<number>" written at the end of `buffer`, without allocating.
std::string_view spell_numbered(std::uint64_t number, TaskBase::NameBuffer& buffer) {
    char* end = buffer.data() + buffer.size();
    char* p = end;
    do {
        *--p = static_cast<char>('0' + number % 10);
        number /= 10;
    } while (number > 0);
    constexpr std::string_view prefix = TaskBase::NumberedName::prefix;
    p -= prefix.size();
    std::memcpy(p, prefix.data(), prefix.size());
    return {p, static_cast<std::size_t>(end - p)};
}
/// The hash of "Task-<number>" in a trace: made of the prefix's and the number.
std::uint64_t numbered_hash(std::uint64_t number) noexcept {
    return hash_combine(TaskBase::NumberedName::prefix_hash, number);
}
}  // namespace

std::string TaskBase::numbered_name(std::uint64_t number) {
    NameBuffer buffer;
    return std::string(spell_numbered(number, buffer));
}

std::string_view TaskBase::name_text(NameBuffer& buffer) const {
    return name_ ? std::string_view(*name_) : spell_numbered(number_, buffer);
}

bool TaskBase::numbered_trace_name(NumberedName& parts) const {
    if (!named_by_loop || number_ == 0)
        return false;
    TraceSuffix spare;
    const TraceSuffix& suffix = trace_suffix(coro_origin_, made_by, created_at(), spare);
    parts.number = number_;
    parts.suffix_hash = suffix.hash;
    if (trace_hash_ == 0)
        trace_hash_ = hash_combine(numbered_hash(number_), suffix.hash);
    if (&suffix == &spare) {
        parts.spare = std::move(spare.text);
        parts.suffix = parts.spare;
    } else {
        parts.suffix = suffix.text;
    }
    return true;
}

void TaskBase::append_trace_name(std::string& text) const {
    NameBuffer buffer;
    text += name_text(buffer);
    if (named_by_loop) {
        TraceSuffix spare;
        text += trace_suffix(coro_origin_, made_by, created_at(), spare).text;
    }
}

std::uint64_t TaskBase::trace_hash() const {
    if (trace_hash_ == 0)
        keep_trace_hash(nullptr);
    return trace_hash_;
}

std::uint64_t TaskBase::compose_trace_name(std::string& out) const {
    out.clear();
    return keep_trace_hash(&out);
}

std::uint64_t TaskBase::keep_trace_hash(std::string* out) const {
    // The name's hash (a name the loop gave is hashed by its parts, without spelling it), then
    // (for a name the loop gave) the suffix's.
    const bool numbered = named_by_loop && number_ != 0;
    NameBuffer buffer;
    const std::string_view name = numbered && out == nullptr ? "" : name_text(buffer);
    if (out != nullptr)
        out->append(name);
    trace_hash_ = numbered ? numbered_hash(number_) : text_hash(name);
    if (named_by_loop) {
        TraceSuffix spare;
        const TraceSuffix& suffix = trace_suffix(coro_origin_, made_by, created_at(), spare);
        if (out != nullptr)
            out->append(suffix.text);
        trace_hash_ = hash_combine(trace_hash_, suffix.hash);
    }
    return trace_hash_;
}

void TaskBase::start() {
    keep_alive_ = std::static_pointer_cast<TaskBase>(shared_from_this());
    loop().task_started(*this);
    schedule_step();
}

void TaskBase::schedule_step() {
    loop().schedule_task_step(keep_alive_, false);
}

bool TaskBase::cancel(std::string message) {
    check_thread();
    mark_retrieved();
    if (done())
        return false;
    if (cancelling_waiter_) {
        // The request went round an await cycle (this task awaits, maybe through others, a
        // task that awaits this one) and came back here. asyncio recurses until RecursionError;
        // here the cycle is broken: this task's await ends with CancelledError at its next
        // step, as if what it awaits had been cancelled. Not counted again: it is the same
        // request.
        if (!pending_error_)
            interrupt_wait(std::make_exception_ptr(CancelledError(message)));
        return true;
    }
    ++cancels_requested_;
    if (waiting_on_) {
        std::shared_ptr<FutureStateBase> waiter = waiting_on_;  // a cycle may reset waiting_on_
        cancelling_waiter_ = true;
        bool cancelled = false;
        try {
            cancelled = waiter->cancel(message);
        } catch (...) {
            cancelling_waiter_ = false;
            throw;
        }
        cancelling_waiter_ = false;
        if (cancelled)
            return true;
    }
    if (sleep_ == Sleep::armed) {
        cancel_sleep(std::make_exception_ptr(CancelledError(std::move(message))));
        return true;
    }
    must_cancel_ = true;
    set_text(pending_cancel_message_, std::move(message));
    return true;
}

void TaskBase::interrupt_wait(std::exception_ptr error) {
    pending_error_ = std::move(error);
    if (waiting_on_) {
        waiting_on_->remove_waiter(*this);
        waiting_on_.reset();
    }
    yielded_ = true;
    schedule_step();
}

int TaskBase::uncancel() noexcept {
    if (cancels_requested_ > 0) {
        --cancels_requested_;
        if (cancels_requested_ == 0)
            must_cancel_ = false;
    }
    return cancels_requested_;
}

void TaskBase::wait_on(FutureStateBase& future, std::coroutine_handle<> at) {
    // As asyncio, these errors reach the task at its next step (other ready callbacks run
    // first, and a cancellation requested meanwhile replaces them).
    if (future.loop_if_alive() != loop_if_alive()) {
        resume_at_ = at;
        interrupt_wait(std::make_exception_ptr(RuntimeError("Task " + describe() + " got Future " +
                                                            future.describe() +
                                                            " attached to a different loop")));
        return;
    }
    if (&future == this) {
        resume_at_ = at;
        interrupt_wait(
            std::make_exception_ptr(RuntimeError("Task cannot await on itself: " + describe())));
        return;
    }
    waiting_on_ = future.shared_from_this();
    resume_at_ = at;
    future.add_waiter(*this);
    if (must_cancel_) {
        try {
            if (waiting_on_->cancel(text_or_empty(pending_cancel_message_)))
                must_cancel_ = false;
        } catch (...) {  // the await fails at once: the task must not stay in the list
            waiting_on_->remove_waiter(*this);
            waiting_on_.reset();
            throw;
        }
    }
}

void TaskBase::yield_once(std::coroutine_handle<> at) {
    resume_at_ = at;
    yielded_ = true;
    schedule_step();
}

void TaskBase::deliver_pending_cancellation(bool awaited_cancelled) {
    if (must_cancel_) {
        must_cancel_ = false;
        pending_error_ = nullptr;  // a cancellation overtakes an error waiting for this step
        if (awaited_cancelled)
            return;  // the awaited future's own CancelledError is thrown (asyncio keeps it)
        throw CancelledError(text_or_empty(pending_cancel_message_));
    }
    if (pending_error_)
        std::rethrow_exception(std::exchange(pending_error_, nullptr));
}

std::optional<std::string> TaskBase::take_start_cancellation() noexcept {
    if (!std::exchange(start_cancellation_, false))
        return std::nullopt;
    return text_or_empty(pending_cancel_message_);
}

void TaskBase::step(bool wake) {
    if (done())
        return;
    if (wake)
        waiting_on_.reset();
    ContextScope context_scope(context_data());
    RunningTaskScope running_scope(*this);
    if (!started_) {
        started_ = true;
        promise().started = true;
        if (must_cancel_ && promise().takes_start_cancellation) {
            must_cancel_ = false;  // the body takes it (take_start_cancellation)
            start_cancellation_ = true;
        } else if (must_cancel_) {  // cancelled before its first step: the body never runs
            must_cancel_ = false;
            destroy_frame();
            finish_cancelled(text_or_empty(pending_cancel_message_));
            loop().task_finished(*this);
            keep_alive_.reset();  // the caller still holds a reference
            return;
        }
        resume_at_ = frame();
    }
    yielded_ = false;
    std::exchange(resume_at_, {}).resume();
    start_cancellation_ = false;
    if (frame().done())
        complete_from_frame();
}

void TaskBase::complete_from_frame() {
    std::exception_ptr error = promise().exception;
    bool escapes = false;
    if (const CancelledError* cancelled = as_cancellation(error)) {
        std::string message = cancelled->what();  // before the frame (and `error`) may go
        destroy_frame();
        finish_cancelled(std::move(message));
    } else if (error) {
        destroy_frame();
        escapes = escapes_loop(error);
        set_exception(error);
    } else if (must_cancel_) {  // returned normally while a cancellation was pending
        must_cancel_ = false;
        destroy_frame();
        finish_cancelled(text_or_empty(pending_cancel_message_));
    } else {
        store_value();
        destroy_frame();
        finish();
    }
    loop().task_finished(*this);
    keep_alive_.reset();  // the step's caller still holds a reference
    if (escapes)
        std::rethrow_exception(error);
}

void TaskBase::abandon() noexcept {
    auto self = std::move(keep_alive_);
    if (frame())
        promise().started = true;  // one report per task is enough
    clear_done_callbacks();        // they hold others (a gather's state...) that may hold this task
    destroy_frame();
    if (waiting_on_)
        waiting_on_->clear_done_callbacks();
    waiting_on_.reset();
    sleep_ = Sleep::none;  // the loop dropped its timers
}

std::string TaskBase::describe() const {
    if (describing_)
        return "...";  // an await cycle leads back here (reprlib's recursive_repr)
    describing_ = true;
    struct Done {
        bool& flag;
        ~Done() { flag = false; }
    } done_describing{describing_};
    std::string text =
        "<Task " + status_text() + " name='" + name() + "' coro=<" + coro_origin_.function + "()>";
    if (status() == Status::finished && exception_)
        text += " exception=" + describe_exception(exception_);
    if (!done() && waiting_on_)
        text += " wait_for=" + waiting_on_->describe();
    else if (!done() && sleep_ != Sleep::none)
        text += describe_sleep();
    EventLoop* loop = loop_if_alive();
    if (loop != nullptr && loop->get_debug())
        text += " created at " + created_at().short_text();
    return text + ">";
}

FutureSnapshot TaskBase::snapshot() const {
    FutureSnapshot copy = FutureStateBase::snapshot();
    copy.name = name();
    copy.coroutine = coro_origin_;
    if (!done())
        copy.awaiting = awaiting();
    // Made while the task is destroyed (a never-retrieved report): the task cannot lend its
    // own context any more, so the snapshot holds a copy.
    copy.context = given_context_ ? context() : Context::holding(own_context_.vars);
    return copy;
}

std::string TaskBase::awaiting() const {
    if (!started_)
        return "its first step";
    if (yielded_)
        return "a yield";
    if (sleep_ != Sleep::none)
        return "sleep";
    if (waiting_on_) {
        if (!waiting_on_->label().empty())
            return std::string(waiting_on_->label());
        return waiting_on_->describe();
    }
    return "nothing";
}

}  // namespace detail

const std::string& TaskRef::name() const {
    return state_->name();
}
void TaskRef::set_name(std::string name) {
    state_->set_name(std::move(name));
}
bool TaskRef::done() const {
    return state_->done();
}
bool TaskRef::cancelled() const {
    return state_->cancelled();
}
bool TaskRef::cancel(std::string message) {
    return state_->cancel(std::move(message));
}
int TaskRef::cancelling() const {
    return state_->cancelling();
}
int TaskRef::uncancel() {
    return state_->uncancel();
}
std::exception_ptr TaskRef::exception() const {
    return state_->exception();
}
EventLoop& TaskRef::get_loop() const {
    return state_->loop();
}
std::string TaskRef::describe() const {
    return state_->describe();
}

FutureSnapshot snapshot_of(const TaskRef& task) {
    if (!task)
        throw ValueError("snapshot_of() needs a task, got an empty TaskRef");
    return task.state()->snapshot();
}

}  // namespace simrun
