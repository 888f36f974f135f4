#pragma once
// The timer heap shared by both loops: a 4-ary min-heap on (deadline, sequence) (half the
// levels of a binary heap, and the four children of a node share a cache line or two). Each
// entry holds its keys beside the handle, so ordering the heap reads no handle. A cancelled timer
// that is still the heap's last entry leaves at once; others stay in the heap until they reach
// the top or until they are more than half of it. An entry is 24 bytes.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "simrun/core/handle.hpp"

namespace simrun::detail {

class TimerHeap {
  public:
    using Timer = HandleRef;

    void push(Timer timer) {
        const Duration when = timer->when;
        const std::uint64_t sequence = timer->sequence;
        HandleState& state = *timer;
        heap_.push_back(Entry{when, sequence, std::move(timer)});
        state.in_heap = true;
        sift_up(heap_.size() - 1);
    }
    bool empty() const noexcept { return heap_.empty(); }
    std::size_t size() const noexcept { return heap_.size(); }
    /// The earliest deadline (the heap must not be empty).
    Duration next_deadline() const noexcept { return heap_.front().when; }
    Timer pop() {
        Timer timer = std::move(heap_.front().timer);
        if (heap_.size() > 1)
            heap_.front() = std::move(heap_.back());
        heap_.pop_back();
        if (!heap_.empty())
            sift_down(0);
        timer->in_heap = false;
        return timer;
    }
    void clear() noexcept {
        for (Entry& entry : heap_)
            entry.timer->in_heap = false;
        heap_.clear();
        cancelled_ = 0;
    }
    /// A timer in the heap (HandleState::in_heap) was cancelled. The last one pushed, if it is
    /// still the heap's last entry (a timer cancelled before any other was scheduled: a timeout
    /// whose work finished at once), leaves at once; any other stays until purged.
    void cancelled(HandleState& timer) noexcept {
        if (!heap_.empty() && heap_.back().timer.get() == &timer) {
            timer.in_heap = false;
            heap_.pop_back();  // the last entry of a heap is a leaf: the rest is still a heap
            return;
        }
        ++cancelled_;
    }
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
            for (std::size_t i = heap_.size() / arity + 1; i-- > 0;)
                sift_down(i);
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
    static constexpr std::size_t arity = 4;
    static bool before(const Entry& a, const Entry& b) noexcept {
        return a.when != b.when ? a.when < b.when : a.sequence < b.sequence;
    }
    void sift_up(std::size_t at) noexcept {
        Entry moving = std::move(heap_[at]);
        while (at > 0) {
            const std::size_t parent = (at - 1) / arity;
            if (!before(moving, heap_[parent]))
                break;
            heap_[at] = std::move(heap_[parent]);
            at = parent;
        }
        heap_[at] = std::move(moving);
    }
    void sift_down(std::size_t at) noexcept {
        const std::size_t size = heap_.size();
        if (at >= size)
            return;
        Entry moving = std::move(heap_[at]);
        for (;;) {
            const std::size_t first = at * arity + 1;
            if (first >= size)
                break;
            std::size_t best = first;
            const std::size_t end = std::min(first + arity, size);
            for (std::size_t child = first + 1; child < end; ++child) {
                if (before(heap_[child], heap_[best]))
                    best = child;
            }
            if (!before(heap_[best], moving))
                break;
            heap_[at] = std::move(heap_[best]);
            at = best;
        }
        heap_[at] = std::move(moving);
    }
    std::vector<Entry> heap_;
    std::size_t cancelled_ = 0;  // cancelled timers still in the heap
};

}  // namespace simrun::detail
