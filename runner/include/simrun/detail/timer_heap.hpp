#pragma once
// The timer heap shared by both loops: a binary min-heap on (deadline, sequence). Cancelled
// timers stay in the heap until they reach the top or until they are more than half of it.

#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

#include "simrun/handle.hpp"

namespace simrun::detail {

class TimerHeap {
  public:
    using Entry = std::shared_ptr<HandleState>;

    void push(Entry timer) {
        heap_.push_back(std::move(timer));
        std::push_heap(heap_.begin(), heap_.end(), later);
    }
    bool empty() const noexcept { return heap_.empty(); }
    std::size_t size() const noexcept { return heap_.size(); }
    const Entry& top() const { return heap_.front(); }
    Entry pop() {
        std::pop_heap(heap_.begin(), heap_.end(), later);
        Entry timer = std::move(heap_.back());
        heap_.pop_back();
        return timer;
    }
    void clear() noexcept {
        heap_.clear();
        cancelled_ = 0;
    }
    /// A timer in the heap was cancelled.
    void note_cancelled() noexcept { ++cancelled_; }
    /// Drops cancelled timers from the top, and rebuilds the heap when most of it is cancelled.
    void purge_cancelled() {
        if (cancelled_ > 64 && cancelled_ * 2 > heap_.size()) {
            std::erase_if(
                heap_, [](const Entry& t) { return t->cancelled.load(std::memory_order_relaxed); });
            std::make_heap(heap_.begin(), heap_.end(), later);
            cancelled_ = 0;
            return;
        }
        while (!heap_.empty() && heap_.front()->cancelled.load(std::memory_order_relaxed)) {
            pop();
            if (cancelled_ > 0)
                --cancelled_;
        }
    }

  private:
    static bool later(const Entry& a, const Entry& b) noexcept {
        if (a->when != b->when)
            return a->when > b->when;
        return a->sequence > b->sequence;
    }
    std::vector<Entry> heap_;
    std::size_t cancelled_ = 0;
};

}  // namespace simrun::detail
