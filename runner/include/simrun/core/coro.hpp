#pragma once
// Coro<T>: a lazy coroutine. Calling a coroutine function creates the frame but runs nothing;
// the body starts when the Coro is awaited (`co_await child()`) or wrapped in a task
// (`create_task(child())`). Awaiting transfers control directly to the child and back
// (symmetric transfer), so deep await chains cost no stack.
//
// A Coro runs once. Awaiting it a second time, or giving it to create_task() / run() /
// run_until_complete() after it was awaited, throws RuntimeError "cannot reuse already awaited
// coroutine" (asyncio's words); awaiting (or scheduling) one that is suspended inside another
// await throws RuntimeError "coroutine is being awaited already". Awaiting an empty Coro (moved
// from, or default-constructed) throws RuntimeError too. Note that `co_await std::move(c)` does
// not empty `c`: it keeps the (finished) frame, which is what lets a second await say so.
//
// Lifetime rules (as in every C++ coroutine library):
// - A coroutine lambda must not capture by reference anything that may die before the
//   coroutine finishes; pass values as parameters.
// - Reference parameters are kept as references in the frame. With
//   `Coro<void> f(const std::string& s)`, `co_await f("x")` is fine: the temporary std::string
//   lives until the co_await expression ends, which is after the body finished. But
//   `create_task(f("x"))`, or `Coro<void> c = f("x");` awaited later, lets the temporary die at
//   the end of the statement while the frame still refers to it: the body reads a dangling
//   reference. A coroutine that may run later (in a task) takes its parameters by value
//   (`Coro<void> f(std::string s)`). Compilers do not catch this: g++ 12 and clang 14 give no
//   warning; clang's [[clang::lifetimebound]] on the parameter warns only for
//   `Coro<void> c = f("x");`, not when the Coro is passed on to create_task(); g++ 13's
//   -Wdangling-reference is about functions returning references and does not apply. Nor can
//   it be checked at run time: a frame does not know where its references point. An
//   AddressSanitizer build reports the read as stack-use-after-scope when the temporary lived
//   on the stack.

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "simrun/core/detail/block_pool.hpp"
#include "simrun/core/source_location.hpp"

namespace simrun {

namespace detail {

/// Number of coroutine frames (Coro and AsyncGen) alive in the process. Zero after a clean
/// shutdown; tests use it to prove that no frame leaks.
std::int64_t live_coroutine_frames() noexcept;
void count_frame(std::int64_t delta) noexcept;

/// Reports "coroutine 'f' was never awaited" (a RuntimeWarning in asyncio).
void report_never_awaited(const SourceLocation& origin) noexcept;

/// Throws the RuntimeError for starting a coroutine that was started already: "cannot reuse
/// already awaited coroutine" if `finished`, else "coroutine is being awaited already".
[[noreturn]] void throw_already_started(bool finished);
/// Throws the RuntimeError for awaiting an empty Coro.
[[noreturn]] void throw_empty_coro();

struct CoroPromiseBase {
    explicit CoroPromiseBase(SourceLocation where) noexcept : origin(where) { count_frame(1); }
    // Frames come from the per-thread block lists (detail/block_pool.hpp).
    static void* operator new(std::size_t size) { return allocate_block(size); }
    static void operator delete(void* frame, std::size_t size) noexcept { free_block(frame, size); }
    ~CoroPromiseBase() { count_frame(-1); }
    CoroPromiseBase(const CoroPromiseBase&) = delete;
    CoroPromiseBase& operator=(const CoroPromiseBase&) = delete;

    std::suspend_always initial_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept { exception = std::current_exception(); }

    /// At the end, control goes straight back to whoever awaited this coroutine.
    struct FinalAwaiter {
        bool await_ready() const noexcept { return false; }
        template <class Promise>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) const noexcept {
            auto next = self.promise().continuation;
            return next ? next : std::noop_coroutine();
        }
        void await_resume() const noexcept {}
    };
    FinalAwaiter final_suspend() const noexcept { return {}; }

