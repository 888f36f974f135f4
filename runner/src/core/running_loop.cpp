// Which loop is running on this thread, the thread's current loop, the loop factory, and the
// free functions built on them (get_running_loop, new_event_loop, current_task, ...).
#include "running_loop.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "simrun/core/event_loop.hpp"
#include "simrun/epoll/epoll_loop.hpp"

namespace simrun {
namespace {

thread_local EventLoop* running_loop = nullptr;
thread_local std::shared_ptr<EventLoop> thread_current_loop;
std::atomic<std::uint64_t> set_event_loop_calls{0};

std::mutex& factory_mutex() {
    static std::mutex mutex;
    return mutex;
}
LoopFactory& default_factory() {
    static LoopFactory factory;
    return factory;
}

}  // namespace

void detail::set_running_loop(EventLoop* loop) noexcept {
    running_loop = loop;
}

EventLoop& get_running_loop() {
    if (running_loop == nullptr)
        throw RuntimeError("no running event loop");
    return *running_loop;
}

EventLoop* running_loop_or_null() noexcept {
    return running_loop;
}

EventLoop& get_event_loop() {
    if (running_loop != nullptr)
        return *running_loop;
    if (thread_current_loop)
        return *thread_current_loop;
    throw RuntimeError("There is no current event loop in this thread.");
}

void set_event_loop(std::shared_ptr<EventLoop> loop) {
    if (loop)
        set_event_loop_calls.fetch_add(1, std::memory_order_relaxed);
    thread_current_loop = std::move(loop);
}

std::uint64_t set_event_loop_count() noexcept {
    return set_event_loop_calls.load(std::memory_order_relaxed);
}

std::shared_ptr<EventLoop> new_event_loop() {
    LoopFactory factory;
    {
        std::lock_guard lock(factory_mutex());
        factory = default_factory();
    }
    if (!factory)
        return std::make_shared<EpollLoop>();
    return factory();
}

void set_default_loop_factory(LoopFactory factory) {
    std::lock_guard lock(factory_mutex());
    default_factory() = std::move(factory);
}

bool debug_mode_from_environment() noexcept {
    const char* value = std::getenv("SIMRUN_DEBUG");
    return value != nullptr && *value != '\0';
}

TaskRef current_task() {
    detail::TaskBase* task = detail::current_task_state();
    if (task == nullptr)
        return {};
    return TaskRef(std::static_pointer_cast<detail::TaskBase>(task->shared_from_this()));
}

std::vector<TaskRef> all_tasks(EventLoop* loop) {
    return (loop != nullptr ? *loop : get_running_loop()).all_tasks();
}

}  // namespace simrun
