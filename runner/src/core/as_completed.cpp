#include "simrun/core/as_completed.hpp"

#include <algorithm>

namespace simrun::detail {

AsCompletedCore::AsCompletedCore(EventLoop& loop,
                                 std::vector<std::shared_ptr<FutureStateBase>> futures)
    : anchor_(loop.anchor()),
      futures_(std::move(futures)),
      todo_(futures_.size(), true),
      todo_count_(futures_.size()),
      left_(futures_.size()) {}

std::shared_ptr<AsCompletedCore> AsCompletedCore::start(
    EventLoop& loop, std::vector<std::shared_ptr<FutureStateBase>> futures,
    std::optional<Duration> timeout) {
    auto core = std::make_shared<AsCompletedCore>(loop, std::move(futures));
    // The callbacks and the timer hold the core weakly: once nobody can take a step any more,
    // what they would queue does not matter.
    std::weak_ptr<AsCompletedCore> weak = core;
    core->callback_ids_.reserve(core->futures_.size());
    for (std::size_t i = 0; i < core->futures_.size(); ++i) {
        core->callback_ids_.push_back(core->futures_[i]->add_done_callback(
            [weak, i] {
                if (auto alive = weak.lock())
                    alive->on_completion(i);
            },
            "as_completed() sees the end of"));
    }
    if (!core->futures_.empty() && timeout) {
        core->timer_ = loop.call_later(*timeout, [weak] {
            if (auto alive = weak.lock())
                alive->on_timeout();
        });
        core->timer_.state()->describe_as("as_completed() timeout");
    }
    return core;
}

AsCompletedCore::~AsCompletedCore() {
    if (anchor_->loop != nullptr)
        timer_.cancel();
    for (std::size_t i = 0; i < callback_ids_.size(); ++i)
        futures_[i]->remove_done_callback(callback_ids_[i]);
}

void AsCompletedCore::take() {
    if (left_ == 0)
        throw RuntimeError("as_completed(): no results left to take");
    --left_;
}

void AsCompletedCore::on_completion(std::size_t index) {
    if (todo_count_ == 0 || !todo_[index])
        return;  // the timeout came first
    todo_[index] = false;
    --todo_count_;
    put(index);
    if (todo_count_ == 0)
        timer_.cancel();
}

void AsCompletedCore::on_timeout() {
    for (std::size_t i = 0; i < futures_.size(); ++i) {
        if (!todo_[i])
            continue;
        todo_[i] = false;
        futures_[i]->remove_done_callback(callback_ids_[i]);
        put(std::nullopt);
    }
    todo_count_ = 0;
}

void AsCompletedCore::put(std::optional<std::size_t> item) {
    done_.push_back(item);
    wake_next();
}

void AsCompletedCore::wake_next() {
    // asyncio.Queue: a wake-up, not a hand-off; the woken step takes the item when it runs.
    while (!getters_.empty()) {
        std::shared_ptr<FutureState<void>> getter = std::move(getters_.front());
        getters_.pop_front();
        if (!getter->done()) {
            getter->set_result();
            return;
        }
    }
}

Coro<std::size_t> AsCompletedCore::next_index(std::shared_ptr<AsCompletedCore> self) {
    // asyncio.Queue.get() on the queue of finished inputs.
    while (self->done_.empty()) {
        if (self->anchor_->loop == nullptr)
            throw RuntimeError("as_completed(): its event loop was destroyed");
        Future<void> getter = self->anchor_->loop->create_future<void>();
        getter.set_label("as_completed() step");
        self->getters_.push_back(getter.state());
        std::exception_ptr error;
        try {
            co_await getter;
        } catch (...) {
            error = std::current_exception();
        }
        if (error) {
            getter.cancel();
            std::erase(self->getters_, getter.state());
            if (!self->done_.empty() && !getter.cancelled())
                self->wake_next();  // it was woken, then cancelled: pass the wake-up on
            std::rethrow_exception(error);
        }
    }
    std::optional<std::size_t> item = self->done_.front();
    self->done_.pop_front();
    if (!item)
        throw TimeoutError("");
    co_return *item;
}

}  // namespace simrun::detail
