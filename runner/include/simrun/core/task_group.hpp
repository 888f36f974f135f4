#pragma once
// TaskGroup: structured concurrency, as asyncio.TaskGroup (3.13 rules). The body creates tasks
// in the group; the group waits for all of them. The first task that fails cancels the others
// and the body; the errors come out together as an ExceptionGroup. KeyboardInterrupt and
// SystemExit from a task are rethrown as they are.
//
//     co_await task_group([](TaskGroup& group) -> Coro<void> {
//         group.create_task(fetch("a"));
//         group.create_task(fetch("b"));
//         co_return;
//     });

#include <exception>
#include <memory>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

#include "simrun/core/coro.hpp"
#include "simrun/core/event_loop.hpp"
#include "simrun/core/future.hpp"
#include "simrun/core/task.hpp"

namespace simrun {

/// A set of tasks that finish together. Only usable inside task_group().
class TaskGroup {
  public:
    TaskGroup(const TaskGroup&) = delete;
    TaskGroup& operator=(const TaskGroup&) = delete;

    /// Starts `coro` as a task of the group. RuntimeError if the group is finished or
    /// shutting down (a task failed or the body threw).
    template <class T>
    Task<T> create_task(Coro<T> coro, TaskOptions options = {},
                        SourceLocation where = SourceLocation::current()) {
        check_can_create();
        Task<T> task = loop_->create_task(std::move(coro), std::move(options), where);
        track(task);
        return task;
    }

    /// Runs `body(group)` and waits for every task of the group (asyncio's `async with`).
    template <class Body>
    friend Coro<void> task_group(Body body);

  private:
    TaskGroup();
    void check_can_create();
    void track(const TaskRef& task);
    void on_task_done(const TaskRef& task);
    void abort();
    /// asyncio's __aexit__: waits for the tasks and throws what the rules say.
    Coro<void> exit(std::exception_ptr body_error);

    EventLoop* loop_;
    TaskRef parent_;
    std::vector<TaskRef> tasks_;  // not done yet, in creation order
    std::vector<std::exception_ptr> errors_;
    std::exception_ptr base_error_;
    Future<void> on_completed_;
    bool exiting_ = false;
    bool aborting_ = false;
    bool parent_cancel_requested_ = false;
    std::shared_ptr<TaskGroup*> alive_;  // lets done callbacks detect a finished group
};

template <class Body>
Coro<void> task_group(Body body) {
    TaskGroup group;
    std::exception_ptr body_error;
    try {
        co_await body(group);
    } catch (...) {
        body_error = std::current_exception();
    }
    co_await group.exit(body_error);
}

}  // namespace simrun
