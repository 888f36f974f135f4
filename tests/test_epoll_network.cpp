// The epoll loop's network (io/network.hpp over kernel sockets), at the seam: resolve, connect,
// bind/listen/accept, send/receive, watches, close/abort, and descriptor hygiene (no leak after
// connects, accepts, failures, cancellations, or the loop closing). Suite "real-only".
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include "support.hpp"

using namespace simrun;
using namespace std::chrono_literals;
using test_support::contains;
using test_support::thrown;

TEST_SUITE_BEGIN("real-only");

namespace {

using EpollTestLoop = test_support::TestLoop<test_support::EpollKind>;

/// Descriptors open in this process.
int open_descriptors() {
    DIR* directory = ::opendir("/proc/self/fd");
    REQUIRE(directory != nullptr);
    int count = 0;
    while (::readdir(directory) != nullptr)
        ++count;
    ::closedir(directory);
    return count;
}

std::size_t watched(EventLoop& loop) {
    return static_cast<EpollLoop&>(loop).watched_descriptors();
}

int int_option(int fd, int level, int name) {
    int value = -1;
    socklen_t length = sizeof value;
    REQUIRE(::getsockopt(fd, level, name, &value, &length) == 0);
    return value;
}

bool non_blocking_and_cloexec(int fd) {
    return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0 && (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

/// The errno of the OSError `body` throws; -1 if it throws none.
template <class F>
int errno_of(F&& body) {
    auto error = thrown<OSError>(std::forward<F>(body));
    return error ? error->error_number() : -1;
}

/// Runs jobs at once on the submitting thread and counts them.
class CountingExecutor final : public Executor {
  public:
    void submit(ExecutorJob job) override {
        ++submitted;
        if (!job.control || job.control->start())
            job.work();
    }
    void shutdown(bool) override {}
    void join_async(std::function<void()> on_joined) override { on_joined(); }
    int submitted = 0;
};

/// Waits (at most 2 s) until `socket` is readable, or writable.
template <class Socket>
Coro<void> ready(Socket* socket, bool for_writing = false) {
    (void)for_writing;  // listening sockets are only ever readable
    Future<void> ready = get_running_loop().create_future<void>();
    auto wake = [state = ready.state()] {
        if (!state->done())
            state->set_result();
    };
    if constexpr (std::is_same_v<Socket, io::StreamSocket>) {
        if (for_writing)
            socket->watch_writable(wake);
        else
            socket->watch_readable(wake);
    } else {
        socket->watch_readable(wake);
    }
    std::exception_ptr error;
    try {
        co_await wait_for(ready, 2s);
    } catch (...) {
        error = std::current_exception();
    }
    if constexpr (std::is_same_v<Socket, io::StreamSocket>) {
        if (for_writing)
            socket->watch_writable({});
        else
            socket->watch_readable({});
    } else {
        socket->watch_readable({});
    }
    if (error)
        std::rethrow_exception(error);
}

Coro<std::unique_ptr<io::StreamSocket>> accept_one(io::ListenSocket* listener) {
    for (;;) {
        if (auto connection = listener->accept())
            co_return connection;
        co_await ready(listener);
    }
}

/// The next bytes (empty at end of stream); TimeoutError after 5 s (a socket that stays
/// readable with nothing to receive must fail the test, not spin it forever).
Coro<std::string> receive_some(io::StreamSocket* socket) {
    const Duration deadline = get_running_loop().time() + 5s;
    while (get_running_loop().time() < deadline) {
        if (auto data = socket->receive(64 * 1024))
            co_return std::move(*data);
        co_await ready(socket);
    }
    throw TimeoutError("nothing received within 5 s");
}

/// Everything until end of stream.
Coro<std::string> receive_all(io::StreamSocket* socket) {
    std::string all;
    for (;;) {
        std::string data = co_await receive_some(socket);
        if (data.empty())
            co_return all;
        all += data;
    }
}

Coro<void> send_all(io::StreamSocket* socket, std::string data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
        sent += socket->send(std::string_view(data).substr(sent));
        if (sent < data.size())
            co_await ready(socket, true);
    }
}

struct Connection {
    std::unique_ptr<io::ListenSocket> listener;
    std::unique_ptr<io::StreamSocket> client;
    std::unique_ptr<io::StreamSocket> server;
};

Coro<Connection> connect_pair(io::Network* network, io::BindOptions options = {}) {
    Connection pair;
    pair.listener = network->bind({"127.0.0.1", 0}, options);
    pair.listener->listen(16);
    pair.client = co_await network->connect(pair.listener->local_address(), {});
    pair.server = co_await accept_one(pair.listener.get());
    co_return pair;
}

/// A port with nobody listening (bound, then released).
std::uint16_t closed_port(io::Network& network) {
    return network.bind({"127.0.0.1", 0}, {})->local_address().port;
}

/// A listener whose queue (backlog 0) holds one connection already, so further connects stay
/// in progress: the kernel drops their SYNs.
struct FullListener {
    std::unique_ptr<io::ListenSocket> listener;
    std::unique_ptr<io::StreamSocket> queued;
};

Coro<FullListener> full_listener(io::Network* network) {
    FullListener full;
    full.listener = network->bind({"127.0.0.1", 0}, {});
    full.listener->listen(0);
    full.queued = co_await network->connect(full.listener->local_address(), {});
    co_return full;
}

/// Connects with a time limit: the connect is cancelled if it is still in progress.
Coro<std::unique_ptr<io::StreamSocket>> connect_within(io::Network* network, SocketAddress address,
                                                       Duration limit) {
    co_return co_await wait_for(network->connect(std::move(address), {}), limit);
}

/// Waits for child `pid` (at most 10 s, then kills it) and returns its wait status.
int wait_for_child(pid_t pid) {
    int status = 0;
    for (int attempt = 0; attempt < 1000; ++attempt) {
        if (::waitpid(pid, &status, WNOHANG) == pid)
            return status;
        ::usleep(10'000);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL("the child process did not finish within 10 s");
    return status;
}

}  // namespace

// ---- the network object
// --------------------------------------------------------------------------

TEST_CASE("epoll network: network() is one object per loop, made on first use") {
    EpollTestLoop s;
    io::Network& network = s.loop.network();
    CHECK(&network == &s.loop.network());
    EpollTestLoop other;
    CHECK(&other.loop.network() != &network);
}

// ---- resolve
// -------------------------------------------------------------------------------------

TEST_CASE("epoll network: numeric hosts resolve at once, names in the default executor") {
    EpollTestLoop s;
    auto executor = std::make_shared<CountingExecutor>();
    s.loop.set_default_executor(executor);
    io::Network& network = s.loop.network();

    auto v4 = s.loop.run_until_complete(network.resolve("127.0.0.1", 8080, false));
    CHECK(v4 == std::vector<SocketAddress>{{"127.0.0.1", 8080}});
    auto v6 = s.loop.run_until_complete(network.resolve("::1", 8080, false));
    CHECK(v6 == std::vector<SocketAddress>{{"::1", 8080}});
    CHECK(executor->submitted == 0);

    auto named = s.loop.run_until_complete(network.resolve("localhost", 80, false));
    CHECK(executor->submitted == 1);
    CHECK(std::find(named.begin(), named.end(), SocketAddress{"127.0.0.1", 80}) != named.end());
}

TEST_CASE("epoll network: passive resolve of the empty host lists every interface, each once") {
    EpollTestLoop s;
    auto every = s.loop.run_until_complete(s.loop.network().resolve("", 8000, true));
    // getaddrinfo's order, as asyncio's create_server binds them.
    CHECK(every == std::vector<SocketAddress>{{"0.0.0.0", 8000}, {"::", 8000}});
    auto loopback = s.loop.run_until_complete(s.loop.network().resolve("", 8000, false));
    for (const SocketAddress& address : loopback)
        CHECK((address.host == "127.0.0.1" || address.host == "::1"));
    for (const auto& list :
         {every, loopback,
          s.loop.run_until_complete(s.loop.network().resolve("localhost", 1, true))})
        for (std::size_t i = 0; i < list.size(); ++i)
            for (std::size_t j = i + 1; j < list.size(); ++j)
                CHECK(list[i] != list[j]);
}

TEST_CASE("epoll network: an unknown name raises OSError with getaddrinfo's text") {
    EpollTestLoop s;
    int code = 0;
    std::string text;
    try {
        s.loop.run_until_complete(s.loop.network().resolve("nonexistent.invalid", 80, false));
    } catch (const OSError& error) {  // caught by reference: what() is the thrown object's
        code = error.error_number();
        text = error.what();
    }
    // EAI_NONAME, or EAI_AGAIN where no name server answers: a gaierror code, negative.
    REQUIRE(code < 0);
    CHECK(text == ::gai_strerror(code));  // "Name or service not known", as Python's gaierror
}

// ---- connect, bind, listen, accept --------------------------------------------------------------

TEST_CASE("epoll network: connect and accept give non-blocking TCP_NODELAY sockets that talk") {
    EpollTestLoop s;
    Connection pair = s.loop.run_until_complete(connect_pair(&s.loop.network()));
    for (io::StreamSocket* socket : {pair.client.get(), pair.server.get()}) {
        CHECK(non_blocking_and_cloexec(socket->native_handle()));
        CHECK(int_option(socket->native_handle(), IPPROTO_TCP, TCP_NODELAY) == 1);
    }
    CHECK(non_blocking_and_cloexec(pair.listener->native_handle()));
    CHECK(watched(s.loop) == 0);  // connect's writer watch is gone

    const SocketAddress server_address = pair.listener->local_address();
    CHECK(server_address.host == "127.0.0.1");
    CHECK(server_address.port != 0);
    CHECK(pair.client->peer_address() == server_address);
    CHECK(pair.server->local_address() == server_address);
    CHECK(pair.server->peer_address() == pair.client->local_address());

    s.loop.run_until_complete(send_all(pair.client.get(), "ping"));
    CHECK(s.loop.run_until_complete(receive_some(pair.server.get())) == "ping");
    s.loop.run_until_complete(send_all(pair.server.get(), "pong"));
    CHECK(s.loop.run_until_complete(receive_some(pair.client.get())) == "pong");
}

TEST_CASE("epoll network: a refused connect raises ConnectionRefusedError in asyncio's words") {
    EpollTestLoop s;
    io::Network& network = s.loop.network();
    const std::uint16_t port = closed_port(network);
    const int before = open_descriptors();
    auto refused = thrown<ConnectionRefusedError>([&] {
        s.loop.run_until_complete(network.connect({"127.0.0.1", port}, {}));
    });
    REQUIRE(refused);
    CHECK(refused->error_number() == ECONNREFUSED);
    CHECK(contains(refused->what(),
                   "Connect call failed ('127.0.0.1', " + std::to_string(port) + ")"));
    CHECK(open_descriptors() == before);
    CHECK(watched(s.loop) == 0);
}

TEST_CASE("epoll network: connect binds local_address first") {
    EpollTestLoop s;
    io::Network& network = s.loop.network();
    auto listener = network.bind({"127.0.0.1", 0}, {});
    listener->listen(4);
    const SocketAddress local{"127.0.0.1", closed_port(network)};
    auto client = s.loop.run_until_complete(
        network.connect(listener->local_address(), io::ConnectOptions{.local_address = local}));
    CHECK(client->local_address() == local);
    auto server = s.loop.run_until_complete(accept_one(listener.get()));
    CHECK(server->peer_address() == local);

    // A local address in use fails as asyncio's bind does, and leaves nothing open.
    const int before = open_descriptors();
    auto in_use = thrown<OSError>([&] {
        s.loop.run_until_complete(
            network.connect(listener->local_address(),
                            io::ConnectOptions{.local_address = listener->local_address()}));
    });
    REQUIRE(in_use);
    CHECK(in_use->error_number() == EADDRINUSE);
    CHECK(contains(in_use->what(), "error while attempting to bind on address " +
                                       listener->local_address().to_string() +
                                       ": [errno 98] address already in use"));
    CHECK(open_descriptors() == before);
}

TEST_CASE("epoll network: bind errors are asyncio's, lower-cased strerror included") {
    EpollTestLoop s;
    io::Network& network = s.loop.network();
    auto first = network.bind({"127.0.0.1", 0}, {});
    first->listen(4);
    const int before = open_descriptors();
    auto in_use = thrown<OSError>([&] { network.bind(first->local_address(), {}); });
    REQUIRE(in_use);
    CHECK(in_use->error_number() == EADDRINUSE);
    const std::string expected = "error while attempting to bind on address ('127.0.0.1', " +
                                 std::to_string(first->local_address().port) +
                                 "): [errno 98] address already in use";
    CHECK(std::string(in_use->what()).substr(0, expected.size()) == expected);
    CHECK(open_descriptors() == before);

    // Only numeric addresses: names go through resolve() first.
    CHECK(thrown<ValueError>([&] { network.bind({"localhost", 0}, {}); }).has_value());
}

TEST_CASE("epoll network: bind options set SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE") {
    EpollTestLoop s;
    io::Network& network = s.loop.network();
    auto defaults = network.bind({"127.0.0.1", 0}, {});
    CHECK(int_option(defaults->native_handle(), SOL_SOCKET, SO_REUSEADDR) == 1);
    CHECK(int_option(defaults->native_handle(), SOL_SOCKET, SO_REUSEPORT) == 0);
    auto plain = network.bind({"127.0.0.1", 0}, io::BindOptions{.reuse_address = false});
    CHECK(int_option(plain->native_handle(), SOL_SOCKET, SO_REUSEADDR) == 0);
    auto shared = network.bind({"127.0.0.1", 0}, io::BindOptions{.reuse_port = true});
    CHECK(int_option(shared->native_handle(), SOL_SOCKET, SO_REUSEPORT) == 1);

    Connection kept =
        s.loop.run_until_complete(connect_pair(&network, io::BindOptions{.keep_alive = true}));
    CHECK(int_option(kept.server->native_handle(), SOL_SOCKET, SO_KEEPALIVE) == 1);
    Connection not_kept = s.loop.run_until_complete(connect_pair(&network));
    CHECK(int_option(not_kept.server->native_handle(), SOL_SOCKET, SO_KEEPALIVE) == 0);
}

TEST_CASE("epoll network: an IPv6 listening socket is IPv6-only") {
    EpollTestLoop s;
    std::unique_ptr<io::ListenSocket> listener;
    try {
        // The wildcard: some systems make a socket bound to ::1 IPv6-only anyway.
        listener = s.loop.network().bind({"::", 0}, {});
    } catch (const OSError& error) {
        MESSAGE("no IPv6 here: " << error.what());
        return;
    }
    CHECK(int_option(listener->native_handle(), IPPROTO_IPV6, IPV6_V6ONLY) == 1);
    CHECK(listener->local_address().host == "::");
}

TEST_CASE(
    "epoll network: a bound socket refuses connects until listen(); accept() with none "
    "waiting is null") {
    EpollTestLoop s;
    io::Network& network = s.loop.network();
    auto listener = network.bind({"127.0.0.1", 0}, {});
    CHECK(thrown<ConnectionRefusedError>([&] {
              s.loop.run_until_complete(network.connect(listener->local_address(), {}));
          }).has_value());
    listener->listen(4);
    CHECK(listener->accept() == nullptr);
    auto client = s.loop.run_until_complete(network.connect(listener->local_address(), {}));
    CHECK(s.loop.run_until_complete(accept_one(listener.get())) != nullptr);
    CHECK(listener->accept() == nullptr);
}

TEST_CASE("epoll network: accept() out of descriptors raises OSError EMFILE (child process)") {
    EpollTestLoop s;
    io::Network& network = s.loop.network();
    auto listener = network.bind({"127.0.0.1", 0}, {});
    listener->listen(4);
    auto client = s.loop.run_until_complete(network.connect(listener->local_address(), {}));
    std::fflush(nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // Every descriptor number below the lowest free one is in use: make that the limit.
        const int lowest_free = ::fcntl(listener->native_handle(), F_DUPFD_CLOEXEC, 0);
        ::close(lowest_free);
        rlimit limit{};
        ::getrlimit(RLIMIT_NOFILE, &limit);
        limit.rlim_cur = static_cast<rlim_t>(lowest_free);
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
            ::_exit(4);
        try {
            listener->accept();
            ::_exit(1);
        } catch (const OSError& error) {
            ::_exit(error.error_number() == EMFILE ? 0 : 2);
        } catch (...) {
            ::_exit(3);
        }
    }
    const int status = wait_for_child(child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);  // 1: accepted anyway; 2: another errno; 3: not an OSError
    // The parent's limit was never touched: the connection is still there to accept.
    CHECK(s.loop.run_until_complete(accept_one(listener.get())) != nullptr);
}

// ---- send, receive, shutdown, close, abort
// ---------------------------------------------------------

TEST_CASE("epoll network: receive gives the bytes read, nullopt when none wait, '' at the end") {
    EpollTestLoop s;
    Connection pair = s.loop.run_until_complete(connect_pair(&s.loop.network()));
    CHECK_FALSE(pair.server->receive(100).has_value());
    s.loop.run_until_complete(send_all(pair.client.get(), "hello"));
    s.loop.run_until_complete(ready(pair.server.get()));
    std::optional<std::string> data = pair.server->receive(64 * 1024);
    REQUIRE(data);
    CHECK(*data == "hello");
    CHECK(data->capacity() < 1024);  // a copy of what arrived, not the 64 KiB scratch buffer
    CHECK_FALSE(pair.server->receive(100).has_value());

    // At most max_bytes, and at most the 64 KiB scratch buffer per call.
    s.loop.run_until_complete(send_all(pair.client.get(), "abcdef"));
    s.loop.run_until_complete(ready(pair.server.get()));
    CHECK(pair.server->receive(2) == "ab");
    CHECK(pair.server->receive(100) == "cdef");
    const std::string big(200'000, 'x');
    Task<void> sender = s.loop.create_task(send_all(pair.client.get(), big));
    std::size_t received = 0;
    while (received < big.size()) {
        std::string chunk = s.loop.run_until_complete(receive_some(pair.server.get()));
        CHECK(chunk.size() <= 64 * 1024);
        received += chunk.size();
    }
    s.loop.run_until_complete(sender);

    pair.client->close();
    CHECK(s.loop.run_until_complete(receive_some(pair.server.get())) == "");
    CHECK(thrown<ValueError>([&] { pair.server->receive(0); }).has_value());
}

TEST_CASE("epoll network: abort() resets: the peer's receive raises ConnectionResetError") {
    EpollTestLoop s;
    Connection pair = s.loop.run_until_complete(connect_pair(&s.loop.network()));
    pair.client->abort();  // a plain close() would send a FIN: the peer would read ''
    s.loop.run_until_complete(ready(pair.server.get()));
    auto reset = thrown<ConnectionResetError>([&] { pair.server->receive(100); });
    REQUIRE(reset);
    CHECK(reset->error_number() == ECONNRESET);
}

TEST_CASE("epoll network: close() delivers what was sent, then the end of the stream") {
    EpollTestLoop s;
    Connection pair = s.loop.run_until_complete(connect_pair(&s.loop.network()));
    s.loop.run_until_complete(send_all(pair.client.get(), std::string(100'000, 'y')));
    pair.client->close();
    CHECK(s.loop.run_until_complete(receive_all(pair.server.get())) == std::string(100'000, 'y'));
}

TEST_CASE("epoll network: shutdown_write() ends the peer's stream, which can still answer") {
    EpollTestLoop s;
    Connection pair = s.loop.run_until_complete(connect_pair(&s.loop.network()));
    s.loop.run_until_complete(send_all(pair.client.get(), "question"));
    pair.client->shutdown_write();
    CHECK(s.loop.run_until_complete(receive_all(pair.server.get())) == "question");
    s.loop.run_until_complete(send_all(pair.server.get(), "answer"));
    pair.server->close();
    CHECK(s.loop.run_until_complete(receive_all(pair.client.get())) == "answer");
}

TEST_CASE("epoll network: send never raises SIGPIPE, even at SIGPIPE's default disposition") {
    EpollTestLoop s;
    Connection pair = s.loop.run_until_complete(connect_pair(&s.loop.network()));
    std::fflush(nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        std::signal(SIGPIPE, SIG_DFL);
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        ::pthread_sigmask(SIG_UNBLOCK, &pipe_only, nullptr);
        try {
            pair.client->shutdown_write();
            pair.client->send("after the end");  // EPIPE: without MSG_NOSIGNAL, SIGPIPE
            ::_exit(1);
        } catch (const BrokenPipeError& error) {
            ::_exit(error.error_number() == EPIPE ? 0 : 2);
        } catch (...) {
            ::_exit(3);
        }
    }
    const int status = wait_for_child(child);
    if (WIFSIGNALED(status))
        FAIL("the child was killed by signal " << WTERMSIG(status));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("epoll network: operations on a closed socket raise OSError EBADF") {
    EpollTestLoop s;
    Connection pair = s.loop.run_until_complete(connect_pair(&s.loop.network()));
    pair.client->close();
    pair.client->close();  // again: nothing
    pair.client->abort();
    CHECK(pair.client->native_handle() == -1);
    auto send = thrown<OSError>([&] { pair.client->send("x"); });
    REQUIRE(send);
    CHECK(send->error_number() == EBADF);
    CHECK(errno_of([&] { pair.client->receive(1); }) == EBADF);
    CHECK(errno_of([&] { pair.client->shutdown_write(); }) == EBADF);
    CHECK(errno_of([&] { pair.client->watch_readable([] {}); }) == EBADF);
    pair.client->watch_readable({});  // stopping is always allowed
    CHECK(pair.client->peer_address() == pair.listener->local_address());  // still known
    pair.listener->close();
    CHECK(errno_of([&] { pair.listener->accept(); }) == EBADF);
    CHECK(errno_of([&] { pair.listener->listen(1); }) == EBADF);
}

// ---- watches
// -----------------------------------------------------------------------------------------

namespace {
Coro<void> iterations(int count) {
    for (int i = 0; i < count; ++i)
        co_await sleep(0s);
}
}  // namespace

TEST_CASE("epoll network: watches are level-triggered; an empty function or close() stops them") {
    EpollTestLoop s;
    Connection pair = s.loop.run_until_complete(connect_pair(&s.loop.network()));
    s.loop.run_until_complete(send_all(pair.client.get(), "unread"));
    s.loop.run_until_complete(ready(pair.server.get()));
    int readable = 0;
    int writable = 0;
    pair.server->watch_readable([&readable] { ++readable; });
    pair.server->watch_writable([&writable] { ++writable; });
    CHECK(watched(s.loop) == 1);
    s.loop.run_until_complete(iterations(5));
    CHECK(readable >= 3);  // again and again while the data stays unread
    CHECK(writable >= 3);

    pair.server->watch_writable({});
    const int writable_then = writable;
    s.loop.run_until_complete(iterations(5));
    CHECK(writable == writable_then);
    CHECK(readable >= 6);

    pair.server->close();  // removes the reader before the descriptor goes
    CHECK(watched(s.loop) == 0);
    const int readable_then = readable;
    s.loop.run_until_complete(iterations(3));
    CHECK(readable == readable_then);

    // A callback may close its own socket.
    pair.client->watch_readable([socket = pair.client.get()] { socket->close(); });
    pair.listener->watch_readable([] {});
    CHECK(watched(s.loop) == 2);
    s.loop.run_until_complete(iterations(3));  // the server's close made the client readable
    CHECK(pair.client->native_handle() == -1);
    pair.listener->close();
    CHECK(watched(s.loop) == 0);
}

// ---- cancellation and descriptor hygiene
// -----------------------------------------------------------

TEST_CASE("epoll network: a connect cancelled while in progress leaves no descriptor, no watch") {
    EpollTestLoop s;
    io::Network& network = s.loop.network();
    FullListener full = s.loop.run_until_complete(full_listener(&network));
    const int before = open_descriptors();
    CHECK(thrown<TimeoutError>([&] {
              s.loop.run_until_complete(
                  connect_within(&network, full.listener->local_address(), 30ms));
          }).has_value());
    CHECK(open_descriptors() == before);
    CHECK(watched(s.loop) == 0);

    // The classic: a non-routable address. Where there is no route the connect fails at once,
    // and some sandboxes accept every connection; whatever happens, nothing is left open.
    try {
        auto connected =
            s.loop.run_until_complete(connect_within(&network, {"10.255.255.1", 80}, 20ms));
        MESSAGE("this network accepted a connection to 10.255.255.1");
    } catch (const TimeoutError&) {
    } catch (const OSError& error) {
        MESSAGE("no route to 10.255.255.1 here: " << error.what());
    }
    CHECK(open_descriptors() == before);
    CHECK(watched(s.loop) == 0);

    // A task cancelled before its first step never opens anything.
    Task<std::unique_ptr<io::StreamSocket>> never =
        s.loop.create_task(network.connect(full.listener->local_address(), {}));
    never.cancel();
    CHECK(thrown<CancelledError>([&] { s.loop.run_until_complete(std::move(never)); }).has_value());
    CHECK(open_descriptors() == before);
}

namespace {
Coro<void> churn(io::Network* network) {
    auto listener = network->bind({"127.0.0.1", 0}, {});
    listener->listen(64);
    for (int round = 0; round < 20; ++round) {
        auto client = co_await network->connect(listener->local_address(), {});
        auto server = co_await accept_one(listener.get());
        co_await send_all(client.get(), "x");
        const std::string echoed = co_await receive_some(server.get());
        CHECK(echoed == "x");
        if (round % 2 == 0)
            client->close();
        else
            client->abort();
        if (round % 3 == 0)
            server->abort();
        // the others close when dropped
    }
    const SocketAddress refused{"127.0.0.1", closed_port(*network)};
    for (int round = 0; round < 5; ++round) {
        try {
            co_await network->connect(refused, {});
            FAIL("connected to a closed port");
        } catch (const ConnectionRefusedError&) {
        }
    }
    FullListener full = co_await full_listener(network);
    for (int round = 0; round < 5; ++round) {
        try {
            co_await connect_within(network, full.listener->local_address(), 5ms);
            FAIL("connected to a full queue");
        } catch (const TimeoutError&) {
        }
    }
}
}  // namespace

TEST_CASE(
    "epoll network: connects, accepts, closes, aborts, failures and cancellations leak "
    "no descriptor") {
    EpollTestLoop s;
    io::Network& network = s.loop.network();
    const int before = open_descriptors();
    s.loop.run_until_complete(churn(&network));
    CHECK(open_descriptors() == before);
    CHECK(watched(s.loop) == 0);
}

TEST_CASE("epoll network: closing the loop closes every socket still open") {
    const int before_loop = open_descriptors();
    std::unique_ptr<io::StreamSocket> client;
    std::unique_ptr<io::ListenSocket> listener;
    {
        EpollTestLoop s;
        io::Network& network = s.loop.network();
        const int before = open_descriptors();
        Connection pair = s.loop.run_until_complete(connect_pair(&network));
        pair.client->watch_readable([] {});
        // A connect in progress, in a task the loop's close destroys.
        FullListener full = s.loop.run_until_complete(full_listener(&network));
        Task<std::unique_ptr<io::StreamSocket>> pending =
            s.loop.create_task(network.connect(full.listener->local_address(), {}));
        s.loop.run_until_complete(sleep(5ms));
        CHECK(open_descriptors() == before + 6);  // 3 + 2 + the connecting one
        s.loop.close();
        CHECK(open_descriptors() == before);
        CHECK(s.errors.count("Task was destroyed but it is pending!") == 1);

        CHECK(pair.client->native_handle() == -1);
        CHECK(errno_of([&] { pair.client->send("x"); }) == EBADF);
        pair.client->watch_readable({});
        pair.server->abort();
        client = std::move(pair.client);  // outlive the loop
        listener = std::move(pair.listener);
        CHECK(thrown<RuntimeError>([&] { network.bind({"127.0.0.1", 0}, {}); }).has_value());
    }
    CHECK(open_descriptors() == before_loop);
    CHECK(errno_of([&] { client->receive(1); }) == EBADF);
    client->close();
    listener->watch_readable({});
    client.reset();
    listener.reset();
}

TEST_SUITE_END();
