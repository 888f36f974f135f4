// The per-thread lists of free blocks that handles, coroutine frames, task states and sleeps come
// from (detail/block_pool.hpp): a block is reused by its size class, kept by the thread that
// freed it, bounded, and given back on request and when the thread ends.
#include <cstring>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace simrun;

TEST_SUITE_BEGIN("loop-free");

TEST_CASE("block pool: a freed block is reused for the next block of its size class") {
    detail::release_free_blocks();
    void* first = detail::allocate_block(100);
    std::memset(first, 0xab, 100);
    detail::free_block(first, 100);
    void* same_class = detail::allocate_block(104);  // 100 and 104 bytes share a class
    void* other_class = detail::allocate_block(105);
    if (detail::blocks_are_pooled()) {
        CHECK(same_class == first);
        CHECK(other_class != first);
    }
    std::memset(same_class, 0, 104);
    std::memset(other_class, 0, 105);
    detail::free_block(same_class, 104);
    detail::free_block(other_class, 105);
    detail::release_free_blocks();
    CHECK(detail::free_blocks() == 0);
}

TEST_CASE("block pool: every size, small and large, round-trips") {
    detail::release_free_blocks();
    std::vector<std::pair<void*, std::size_t>> blocks;
    for (std::size_t size = 0; size <= 1100; size += 7) {
        void* block = detail::allocate_block(size);
        std::memset(block, static_cast<int>(size & 0xff), size);
        blocks.emplace_back(block, size);
    }
    for (auto [block, size] : blocks)
        detail::free_block(block, size);
    // Blocks above 1032 bytes are never kept.
    CHECK(detail::free_blocks() == (detail::blocks_are_pooled() ? 148u : 0u));
    detail::release_free_blocks();
    CHECK(detail::free_blocks() == 0);
}

namespace {
/// Frees `count` blocks of `size` bytes at once.
void free_many(std::size_t size, int count) {
    std::vector<void*> blocks;
    for (int i = 0; i < count; ++i)
        blocks.push_back(detail::allocate_block(size));
    for (void* block : blocks)
        detail::free_block(block, size);
}
}  // namespace

TEST_CASE("block pool: a thread keeps at most 2 MiB of free blocks of one size, 8 MiB in all") {
    detail::release_free_blocks();
    free_many(160, 40000);  // blocks of 168 bytes
    const std::size_t one_size = 2u * 1024 * 1024 / 168;
    CHECK(detail::free_blocks() == (detail::blocks_are_pooled() ? one_size : 0u));
    detail::release_free_blocks();
    // Blocks of 1000 bytes: 2 MiB of each of four sizes fill the 8 MiB, the fifth size gets none.
    std::size_t kept = 0;
    for (const std::size_t size : {968u, 984u, 1000u, 1016u, 1032u}) {
        free_many(size, 3000);
        const std::size_t now = detail::free_blocks();
        if (detail::blocks_are_pooled()) {
            CHECK(now - kept == (size == 1032u ? 0u : 2u * 1024 * 1024 / size));
        }
        kept = now;
    }
    detail::release_free_blocks();
}

TEST_CASE("block pool: blocks freed by another thread are kept by that thread until it ends") {
    detail::release_free_blocks();
    std::vector<void*> blocks;
    for (int i = 0; i < 100; ++i)
        blocks.push_back(detail::allocate_block(64));
    std::size_t kept_there = 0;
    std::thread other([&] {
        for (void* block : blocks)
            detail::free_block(block, 64);
        kept_there = detail::free_blocks();
    });  // as it ends, the thread gives its free blocks back to operator delete
    other.join();
    CHECK(kept_there == (detail::blocks_are_pooled() ? 100u : 0u));
    CHECK(detail::free_blocks() == 0);
}

TEST_SUITE_END();
