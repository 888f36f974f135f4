#pragma once
// The ready queue's storage: a first-in first-out queue in one ring buffer whose size is a
// power of two. It grows by doubling and keeps its buffer (unless a burst made it larger than
// keep_capacity), so a loop in its steady state pushes and pops without allocating (std::deque
// allocates and frees a block every few dozen entries as the queue moves through memory).

#include <cstddef>
#include <utility>
#include <vector>

namespace simrun::detail {

/// FIFO queue of T (default-constructible and movable; a moved-from T must hold nothing, as a
/// moved-from shared_ptr holds nothing).
template <class T>
class RingQueue {
  public:
    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return slots_.size(); }

    void push_back(T item) {
        if (size_ == slots_.size())
            grow();
        slots_[(head_ + size_) & (slots_.size() - 1)] = std::move(item);
        ++size_;
    }
    /// Removes the oldest item and returns it. The queue must not be empty.
    T pop_front() noexcept {
        T item = std::move(slots_[head_]);
        head_ = (head_ + 1) & (slots_.size() - 1);
        if (--size_ == 0 && slots_.size() > keep_capacity) {
            // A burst (a million tasks started at once) does not keep its memory.
            std::vector<T>().swap(slots_);
            head_ = 0;
        }
        return item;
    }
    /// Past this many slots, an emptied queue gives its buffer back.
    static constexpr std::size_t keep_capacity = std::size_t{1} << 16;
    /// Removes every item (the oldest first); the buffer stays unless it is larger than
    /// keep_capacity.
    void clear() noexcept {
        while (size_ > 0)
            (void)pop_front();
        head_ = 0;
    }

  private:
    void grow() {
        std::vector<T> bigger(slots_.empty() ? 64 : slots_.size() * 2);
        for (std::size_t i = 0; i < size_; ++i)
            bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
        slots_ = std::move(bigger);
        head_ = 0;
    }

    std::vector<T> slots_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

}  // namespace simrun::detail