    std::coroutine_handle<> continuation;
    std::exception_ptr exception;
    SourceLocation origin;  // the coroutine function: for "never awaited" reports and traces
    bool started = false;   // awaited, or run by a task: it can never start again
    bool in_use = false;    // an await is running the frame right now (until it ends)
    bool orphaned = false;  // its Coro let go while in use: that await destroys the frame
    // A task cancelled before its first step still starts this frame, which takes the
    // cancellation itself (take_start_cancellation): aclose(), like asyncio's athrow awaitable.
    bool takes_start_cancellation = false;
};

/// Inside the first step of a task whose top coroutine takes_start_cancellation and which was
/// cancelled before that step: the cancellation's message (and the cancellation is consumed);
/// otherwise nothing.
std::optional<std::string> take_start_cancellation();

/// Throws RuntimeError if `frame` was started already (see throw_already_started).
template <class Promise>
void check_not_started(std::coroutine_handle<Promise> frame) {
    if (frame.promise().started)
        throw_already_started(frame.done());
}

template <class T>
struct CoroPromiseResult {
    template <class U>
    void return_value(U&& value) {
        result.emplace(std::forward<U>(value));
    }
    std::optional<T> result;
};
template <>
struct CoroPromiseResult<void> {
    void return_void() const noexcept {}
};

}  // namespace detail

/// A lazily started coroutine returning T. Move-only; destroying it destroys the frame.
template <class T = void>
class [[nodiscard]] Coro {
  public:
    using value_type = T;

    struct promise_type : detail::CoroPromiseBase, detail::CoroPromiseResult<T> {
        // The default argument records the coroutine function itself (file, line, name).
        explicit promise_type(SourceLocation where = SourceLocation::current()) noexcept
            : CoroPromiseBase(where) {}
        Coro get_return_object() noexcept {
            return Coro(std::coroutine_handle<promise_type>::from_promise(*this));
        }
    };
    using Handle = std::coroutine_handle<promise_type>;

    Coro() = default;
    explicit Coro(Handle handle) noexcept : handle_(handle) {}
    Coro(Coro&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
    Coro& operator=(Coro&& other) noexcept {
        if (this != &other) {
            reset();
            handle_ = std::exchange(other.handle_, {});
        }
        return *this;
    }
    Coro(const Coro&) = delete;
    Coro& operator=(const Coro&) = delete;
    ~Coro() { reset(); }

    /// True if this object owns a frame.
    explicit operator bool() const noexcept { return static_cast<bool>(handle_); }
    /// True once the body has finished (returned or thrown).
    bool done() const noexcept { return handle_ && handle_.done(); }
    /// Where the coroutine function is defined.
    SourceLocation origin() const noexcept {
        return handle_ ? handle_.promise().origin : SourceLocation{};
    }
    Handle handle() const noexcept { return handle_; }
    /// Destroys the frame without running it and without the "never awaited" report, for code
    /// that decided not to run it (as a task cancelled before its first step).
    void drop() noexcept {
        if (handle_)
            handle_.promise().started = true;
        reset();
    }

    /// Awaiting runs the body to completion inside the awaiting task and returns its value.
    /// RuntimeError (at the co_await) if the Coro is empty or was started already.
    auto operator co_await() && noexcept {
        class Awaiter {
          public:
            explicit Awaiter(Handle child) noexcept : child_(child) {}
            Awaiter(const Awaiter&) = delete;
            Awaiter& operator=(const Awaiter&) = delete;
            ~Awaiter() {
                if (!running_)
                    return;
                running_ = false;
                auto& promise = child_.promise();
                promise.in_use = false;
                if (promise.orphaned)  // its Coro is gone: this await was the last user
                    child_.destroy();
            }
            // A misused Coro is not suspended on: await_resume throws instead.
            bool await_ready() const noexcept { return !child_ || child_.promise().started; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> parent) noexcept {
                auto& promise = child_.promise();
                promise.continuation = parent;
                promise.started = true;
                promise.in_use = true;
                running_ = true;
                return child_;
            }
            T await_resume() {
                if (!running_) {
                    if (!child_)
                        detail::throw_empty_coro();
                    detail::throw_already_started(child_.done());
                }
                auto& promise = child_.promise();
                if (promise.exception)
                    std::rethrow_exception(promise.exception);
                if constexpr (!std::is_void_v<T>)
                    return std::move(*promise.result);
            }

          private:
            Handle child_;
            bool running_ = false;
        };
        return Awaiter{handle_};
    }

  private:
    void reset() noexcept {
        if (!handle_)
            return;
        auto& promise = handle_.promise();
        if (!promise.started)
            detail::report_never_awaited(promise.origin);
        if (promise.in_use) {
            // Another await is running this frame (the Coro was moved out from under it, e.g.
            // into create_task(), which refused it): that await destroys it when it ends.
            promise.orphaned = true;
        } else {
            handle_.destroy();
        }
        handle_ = {};
    }

    Handle handle_;
};

}  // namespace simrun
