#include "simrun/io/stream_reader.hpp"

#include <algorithm>
#include <utility>

#include "simrun/core/event_loop.hpp"
#include "simrun/core/exceptions.hpp"
#include "simrun/core/future.hpp"
#include "simrun/io/transport.hpp"

namespace simrun {

namespace io::detail {

/// Above this capacity an emptied buffer gives its memory back (idle connections stay small).
constexpr std::size_t keep_capacity = 4 * 1024;

struct ReaderState {
    explicit ReaderState(std::size_t limit) : limit(limit) {}

    std::size_t size() const noexcept { return buffer.size() - start; }
    std::string_view view() const noexcept { return std::string_view(buffer).substr(start); }

    /// Removes and returns the first `n` buffered bytes (at most all of them).
    std::string take(std::size_t n) {
        n = std::min(n, size());
        std::string data = buffer.substr(start, n);
        drop(n);
        return data;
    }
    void drop(std::size_t n) {
        start += std::min(n, size());
        if (start == buffer.size()) {
            clear();
        } else if (start > buffer.size() / 2) {
            buffer.erase(0, start);
            start = 0;
        }
    }
    void clear() noexcept {
        if (buffer.capacity() > keep_capacity)
            std::string().swap(buffer);
        else
            buffer.clear();
        start = 0;
    }

    void wake_waiter() {
        if (!waiter)
            return;
        Future<void> woken = std::exchange(waiter, {});
        if (!woken.done())
            woken.set_result();
    }

    void maybe_resume_transport() {
        if (paused && size() <= limit) {
            paused = false;
            if (auto shared = transport.lock())
                shared->resume_reading();
        }
    }

