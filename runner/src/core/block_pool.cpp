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

// Size classes follow glibc's chunks, which hold 16k + 8 bytes: a request of 100 bytes gets a
// block of 104, as malloc would give it, and never one of 112.
constexpr std::size_t grain = 16;
constexpr std::size_t classes = 65;                  // blocks of 8, 24, 40, ... 1032 bytes
constexpr std::size_t keep_bytes = 2 * 1024 * 1024;  // per size and thread
constexpr std::size_t keep_total = 8 * 1024 * 1024;  // all sizes, per thread

/// The free blocks one thread keeps. Trivially destructible, so that it can still be used (as
/// "closed") while the thread's other thread_local objects are destroyed.
struct Blocks {
    struct Free {
        Free* next;
    };
    Free* head[classes] = {};
    std::size_t count[classes] = {};
    std::size_t bytes = 0;  // in all the lists
    bool closed = false;    // the thread is ending: blocks go back to operator delete

    void release() noexcept {
        for (std::size_t size = 0; size < classes; ++size) {
            while (head[size] != nullptr)
                ::operator delete(static_cast<void*>(std::exchange(head[size], head[size]->next)));
            count[size] = 0;
        }
        bytes = 0;
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

/// The size class of a block of `size` bytes (classes or more: not pooled), and its block size.
constexpr std::size_t size_class(std::size_t size) noexcept {
    return (size + 7) / grain;
}
constexpr std::size_t block_size(std::size_t kind) noexcept {
    return kind * grain + 8;
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
                blocks.bytes -= block_size(kind);
                return free;
            }
            return ::operator new(block_size(kind));
        }
    }
    return ::operator new(size);
}

void free_block(void* block, std::size_t size) noexcept {
    if constexpr (SIMRUN_BLOCK_POOL) {
        const std::size_t kind = size_class(size);
        if (kind < classes) {
            Blocks& blocks = thread_blocks();
            const std::size_t bytes = block_size(kind);
            if (blocks.closed || (blocks.count[kind] + 1) * bytes > keep_bytes ||
                blocks.bytes + bytes > keep_total) {
                ::operator delete(block);
                return;
            }
            blocks.head[kind] = ::new (block) Blocks::Free{blocks.head[kind]};
            ++blocks.count[kind];
            blocks.bytes += bytes;
            return;
        }
    }
    ::operator delete(block);  // unsized: clang enables sized delete only on request
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
