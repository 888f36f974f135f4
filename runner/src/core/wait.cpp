#include "simrun/core/wait.hpp"

#include <string>

#include "simrun/core/event_loop.hpp"

namespace simrun::detail {

namespace {

/// What the completion callbacks and the timer share with the waiting coroutine.
struct WaitState {
    std::shared_ptr<FutureState<void>> waiter;
    TimerHandle timer;
    std::size_t left = 0;
    ReturnWhen return_when = ReturnWhen::all_completed;

    void release() {
        if (!waiter->done())
            waiter->set_result();
    }
    /// asyncio's _on_completion(f).
    void on_completion(FutureStateBase& future) {
        --left;
        if (left == 0 || return_when == ReturnWhen::first_completed ||
            (return_when == ReturnWhen::first_exception && !future.cancelled() &&
             future.exception() != nullptr)) {
            timer.cancel();
            release();
        }
    }
};

/// Removes the callbacks and the timer however the wait ends (asyncio's `finally`), also when
/// the frame is destroyed with its task at the loop's close.
class WaitCleanup {
  public:
    WaitCleanup(const std::vector<std::shared_ptr<FutureStateBase>>& futures,
                std::shared_ptr<WaitState> state)
        : futures_(futures), state_(std::move(state)) {
        ids_.reserve(futures_.size());
    }
    ~WaitCleanup() {
        state_->timer.cancel();
        for (std::size_t i = 0; i < ids_.size(); ++i)
            futures_[i]->remove_done_callback(ids_[i]);
    }
    WaitCleanup(const WaitCleanup&) = delete;
    WaitCleanup& operator=(const WaitCleanup&) = delete;
    void added(std::uint64_t id) { ids_.push_back(id); }

  private:
    const std::vector<std::shared_ptr<FutureStateBase>>& futures_;
    std::shared_ptr<WaitState> state_;
    std::vector<std::uint64_t> ids_;
};

}  // namespace

void check_wait_arguments(std::size_t count, ReturnWhen return_when) {
    if (count == 0)
        throw ValueError("Set of Tasks/Futures is empty.");
    switch (return_when) {
        case ReturnWhen::first_completed:
        case ReturnWhen::first_exception:
        case ReturnWhen::all_completed:
            return;
    }
    throw ValueError("Invalid return_when value: " + std::to_string(static_cast<int>(return_when)));
}

Coro<void> wait_until(std::vector<std::shared_ptr<FutureStateBase>> futures,
                      std::optional<Duration> timeout, ReturnWhen return_when) {
    EventLoop& loop = get_running_loop();
    for (const auto& future : futures)
        check_same_loop(*future, loop);
    auto state = std::make_shared<WaitState>();
    state->waiter = loop.create_future<void>().state();
    state->waiter->set_label("wait() for " + std::to_string(futures.size()));
    state->left = futures.size();
    state->return_when = return_when;
    WaitCleanup cleanup(futures, state);
    if (timeout) {
        state->timer = loop.call_later(*timeout, [weak = std::weak_ptr<WaitState>(state)] {
            if (auto alive = weak.lock())
                alive->release();
        });
        state->timer.state()->describe_as("wait() timeout");
    }
    for (const auto& future : futures) {
        // Weak: the coroutine's `futures` keeps each alive while the wait lasts.
        cleanup.added(future->add_done_callback(
            [state, weak = std::weak_ptr<FutureStateBase>(future)] {
                if (auto done = weak.lock())
                    state->on_completion(*done);
            },
            "wait() sees the end of"));
    }
    co_await Future<void>(state->waiter);
}

}  // namespace simrun::detail
