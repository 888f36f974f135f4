#pragma once
// Heap accounting for the memory benchmarks, two ways:
// - malloc's own books (mallinfo2: bytes of in-use chunks, headers and rounding included), which
//   see every allocation whichever function made it (Asio allocates coroutine frames with
//   aligned_alloc, not operator new);
// - a counting replacement of the global operator new/delete (in alloc_counter.cpp, linked into
//   the benchmark binaries), off except inside an AllocWindow (one relaxed load per allocation
//   otherwise), which also counts allocations.

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace bench {

/// Counts heap use, on every thread, while it exists. One at a time.
class AllocWindow {
  public:
    AllocWindow();
    ~AllocWindow();
    AllocWindow(const AllocWindow&) = delete;
    AllocWindow& operator=(const AllocWindow&) = delete;

    /// Heap bytes in use now minus at the opening (mallinfo2: in-use chunks, mmapped ones too).
    std::int64_t heap_bytes() const noexcept;
    /// operator new only: malloc_usable_size of the blocks allocated minus those freed.
    std::int64_t new_bytes() const noexcept;
    /// operator new only: allocations made (frees not subtracted).
    std::int64_t allocations() const noexcept;
    /// operator new only: (requested size, allocations of that size) for every size seen, in
    /// increasing size; sizes above kLargestCountedSize are added up under that size.
    std::vector<std::pair<std::size_t, std::int64_t>> allocations_by_size() const;

    static constexpr std::size_t kLargestCountedSize = 4096;

  private:
    std::int64_t heap_at_start_;
};

}  // namespace bench
