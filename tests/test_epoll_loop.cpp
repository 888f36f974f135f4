// The epoll loop's own behaviour: real time, file descriptors, sockets, real signals inside the
// process, the thread-pool executor seen from the loop. Suite "real-only".
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

#include "support.hpp"

using namespace simrun;
using namespace std::chrono_literals;
using test_support::contains;
using test_support::thrown;

TEST_SUITE_BEGIN("real-only");

namespace {

struct Pipe {
    int read_end = -1;
    int write_end = -1;
    Pipe() {
        int fds[2];
        REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
        read_end = fds[0];
        write_end = fds[1];
    }
    ~Pipe() {
        ::close(read_end);
        ::close(write_end);
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
};

struct SocketPair {
    int fds[2] = {-1, -1};
    SocketPair() {
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    }
    ~SocketPair() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    SocketPair(const SocketPair&) = delete;
    SocketPair& operator=(const SocketPair&) = delete;
};

/// Puts SIGINT's default disposition in place for one test (doctest installs its own crash
/// reporter for SIGINT, and a Runner only takes over a default SIGINT, as asyncio does).
struct DefaultSigint {
    struct sigaction saved {};
    DefaultSigint() {
        struct sigaction default_action {};
        default_action.sa_handler = SIG_DFL;
        sigemptyset(&default_action.sa_mask);
        ::sigaction(SIGINT, &default_action, &saved);
    }
    ~DefaultSigint() { ::sigaction(SIGINT, &saved, nullptr); }
    DefaultSigint(const DefaultSigint&) = delete;
    DefaultSigint& operator=(const DefaultSigint&) = delete;
};

struct Listener {
    int fd = -1;
    sockaddr_storage address{};
    socklen_t length = sizeof(sockaddr_in);
    Listener() {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        auto* in = reinterpret_cast<sockaddr_in*>(&address);
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in->sin_port = 0;
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0);
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
        REQUIRE(::listen(fd, 16) == 0);
    }
    ~Listener() { ::close(fd); }
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
};

int new_client_socket() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    return fd;
}

Coro<std::string> echo_once(int listener) {
    AcceptedSocket connection = co_await sock_accept(listener);
    std::string received;
    for (;;) {
        std::string chunk = co_await sock_recv(connection.fd, 4096);
        if (chunk.empty())
            break;
        received += chunk;
        co_await sock_sendall(connection.fd, chunk);
    }
    ::close(connection.fd);
    co_return received;
}

Coro<std::string> client(const sockaddr_storage& address, socklen_t length, std::string message) {
    int fd = new_client_socket();
    co_await sock_connect(fd, address, length);
    co_await sock_sendall(fd, message);
    ::shutdown(fd, SHUT_WR);
    std::string echoed;
    for (;;) {
        std::string chunk = co_await sock_recv(fd, 1000);
        if (chunk.empty())
            break;
        echoed += chunk;
    }
    ::close(fd);
    co_return echoed;
}

Coro<std::string> echo_round_trip(int listener, sockaddr_storage address, socklen_t length) {
    // Large enough that the sender waits for buffer space; chunks large enough that the
    // sanitizer builds (where g++ cannot tail-call symmetric transfer, docs/design.md) do not
    // nest thousands of synchronously completed awaits.
    std::string message(300000, 'x');
    for (std::size_t index = 0; index < message.size(); ++index)
        message[index] = static_cast<char>('a' + index % 26);
    Task<std::string> server = create_task(echo_once(listener));
    std::string echoed = co_await client(address, length, message);
    std::string received = co_await server;
    CHECK(received == message);
    co_return echoed;
}

Coro<void> never_ending_recv(int fd) {
    co_await sock_recv(fd, 10);
}

}  // namespace

TEST_CASE("new_event_loop() and a default Runner use the epoll loop") {
    std::shared_ptr<EventLoop> loop = new_event_loop();
    CHECK(dynamic_cast<EpollLoop*>(loop.get()) != nullptr);
    loop->close();
    Runner runner;
    CHECK(dynamic_cast<EpollLoop*>(&runner.get_loop()) != nullptr);
    runner.close();
}

TEST_CASE("an unclosed epoll loop warns and closes itself when destroyed") {
    std::vector<std::string> lines;
    set_default_log_handler([&](LogLevel, const std::string& line) { lines.push_back(line); });
    {
        EpollLoop loop;
        loop.set_log_handler([&](LogLevel, const std::string& line) { lines.push_back(line); });
    }
    set_default_log_handler({});
    REQUIRE(lines.size() == 1);
    CHECK(contains(lines[0], "ResourceWarning: unclosed event loop <EpollLoop>"));
}

