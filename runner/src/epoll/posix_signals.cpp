#include "simrun/epoll/posix_signals.hpp"

#include <semaphore.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "simrun/core/event_loop.hpp"

namespace simrun {
namespace {

// Process-wide state shared with the C signal handler. Only lock-free atomics and static storage:
// the handler may interrupt anything, so it must not allocate, lock or touch a map.
struct SignalSlot {
    std::atomic<EventLoop*> loop{nullptr};         // the loop to wake
    std::atomic<std::uint64_t> id{0};              // the installed handler (0: none of ours)
    std::atomic<std::uint32_t> pending{0};         // arrivals not yet dispatched
    std::atomic<std::uint32_t> arrivals{0};        // arrivals since installation
    std::atomic<std::int64_t> escalate_after{-1};  // nanoseconds; negative: never escalate
};

SignalSlot signal_slots[NSIG];
std::atomic<std::uint64_t> next_handler_id{1};
// Counts the loop's visits to dispatch_pending(): the watchdog's proof that the loop got back.
std::atomic<std::uint64_t> dispatch_generation{0};

static_assert(std::atomic<EventLoop*>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);

// Every signal except the synchronous ones (a fault in this thread must still reach crash
// handlers and sanitizers) and SIGPROF (profilers sample every thread).
sigset_t asynchronous_signals() noexcept {
    sigset_t set;
    sigfillset(&set);
    for (int synchronous : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGPROF})
        sigdelset(&set, synchronous);
    return set;
}

void block_all_signals_in_this_thread() noexcept {
    sigset_t set = asynchronous_signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// The watchdog of the second-signal rule: sleeps on a semaphore (sem_post is async-signal-safe)
// until the handler arms it, then gives the loop `escalate_after` to dispatch.
class Watchdog {
  public:
    static Watchdog& instance() {
        static Watchdog watchdog;
        return watchdog;
    }

    void start() {
        std::lock_guard lock(start_mutex_);
        if (thread_.joinable())
            return;
        // The thread inherits the signal mask: block everything around its creation.
        sigset_t all = asynchronous_signals();
        sigset_t previous;
        pthread_sigmask(SIG_BLOCK, &all, &previous);
        try {
            thread_ = std::thread([this] { run(); });
        } catch (const std::exception& error) {
            pthread_sigmask(SIG_SETMASK, &previous, nullptr);
            throw ValueError(std::string("cannot start the signal watchdog thread: ") +
                             error.what());
        }
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        running_.store(true, std::memory_order_release);
    }

    // From the signal handler.
    void arm(int signum) noexcept {
        if (!running_.load(std::memory_order_acquire))
            return;
        bool expected = false;
        if (!armed_.compare_exchange_strong(expected, true))
            return;  // already counting down
        signum_.store(signum);
        installation_.store(signal_slots[signum].id.load());
        generation_.store(dispatch_generation.load());
        sem_post(&wake_);
    }

    ~Watchdog() {
        if (!thread_.joinable())
            return;
        stopping_.store(true);
        sem_post(&wake_);
        thread_.join();
        sem_destroy(&wake_);
    }

    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

  private:
    Watchdog() { sem_init(&wake_, 0, 0); }

    static std::int64_t now_ns() noexcept {
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
    }

    void run() {
        block_all_signals_in_this_thread();
        for (;;) {
            while (sem_wait(&wake_) != 0 && errno == EINTR) {
            }
            if (stopping_.load())
                return;
            const int signum = signum_.load();
            const std::uint64_t generation = generation_.load();
            const std::uint64_t installation = installation_.load();
            SignalSlot& slot = signal_slots[signum];
            const std::int64_t deadline = now_ns() + std::max<std::int64_t>(0, slot.escalate_after);
            bool loop_got_back = false;
            for (;;) {
                // The loop dispatched, or the handler that counted the arrivals is gone (a new
                // installation starts counting anew): either way the loop is not stuck.
                if (dispatch_generation.load() != generation || stopping_.load() ||
                    slot.id.load() != installation) {
                    loop_got_back = true;
                    break;
                }
                const std::int64_t left = deadline - now_ns();
                if (left <= 0)
                    break;
                // Poll in short slices: this runs only while a repeated signal is unanswered.
                const std::int64_t slice = std::min<std::int64_t>(left, 5'000'000);
                timespec pause{0, static_cast<long>(slice)};
                nanosleep(&pause, nullptr);
            }
            if (!loop_got_back) {
                static const char message[] =
                    "simrun: the event loop did not get back from a callback within the grace "
                    "period after a repeated signal; ending the process with the signal's "
                    "default action\n";
                [[maybe_unused]] auto written = ::write(2, message, sizeof message - 1);
                struct sigaction default_action {};
                default_action.sa_handler = SIG_DFL;
                sigemptyset(&default_action.sa_mask);
                sigaction(signum, &default_action, nullptr);
                kill(getpid(), signum);  // delivered to a thread that does not block it
            }
            armed_.store(false);
        }
    }

    sem_t wake_{};
    std::mutex start_mutex_;
    std::thread thread_;
    std::atomic<bool> running_{false};
    std::atomic<bool> armed_{false};
    std::atomic<bool> stopping_{false};
    std::atomic<int> signum_{0};
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<std::uint64_t> installation_{0};
};

extern "C" void simrun_record_signal(int signum) {
    const int saved_errno = errno;
    if (signum > 0 && signum < NSIG) {
        SignalSlot& slot = signal_slots[signum];
        slot.pending.fetch_add(1);
        const std::uint32_t arrivals = slot.arrivals.fetch_add(1) + 1;
        if (arrivals >= 2 && slot.escalate_after.load() >= 0)
            Watchdog::instance().arm(signum);
        if (EventLoop* loop = slot.loop.load())
            loop->notify_signal_arrived();
    }
    errno = saved_errno;
}

std::string signal_text(int signum) {
    return "signal " + std::to_string(signum);
}

void check_signal_number(int signum) {
    if (signum <= 0 || signum >= NSIG)
        throw ValueError("invalid signal number " + std::to_string(signum));
}

}  // namespace

PosixSignals::~PosixSignals() {
    restore_all();
}

void PosixSignals::restore_all() noexcept {
    while (!installed_.empty()) {
        const int signum = installed_.begin()->first;
        try {
            restore_default(signum);
        } catch (...) {  // only an invalid number throws, and ours are valid: forget it anyway
            installed_.erase(signum);
        }
    }
}

bool PosixSignals::on_main_thread() const {
    return static_cast<pid_t>(::syscall(SYS_gettid)) == ::getpid();
}

SignalDisposition PosixSignals::disposition(int signum) const {
    check_signal_number(signum);
    struct sigaction current {};
    if (sigaction(signum, nullptr, &current) != 0) {
        const int error = errno;
        throw ValueError("sigaction(" + signal_text(signum) + "): " + std::strerror(error));
    }
    if ((current.sa_flags & SA_SIGINFO) == 0) {
        if (current.sa_handler == SIG_DFL)
            return SignalDisposition::default_action;
        if (current.sa_handler == SIG_IGN)
            return SignalDisposition::ignored;
    }
    return SignalDisposition::handler;
}

std::uint64_t PosixSignals::install(int signum, std::function<void()> handler,
                                    SignalHandlerOptions options) {
    check_signal_number(signum);
    if (signum == SIGKILL || signum == SIGSTOP)
        throw ValueError(signal_text(signum) + " cannot be caught");
    if (!on_main_thread()) {
        throw ValueError(
            "signal handlers can only be installed from the main thread (run the loop there, "
            "or handle signals in the main thread yourself)");
    }
    if (!handler)
        throw ValueError("PosixSignals::install() needs a handler");
    if (options.escalate_after)
        Watchdog::instance().start();

    const bool first = installed_.find(signum) == installed_.end();
    const bool superseding_another_port = first && signal_slots[signum].id.load() != 0;
    Installed entry;
    entry.handler = std::move(handler);
    entry.id = next_handler_id.fetch_add(1);
    if (!first)
        entry.previous = installed_[signum].previous;

    SignalSlot& slot = signal_slots[signum];
    slot.pending.store(0);
    slot.arrivals.store(options.earlier_arrivals);
    slot.escalate_after.store(options.escalate_after ? options.escalate_after->count() : -1);
    slot.id.store(entry.id);
    slot.loop.store(&loop_);

    struct sigaction ours {};
    ours.sa_handler = simrun_record_signal;
    sigemptyset(&ours.sa_mask);
    ours.sa_flags = SA_RESTART;
    if (sigaction(signum, &ours, first ? &entry.previous : nullptr) != 0) {
        const int error = errno;
        slot.id.store(0);
        slot.loop.store(nullptr);
        throw ValueError("sigaction(" + signal_text(signum) + "): " + std::strerror(error));
    }
    if (superseding_another_port && (entry.previous.sa_flags & SA_SIGINFO) == 0 &&
        entry.previous.sa_handler == simrun_record_signal) {
        // Another loop's recording handler: putting it back later would leave a handler that
        // records for nobody. Put back the default action instead.
        entry.previous = {};
        entry.previous.sa_handler = SIG_DFL;
        sigemptyset(&entry.previous.sa_mask);
    }
    const std::uint64_t id = entry.id;
    installed_[signum] = std::move(entry);
    return id;
}

bool PosixSignals::is_installed(int signum, std::uint64_t id) const {
    auto found = installed_.find(signum);
    if (found == installed_.end() || found->second.id != id)
        return false;
    if (signal_slots[signum].id.load() != id)
        return false;  // another loop installed its own since
    struct sigaction current {};
    return sigaction(signum, nullptr, &current) == 0 && (current.sa_flags & SA_SIGINFO) == 0 &&
           current.sa_handler == simrun_record_signal;
}

void PosixSignals::restore_default(int signum) {
    check_signal_number(signum);
    auto found = installed_.find(signum);
    if (found == installed_.end())
        return;  // not ours: whatever is installed belongs to someone else
    SignalSlot& slot = signal_slots[signum];
    if (slot.id.load() == found->second.id) {
        // Disposition first, then the slot: an arrival in between is recorded and dropped.
        sigaction(signum, &found->second.previous, nullptr);
        slot.id.store(0);
        slot.loop.store(nullptr);
        slot.escalate_after.store(-1);
        slot.pending.store(0);
    }
    installed_.erase(found);
}

void PosixSignals::dispatch_pending() {
    dispatch_generation.fetch_add(1);
    std::vector<int> signums;
    signums.reserve(installed_.size());
    for (const auto& [signum, entry] : installed_)
        signums.push_back(signum);
    for (std::size_t index = 0; index < signums.size(); ++index) {
        const int signum = signums[index];
        SignalSlot& slot = signal_slots[signum];
        auto owned = installed_.find(signum);
        if (owned == installed_.end() || slot.id.load() != owned->second.id)
            continue;  // another loop installed its own since: its arrivals are its own
        for (std::uint32_t arrivals = slot.pending.exchange(0); arrivals > 0; --arrivals) {
            auto found = installed_.find(signum);
            if (found == installed_.end() || slot.id.load() != found->second.id)
                break;
            std::function<void()> handler = found->second.handler;
            try {
                handler();
            } catch (...) {
                // Later arrivals of this signal merge into this one; other signals still
                // pending get dispatched at the loop's next step.
                for (std::size_t rest = index + 1; rest < signums.size(); ++rest) {
                    if (signal_slots[signums[rest]].pending.load() > 0) {
                        loop_.notify_signal_arrived();
                        break;
                    }
                }
                throw;
            }
        }
    }
}

namespace {

std::mutex terminate_handler_mutex;
// The terminate handler install_uncaught_interrupt_handler() replaced (null: std::abort).
std::atomic<std::terminate_handler> previous_terminate_handler{nullptr};

[[noreturn]] void terminate_handler_for_interrupts() noexcept {
    static std::atomic<bool> entered{false};
    if (!entered.exchange(true)) {  // a handler calling std::terminate() again ends in abort()
        if (std::exception_ptr in_flight = std::current_exception()) {
            bool interrupted = false;
            try {
                std::rethrow_exception(in_flight);
            } catch (const KeyboardInterrupt&) {
                interrupted = true;
            } catch (...) {
            }
            if (interrupted)
                exit_as_interrupted();
        }
        if (std::terminate_handler previous = previous_terminate_handler.load())
            previous();
    }
    std::abort();
}

}  // namespace

void install_uncaught_interrupt_handler() {
    std::lock_guard lock(terminate_handler_mutex);
    std::terminate_handler current = std::get_terminate();
    if (current == &terminate_handler_for_interrupts)
        return;
    previous_terminate_handler.store(current);
    std::set_terminate(&terminate_handler_for_interrupts);
}

void exit_as_interrupted() noexcept {
    std::fflush(nullptr);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    sigaction(SIGINT, &default_action, nullptr);
    sigset_t interrupt;
    sigemptyset(&interrupt);
    sigaddset(&interrupt, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &interrupt, nullptr);
    ::raise(SIGINT);
    ::_exit(128 + SIGINT);  // only if SIGINT somehow did not end the process
}

}  // namespace simrun
