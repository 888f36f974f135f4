#pragma once
// Small blocks from per-thread lists of free blocks, by size (classes of 16k + 8 bytes, as
// glibc's chunks, up to 1032; larger ones from operator new), for what a loop makes and drops by
// the thousand: callback handles, coroutine frames, task states, sleeps. malloc's per-thread
// cache keeps a few blocks of each size; a loop pass frees thousands. A freed block goes to the
// freeing thread's list (up to 2 MiB per size and 8 MiB in all), or back to operator delete.
// Results never depend on it, only where memory comes from. Off under AddressSanitizer, so that
// a use after free is still caught, and with -DSIMRUN_BLOCK_POOL=0 (for Valgrind and the like).

#include <cstddef>
#include <memory>

namespace simrun::detail {

void* allocate_block(std::size_t size);
void free_block(void* block, std::size_t size) noexcept;
/// Gives the calling thread's free blocks back to operator delete (benchmarks that count
/// allocations call it first).
void release_free_blocks() noexcept;
/// How many free blocks the calling thread keeps (all sizes).
std::size_t free_blocks() noexcept;
/// False in builds where blocks come straight from operator new (AddressSanitizer).
bool blocks_are_pooled() noexcept;

/// An allocator for std::allocate_shared that takes its single objects from the block lists.
template <class T>
struct BlockAllocator {
    using value_type = T;
    BlockAllocator() = default;
    template <class U>
    BlockAllocator(const BlockAllocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        if (n == 1 && alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__)
            return static_cast<T*>(allocate_block(sizeof(T)));
        return std::allocator<T>().allocate(n);
    }
    void deallocate(T* pointer, std::size_t n) noexcept {
        if (n == 1 && alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
            free_block(pointer, sizeof(T));
            return;
        }
        std::allocator<T>().deallocate(pointer, n);
    }
    template <class U>
    bool operator==(const BlockAllocator<U>&) const noexcept {
        return true;
    }
};

}  // namespace simrun::detail
