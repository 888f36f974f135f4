#include "alloc_counter.hpp"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>

namespace {

std::atomic<bool> counting{false};
std::atomic<std::int64_t> live{0};
std::atomic<std::int64_t> count{0};
std::atomic<std::int64_t> by_size[bench::AllocWindow::kLargestCountedSize + 1];

void* allocate(std::size_t size) {
    void* block = std::malloc(size == 0 ? 1 : size);
    if (block == nullptr)
        throw std::bad_alloc();
    if (counting.load(std::memory_order_relaxed)) {
        live.fetch_add(static_cast<std::int64_t>(malloc_usable_size(block)),
                       std::memory_order_relaxed);
        count.fetch_add(1, std::memory_order_relaxed);
        by_size[std::min(size, bench::AllocWindow::kLargestCountedSize)].fetch_add(
            1, std::memory_order_relaxed);
    }
    return block;
}

void release(void* block) noexcept {
    if (block == nullptr)
        return;
    if (counting.load(std::memory_order_relaxed)) {
        live.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(block)),
                       std::memory_order_relaxed);
    }
    std::free(block);
}

}  // namespace

// The replaceable global allocation functions (the aligned ones keep their defaults).
void* operator new(std::size_t size) {
    return allocate(size);
}
void* operator new[](std::size_t size) {
    return allocate(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    try {
        return allocate(size);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    try {
        return allocate(size);
    } catch (...) {
        return nullptr;
    }
}
void operator delete(void* block) noexcept {
    release(block);
}
void operator delete[](void* block) noexcept {
    release(block);
}
void operator delete(void* block, std::size_t) noexcept {
    release(block);
}
void operator delete[](void* block, std::size_t) noexcept {
    release(block);
}
void operator delete(void* block, const std::nothrow_t&) noexcept {
    release(block);
}
void operator delete[](void* block, const std::nothrow_t&) noexcept {
    release(block);
}

namespace bench {
namespace {
std::int64_t heap_in_use() noexcept {
    const struct mallinfo2 info = ::mallinfo2();
    return static_cast<std::int64_t>(info.uordblks + info.hblkhd);
}
}  // namespace

AllocWindow::AllocWindow() : heap_at_start_(heap_in_use()) {
    live.store(0, std::memory_order_relaxed);
    count.store(0, std::memory_order_relaxed);
    for (auto& counter : by_size)
        counter.store(0, std::memory_order_relaxed);
    counting.store(true, std::memory_order_seq_cst);
}

AllocWindow::~AllocWindow() {
    counting.store(false, std::memory_order_seq_cst);
}

std::int64_t AllocWindow::heap_bytes() const noexcept {
    return heap_in_use() - heap_at_start_;
}

std::int64_t AllocWindow::new_bytes() const noexcept {
    return live.load(std::memory_order_relaxed);
}

std::int64_t AllocWindow::allocations() const noexcept {
    return count.load(std::memory_order_relaxed);
}

std::vector<std::pair<std::size_t, std::int64_t>> AllocWindow::allocations_by_size() const {
    std::vector<std::pair<std::size_t, std::int64_t>> sizes;
    for (std::size_t size = 0; size <= kLargestCountedSize; ++size) {
        const std::int64_t allocations = by_size[size].load(std::memory_order_relaxed);
        if (allocations > 0)
            sizes.emplace_back(size, allocations);
    }
    return sizes;
}

}  // namespace bench
