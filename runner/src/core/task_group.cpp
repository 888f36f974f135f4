#include "simrun/core/task_group.hpp"

#include <algorithm>

namespace simrun {
namespace {
bool is_interrupt(const std::exception_ptr& error) {
    return escapes_loop(error);  // KeyboardInterrupt, SystemExit (and the simulator's kill)
}
}  // namespace

TaskGroup::TaskGroup()
    : loop_(&get_running_loop()),
      parent_(current_task()),
      alive_(std::make_shared<TaskGroup*>(this)) {
    if (!parent_)
        throw RuntimeError("TaskGroup cannot determine the parent task");
}

void TaskGroup::check_can_create() {
    if (exiting_ && tasks_.empty())
        throw RuntimeError("TaskGroup is finished");
    if (aborting_)
        throw RuntimeError("TaskGroup is shutting down");
}

void TaskGroup::track(const TaskRef& task) {
    tasks_.push_back(task);
    std::weak_ptr<TaskGroup*> alive = alive_;
    task.state()->add_done_callback(
        [alive, task] {
            if (auto group = alive.lock())
                (*group)->on_task_done(task);
        },
        "TaskGroup sees the end of");
}

void TaskGroup::abort() {
    aborting_ = true;
    for (TaskRef& task : tasks_) {
        if (!task.done())
            task.cancel();
    }
}

void TaskGroup::on_task_done(const TaskRef& task) {
    std::erase(tasks_, task);
    if (on_completed_ && tasks_.empty() && !on_completed_.done())
        on_completed_.set_result();
    if (task.cancelled())
        return;
    std::exception_ptr error = task.exception();
    if (!error)
        return;
    errors_.push_back(error);
    if (is_interrupt(error) && !base_error_)
        base_error_ = error;
    if (parent_.done()) {
        ExceptionContext context;
        context.message = "Task " + task.describe() + " has errored out but its parent task " +
                          parent_.describe() + " is already completed";
        context.exception = error;
        context.task = task;
        loop_->call_exception_handler(context);
        return;
    }
    if (!aborting_ && !parent_cancel_requested_) {
        abort();
        parent_cancel_requested_ = true;
        parent_.cancel();
    }
}

Coro<void> TaskGroup::exit(std::exception_ptr body_error) {
    exiting_ = true;
    if (body_error && is_interrupt(body_error) && !base_error_)
        base_error_ = body_error;
    std::exception_ptr propagate_cancellation;
    if (is_cancellation(body_error))
        propagate_cancellation = body_error;
    if (body_error && !aborting_)
        abort();

    while (!tasks_.empty()) {
        if (!on_completed_) {
            on_completed_ = loop_->create_future<void>();
            on_completed_.set_label("TaskGroup tasks");
        }
        std::exception_ptr cancelled;
        try {
            co_await on_completed_;
        } catch (const CancelledError&) {
            cancelled = std::current_exception();
        }
        if (cancelled && !aborting_) {
            propagate_cancellation = cancelled;
            abort();
        }
        on_completed_ = Future<void>();
    }
    alive_.reset();

    if (base_error_)
        std::rethrow_exception(base_error_);
    if (parent_cancel_requested_ && parent_.uncancel() == 0)
        propagate_cancellation = nullptr;
    if (propagate_cancellation && errors_.empty())
        std::rethrow_exception(propagate_cancellation);
    if (body_error && !is_cancellation(body_error))
        errors_.push_back(body_error);
    if (!errors_.empty()) {
        if (parent_.cancelling() > 0) {
            parent_.uncancel();
            parent_.cancel();
        }
        throw ExceptionGroup("unhandled errors in a TaskGroup", errors_);
    }
}

}  // namespace simrun
