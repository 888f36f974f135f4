#pragma once
// The timer heap shared by both loops: a binary min-heap on (deadline, sequence). Each entry
// holds its keys beside the handle, so ordering the heap reads no handle. Cancelled timers stay
// in the heap until they reach the top or until they are more than half of it.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "simrun/handle.hpp"

namespace simrun::detail {

class TimerHeap {
  public:
    using Timer = std::shared_ptr<HandleState>;

    void push(Timer timer) {
        const Duration when = timer->when;
        const std::uint64_t sequence = timer->sequence;
        timer->in_heap = true;
        heap_.push_back(Entry{when, sequence, std::move(timer)});
        std::push_heap(heap_.begin(), heap_.end(), later);
    }
    bool empty() const noexcept { return heap_.empty(); }
    std::size_t size() const noexcept { return heap_.size(); }
    /// The earliest deadline (the heap must not be empty).
    Duration next_deadline() const noexcept { return heap_.front().when; }
    Timer pop() {
        std::pop_heap(heap_.begin(), heap_.end(), later);
        Timer timer = std::move(heap_.back().timer);
        heap_.pop_back();
        timer->in_heap = false;
        return timer;
    }
    void clear() noexcept {
        for (Entry& entry : heap_)
            entry.timer->in_heap = false;
        heap_.clear();
        cancelled_ = 0;
    }
    /// A timer in the heap (HandleState::in_heap) was cancelled.
    void note_cancelled() noexcept { ++cancelled_; }
    /// Drops cancelled timers from the top, and rebuilds the heap when most of it is cancelled.
    void purge_cancelled() {
        if (cancelled_ == 0)
            return;
        if (cancelled_ > 64 && cancelled_ * 2 > heap_.size()) {
            std::erase_if(heap_, [](const Entry& entry) {
                const bool cancelled = entry.timer->cancelled.load(std::memory_order_relaxed);
                if (cancelled)
                    entry.timer->in_heap = false;
                return cancelled;
            });
            std::make_heap(heap_.begin(), heap_.end(), later);
            cancelled_ = 0;
            return;
        }
        while (!heap_.empty() && heap_.front().timer->cancelled.load(std::memory_order_relaxed)) {
            pop();
            if (cancelled_ > 0)
                --cancelled_;
        }
    }

  private:
    struct Entry {
        Duration when;
        std::uint64_t sequence;
        Timer timer;
    };
    static bool later(const Entry& a, const Entry& b) noexcept {
        if (a.when != b.when)
            return a.when > b.when;
        return a.sequence > b.sequence;
    }
    std::vector<Entry> heap_;
    std::size_t cancelled_ = 0;  // cancelled timers still in the heap
};

}  // namespace simrun::detail
