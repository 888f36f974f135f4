#pragma once
// A per-thread free list for the loop's callback handles. call_soon() and call_at() allocate one
// HandleState (with its shared_ptr control block) per callback and free it when the callback has
// run; malloc serves that well one at a time, but a loop pass makes and frees thousands, past
// what its per-thread cache keeps. Freed blocks go to the freeing thread's list (up to a cap) and
// the next handle made on that thread reuses one. Results never depend on it: only where memory
// comes from. Off under AddressSanitizer, so that a use after free is still caught.

#include <cstddef>
#include <memory>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define SIMRUN_HANDLE_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIMRUN_HANDLE_POOL 0
#endif
#endif
#ifndef SIMRUN_HANDLE_POOL
#define SIMRUN_HANDLE_POOL 1
#endif

namespace simrun::detail {

/// The blocks one thread keeps. Trivially destructible, so that it can still be used (as
/// "closed") while the thread's other thread_local objects are destroyed.
struct HandleBlocks {
    struct Free {
        Free* next;
    };
    Free* head = nullptr;
    std::size_t count = 0;
    bool closed = false;  // the thread is ending: blocks go back to operator delete
};

inline HandleBlocks& handle_blocks() noexcept {
    thread_local HandleBlocks blocks;
    // Releases the thread's blocks when it ends.
    thread_local struct Releaser {
        ~Releaser() {
            HandleBlocks& blocks = handle_blocks();
            blocks.closed = true;
            while (blocks.head != nullptr) {
                HandleBlocks::Free* next = blocks.head->next;
                ::operator delete(static_cast<void*>(blocks.head));
                blocks.head = next;
            }
            blocks.count = 0;
        }
    } releaser;
    (void)releaser;
    return blocks;
}

/// The allocator allocate_shared() gets for handles: blocks of `Size` bytes from the list.
template <class T, std::size_t Size = 160, std::size_t Keep = 8192>
struct HandleAllocator {
    using value_type = T;
    template <class U>
    struct rebind {
        using other = HandleAllocator<U, Size, Keep>;
    };
    HandleAllocator() = default;
    template <class U>
    HandleAllocator(const HandleAllocator<U, Size, Keep>&) noexcept {}

    static constexpr bool pooled =
        SIMRUN_HANDLE_POOL && sizeof(T) <= Size && alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__;

    T* allocate(std::size_t n) {
        if constexpr (pooled) {
            if (n == 1) {
                HandleBlocks& blocks = handle_blocks();
                if (blocks.head != nullptr) {
                    HandleBlocks::Free* block = blocks.head;
                    blocks.head = block->next;
                    --blocks.count;
                    return reinterpret_cast<T*>(block);
                }
                return static_cast<T*>(::operator new(Size));
            }
        }
        return std::allocator<T>().allocate(n);
    }
    void deallocate(T* pointer, std::size_t n) noexcept {
        if constexpr (pooled) {
            if (n == 1) {
                HandleBlocks& blocks = handle_blocks();
                if (blocks.closed || blocks.count >= Keep) {
                    ::operator delete(static_cast<void*>(pointer));
                    return;
                }
                auto* block = reinterpret_cast<HandleBlocks::Free*>(pointer);
                block->next = blocks.head;
                blocks.head = block;
                ++blocks.count;
                return;
            }
        }
        std::allocator<T>().deallocate(pointer, n);
    }
    template <class U>
    bool operator==(const HandleAllocator<U, Size, Keep>&) const noexcept {
        return true;
    }
};

}  // namespace simrun::detail
