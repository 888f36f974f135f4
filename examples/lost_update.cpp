// lost_update: a seed sweep of the testing kit (simrun::testing) finds a lost update, and draws
// it.
//
// Two clients, alice and bob, each on a host of its own, deposit money into one account that
// the host "bank" serves over the simulator's network. A deposit is two requests: GET (the
// balance), then PUT (the balance plus the amount). The pair is not atomic: a PUT computed from
// a balance read before the other client's deposit landed overwrites that deposit. Whether it
// happens depends on the schedule the seed picks: when each client starts, how long it checks
// a deposit between GET and PUT, the network's latencies, and a partition between bob and the
// bank that the fault plan opens at a seeded moment (bob's requests wait in the network until it
// heals). An operator's SIGUSR1 makes the bank note its balance in the middle of the run.
//
//     lost_update            sweeps seeds until one loses a deposit; exit status 0 when it
//                            found one (the expected outcome), 1 if every seed passed
//     lost_update --fixed    the clients send "ADD n" (atomic on the bank) instead of GET and
//                            PUT: every seed passes (exit status 0)
//
// With SIMRUN_TRACE_DIR=<dir> set, the failing seed's trace is written there as Chrome trace
// JSON and as an HTML timeline page; scripts/check-timeline.sh draws that page in a headless
// browser to make docs/images/timeline.png.

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <simrun/sim/sim.hpp>
#include <simrun/simrun.hpp>
#include <simrun/testing.hpp>

namespace {

using namespace std::chrono_literals;
using simrun::Coro;
namespace sim = simrun::sim;

constexpr std::uint16_t port = 7000;
constexpr int deposits = 3;  // per client

struct Account {
    int balance = 0;
};

/// A log line at info level: not printed, but in the trace (and so on the timeline).
void note(const std::string& text) {
    simrun::get_running_loop().log(simrun::LogLevel::info, text);
}

std::chrono::milliseconds random_ms(std::uint64_t least, std::uint64_t spread) {
    const std::uint64_t ms = least + sim::running_sim().choices().choose(spread);
    return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

/// The bank's side of one connection: a line per request, a line per answer.
Coro<void> serve_client(simrun::StreamReader reader, simrun::StreamWriter writer,
                        std::shared_ptr<Account> account) {
    for (;;) {
        const std::string line = co_await reader.readline();
        if (line.empty())
            break;  // the client closed the connection
        std::string answer = "OK\n";
        if (line == "GET\n")
            answer = std::to_string(account->balance) + "\n";
        else if (line.rfind("PUT ", 0) == 0)
            account->balance = std::stoi(line.substr(4));
        else if (line.rfind("ADD ", 0) == 0)
            account->balance += std::stoi(line.substr(4));
        else
            answer = "ERR unknown request\n";
        writer.write(answer);
        co_await writer.drain();
    }
    writer.close();
}

Coro<void> bank(std::shared_ptr<Account> account, std::shared_ptr<simrun::Event> ready) {
    simrun::ClientConnected handler = [account](simrun::StreamReader reader,
                                                simrun::StreamWriter writer) {
        return serve_client(std::move(reader), std::move(writer), account);
    };
    simrun::ServerOptions options;
    std::shared_ptr<simrun::Server> server =
        co_await simrun::start_server(std::move(handler), "0.0.0.0", port, options);
    ready->set();
    co_await server->serve_forever();
}

/// Sends one request line and returns the answer line (without its newline).
Coro<std::string> ask(simrun::StreamReader* reader, simrun::StreamWriter* writer,
                      std::string line) {
    writer->write(line);
    co_await writer->drain();
    std::string answer = co_await reader->readline();
    if (!answer.empty())
        answer.pop_back();
    co_return answer;
}

Coro<void> client(std::string name, int amount, bool atomic, std::shared_ptr<simrun::Event> ready) {
    co_await ready->wait();
    co_await simrun::sleep(random_ms(0, 400));  // each client starts at its own moment
    simrun::OpenOptions options;
    auto [reader, writer] = co_await simrun::open_connection("bank", port, options);
    for (int i = 0; i < deposits; ++i) {
        if (atomic) {
            co_await ask(&reader, &writer, "ADD " + std::to_string(amount) + "\n");
            note(name + ": +" + std::to_string(amount));
        } else {
            const int balance = std::stoi(co_await ask(&reader, &writer, "GET\n"));
            co_await simrun::sleep(random_ms(10, 30));  // checks the deposit
            co_await ask(&reader, &writer, "PUT " + std::to_string(balance + amount) + "\n");
            note(name + ": " + std::to_string(balance) + " -> " + std::to_string(balance + amount) +
                 " (+" + std::to_string(amount) + ")");
        }
        co_await simrun::sleep(random_ms(150, 250));
    }
    writer.close();
}

/// The test body: every deposit must be on the account at the end.
Coro<void> deposits_add_up(bool atomic) {
    sim::SimNetwork& net = sim::running_sim().sim_network();
    net.add_host("bank", "10.0.0.1");
    net.add_host("alice", "10.0.0.2");
    net.add_host("bob", "10.0.0.3");
    auto account = std::make_shared<Account>();
    auto ready = std::make_shared<simrun::Event>();
    simrun::get_running_loop().add_signal_handler(
        SIGUSR1, [account] { note("audit: the balance is " + std::to_string(account->balance)); });
    simrun::Task<void> server = net.spawn_on("bank", bank(account, ready), {.name = "bank"});
    simrun::Task<void> alice =
        net.spawn_on("alice", client("alice", 10, atomic, ready), {.name = "alice"});
    simrun::Task<void> bob = net.spawn_on("bob", client("bob", 25, atomic, ready), {.name = "bob"});
    co_await alice;
    co_await bob;
    server.cancel();
    const int expected = deposits * (10 + 25);
    if (account->balance != expected)
        throw simrun::RuntimeError("lost update: the balance is " +
                                   std::to_string(account->balance) +
                                   " but the deposits add up to " + std::to_string(expected));
}

/// The fault plan of a seed: a partition between bob and the bank for 250 ms, opened at a
/// random moment of the first half second, and a SIGUSR1 at 300 ms.
void fault_plan(sim::SimLoop& loop, std::uint64_t) {
    const auto at =
        std::chrono::milliseconds(static_cast<std::int64_t>(loop.choices().choose(500)));
    sim::SimLoop* l = &loop;
    loop.call_later(at, [l] { l->sim_network().partition("bob", "bank"); });
    loop.call_later(at + 250ms, [l] { l->sim_network().repair("bob", "bank"); });
    loop.fake_signals().schedule_at(300ms, SIGUSR1);
}

}  // namespace

int main(int argc, char** argv) {
    const bool atomic = argc > 1 && std::string(argv[1]) == "--fixed";
    simrun::testing::SimTestOptions options{.seeds = 200, .setup = fault_plan};
    const auto report =
        simrun::testing::run_seeds(atomic ? "deposits add up (ADD)" : "deposits add up", options,
                                   [atomic] { return deposits_add_up(atomic); });
    if (report.passed) {
        std::printf("every deposit arrived, in each of %llu seeds\n",
                    static_cast<unsigned long long>(report.seeds_run));
        return atomic ? 0 : 1;
    }
    std::fputs(report.message.c_str(), stdout);
    return atomic ? 1 : 0;
}