TEST_CASE("call_soon_threadsafe from another thread wakes a loop that waits with no timer") {
    test_support::TestLoop<test_support::EpollKind> s;
    Future<int> result = s.loop.create_future<int>();
    std::thread other(
        [&] { s.loop.call_soon_threadsafe([state = result.state()] { state->set_result(7); }); });
    CHECK(s.loop.run_until_complete(result) == 7);
    other.join();
}

TEST_CASE("thread-safe callbacks from one thread run in order, however many wake-ups coalesce") {
    test_support::TestLoop<test_support::EpollKind> s;
    constexpr int count = 20000;
    std::vector<int> seen;
    Future<void> all_posted = s.loop.create_future<void>();
    std::thread other([&] {
        for (int index = 0; index < count; ++index)
            s.loop.call_soon_threadsafe([&seen, index] { seen.push_back(index); });
        s.loop.call_soon_threadsafe([state = all_posted.state()] { state->set_result(); });
    });
    s.loop.run_until_complete(all_posted);
    other.join();
    REQUIRE(seen.size() == static_cast<std::size_t>(count));
    bool in_order = true;
    for (int index = 0; index < count; ++index)
        in_order = in_order && seen[static_cast<std::size_t>(index)] == index;
    CHECK(in_order);
}

TEST_CASE("a timer never fires before its deadline on the real clock") {
    test_support::TestLoop<test_support::EpollKind> s;
    const Duration start = s.loop.time();
    Duration fired{};
    Future<void> done = s.loop.create_future<void>();
    s.loop.call_later(3ms, [&, state = done.state()] {
        fired = s.loop.time();
        state->set_result();
    });
    s.loop.run_until_complete(done);
    CHECK(fired - start >= 3ms);
}

TEST_CASE("a reader runs while its descriptor is readable, and not after remove_reader") {
    test_support::TestLoop<test_support::EpollKind> s;
    Pipe pipe;
    int runs = 0;
    Future<void> twice = s.loop.create_future<void>();
    s.loop.add_reader(pipe.read_end, [&, state = twice.state()] {
        // Level-triggered: the byte is left unread, so the reader runs again next iteration.
        if (++runs == 2)
            state->set_result();
    });
    CHECK(s.loop.remove_reader(pipe.read_end + 1000) == false);
    REQUIRE(::write(pipe.write_end, "x", 1) == 1);
    s.loop.run_until_complete(twice);
    CHECK(runs >= 2);
    CHECK(s.loop.remove_reader(pipe.read_end));
    CHECK_FALSE(s.loop.remove_reader(pipe.read_end));
    const int runs_when_removed = runs;
    s.loop.run_until_complete(sleep(2ms));
    CHECK(runs == runs_when_removed);
    CHECK(static_cast<EpollLoop&>(s.loop).watched_descriptors() == 0);
}

TEST_CASE("remove_reader() run by the destructor of a reader that remove_reader() drops") {
    // The watch holds the last reference to the reader: dropping it destroys the callback, whose
    // destructor may call remove_reader() again. That call finds no reader (asyncio's
    // remove_reader() then returns False) and leaves the outer one to finish.
    test_support::TestLoop<test_support::EpollKind> s;
    Pipe pipe;
    struct RemovesAgain {
        RemovesAgain(EventLoop& loop, int fd, std::vector<bool>& results)
            : loop(loop), fd(fd), results(results) {}
        RemovesAgain(const RemovesAgain&) = delete;
        RemovesAgain& operator=(const RemovesAgain&) = delete;
        ~RemovesAgain() { results.push_back(loop.remove_reader(fd)); }
        EventLoop& loop;
        int fd;
        std::vector<bool>& results;
    };
    std::vector<bool> nested;
    (void)s.loop.add_reader(
        pipe.read_end, [guard = std::make_shared<RemovesAgain>(s.loop, pipe.read_end, nested)] {});
    CHECK(s.loop.remove_reader(pipe.read_end));
    CHECK(nested == std::vector<bool>{false});
    CHECK_FALSE(s.loop.remove_reader(pipe.read_end));
    CHECK(static_cast<EpollLoop&>(s.loop).watched_descriptors() == 0);
}

TEST_CASE("a writer runs when its descriptor is writable") {
    test_support::TestLoop<test_support::EpollKind> s;
    Pipe pipe;
    Future<void> writable = s.loop.create_future<void>();
    s.loop.add_writer(pipe.write_end, [state = writable.state()] {
        if (!state->done())
            state->set_result();
    });
    s.loop.run_until_complete(writable);
    CHECK(s.loop.remove_writer(pipe.write_end));
}

