#pragma once
// The item storage of the three queues (asyncio's overridable _init/_put/_get) and the text of
// the stored items in describe(). A storage type `Items` provides:
//   value_type; static constexpr const char* kind (the class name in reports);
//   size(); push(T&&); pop() -> T (the next item); drop_all() -> how many it dropped;
//   for_each(visit) in storage order (the order asyncio's repr shows).

#include <cstddef>
#include <deque>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace simrun::detail {

/// First in, first out (asyncio.Queue: a deque).
template <class T>
class FifoItems {
  public:
    using value_type = T;
    static constexpr const char* kind = "Queue";

    std::size_t size() const noexcept { return items_.size(); }
    void push(T&& item) { items_.push_back(std::move(item)); }
    T pop() {
        T item = std::move(items_.front());
        items_.pop_front();
        return item;
    }
    std::size_t drop_all() noexcept {
        const std::size_t count = items_.size();
        items_.clear();
        return count;
    }
    template <class Visit>
    void for_each(Visit&& visit) const {
        for (const T& item : items_)
            visit(item);
    }

  private:
    std::deque<T> items_;
};

/// Last in, first out (asyncio.LifoQueue: a list popped at the end).
template <class T>
class LifoItems {
  public:
    using value_type = T;
    static constexpr const char* kind = "LifoQueue";

    std::size_t size() const noexcept { return items_.size(); }
    void push(T&& item) { items_.push_back(std::move(item)); }
    T pop() {
        T item = std::move(items_.back());
        items_.pop_back();
        return item;
    }
    std::size_t drop_all() noexcept {
        const std::size_t count = items_.size();
        items_.clear();
        return count;
    }
    template <class Visit>
    void for_each(Visit&& visit) const {
        for (const T& item : items_)
            visit(item);
    }

  private:
    std::vector<T> items_;
};

/// Smallest first (asyncio.PriorityQueue). The heap is Python's heapq step for step, so items
/// that compare equal come out in the same order as in asyncio, and describe() shows the same
/// list. Items move by swaps: if Compare throws, every item is still stored (as in asyncio, an
/// item whose push failed stays in the heap, uncounted by task_done()).
template <class T, class Compare>
class PriorityItems {
  public:
    using value_type = T;
    static constexpr const char* kind = "PriorityQueue";

    PriorityItems() = default;
    explicit PriorityItems(Compare compare) : less_(std::move(compare)) {}

    std::size_t size() const noexcept { return heap_.size(); }
    void push(T&& item) {
        heap_.push_back(std::move(item));
        sift_toward_root(0, heap_.size() - 1);
    }
    T pop() {
        using std::swap;
        // heapq.heappop: the last item replaces the root, then sinks.
        if (heap_.size() > 1)
            swap(heap_.front(), heap_.back());
        T item = std::move(heap_.back());
        heap_.pop_back();
        if (!heap_.empty())
            sift_toward_leaves(0);
        return item;
    }
    std::size_t drop_all() noexcept {
        const std::size_t count = heap_.size();
        heap_.clear();
        return count;
    }
    template <class Visit>
    void for_each(Visit&& visit) const {
        for (const T& item : heap_)
            visit(item);
    }

  private:
    // heapq._siftdown: the item at `pos` rises while it is smaller than its parent.
    void sift_toward_root(std::size_t start, std::size_t pos) {
        using std::swap;
        while (pos > start) {
            const std::size_t parent = (pos - 1) / 2;
            if (!less_(heap_[pos], heap_[parent]))
                break;
            swap(heap_[pos], heap_[parent]);
            pos = parent;
        }
    }
    // heapq._siftup: the item at `pos` goes down to a leaf along the smaller children, then
    // rises back to its place (fewer comparisons than stopping early, and heapq's exact order).
    void sift_toward_leaves(std::size_t pos) {
        using std::swap;
        const std::size_t start = pos;
        const std::size_t end = heap_.size();
        std::size_t child = 2 * pos + 1;
        while (child < end) {
            const std::size_t right = child + 1;
            if (right < end && !less_(heap_[child], heap_[right]))
                child = right;
            swap(heap_[pos], heap_[child]);
            pos = child;
            child = 2 * pos + 1;
        }
        sift_toward_root(start, pos);
    }

    std::vector<T> heap_;
    [[no_unique_address]] Compare less_{};
};

/// Items that describe() can show: those with an operator<<.
template <class T>
concept PrintableItem = requires(std::ostream& out, const T& item) {
    out << item;
};

/// One item as asyncio's repr would show it: strings quoted, booleans True/False.
template <class T>
void print_item(std::ostream& out, const T& item) {
    if constexpr (std::is_convertible_v<const T&, std::string_view>)
        out << '\'' << std::string_view(item) << '\'';
    else if constexpr (std::is_same_v<T, bool>)
        out << (item ? "True" : "False");
    else
        out << item;
}

/// describe()'s part for the stored items: "" when empty, "_queue=[1, 2]" for printable items,
/// "_queue[2]" (just the count) for items without an operator<<.
template <class Items>
std::string describe_items(const Items& items) {
    if (items.size() == 0)
        return {};
    using T = typename Items::value_type;
    if constexpr (PrintableItem<T>) {
        std::ostringstream text;
        text << "_queue=[";
        const char* separator = "";
        items.for_each([&](const T& item) {
            text << separator;
            print_item(text, item);
            separator = ", ";
        });
        text << ']';
        return text.str();
    } else {
        return "_queue[" + std::to_string(items.size()) + "]";
    }
}

}  // namespace simrun::detail
