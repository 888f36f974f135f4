#pragma once
// EpollLoop: the real event loop, and the default of new_event_loop(), run() and Runner.
//
// One iteration (EventLoop::run_once, docs/design.md): compute the timeout (zero if callbacks
// are ready, else until the earliest timer), one epoll_wait, read the clock, queue the handles
// of ready file descriptors and due timers, then run exactly the callbacks that were ready at
// that point; callbacks they schedule run in the next iteration, as in asyncio.
//
// call_soon_threadsafe() from any thread wakes the wait through an eventfd; wake-ups coalesce
// (one write until the loop has read it). Signals go through PosixSignals; the default executor
// is a ThreadPool whose results come back to the loop thread.

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "simrun/core/event_loop.hpp"
#include "simrun/epoll/posix_signals.hpp"

namespace simrun {

namespace io::detail {
class EpollNetwork;
}

/// Options of an EpollLoop.
struct EpollLoopOptions {
    /// Workers of the default executor (a ThreadPool); 0: min(32, cores + 4), as Python.
    std::size_t executor_workers = 0;
};

/// The epoll-based event loop (see the file comment). Construct it on the thread that will run
/// it; RuntimeError if the kernel refuses an epoll or eventfd descriptor.
class EpollLoop final : public EventLoop {
  public:
    explicit EpollLoop(EpollLoopOptions options = {});
    /// An unclosed loop warns "unclosed event loop" (ResourceWarning) and closes itself.
    ~EpollLoop() override;

    /// CLOCK_MONOTONIC.
    Duration time() const override;
    SignalPort& signals() override { return signals_; }

    /// Level-triggered: the callback runs at every iteration while `fd` stays readable. One
    /// reader per descriptor (a second add_reader replaces the first). ValueError for a
    /// negative fd; OSError if epoll refuses the descriptor (e.g. a regular file).
    Handle add_reader(int fd, std::function<void()> callback) override;
    Handle add_writer(int fd, std::function<void()> callback) override;
    bool remove_reader(int fd) override;
    bool remove_writer(int fd) override;

    /// Kernel sockets (io/network.hpp): non-blocking, close-on-exec, TCP_NODELAY, sends that
    /// never raise SIGPIPE, getaddrinfo in the default executor. Made on first use and owned by
    /// the loop. Closing the loop closes every socket of this network still open (listening
    /// sockets stop listening; connections close as by StreamSocket::close()); a socket object
    /// that outlives that stays valid: send(), receive() and the like raise OSError EBADF,
    /// close() and abort() do nothing.
    io::Network& network() override;

    /// Descriptors watched for reading or writing (for tests and leak checks).
    std::size_t watched_descriptors() const noexcept { return watches_.size(); }

  protected:
    void wait_for_events(std::optional<Duration> timeout) override;
    void wake_up() noexcept override;
    std::shared_ptr<Executor> make_default_executor() override;
    void on_close() override;

  private:
    struct Watch {
        detail::HandleRef reader;
        detail::HandleRef writer;
        std::uint32_t registered = 0;  // the epoll event mask currently registered
    };
    void update_registration(int fd, Watch& watch);
    Handle watch(int fd, std::function<void()> callback, bool for_reading);
    bool unwatch(int fd, bool for_reading);
    void drain_wake_descriptor() noexcept;

    EpollLoopOptions options_;
    PosixSignals signals_;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    std::atomic<bool> wake_pending_{false};
    std::map<int, Watch> watches_;
    std::vector<epoll_event> events_;
    std::unique_ptr<io::detail::EpollNetwork> network_;
};

}  // namespace simrun
