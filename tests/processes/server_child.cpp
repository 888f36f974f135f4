// A program for the server process tests (tests/test_server_process.cpp): a start_server() echo
// server on the epoll loop in a situation a test process cannot make for itself without harming
// the other tests. It prints what happened, one fact per line, and exits 0 when every check
// held. Usage: simrun_server_child <scenario>
//
//   emfile   the process's descriptor limit leaves room for two connections and one more
//            client: the server's third accept() fails with EMFILE. The server must report it
//            once ("socket.accept() out of system resource"), stop accepting without spinning,
//            and serve the waiting client once a connection has freed its descriptors, after
//            the 1 s retry delay.
#include <dirent.h>
#include <sys/resource.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <simrun/simrun.hpp>

using namespace simrun;
using namespace std::chrono_literals;

namespace {

void say(const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
}

int failures = 0;

void check(bool condition, const std::string& what) {
    say((condition ? "ok: " : "FAILED: ") + what);
    if (!condition)
        ++failures;
}

/// The numbers of the descriptors open in this process now.
std::vector<int> open_descriptors() {
    std::vector<int> numbers;
    if (DIR* directory = ::opendir("/proc/self/fd")) {
        const int own = ::dirfd(directory);
        while (const dirent* entry = ::readdir(directory))
            if (entry->d_name[0] != '.' && std::atoi(entry->d_name) != own)
                numbers.push_back(std::atoi(entry->d_name));
        ::closedir(directory);
    }
    return numbers;
}

/// The descriptor limit that leaves exactly `free` numbers for new descriptors.
rlim_t limit_leaving(int free) {
    const std::vector<int> open = open_descriptors();
    for (int limit = 0;; ++limit) {
        int used = 0;
        for (int number : open)
            used += number < limit ? 1 : 0;
        if (limit - used == free)
            return static_cast<rlim_t>(limit);
    }
}

/// CPU time (user + system) this process has used so far.
std::chrono::microseconds cpu_time() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    const auto of = [](const timeval& time) {
        return std::chrono::seconds(time.tv_sec) + std::chrono::microseconds(time.tv_usec);
    };
    return of(usage.ru_utime) + of(usage.ru_stime);
}

Coro<void> echo_lines(StreamReader reader, StreamWriter writer) {
    try {
        for (;;) {
            std::string line = co_await reader.readline();
            if (line.empty())
                break;
            writer.write(line);
            co_await writer.drain();
        }
    } catch (const OSError&) {
    }
    writer.close();
    co_await writer.wait_closed();
}

struct Client {
    StreamReader reader;
    StreamWriter writer;
};

Coro<Client> connect_to(std::uint16_t port) {
    auto [reader, writer] = co_await open_connection("127.0.0.1", port);
    co_return Client{std::move(reader), std::move(writer)};
}

Coro<std::string> echo(Client* client, std::string line) {
    client->writer.write(line);
    co_await client->writer.drain();
    co_return co_await client->reader.readline();
}

Coro<int> emfile() {
    EventLoop& loop = get_running_loop();
    auto reported = std::make_shared<std::vector<std::string>>();
    loop.set_exception_handler([reported](EventLoop& loop, const ExceptionContext& context) {
        std::string errno_name = "?";
        try {
            std::rethrow_exception(context.exception);
        } catch (const OSError& error) {
            errno_name =
                error.error_number() == EMFILE ? "EMFILE" : std::to_string(error.error_number());
        } catch (...) {
        }
        reported->push_back(context.message + " [" + errno_name + "]");
        loop.default_exception_handler(context);
    });
    auto server = co_await start_server(echo_lines, "127.0.0.1", 0);
    const std::uint16_t port = server->addresses().at(0).port;

    // Room for 5 more descriptors: client 1, its accepted end, client 2, its accepted end,
    // client 3. The server's accept() of client 3 then fails with EMFILE.
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit_leaving(5);
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
        say(std::string("setrlimit failed: ") + std::strerror(errno));
        co_return 2;
    }
    say("descriptor limit " + std::to_string(limit.rlim_cur));

    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 1; i <= 2; ++i) {
        clients.push_back(std::make_unique<Client>(co_await connect_to(port)));
        check(co_await echo(clients.back().get(), "hello " + std::to_string(i) + "\n") ==
                  "hello " + std::to_string(i) + "\n",
              "client " + std::to_string(i) + " is served");
    }
    // Client 3: the kernel completes its connection (the listen queue), the server cannot
    // accept it.
    auto third = std::make_unique<Client>(co_await connect_to(port));
    third->writer.write("third\n");
    Task<std::string> third_echo = create_task(third->reader.readline());
    const auto cpu_before = cpu_time();
    co_await sleep(300ms);
    check(!third_echo.done(), "client 3 waits while the server is out of descriptors");
    check(reported->size() == 1 &&
              reported->at(0) == "socket.accept() out of system resource [EMFILE]",
          "the EMFILE is reported once, as asyncio words it (" +
              (reported->empty() ? std::string("nothing") : reported->at(0)) + ")");
    const auto cpu_used = cpu_time() - cpu_before;
    check(cpu_used < 150ms, "no busy loop while accepting is paused (" +
                                std::to_string(cpu_used.count()) + " us of CPU in 300 ms)");

    // Client 1 leaves: its two descriptors are free again. The server retries 1 s after the
    // failure and serves client 3.
    clients.front()->writer.close();
    co_await clients.front()->writer.wait_closed();
    clients.erase(clients.begin());
    const Duration waited_from = loop.time();
    const std::string answer = co_await timeout(
        5s,
        [](Task<std::string> echo) -> Coro<std::string> { co_return co_await echo; }(third_echo));
    check(answer == "third\n", "client 3 is served once descriptors are free");
    const auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(loop.time() - waited_from);
    check(waited >= 500ms && waited <= 1500ms,
          "accepting resumed after the 1 s retry delay (" + std::to_string(waited.count()) +
              " ms after client 1 left, which was 300 ms after the failure)");
    check(co_await echo(clients.front().get(), "still here\n") == "still here\n",
          "client 2 was served throughout");
    check(reported->size() == 1, "nothing else was reported");

    for (auto& client : clients)
        client->writer.close();
    third->writer.close();
    server->close();
    co_await server->wait_closed();
    co_return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string scenario = argc > 1 ? argv[1] : "";
    if (scenario == "emfile")
        return run(emfile());
    std::fprintf(stderr, "usage: simrun_server_child emfile\n");
    return 2;
}
