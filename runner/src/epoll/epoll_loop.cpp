#include "simrun/epoll/epoll_loop.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>

#include "simrun/epoll/thread_pool.hpp"

#include "../io/epoll_network.hpp"

namespace simrun {
namespace {

constexpr std::size_t max_events_per_wait = 256;

// epoll_pwait2 (nanosecond timeouts) needs Linux 5.11 (and a seccomp profile that allows it); else
// epoll_wait with the timeout rounded up to a millisecond, so that a timer is never polled for
// before it is due.
int wait_on_epoll(int epoll_fd, epoll_event* events, int capacity,
                  std::optional<Duration> timeout) {
    static std::atomic<bool> pwait2_missing{false};
    if (timeout && !pwait2_missing.load(std::memory_order_relaxed)) {
        const auto nanoseconds = timeout->count();
        timespec limit{static_cast<time_t>(nanoseconds / 1'000'000'000),
                       static_cast<long>(nanoseconds % 1'000'000'000)};
        int ready = ::epoll_pwait2(epoll_fd, events, capacity, &limit, nullptr);
        // ENOSYS: kernel before 5.11; EPERM: a seccomp profile that does not know the call.
        if (ready >= 0 || (errno != ENOSYS && errno != EPERM))
            return ready;
        pwait2_missing.store(true, std::memory_order_relaxed);
    }
    int milliseconds = -1;
    if (timeout) {
        // Rounded up without overflowing, whatever the timeout.
        const std::int64_t nanoseconds = timeout->count();
        const std::int64_t rounded_up =
            nanoseconds / 1'000'000 + (nanoseconds % 1'000'000 > 0 ? 1 : 0);
        milliseconds = static_cast<int>(std::min<std::int64_t>(rounded_up, INT_MAX));
    }
    return ::epoll_wait(epoll_fd, events, capacity, milliseconds);
}

void check_descriptor(int fd) {
    if (fd < 0)
        throw ValueError("invalid file descriptor " + std::to_string(fd));
}

}  // namespace

EpollLoop::EpollLoop(EpollLoopOptions options)
    : options_(options), signals_(*this), events_(max_events_per_wait) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
        const int error = errno;  // before anything else can change it
        throw OSError(error, "epoll_create1");
    }
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
        const int error = errno;
        ::close(epoll_fd_);
        throw OSError(error, "eventfd");
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = wake_fd_;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event) != 0) {
        const int error = errno;
        ::close(wake_fd_);
        ::close(epoll_fd_);
        throw OSError(error, "epoll_ctl(eventfd)");
    }
}

EpollLoop::~EpollLoop() {
    if (!is_closed() && !is_running()) {
        warn("ResourceWarning", "unclosed event loop <EpollLoop>");
        try {
            close();
        } catch (...) {  // a destructor never throws
        }
    }
    // Neither a signal nor an executor job may wake us once the descriptors are gone.
    signals_.restore_all();
    detach_anchor();
    ::close(wake_fd_);
    ::close(epoll_fd_);
}

