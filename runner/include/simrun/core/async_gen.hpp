#pragma once
// AsyncGen<T>: an async generator (Python's `async def` with `yield`). The body may co_await
// and co_yield. Its first iteration registers it with the running loop, so that the Runner's
// shutdown (shutdown_asyncgens) closes it if it is still open. aclose() throws GeneratorExit at
// the generator's co_yield; the body may clean up (and await) before it ends:
//
//     AsyncGen<int> ticks() {
//         bool closing = false;
//         try {
//             for (int i = 0;; ++i) co_yield i;
//         } catch (const GeneratorExit&) {
//             closing = true;  // co_await is not allowed inside a catch block
//         }
//         if (closing) co_await flush_and_disconnect();
//     }
//
//     AsyncGen<int> gen = ticks();
//     while (std::optional<int> tick = co_await gen.next()) { ... }
//
// Dropping the last AsyncGen handle while it is suspended at a co_yield schedules its
// aclose() as a task on its loop (asyncio's finalizer hook).

#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "simrun/core/coro.hpp"
#include "simrun/core/detail/async_gen_base.hpp"
#include "simrun/core/event_loop.hpp"

namespace simrun {

template <class T>
class AsyncGen;

namespace detail {

template <class T>
class AsyncGenState final : public AsyncGenStateBase,
                            public std::enable_shared_from_this<AsyncGenState<T>> {
  public:
    struct promise_type : CoroPromiseBase {
        explicit promise_type(SourceLocation where = SourceLocation::current()) noexcept
            : CoroPromiseBase(where) {}
        AsyncGen<T> get_return_object();

        struct YieldAwaiter {
            promise_type& promise;
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<>) const noexcept {
                return promise.continuation;
            }
            void await_resume() const {
                if (promise.closing && promise.thrown_in)
                    std::rethrow_exception(std::exchange(promise.thrown_in, nullptr));
                if (promise.closing)
                    throw GeneratorExit();
            }
        };
        template <class U>
        YieldAwaiter yield_value(U&& value) {
            current.emplace(std::forward<U>(value));
            return YieldAwaiter{*this};
        }
        void return_void() const noexcept {}

        std::optional<T> current;
        bool closing = false;
        std::exception_ptr thrown_in;  // closing: thrown at the co_yield instead of GeneratorExit
    };
    using Handle = std::coroutine_handle<promise_type>;

    explicit AsyncGenState(Handle handle) : handle_(handle) {}
    ~AsyncGenState() override {
        if (handle_) {
            handle_.promise().started = true;  // a generator nobody iterated is not worth a report
            handle_.destroy();
        }
    }
    AsyncGenState(const AsyncGenState&) = delete;
    AsyncGenState& operator=(const AsyncGenState&) = delete;

    bool finished() const noexcept override { return !handle_ || handle_.done(); }
    bool started() const noexcept { return handle_ && handle_.promise().started; }
    bool running() const noexcept { return running_; }
    std::string describe() const override {
        const SourceLocation& origin = origin_or_empty();
        // The file, not the line: compilers disagree on a coroutine's line (g++ gives its closing
        // brace, clang its first line), and reports end up in the trace's digest.
        return std::string("<async_generator ") + origin.function + " at " +
               std::string(origin.file_name()) + ">";
    }

    /// Resumes the body until its next co_yield or its end (the caller is suspended meanwhile).
    struct ResumeAwaiter {
        AsyncGenState& state;
        bool await_ready() const noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> consumer) {
            state.handle_.promise().continuation = consumer;
            state.handle_.promise().started = true;
            state.running_ = true;
            return state.handle_;
        }
        void await_resume() noexcept { state.running_ = false; }
    };

    /// One iteration: the next value, or nothing at the end. Rethrows the body's exception.
    Coro<std::optional<T>> next() {
        if (finished())
            co_return std::nullopt;
        if (running_)
            throw RuntimeError("anext(): asynchronous generator is already running");
        if (!handle_.promise().started)
            register_with_loop();
        co_await ResumeAwaiter{*this};
        co_return take_outcome();
    }

    /// aclose(): GeneratorExit at the co_yield; RuntimeError if the body yields again.
    Coro<void> close_async() override { return close(this->shared_from_this()); }

