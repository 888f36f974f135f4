#pragma once
// Handles returned by call_soon / call_later / call_at: they let the caller cancel the callback
// before it runs.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "simrun/core/clock.hpp"
#include "simrun/core/context.hpp"
#include "simrun/core/detail/block_pool.hpp"
#include "simrun/core/detail/rare_text.hpp"
#include "simrun/core/source_location.hpp"

namespace simrun {

class EventLoop;

namespace detail {

class TaskBase;
class FutureStateBase;

/// One scheduled callback. Shared by the loop's queues and the user's Handle, through
/// HandleRef.
struct HandleState {
    HandleState() = default;
    HandleState(const HandleState&) = delete;
    HandleState& operator=(const HandleState&) = delete;
    // From the per-thread block lists (detail/block_pool.hpp), as coroutine frames.
    static void* operator new(std::size_t size) { return allocate_block(size); }
    static void operator delete(void* state, std::size_t size) noexcept { free_block(state, size); }

    std::function<void()> callback;
    std::atomic<bool> cancelled{false};
    // HandleRef's count. Atomic: a Handle may be copied and dropped on any thread.
    std::atomic<std::uint32_t> references{1};
    bool is_timer = false;
    bool in_heap = false;                       // timers: waiting in the loop's timer heap
    bool has_context = false;                   // run in a copy of `context`, else in the loop's
    Duration when{};                            // deadline, timers only
    std::uint64_t sequence = 0;                 // timers: tie-break among equal deadlines
    std::shared_ptr<const ContextMap> context;  // null: no variables set (see has_context)
    // What a callback the library schedules is for, in the user's words: a fixed text ("sleep
    // wake-up of"), followed by the trace name of `about` when set ("worker-1"). Composed only
    // when someone asks (text()), so that scheduling stays cheap.
    const char* purpose = nullptr;
    std::weak_ptr<FutureStateBase> about;
    std::unique_ptr<std::string> label;  // a built label, for callbacks off the hot paths
    EventLoop* loop = nullptr;
    SourceLocation created_at;

    /// Handle::cancel(): prevents the callback from running (idempotent); a timer still in the
    /// loop's heap is counted there.
    void cancel() noexcept;

    /// What traces and reports call this callback: `purpose` (+ the name of `about`), else
    /// `label`, else the creation site "file.cpp:12". (A task's step has no handle: the loop
    /// queues the task itself.)
    std::string text() const;
    /// Appends text() to `out`.
    void append_text(std::string& out) const;
    /// What the simulator's trace digest knows of text(), hashed from the names it is made of
    /// (detail::text_hash), without composing it.
    std::uint64_t trace_hash() const;
    /// trace_hash() of a callback described by `purpose` and a subject whose trace_hash() is
    /// `subject_hash` (0: no subject).
    static std::uint64_t purpose_hash(const char* purpose, std::uint64_t subject_hash);
    /// Names a callback the library scheduled (see `purpose`); returns the state.
    HandleState& describe_as(const char* what, std::weak_ptr<FutureStateBase> subject = {}) {
        purpose = what;
        about = std::move(subject);
        return *this;
    }
};

/// An owning reference to a HandleState, counted in the state itself: no control block, one
/// allocation per callback, and a reference that is the last one is dropped without an atomic
/// read-modify-write (nobody else can take a new one from it).
class HandleRef {
  public:
    HandleRef() noexcept = default;
    /// A new state with this one reference.
    static HandleRef make() { return HandleRef(new HandleState); }
    HandleRef(const HandleRef& other) noexcept : state_(other.state_) {
        if (state_ != nullptr)
            state_->references.fetch_add(1, std::memory_order_relaxed);
    }
    HandleRef(HandleRef&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
    HandleRef& operator=(HandleRef other) noexcept {
        std::swap(state_, other.state_);
        return *this;
    }
    ~HandleRef() { release(state_); }

    /// A second reference to a state that this one alone holds and that no other thread can
    /// see yet (just made): counted with a plain store.
    HandleRef share_new() const noexcept {
        state_->references.store(2, std::memory_order_relaxed);
        return HandleRef(state_);
    }
    HandleState* get() const noexcept { return state_; }
    HandleState* operator->() const noexcept { return state_; }
    HandleState& operator*() const noexcept { return *state_; }
    explicit operator bool() const noexcept { return state_ != nullptr; }
    /// The number of references (exact while no other thread holds one).
    std::uint32_t use_count() const noexcept {
        return state_ != nullptr ? state_->references.load(std::memory_order_relaxed) : 0;
    }
    /// Drops the reference. Null before the state may be destroyed: a destructor run by the
    /// release (the callback's captures) sees this reference empty.
    void reset() noexcept { release(std::exchange(state_, nullptr)); }

  private:
    explicit HandleRef(HandleState* state) noexcept : state_(state) {}
    static void release(HandleState* state) noexcept {
        if (state == nullptr)
            return;
        // The last reference: no other can appear, so no read-modify-write is needed.
        if (state->references.load(std::memory_order_acquire) == 1 ||
            state->references.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete state;
        }
    }
    HandleState* state_ = nullptr;
};

}  // namespace detail

/// A callback scheduled on a loop. Cheap to copy; all copies refer to the same callback.
class Handle {
  public:
    Handle() = default;
    explicit Handle(detail::HandleRef state) noexcept : state_(std::move(state)) {}

    /// Prevents the callback from running, if it has not run yet. Idempotent.
    void cancel();
    /// True once cancel() was called.
    bool cancelled() const { return state_ && state_->cancelled.load(std::memory_order_relaxed); }
    /// Where the callback was scheduled from.
    SourceLocation created_at() const { return state_ ? state_->created_at : SourceLocation{}; }
    /// A short description for logs: "<Handle file.cpp:12>", "<TimerHandle file.cpp:12 cancelled>".
    std::string describe() const;

    const detail::HandleRef& state() const noexcept { return state_; }

  protected:
    detail::HandleRef state_;
};

/// A handle for a callback scheduled at a point in time.
class TimerHandle : public Handle {
  public:
    using Handle::Handle;
    /// The loop time at which the callback is due; Duration::max() means never (the timer is
    /// not armed).
    Duration when() const { return state_ ? state_->when : Duration{}; }
};

}  // namespace simrun