Duration EpollLoop::time() const {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return Duration(static_cast<Duration::rep>(now.tv_sec) * 1'000'000'000 + now.tv_nsec);
}

void EpollLoop::wait_for_events(std::optional<Duration> timeout) {
    // No check of the thread-safe queue here (it would lock its mutex every iteration): a
    // queued callback always left the eventfd readable, so this wait returns at once.
    int ready = wait_on_epoll(epoll_fd_, events_.data(), static_cast<int>(events_.size()), timeout);
    if (ready < 0) {
        if (errno == EINTR)
            return;  // a signal: the handler recorded it and the loop dispatches it next
        {
            const int error = errno;  // before anything else can change it
            throw OSError(error, "epoll_wait");
        }
    }
    for (int index = 0; index < ready; ++index) {
        const epoll_event& event = events_[static_cast<std::size_t>(index)];
        const int fd = event.data.fd;
        if (fd == wake_fd_) {
            drain_wake_descriptor();
            continue;
        }
        auto found = watches_.find(fd);
        if (found == watches_.end())
            continue;
        Watch& watch = found->second;
        const std::uint32_t error_or_hangup = EPOLLERR | EPOLLHUP;
        if (watch.reader && (event.events & (EPOLLIN | EPOLLRDHUP | error_or_hangup)) != 0)
            schedule_ready(watch.reader);
        if (watch.writer && (event.events & (EPOLLOUT | error_or_hangup)) != 0)
            schedule_ready(watch.writer);
    }
}

void EpollLoop::drain_wake_descriptor() noexcept {
    std::uint64_t count = 0;
    [[maybe_unused]] auto got = ::read(wake_fd_, &count, sizeof count);
    // Cleared before the loop drains its thread-safe queue (run_once does that right after
    // this wait): a post that saw the flag still set is already in the queue.
    wake_pending_.store(false, std::memory_order_release);
}

void EpollLoop::wake_up() noexcept {
    // Async-signal-safe: a lock-free exchange and write(2).
    if (wake_pending_.exchange(true, std::memory_order_acq_rel))
        return;
    const std::uint64_t one = 1;
    [[maybe_unused]] auto put = ::write(wake_fd_, &one, sizeof one);
}

std::shared_ptr<Executor> EpollLoop::make_default_executor() {
    return std::make_shared<ThreadPool>(
        ThreadPoolOptions{.max_workers = options_.executor_workers});
}

void EpollLoop::on_close() {
    signals_.restore_all();  // as asyncio's close() removes the loop's signal handlers
    for (auto& [fd, watch] : watches_) {
        if (watch.reader)
            watch.reader->cancelled.store(true, std::memory_order_relaxed);
        if (watch.writer)
            watch.writer->cancelled.store(true, std::memory_order_relaxed);
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    }
    watches_.clear();
    if (network_)
        network_->close_all();  // no descriptor outlives the loop (see network())
}

io::Network& EpollLoop::network() {
    if (!network_)
        network_ = std::make_unique<io::detail::EpollNetwork>(*this);
    return *network_;
}

// ---- readers and writers ----------------------------------------------------------------------

Handle EpollLoop::add_reader(int fd, std::function<void()> callback) {
    return watch(fd, std::move(callback), true);
}

Handle EpollLoop::add_writer(int fd, std::function<void()> callback) {
    return watch(fd, std::move(callback), false);
}

bool EpollLoop::remove_reader(int fd) {
    return unwatch(fd, true);
}

bool EpollLoop::remove_writer(int fd) {
    return unwatch(fd, false);
}

Handle EpollLoop::watch(int fd, std::function<void()> callback, bool for_reading) {
    check_closed();
    check_descriptor(fd);
    if (!callback)
        throw ValueError(for_reading ? "add_reader() needs a callback"
                                     : "add_writer() needs a callback");
    auto handle =
        make_io_handle(std::move(callback),
                       (for_reading ? "reader of fd " : "writer of fd ") + std::to_string(fd));
    Watch& watch = watches_[fd];
    detail::HandleRef& slot = for_reading ? watch.reader : watch.writer;
    detail::HandleRef replaced = std::move(slot);
    slot = handle;
    try {
        update_registration(fd, watch);
    } catch (...) {
        slot = std::move(replaced);
        if (!watch.reader && !watch.writer)
            watches_.erase(fd);
        throw;
    }
    if (replaced)
        replaced->cancelled.store(true, std::memory_order_relaxed);
    return Handle(std::move(handle));
}

bool EpollLoop::unwatch(int fd, bool for_reading) {
    if (is_closed())
        return false;
    auto found = watches_.find(fd);
    if (found == watches_.end())
        return false;
    Watch& watch = found->second;
    detail::HandleRef& slot = for_reading ? watch.reader : watch.writer;
    if (!slot)
        return false;
    slot->cancelled.store(true, std::memory_order_relaxed);  // a queued run is dropped
    slot.reset();
    try {
        update_registration(fd, watch);
    } catch (const OSError&) {  // e.g. the descriptor was closed first: nothing left to watch
    }
    if (!watch.reader && !watch.writer)
        watches_.erase(found);
    return true;
}

void EpollLoop::update_registration(int fd, Watch& watch) {
    std::uint32_t wanted = 0;
    if (watch.reader)
        wanted |= EPOLLIN | EPOLLRDHUP;
    if (watch.writer)
        wanted |= EPOLLOUT;
    if (wanted == watch.registered)
        return;
    epoll_event event{};
    event.events = wanted;
    event.data.fd = fd;
    int result = 0;
    if (wanted == 0) {
        result = ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
        watch.registered = 0;
        if (result != 0 && errno != EBADF && errno != ENOENT) {
            const int error = errno;  // before anything else can change it
            throw OSError(error, "epoll_ctl(DEL, fd " + std::to_string(fd) + ")");
        }
        return;
    }
    if (watch.registered == 0) {
        result = ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
        if (result != 0 && errno == EEXIST)  // closed and reopened under the same number
            result = ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event);
    } else {
        result = ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event);
        if (result != 0 && errno == ENOENT)  // closed and reopened: register anew
            result = ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
    }
    if (result != 0) {
        const int error = errno;  // before anything else can change it
        throw OSError(error, "epoll_ctl(fd " + std::to_string(fd) + ")");
    }
    watch.registered = wanted;
}

}  // namespace simrun
