// kv_sim_test: runs examples/kv_service.hpp, unchanged, on the simulator's network: a client, a
// primary and a backup on three hosts, with partitions, held data, resets and crashes of
// hosts. A client writes versioned values and reads them back; the invariant is that every
// acknowledged SET is readable afterwards, from both nodes, and no read returns a value that
// was never written or an older one than what was acknowledged.
//
//     kv_sim_test                       a fault plan written by hand, then seeds 0..199, each with
//                                       a random fault plan, then a smoke run on the epoll loop
//     kv_sim_test --seeds N             as above with N seeds
//     kv_sim_test --seed S              replay one seed: its fault plan and its whole trace
//     kv_sim_test --last-writer-wins    the same with versions ignored by the nodes: the
//                                       simulator finds the stale overwrite this allows
//
// One line per seed. On a failure: the seed, its fault plan and the end of its trace. Exit
// code 0 when every run holds the invariant and replays bit for bit.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <simrun/sim/sim.hpp>
#include <simrun/simrun.hpp>

#include "kv_service.hpp"

namespace {

using namespace std::chrono_literals;
using kv_service::Client;
using kv_service::Entry;
using kv_service::Store;
using simrun::Coro;
using simrun::Duration;
namespace sim = simrun::sim;

constexpr std::uint16_t port = 7000;
constexpr int operations = 24;  // SETs by the client: each key is written twice in a row
constexpr int keys = operations / 2;
constexpr Duration gap = 100ms;              // between two operations
constexpr Duration horizon = 3s;             // faults happen before; the network is whole after
constexpr Duration give_up = horizon + 20s;  // no request may still be retried then
constexpr Duration set_patience = 300ms;     // a SET during the faults gives up after it
constexpr std::size_t random_faults = 8;
const std::vector<std::string> host_names{"client", "primary", "backup"};

std::string value_of(const std::string& key, std::uint64_t version) {
    return key + "-v" + std::to_string(version);
}

/// What the run's tasks and fault callbacks share.
struct World {
    sim::SimLoop* loop = nullptr;
    sim::SimNetwork* net = nullptr;
    kv_service::Config config;
    std::shared_ptr<Store> primary_disk = std::make_shared<Store>();
    std::shared_ptr<Store> backup_disk = std::make_shared<Store>();
    std::vector<simrun::Task<void>> nodes;         // every node task started, crashed ones too
    std::map<std::string, std::uint64_t> written;  // highest version sent, per key
    std::map<std::string, std::uint64_t> acked;    // highest version acknowledged, per key
    std::vector<std::string> problems;
    kv_service::ClientStats stats;
    int restarts = 0, acked_sets = 0, abandoned_sets = 0;
};

Coro<void> primary_node(std::shared_ptr<World> w) {
    std::shared_ptr<simrun::Server> server = co_await kv_service::start_primary(
        w->primary_disk, "0.0.0.0", port, "backup", port, w->config);
    co_await kv_service::serve(server);
}

Coro<void> backup_node(std::shared_ptr<World> w) {
    std::shared_ptr<simrun::Server> server =
        co_await kv_service::start_backup(w->backup_disk, "0.0.0.0", port, w->config);
    co_await kv_service::serve(server);
}

/// Starts the node of `host` on it (at the start, and after each restart).
void start_node(const std::shared_ptr<World>& w, const std::string& host) {
    simrun::TaskOptions options;
    options.name = host + "-node";
    if (host == "primary") {
        w->nodes.push_back(w->net->spawn_on(host, primary_node(w), options));
    } else if (host == "backup") {
        w->nodes.push_back(w->net->spawn_on(host, backup_node(w), options));
    }
}

/// Checks a read of `key` against what the client wrote and was acknowledged.
void check_read(World& w, const std::string& where, const std::string& key,
                const std::optional<Entry>& entry) {
    const std::uint64_t acked = w.acked.count(key) ? w.acked.at(key) : 0;
    const std::uint64_t written = w.written.count(key) ? w.written.at(key) : 0;
    std::string problem;
    if (!entry) {
        if (acked > 0) {
            problem = "lost: version " + std::to_string(acked) + " was acknowledged";
        }
    } else if (entry->version < acked) {
        problem = "stale: version " + std::to_string(entry->version) + " after version " +
                  std::to_string(acked) + " was acknowledged";
    } else if (entry->version > written || entry->value != value_of(key, entry->version)) {
        problem =
            "wrong value " + entry->value + " (version " + std::to_string(entry->version) + ")";
    }
    w.loop->note("kv", where + ": " + key + " version " +
                           (entry ? std::to_string(entry->version) : std::string("none")) +
                           (problem.empty() ? "" : " <-- " + problem));
    if (!problem.empty()) {
        w.problems.push_back(where + ", " + key + ": " + problem);
    }
}

/// The client's work: SETs, each read back, while faults happen; then reads of every key from
/// both nodes once the network is whole again.
Coro<void> workload(std::shared_ptr<World> w) {
    simrun::EventLoop& loop = simrun::get_running_loop();
    Client client("primary", port, w->config);
    for (int i = 0; i < operations; ++i) {
        const std::string key = "k" + std::to_string(i / 2);  // a new key, then its update
        const std::uint64_t version = ++w->written[key];
        bool acknowledged = true;
        try {
            // A SET gives up after a while (as a caller with its own deadline would); a copy
            // of it may still be on its way, and must not overwrite a later version.
            co_await simrun::timeout(set_patience,
                                     client.set(key, version, value_of(key, version), give_up));
        } catch (const simrun::TimeoutError&) {
            acknowledged = false;
        }
        w->loop->note("kv", "SET " + key + " version " + std::to_string(version) +
                                (acknowledged ? " acknowledged" : " abandoned"));
        if (acknowledged) {
            w->acked[key] = version;
            ++w->acked_sets;
        } else {
            ++w->abandoned_sets;
        }
        std::optional<Entry> entry = co_await client.get(key, give_up);  // read it back
        check_read(*w, "read during the run", key, entry);
        w->stats = client.stats();
        co_await simrun::sleep(gap);
    }
    if (loop.time() < horizon + 1s) {
        co_await simrun::sleep(horizon + 1s - loop.time());
    }
    Client backup("backup", port, w->config);
    for (int k = 0; k < keys; ++k) {
        const std::string key = "k" + std::to_string(k);
        std::optional<Entry> from_primary = co_await client.get(key, give_up);
        check_read(*w, "final read from the primary", key, from_primary);
        std::optional<Entry> from_backup = co_await backup.get(key, give_up);
        check_read(*w, "final read from the backup", key, from_backup);
    }
    w->stats = client.stats();
    client.close();
    backup.close();
}

Coro<void> scenario(std::shared_ptr<World> w, sim::FaultPlan plan) {
    simrun::EventLoop& loop = simrun::get_running_loop();
    start_node(w, "backup");
    start_node(w, "primary");
    for (const sim::Fault& fault : plan.faults) {
        loop.call_at(fault.at, [w, fault] {
            const bool was_down =
                fault.kind == sim::FaultKind::restart && !w->net->host(fault.a).is_up();
            w->net->apply_now(fault);
            if (was_down) {
                ++w->restarts;
                start_node(w, fault.a);  // a restarted host runs nothing: start its node again
            }
        });
    }
    simrun::TaskOptions options;
    options.name = "client";
    simrun::Task<void> client = w->net->spawn_on("client", workload(w), options);
    try {
        co_await client;
    } catch (const std::exception& error) {
        w->problems.push_back(std::string("client failed: ") + error.what());
    }
    for (simrun::Task<void>& node : w->nodes) {
        node.cancel();
    }
    co_await simrun::gather(w->nodes, simrun::return_exceptions);
}

/// Faults by hand: one of each kind, at chosen times.
sim::FaultPlan hand_written_plan() {
    using K = sim::FaultKind;
    auto at = [](Duration t, K kind, std::string a, std::string b = {}) {
        sim::Fault fault;
        fault.at = t;
        fault.kind = kind;
        fault.a = std::move(a);
        fault.b = std::move(b);
        return fault;
    };
    sim::FaultPlan plan;
    plan.faults = {
        at(300ms, K::partition, "primary", "backup"),  // SETs cannot be replicated: retried
        at(900ms, K::repair, "primary", "backup"),
        at(1100ms, K::reset, "client", "primary"),  // the client's connection: RST
        at(1400ms, K::crash, "primary"),            // its connections reset, its node gone
        at(2000ms, K::restart, "primary"),          // the node starts again from its disk
        at(2200ms, K::hold, "client", "primary"),   // requests and answers wait
        at(2500ms, K::release, "client", "primary"),
        at(2600ms, K::crash, "backup"),
        at(2900ms, K::restart, "backup"),
        at(2950ms, K::close, "primary", "backup"),  // FIN on the replication connection
    };
    return plan;
}

/// A seeded random plan over the three hosts; the client host is never crashed (the
/// workload would be gone with it, and the test checks the servers).
sim::FaultPlan random_plan(sim::ChoiceSource& choices) {
    sim::FaultPlan drawn = sim::random_fault_plan(choices, host_names, horizon, random_faults);
    sim::FaultPlan plan;
    for (const sim::Fault& fault : drawn.faults) {
        const bool crash_or_restart =
            fault.kind == sim::FaultKind::crash || fault.kind == sim::FaultKind::restart;
        if (!(crash_or_restart && fault.a == "client")) {
            plan.faults.push_back(fault);
        }
    }
    return plan;
}

struct RunResult {
    sim::FaultPlan plan;
    std::vector<std::string> problems;
    std::vector<std::string> logs;
    std::uint64_t digest = 0;
    std::uint64_t trace_size = 0;
    Duration end{};
    std::string trace_tail;
    std::string trace_all;
    kv_service::ClientStats stats;
    int acked = 0, abandoned = 0, restarts = 0;
};

RunResult run_seed(std::uint64_t seed, bool by_hand, bool last_writer_wins, bool whole_trace) {
    RunResult result;
    sim::SimOptions options;
    options.seed = seed;
    sim::SimLoop loop(options);
    auto logs = std::make_shared<std::vector<std::string>>();
    loop.set_log_handler(
        [logs](simrun::LogLevel, const std::string& line) { logs->push_back(line); });

    auto w = std::make_shared<World>();
    w->loop = &loop;
    w->net = &loop.sim_network();
    w->net->add_host("client", "10.0.0.1");
    w->net->add_host("primary", "10.0.0.2");
    w->net->add_host("backup", "10.0.0.3");
    // A link profile per seed: a LAN, a slower network, or one with a long latency tail
    // (where a copy of an old request can arrive after a newer one, on another connection).
    const Duration max_latency[] = {5ms, 40ms, 150ms};
    w->net->options().link = sim::LinkOptions{1ms, max_latency[seed % 3], 0};
    w->config.request_timeout = 1s;
    w->config.replicate_timeout = 400ms;
    w->primary_disk->versioned = w->backup_disk->versioned = !last_writer_wins;
    result.plan = by_hand ? hand_written_plan() : random_plan(loop.choices());
    try {
        loop.run_until_complete(scenario(w, result.plan));
    } catch (...) {
        w->problems.push_back("run failed: " +
                              simrun::describe_exception(std::current_exception()));
    }
    try {
        loop.close();
    } catch (...) {
        w->problems.push_back("close failed: " +
                              simrun::describe_exception(std::current_exception()));
    }
    for (const std::string& line : *logs) {
        w->problems.push_back("loop log: " + line.substr(0, line.find('\n')));
    }
    const sim::Trace& trace = loop.trace();
    result.problems = w->problems;
    result.logs = *logs;
    result.digest = trace.digest();
    result.trace_size = trace.size();
    result.end = loop.time();
    const std::size_t kept = trace.entries().size();
    // The tail of the network's and the client's lines ("net", "kv"): the story of the run.
    std::vector<std::string> story;
    for (const sim::TraceEntry& entry : trace.entries()) {
        if (entry.kind == "net" || entry.kind == "kv") {
            story.push_back(sim::Trace::format_entry(entry));
        }
    }
    for (std::size_t i = story.size() > 40 ? story.size() - 40 : 0; i < story.size(); ++i) {
        result.trace_tail += story[i] + "\n";
    }
    if (whole_trace) {
        result.trace_all = trace.format(0, kept);
    }
    result.stats = w->stats;
    result.restarts = w->restarts;
    result.acked = w->acked_sets;
    result.abandoned = w->abandoned_sets;
    return result;
}

void print_line(const std::string& label, const RunResult& r) {
    std::printf(
        "%-10s %-4s %2zu faults, %2d SETs acknowledged, %d abandoned, %2d retries, "
        "%2d connects, %d restarts, virtual %s, digest %016llx\n",
        label.c_str(), r.problems.empty() ? "OK" : "FAIL", r.plan.faults.size(), r.acked,
        r.abandoned, r.stats.retries, r.stats.connects, r.restarts, sim::format_time(r.end).c_str(),
        static_cast<unsigned long long>(r.digest));
}

void print_failure(const std::string& label, const RunResult& r) {
    std::printf("\n%s FAILED:\n", label.c_str());
    for (const std::string& problem : r.problems) {
        std::printf("  %s\n", problem.c_str());
    }
    std::printf("fault plan:\n%s", r.plan.to_string().c_str());
    std::printf(
        "trace tail, network and client lines (%llu entries in all; --seed S shows "
        "them all):\n%s\n",
        static_cast<unsigned long long>(r.trace_size), r.trace_tail.c_str());
}

/// The same service on the epoll loop, on 127.0.0.1: both nodes in this process.
Coro<void> epoll_smoke(std::shared_ptr<std::vector<std::string>> problems) {
    kv_service::Config config;
    auto primary_disk = std::make_shared<Store>();
    auto backup_disk = std::make_shared<Store>();
    std::shared_ptr<simrun::Server> backup =
        co_await kv_service::start_backup(backup_disk, "127.0.0.1", 0, config);
    const std::uint16_t backup_port = backup->addresses().front().port;
    std::shared_ptr<simrun::Server> primary = co_await kv_service::start_primary(
        primary_disk, "127.0.0.1", 0, "127.0.0.1", backup_port, config);
    const std::uint16_t primary_port = primary->addresses().front().port;

    simrun::EventLoop& loop = simrun::get_running_loop();
    const Duration deadline = loop.time() + 10s;
    Client client("127.0.0.1", primary_port, config);
    std::map<std::string, std::uint64_t> versions;
    for (int i = 0; i < 40; ++i) {
        const std::string key = "k" + std::to_string(i % 4);
        const std::uint64_t version = ++versions[key];
        co_await client.set(key, version, value_of(key, version), deadline);
    }
    for (const auto& [key, version] : versions) {
        std::optional<Entry> entry = co_await client.get(key, deadline);
        const Entry expected{version, value_of(key, version)};
        if (!entry || *entry != expected || backup_disk->get(key) != expected) {
            problems->push_back("epoll: " + key + " does not read back as " + expected.value);
        }
    }
    client.close();
    primary->close();
    co_await simrun::timeout(5s, primary->wait_closed());
    primary.reset();  // its replication connection goes with it
    backup->close();
    co_await simrun::timeout(5s, backup->wait_closed());
}

bool run_epoll_smoke() {
    auto problems = std::make_shared<std::vector<std::string>>();
    const auto start = std::chrono::steady_clock::now();
    try {
        simrun::run(epoll_smoke(problems));
    } catch (...) {
        problems->push_back("epoll: " + simrun::describe_exception(std::current_exception()));
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "epoll loop on 127.0.0.1: 40 SETs through primary and backup, read back: %s "
        "(%.0f ms)\n",
        problems->empty() ? "OK" : "FAIL", ms);
    for (const std::string& problem : *problems) {
        std::printf("  %s\n", problem.c_str());
    }
    return problems->empty();
}

int replay(std::uint64_t seed, bool last_writer_wins) {
    const RunResult r = run_seed(seed, false, last_writer_wins, true);
    std::printf("seed %llu, fault plan:\n%s\n", static_cast<unsigned long long>(seed),
                r.plan.to_string().c_str());
    std::printf("trace (%llu entries):\n%s\n", static_cast<unsigned long long>(r.trace_size),
                r.trace_all.c_str());
    print_line("seed " + std::to_string(seed), r);
    for (const std::string& problem : r.problems) {
        std::printf("  %s\n", problem.c_str());
    }
    return r.problems.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::uint64_t seeds = 200;
    std::optional<std::uint64_t> one_seed;
    bool last_writer_wins = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--seeds" || arg == "--seed") && i + 1 < argc) {
            const std::uint64_t value = std::strtoull(argv[++i], nullptr, 10);
            (arg == "--seeds" ? seeds : one_seed.emplace()) = value;
        } else if (arg == "--last-writer-wins") {
            last_writer_wins = true;
        } else {
            std::fprintf(stderr, "usage: %s [--seeds N | --seed S] [--last-writer-wins]\n",
                         argv[0]);
            return arg == "--help" || arg == "-h" ? 0 : 2;
        }
    }
    if (one_seed) {
        return replay(*one_seed, last_writer_wins);
    }

    std::printf(
        "kv_sim_test: examples/kv_service.hpp on a simulated network (hosts client, "
        "primary, backup)%s\n\n",
        last_writer_wins ? ", nodes keeping the LAST write instead of the newest version" : "");
    int failures = 0;
    const RunResult by_hand = run_seed(0, true, last_writer_wins, false);
    std::printf("Faults by hand:\n%s", by_hand.plan.to_string().c_str());
    print_line("by hand", by_hand);
    if (!by_hand.problems.empty()) {
        ++failures;
        print_failure("the hand-written plan", by_hand);
    }

    std::printf("\nSeeded random fault plans (%zu faults each over %s, then healed):\n",
                random_faults, sim::format_time(horizon).c_str());
    const auto start = std::chrono::steady_clock::now();
    std::optional<std::uint64_t> first_failed;
    std::size_t log_lines = by_hand.logs.size();
    for (std::uint64_t seed = 0; seed < seeds; ++seed) {
        const RunResult r = run_seed(seed, false, last_writer_wins, false);
        log_lines += r.logs.size();
        print_line("seed " + std::to_string(seed), r);
        if (!r.problems.empty()) {
            ++failures;
            first_failed = first_failed.value_or(seed);
            print_failure("seed " + std::to_string(seed), r);
        }
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%llu seeds in %.2f s of wall time (%.0f seeds per second)\n",
                static_cast<unsigned long long>(seeds), wall, wall > 0 ? seeds / wall : 0.0);

    // No run here ends the process (no ProcessTerminated): each one closes its loop after a clean
    // end, so any report of the loop ("Task was destroyed but it is pending!", "... exception was
    // never retrieved") is a task the service leaked; its seed failed above ("loop log: ...").
    std::printf("Loop log lines (leaked-task reports, warnings) in all runs: %zu %s\n", log_lines,
                log_lines == 0 ? "OK" : "FAIL (no run was terminated: each one is a leak)");

    // Determinism: a seed replays bit for bit (same trace digest).
    const std::uint64_t replayed = seeds / 2;
    const bool same = run_seed(replayed, false, last_writer_wins, false).digest ==
                      run_seed(replayed, false, last_writer_wins, false).digest;
    std::printf("Replay of seed %llu twice: %s\n", static_cast<unsigned long long>(replayed),
                same ? "same trace digest, OK" : "DIFFERENT digests, FAIL");
    failures += same ? 0 : 1;

    // Every task, connection and handler of every run ended with its loop: no frame is left.
    const std::int64_t frames = simrun::detail::live_coroutine_frames();
    std::printf("Live coroutine frames after all runs: %lld %s\n", static_cast<long long>(frames),
                frames == 0 ? "OK" : "FAIL");
    failures += frames == 0 ? 0 : 1;

    std::printf("\n");
    failures += run_epoll_smoke() ? 0 : 1;
    if (first_failed) {
        std::printf("\nReplay the first failing seed with: kv_sim_test --seed %llu%s\n",
                    static_cast<unsigned long long>(*first_failed),
                    last_writer_wins ? " --last-writer-wins" : "");
    }
    std::printf(
        "\nResult: %s\n",
        failures == 0 ? "OK, every acknowledged SET was readable, every run replayed" : "FAILED");
    return failures == 0 ? 0 : 1;
}