TEST_CASE("file descriptor misuse raises clear errors") {
    test_support::TestLoop<test_support::EpollKind> s;
    CHECK(thrown<ValueError>([&] { s.loop.add_reader(-1, [] {}); }).has_value());
    auto refused = thrown<OSError>([&] { s.loop.add_reader(12345, [] {}); });  // not open
    REQUIRE(refused);
    CHECK(refused->error_number() == EBADF);
    CHECK(static_cast<EpollLoop&>(s.loop).watched_descriptors() == 0);
    test_support::Sim sim;
    auto no_fds = thrown<RuntimeError>([&] { sim.loop.add_reader(0, [] {}); });
    REQUIRE(no_fds);
    CHECK(contains(no_fds->what(), "does not watch file descriptors"));
}

TEST_CASE("a TCP echo round trip through sock_accept, sock_connect, sock_recv, sock_sendall") {
    Listener listener;
    std::string echoed = run(echo_round_trip(listener.fd, listener.address, listener.length));
    CHECK(echoed.size() == 300000);
    CHECK(echoed.substr(0, 5) == "abcde");
}

TEST_CASE("sock_connect to a closed port raises OSError ECONNREFUSED") {
    sockaddr_storage address{};
    socklen_t length = sizeof(sockaddr_in);
    {
        Listener closed_soon;  // a port that was just free
        address = closed_soon.address;
    }
    auto attempt = [&]() -> Coro<void> {
        int fd = new_client_socket();
        std::exception_ptr error;
        try {
            co_await sock_connect(fd, address, length);
        } catch (...) {
            error = std::current_exception();
        }
        ::close(fd);
        if (error)
            std::rethrow_exception(error);
    };
    auto refused = thrown<OSError>([&] { run(attempt()); });
    REQUIRE(refused);
    CHECK(refused->code() == std::errc::connection_refused);
}

TEST_CASE("socket operations refuse blocking sockets") {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto refused = thrown<ValueError>([&] { run(sock_recv(fd, 10)); });
    ::close(fd);
    REQUIRE(refused);
    CHECK(contains(refused->what(), "must be non-blocking"));
}

TEST_CASE("cancelling a sock_recv stops watching the descriptor") {
    test_support::TestLoop<test_support::EpollKind> s;
    SocketPair pair;
    Task<void> reader = s.loop.create_task(never_ending_recv(pair.fds[0]));
    s.loop.run_until_complete(sleep(1ms));
    CHECK(static_cast<EpollLoop&>(s.loop).watched_descriptors() == 1);
    reader.cancel();
    CHECK(thrown<CancelledError>([&] { s.loop.run_until_complete(reader); }).has_value());
    CHECK(static_cast<EpollLoop&>(s.loop).watched_descriptors() == 0);
}

namespace {
Coro<std::string> recv_within(int fd, Duration limit) {
    co_return co_await wait_for(sock_recv(fd, 10), limit);
}
}  // namespace

TEST_CASE("a cancelled waiter does not remove the reader of the waiter that replaced it") {
    test_support::TestLoop<test_support::EpollKind> s;
    SocketPair pair;
    Task<std::string> first = s.loop.create_task(sock_recv(pair.fds[0], 10));
    s.loop.run_until_complete(sleep(1ms));
    Task<std::string> second = s.loop.create_task(recv_within(pair.fds[0], 5s));
    s.loop.run_until_complete(sleep(1ms));
    first.cancel();  // its registration was replaced by the second waiter's
    CHECK(thrown<CancelledError>([&] { s.loop.run_until_complete(first); }).has_value());
    REQUIRE(::write(pair.fds[1], "x", 1) == 1);
    CHECK(s.loop.run_until_complete(second) == "x");
}

TEST_CASE("a signal handler that could not be installed is not recorded") {
    test_support::TestLoop<test_support::EpollKind> s;
    CHECK(thrown<ValueError>([&] { s.loop.add_signal_handler(SIGKILL, [] {}); }).has_value());
    CHECK_FALSE(s.loop.remove_signal_handler(SIGKILL));
}

TEST_CASE("add_signal_handler runs the callback on the loop for a real signal") {
    test_support::TestLoop<test_support::EpollKind> s;
    int handled = 0;
    Future<void> done = s.loop.create_future<void>();
    s.loop.add_signal_handler(SIGUSR1, [&, state = done.state()] {
        ++handled;
        state->set_result();
    });
    CHECK(s.loop.signals().disposition(SIGUSR1) == SignalDisposition::handler);
    s.loop.call_soon([] { ::raise(SIGUSR1); });
    s.loop.run_until_complete(done);
    CHECK(handled == 1);
    CHECK(s.loop.remove_signal_handler(SIGUSR1));
    CHECK(s.loop.signals().disposition(SIGUSR1) == SignalDisposition::default_action);
}

TEST_CASE("closing the loop removes its signal handlers, as asyncio's close() does") {
    test_support::TestLoop<test_support::EpollKind> s;
    s.loop.add_signal_handler(SIGUSR1, [] {});
    CHECK(s.loop.signals().disposition(SIGUSR1) == SignalDisposition::handler);
    s.loop.close();
    CHECK(s.loop.signals().disposition(SIGUSR1) == SignalDisposition::default_action);
}

