#pragma once
// Coro<T>: a lazy coroutine. Calling a coroutine function creates the frame but runs nothing;
// the body starts when the Coro is awaited (`co_await child()`) or wrapped in a task
// (`create_task(child())`). Awaiting transfers control directly to the child and back
// (symmetric transfer), so deep await chains cost no stack.
//
// Lifetime rule (as in every C++ coroutine library): a coroutine lambda must not capture by
// reference anything that may die before the coroutine finishes; pass values as parameters.

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "simrun/source_location.hpp"

namespace simrun {

namespace detail {

/// Number of coroutine frames (Coro and AsyncGen) alive in the process. Zero after a clean
/// shutdown; tests use it to prove that no frame leaks.
std::int64_t live_coroutine_frames() noexcept;
void count_frame(std::int64_t delta) noexcept;

/// Reports "coroutine 'f' was never awaited" (a RuntimeWarning in asyncio).
void report_never_awaited(const SourceLocation& origin) noexcept;

struct CoroPromiseBase {
    explicit CoroPromiseBase(SourceLocation where) noexcept : origin(where) { count_frame(1); }
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
    bool started = false;
};

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
    auto operator co_await() && noexcept {
        struct Awaiter {
            Handle child;
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> parent) noexcept {
                child.promise().continuation = parent;
                child.promise().started = true;
                return child;
            }
            T await_resume() {
                auto& promise = child.promise();
                if (promise.exception)
                    std::rethrow_exception(promise.exception);
                if constexpr (!std::is_void_v<T>)
                    return std::move(*promise.result);
            }
        };
        return Awaiter{handle_};
    }

  private:
    void reset() noexcept {
        if (!handle_)
            return;
        if (!handle_.promise().started)
            detail::report_never_awaited(handle_.promise().origin);
        handle_.destroy();
        handle_ = {};
    }

    Handle handle_;
};

}  // namespace simrun
