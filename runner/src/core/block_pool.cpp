// Small blocks from per-thread lists of free blocks (see simrun/core/detail/block_pool.hpp).
#include "simrun/core/detail/block_pool.hpp"

#include <cstddef>
#include <new>
#include <utility>

// No pools under AddressSanitizer: a use after free must still be caught.
#if defined(__SANITIZE_ADDRESS__)
#define SIMRUN_BLOCK_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIMRUN_BLOCK_POOL 0
#endif
#endif
#ifndef SIMRUN_BLOCK_POOL
#define SIMRUN_BLOCK_POOL 1
#endif

namespace simrun::detail {
namespace {

constexpr std::size_t grain = 16;                    // block sizes: 16, 32, 48, ... bytes
constexpr std::size_t classes = 64;                  // up to 1 KiB
constexpr std::size_t keep_bytes = 2 * 1024 * 1024;  // per size and thread

/// The free blocks one thread keeps. Trivially destructible, so that it can still be used (as
/// "closed") while the thread's other thread_local objects are destroyed.
struct Blocks {
    struct Free {
        Free* next;
    };
    Free* head[classes] = {};
    std::size_t count[classes] = {};
    bool closed = false;  // the thread is ending: blocks go back to operator delete

    void release() noexcept {
        for (std::size_t size = 0; size < classes; ++size) {
            while (head[size] != nullptr)
                ::operator delete(static_cast<void*>(std::exchange(head[size], head[size]->next)));
            count[size] = 0;
        }
    }
};

Blocks& thread_blocks() noexcept {
    thread_local Blocks blocks;
    thread_local struct Releaser {
        ~Releaser() {
            Blocks& blocks = thread_blocks();
            blocks.closed = true;
            blocks.release();
        }
    } releaser;
    (void)releaser;
    return blocks;
}

/// The size class of a block of `size` bytes (classes or more: not pooled).
constexpr std::size_t size_class(std::size_t size) noexcept {
    return size == 0 ? 0 : (size - 1) / grain;
}

}  // namespace

void* allocate_block(std::size_t size) {
    if constexpr (SIMRUN_BLOCK_POOL) {
        const std::size_t kind = size_class(size);
        if (kind < classes) {
            Blocks& blocks = thread_blocks();
            if (Blocks::Free* free = blocks.head[kind]) {
                blocks.head[kind] = free->next;
                --blocks.count[kind];
                return free;
            }
            return ::operator new((kind + 1) * grain);
        }
    }
    return ::operator new(size);
}

void free_block(void* block, std::size_t size) noexcept {
    if constexpr (SIMRUN_BLOCK_POOL) {
        const std::size_t kind = size_class(size);
        if (kind < classes) {
            Blocks& blocks = thread_blocks();
            if (blocks.closed || (blocks.count[kind] + 1) * (kind + 1) * grain > keep_bytes) {
                ::operator delete(block);
                return;
            }
            auto* free = static_cast<Blocks::Free*>(block);
            free->next = blocks.head[kind];
            blocks.head[kind] = free;
            ++blocks.count[kind];
            return;
        }
    }
    ::operator delete(block, size);
}

void release_free_blocks() noexcept {
    if constexpr (SIMRUN_BLOCK_POOL)
        thread_blocks().release();
}

std::size_t free_blocks() noexcept {
    std::size_t total = 0;
    if constexpr (SIMRUN_BLOCK_POOL) {
        for (const std::size_t count : thread_blocks().count)
            total += count;
    }
    return total;
}

bool blocks_are_pooled() noexcept {
    return SIMRUN_BLOCK_POOL != 0;
}

}  // namespace simrun::detail