TEST_CASE("removing a handler puts back the disposition that was there before") {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    struct sigaction saved {};
    REQUIRE(::sigaction(SIGUSR2, &ignore, &saved) == 0);
    {
        test_support::TestLoop<test_support::EpollKind> s;
        s.loop.add_signal_handler(SIGUSR2, [] {});
        CHECK(s.loop.signals().disposition(SIGUSR2) == SignalDisposition::handler);
        s.loop.remove_signal_handler(SIGUSR2);
        CHECK(s.loop.signals().disposition(SIGUSR2) == SignalDisposition::ignored);
    }
    ::sigaction(SIGUSR2, &saved, nullptr);
}

TEST_CASE("signal handlers can only be installed from the main thread") {
    test_support::TestLoop<test_support::EpollKind> s;
    std::optional<ValueError> refused;
    std::thread other(
        [&] { refused = thrown<ValueError>([&] { s.loop.signals().install(SIGUSR1, [] {}); }); });
    other.join();
    REQUIRE(refused);
    CHECK(contains(refused->what(), "main thread"));
    CHECK(thrown<ValueError>([&] { s.loop.signals().install(SIGKILL, [] {}); }).has_value());
    CHECK(thrown<ValueError>([&] { s.loop.signals().install(0, [] {}); }).has_value());
}

namespace {
Coro<int> wait_for_interrupt(bool& cleaned_up) {
    get_running_loop().call_later(1ms, [] { ::raise(SIGINT); });
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
        cleaned_up = true;
        throw;
    }
    co_return 0;
}
}  // namespace

TEST_CASE(
    "a real SIGINT cancels the main task, run() raises KeyboardInterrupt, and the "
    "default disposition comes back") {
    DefaultSigint default_sigint;
    bool cleaned_up = false;
    CHECK(thrown<KeyboardInterrupt>([&] { run(wait_for_interrupt(cleaned_up)); }).has_value());
    CHECK(cleaned_up);
    struct sigaction current {};
    ::sigaction(SIGINT, nullptr, &current);
    CHECK((current.sa_handler == SIG_DFL));
}

namespace {
Coro<bool> executor_thread_blocks_sigint() {
    std::thread::id loop_thread = std::this_thread::get_id();
    bool blocked = co_await get_running_loop().run_in_executor([] {
        sigset_t mask;
        pthread_sigmask(SIG_SETMASK, nullptr, &mask);
        return sigismember(&mask, SIGINT) == 1;
    });
    CHECK(std::this_thread::get_id() == loop_thread);  // the result came back to the loop
    co_return blocked;
}

/// A gate a worker thread waits at until the test opens it (mutex and condition variable, which
/// ThreadSanitizer understands; libstdc++'s std::future waits on a futex it does not see).
struct Gate {
    std::mutex mutex;
    std::condition_variable opened_signal;
    bool opened = false;
    bool reached = false;  // a thread got to wait()
    void open() {
        std::lock_guard lock(mutex);
        opened = true;
        opened_signal.notify_all();
    }
    void wait() {
        std::unique_lock lock(mutex);
        reached = true;
        opened_signal.wait(lock, [this] { return opened; });
    }
    bool has_waiter() {
        std::lock_guard lock(mutex);
        return reached;
    }
};

Coro<void> hang_in_executor(Gate* gate) {
    co_await get_running_loop().run_in_executor([gate] { gate->wait(); }, "hang");
}
}  // namespace

TEST_CASE(
    "executor jobs run on worker threads that block signals; results come back to the "
    "loop thread") {
    CHECK(run(executor_thread_blocks_sigint()));
}

TEST_CASE("shutdown_default_executor's timeout bounds the wait for a hung worker") {
    // Static: the worker outlives the loop and may outlive this test; nothing it holds may be
    // reference-counted with the test (ThreadSanitizer cannot order a detached thread's last
    // release with ours).
    static Gate gate;
    test_support::LoopRecorder<test_support::EpollKind> loops;
    test_support::LogCapture log;
    loops.on_new_loop = [&](EventLoop& loop) { log.attach(loop); };
    {
        Runner runner({.loop_factory = loops.factory(), .executor_shutdown_timeout = 20ms});
        auto main = [&]() -> Coro<void> {
            Task<void> hung = create_task(hang_in_executor(&gate));
            // Cancel only once the job runs: a job still queued would be withdrawn instead.
            for (int polls = 0; polls < 5000 && !gate.has_waiter(); ++polls)
                co_await sleep(1ms);
            hung.cancel();
        };
        runner.run(main());
        runner.close();
    }
    CHECK(log.contains("The executor did not finishing joining its threads within 0.02 seconds"));
    gate.open();  // the detached worker ends
}

TEST_SUITE_END();