  private:
    // Takes its own reference: the frame keeps the generator alive until the close is over.
    // Like asyncio's athrow awaitable, a task running aclose() that is cancelled before its first
    // step still reaches the generator: the CancelledError is thrown in at its co_yield instead
    // of GeneratorExit (a generator never started is closed, and the task is cancelled).
    static Coro<void> close(std::shared_ptr<AsyncGenState> self) {
        Coro<void> body = self->close_body(self);
        body.handle().promise().takes_start_cancellation = true;
        return body;
    }
    Coro<void> close_body(std::shared_ptr<AsyncGenState> keep) {
        const std::optional<std::string> cancelled = take_start_cancellation();
        if (!handle_ || handle_.done()) {
            if (cancelled)
                throw CancelledError(*cancelled);
            co_return;  // already ended: nothing to close
        }
        if (running_)
            throw RuntimeError("aclose(): asynchronous generator is already running");
        if (!handle_.promise().started) {  // never started: just mark it closed
            handle_.promise().started = true;
            handle_.destroy();
            handle_ = {};
            if (cancelled)
                throw CancelledError(*cancelled);
            co_return;
        }
        handle_.promise().closing = true;
        if (cancelled)
            handle_.promise().thrown_in = std::make_exception_ptr(CancelledError(*cancelled));
        co_await ResumeAwaiter{*this};
        if (!handle_.done())
            throw RuntimeError("async generator ignored GeneratorExit");
        std::exception_ptr error = std::exchange(handle_.promise().exception, nullptr);
        if (error) {
            try {
                std::rethrow_exception(error);
            } catch (const GeneratorExit&) {
                co_return;  // the normal way to end
            }
        }
        (void)keep;
    }

  public:
    /// The generator's owner let go of it: close it on its loop if it is suspended mid-body.
    void finalize() noexcept {
        if (!handle_ || handle_.done() || !handle_.promise().started || running_)
            return;
        EventLoop* loop = anchor_ ? anchor_->loop : nullptr;
        if (loop == nullptr || loop->is_closed())
            return;
        loop->finalize_asyncgen(this->shared_from_this());
    }

  private:
    const SourceLocation& origin_or_empty() const {
        static const SourceLocation none{};
        return handle_ ? handle_.promise().origin : none;
    }
    void register_with_loop() {
        EventLoop& loop = get_running_loop();
        anchor_ = loop.anchor();
        loop.register_asyncgen(this->shared_from_this());
    }
    std::optional<T> take_outcome() {
        auto& promise = handle_.promise();
        if (promise.exception)
            std::rethrow_exception(std::exchange(promise.exception, nullptr));
        if (handle_.done())
            return std::nullopt;
        return std::exchange(promise.current, std::nullopt);
    }

    Handle handle_;
    std::shared_ptr<LoopAnchor> anchor_;
    bool running_ = false;
};

}  // namespace detail

/// An async generator of T. Move-only handle; see the file comment for usage.
template <class T>
class [[nodiscard]] AsyncGen {
  public:
    using promise_type = typename detail::AsyncGenState<T>::promise_type;

    AsyncGen() = default;
    explicit AsyncGen(std::shared_ptr<detail::AsyncGenState<T>> state) : state_(std::move(state)) {}
    AsyncGen(AsyncGen&&) noexcept = default;
    AsyncGen& operator=(AsyncGen&& other) noexcept {
        if (this != &other) {
            release();
            state_ = std::move(other.state_);
        }
        return *this;
    }
    ~AsyncGen() { release(); }

    /// The next value, or std::nullopt once the generator has ended. The first call registers
    /// the generator with the running loop. Rethrows the body's exception.
    Coro<std::optional<T>> next() { return state_->next(); }
    /// Closes the generator: GeneratorExit at its co_yield, clean-up may await. RuntimeError if
    /// the body catches GeneratorExit and yields again.
    Coro<void> aclose() { return state_->close_async(); }
    /// True once the body has ended.
    bool finished() const noexcept { return !state_ || state_->finished(); }
    std::string describe() const {
        return state_ ? state_->describe() : "<async_generator (empty)>";
    }

  private:
    void release() noexcept {
        if (state_ && state_.use_count() == 1)
            state_->finalize();
        state_.reset();
    }
    std::shared_ptr<detail::AsyncGenState<T>> state_;
};

template <class T>
AsyncGen<T> detail::AsyncGenState<T>::promise_type::get_return_object() {
    return AsyncGen<T>(std::make_shared<AsyncGenState<T>>(Handle::from_promise(*this)));
}

}  // namespace simrun