    std::string buffer;
    std::size_t start = 0;
    std::size_t limit;
    Future<void> waiter;  // the one reader waiting for data, if any
    std::exception_ptr exception;
    std::weak_ptr<Transport> transport;
    bool has_transport = false;
    bool eof = false;
    bool paused = false;
};

namespace {

using State = std::shared_ptr<ReaderState>;

/// Waits until feed_data() or feed_eof() is called (or an error is set); resumes a paused
/// transport first, since waiting for data while paused would wait forever.
Coro<void> wait_for_data(State state, const char* function) {
    if (state->waiter) {
        throw RuntimeError(std::string(function) +
                           "() called while another coroutine is already waiting for incoming "
                           "data");
    }
    if (state->paused) {
        state->paused = false;
        if (auto transport = state->transport.lock())
            transport->resume_reading();
    }
    Future<void> waiter = get_running_loop().create_future<void>();
    waiter.set_label("StreamReader." + std::string(function));
    state->waiter = waiter;
    struct Clear {  // asyncio's `finally: self._waiter = None`, for our own waiter only
        ReaderState& state;
        Future<void>& mine;
        ~Clear() {
            if (state.waiter.state() == mine.state())
                state.waiter = {};
        }
    } clear{*state, waiter};
    co_await waiter;
}

void raise_stored(const State& state) {
    if (state->exception)
        std::rethrow_exception(state->exception);
}

Coro<std::string> read_bytes(State state, std::int64_t n) {
    raise_stored(state);
    if (n == 0)
        co_return std::string();
    if (n < 0) {
        // Read in blocks of `limit` until the end, so that a paused transport is resumed.
        std::string all;
        for (;;) {
            std::string block = co_await read_bytes(state, static_cast<std::int64_t>(state->limit));
            if (block.empty())
                break;
            all += block;
        }
        co_return all;
    }
    if (state->size() == 0 && !state->eof)
        co_await wait_for_data(state, "read");
    std::string data = state->take(static_cast<std::size_t>(n));
    state->maybe_resume_transport();
    co_return data;
}

Coro<std::string> read_exactly(State state, std::int64_t n) {
    if (n < 0)
        throw ValueError("readexactly size can not be less than zero");
    raise_stored(state);
    if (n == 0)
        co_return std::string();
    const auto wanted = static_cast<std::size_t>(n);
    while (state->size() < wanted) {
        if (state->eof) {
            std::string partial = state->take(state->size());
            throw IncompleteReadError(std::move(partial), wanted);
        }
        co_await wait_for_data(state, "readexactly");
    }
    std::string data = state->take(wanted);
    state->maybe_resume_transport();
    co_return data;
}

Coro<std::string> read_until(State state, std::vector<std::string> separators) {
    if (separators.empty())
        throw ValueError("Separator should contain at least one element");
    // The shortest separator first, so that it wins a tie.
    std::stable_sort(
        separators.begin(), separators.end(),
        [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
    const auto min_length = static_cast<std::int64_t>(separators.front().size());
    const auto max_length = static_cast<std::int64_t>(separators.back().size());
    if (min_length == 0)
        throw ValueError("Separator should be at least one-byte string");
    raise_stored(state);

    const auto limit = static_cast<std::int64_t>(state->limit);
    // Nothing before `offset` can be the start of a separator.
    std::int64_t offset = 0;
    std::int64_t match_start = -1;
    std::int64_t match_end = -1;
    for (;;) {
        const auto length = static_cast<std::int64_t>(state->size());
        if (length - offset >= min_length) {
            const std::string_view buffer = state->view();
            for (const std::string& separator : separators) {
                const std::size_t found = buffer.find(separator, static_cast<std::size_t>(offset));
                if (found == std::string_view::npos)
                    continue;
                const auto end = static_cast<std::int64_t>(found + separator.size());
                if (match_end < 0 || end < match_end) {
                    match_end = end;
                    match_start = static_cast<std::int64_t>(found);
                }
            }
            if (match_end >= 0)
                break;
            offset = std::max<std::int64_t>(0, length + 1 - max_length);
            if (offset > limit) {
                throw LimitOverrunError("Separator is not found, and chunk exceed the limit",
                                        static_cast<std::size_t>(offset));
            }
        }
        // A complete separator may have arrived with the end of the stream: EOF is checked
        // only after the buffer.
        if (state->eof) {
            std::string chunk = state->take(state->size());
            throw IncompleteReadError(std::move(chunk), std::nullopt);
        }
        co_await wait_for_data(state, "readuntil");
        offset = std::min(offset, static_cast<std::int64_t>(state->size()));
    }
    if (match_start > limit) {
        throw LimitOverrunError("Separator is found, but chunk is longer than limit",
                                static_cast<std::size_t>(match_start));
    }
    std::string chunk = state->take(static_cast<std::size_t>(match_end));
    state->maybe_resume_transport();
    co_return chunk;
}

Coro<std::string> read_line(State state) {
    std::vector<std::string> newline{std::string("\n")};  // g++ 12: no braced list in co_await
    try {
        co_return co_await read_until(state, std::move(newline));
    } catch (const IncompleteReadError& incomplete) {
        co_return incomplete.partial();
    } catch (const LimitOverrunError& overrun) {
        // Drop the line if its end was seen, else everything; then report a ValueError.
        if (state->view().substr(std::min(overrun.consumed(), state->size())).starts_with("\n"))
            state->drop(overrun.consumed() + 1);
        else
            state->clear();
        state->maybe_resume_transport();
        throw ValueError(overrun.what());
    }
}

AsyncGen<std::string> each_line(StreamReader reader) {
    for (;;) {
        std::string line = co_await reader.readline();
        if (line.empty())
            co_return;
        co_yield line;
    }
}

/// Python's repr of an exception: "RuntimeError()", "ValueError('bad')".
std::string exception_repr(const std::exception_ptr& error) {
    std::string text = describe_exception(error);
    const std::size_t colon = text.find(": ");
    if (colon == std::string::npos || colon + 2 == text.size())
        return text.substr(0, colon) + "()";
    return text.substr(0, colon) + "('" + text.substr(colon + 2) + "')";
}

}  // namespace

}  // namespace io::detail

StreamReader::StreamReader(std::int64_t limit) {
    if (limit <= 0)
        throw ValueError("Limit cannot be <= 0");
    state_ = std::make_shared<io::detail::ReaderState>(static_cast<std::size_t>(limit));
}

std::size_t StreamReader::limit() const noexcept {
    return state_->limit;
}

void StreamReader::feed_data(std::string_view data) {
    io::detail::ReaderState& state = *state_;
    if (state.eof)
        throw RuntimeError("feed_data after feed_eof");
    if (data.empty())
        return;
    state.buffer.append(data);
    state.wake_waiter();
    if (state.has_transport && !state.paused && state.size() > 2 * state.limit) {
        if (auto transport = state.transport.lock()) {
            transport->pause_reading();
            state.paused = true;
        }
    }
}

void StreamReader::feed_eof() {
    state_->eof = true;
    state_->wake_waiter();
}

void StreamReader::set_exception(std::exception_ptr error) {
    io::detail::ReaderState& state = *state_;
    state.exception = error;
    if (!state.waiter)
        return;
    Future<void> waiter = std::exchange(state.waiter, {});
    if (!waiter.done())
        waiter.set_exception(std::move(error));
}

void StreamReader::set_transport(const std::shared_ptr<Transport>& transport) {
    if (state_->has_transport)
        throw RuntimeError("Transport already set");
    state_->transport = transport;
    state_->has_transport = true;
}

Coro<std::string> StreamReader::read(std::int64_t n) {
    return io::detail::read_bytes(state_, n);
}

Coro<std::string> StreamReader::readline() {
    return io::detail::read_line(state_);
}

Coro<std::string> StreamReader::readexactly(std::int64_t n) {
    return io::detail::read_exactly(state_, n);
}

Coro<std::string> StreamReader::readuntil(std::string separator) {
    return io::detail::read_until(state_, {std::move(separator)});
}

Coro<std::string> StreamReader::readuntil(std::vector<std::string> separators) {
    return io::detail::read_until(state_, std::move(separators));
}

AsyncGen<std::string> StreamReader::lines() {
    return io::detail::each_line(*this);
}

bool StreamReader::at_eof() const noexcept {
    return state_->eof && state_->size() == 0;
}

std::exception_ptr StreamReader::exception() const noexcept {
    return state_->exception;
}

std::string_view StreamReader::buffer() const noexcept {
    return state_->view();
}

std::string StreamReader::describe() const {
    const io::detail::ReaderState& state = *state_;
    std::string text = "<StreamReader";
    // Appends piece by piece: g++ 12 at -O3 warns (-Wrestrict, a false positive) about
    // `" " + std::to_string(n)`.
    if (state.size() != 0)
        text.append(" ").append(std::to_string(state.size())).append(" bytes");
    if (state.eof)
        text += " eof";
    if (state.limit != static_cast<std::size_t>(default_stream_limit))
        text.append(" limit=").append(std::to_string(state.limit));
    if (state.waiter)
        text += " waiter=" + state.waiter.describe();
    if (state.exception)
        text += " exception=" + io::detail::exception_repr(state.exception);
    if (auto transport = state.transport.lock())
        text += " transport=" + transport->describe();
    if (state.paused)
        text += " paused";
    return text + ">";
}

}  // namespace simrun
