#pragma once
// kv_service.hpp: a small replicated key-value service over start_server()/open_connection(),
// written only against simrun's generic API. Nothing here knows about the simulator: the same
// code runs on the epoll loop and, unchanged, on the SimLoop's simulated network, where
// kv_sim_test.cpp runs it across three hosts through partitions, resets and crashes.
//
// The parts:
//   Store          a node's durable storage ("its disk"): it survives a crash of the node
//   Replicator     the primary's connection to the backup, reconnected after any failure
//   start_primary  a server that stores each SET and forwards it to the backup before it
//                  answers OK: an acknowledged write is on both nodes
//   start_backup   a server that stores what the primary forwards (and answers GETs)
//   Client         sends one request at a time; any failure or timeout drops the connection
//                  and retries on a new one (every request is idempotent), until a deadline
//
// The protocol, one line each way:
//   "SET <key> <version> <value>\n"  ->  "OK\n" | "ERR <reason>\n"
//   "GET <key>\n"                    ->  "VALUE <version> <value>\n" | "NONE\n"
// Versions make a retried or delayed SET harmless: a node keeps the highest version of a key,
// so a stale copy of an old request that arrives late (on a connection the client gave up on)
// cannot overwrite a newer value. Store::versioned = false turns that off (last writer wins),
// the bug kv_sim_test --last-writer-wins lets the simulator find.
//
// Robustness: a connection that resets, times out or sends garbage ends only itself; a
// server never stops for it. Every wait is bounded by a timeout().

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <simrun/simrun.hpp>

namespace kv_service {

using simrun::Coro;
using simrun::Duration;
using namespace std::chrono_literals;

/// Timeouts and delays. The defaults suit a network with milliseconds of latency.
struct Config {
    /// A client's attempt at one request: connecting, sending and reading the answer.
    Duration request_timeout = 400ms;
    /// A client's pause between two attempts.
    Duration retry_delay = 150ms;
    /// The primary's exchange with the backup for one SET (connecting included).
    Duration replicate_timeout = 200ms;
    /// A server closes a connection that sends nothing for this long.
    Duration idle_timeout = 10s;
    /// Longest request line a server accepts (longer: the connection is dropped).
    std::int64_t line_limit = 1024;
};

/// One stored value.
struct Entry {
    std::uint64_t version = 0;
    std::string value;
    friend bool operator==(const Entry&, const Entry&) = default;
};

/// A node's durable storage. The caller owns it and hands it to the node, so it outlives a
/// crash of the node (what a disk does) and a test can read it afterwards.
struct Store {
    std::map<std::string, Entry> entries;
    /// Keep the highest version of each key (true), or the last write (false: the bug).
    bool versioned = true;

    /// Stores `value` unless a newer version of `key` is stored (when versioned).
    void apply(const std::string& key, std::uint64_t version, const std::string& value) {
        auto found = entries.find(key);
        if (versioned && found != entries.end() && found->second.version >= version) {
            return;
        }
        entries[key] = Entry{version, value};
    }
    std::optional<Entry> get(const std::string& key) const {
        auto found = entries.find(key);
        if (found == entries.end()) {
            return std::nullopt;
        }
        return found->second;
    }
};

/// A parsed request line; `command` is empty for a malformed one.
struct Request {
    std::string command, key, value;
    std::uint64_t version = 0;
};

inline Request parse_request(const std::string& line) {
    std::istringstream in(line);
    Request request;
    std::string extra;
    in >> request.command >> request.key;
    if (request.command == "SET" && in >> request.version >> request.value && !(in >> extra)) {
        return request;
    }
    if (request.command == "GET" && !request.key.empty() && !(in >> extra)) {
        return request;
    }
    return Request{};
}

inline std::string set_line(const std::string& key, std::uint64_t version,
                            const std::string& value) {
    return "SET " + key + " " + std::to_string(version) + " " + value + "\n";
}

/// A StreamReader and StreamWriter of one connection.
using Connection = std::pair<simrun::StreamReader, simrun::StreamWriter>;

/// Gives up a connection whose state is unknown after a timeout or an error, so that no late
/// answer can be taken for the answer to a new request. It is closed, not aborted: what was
/// sent on it may still arrive and be applied later (the versions make that harmless).
inline void drop(std::optional<Connection>& connection) {
    if (connection) {
        connection->second.close();
        connection.reset();
    }
}

/// The primary's link to the backup: one connection, one exchange at a time.
class Replicator {
  public:
    Replicator(std::string host, std::uint16_t port, Config config)
        : host_(std::move(host)), port_(port), config_(config) {}
    Replicator(const Replicator&) = delete;
    Replicator& operator=(const Replicator&) = delete;
    ~Replicator() { drop(connection_); }

    /// Sends a SET line to the backup and waits for its OK; false if the backup did not
    /// confirm within config.replicate_timeout (the connection is then dropped).
    Coro<bool> replicate(std::string line) {
        bool confirmed = false;
        try {
            confirmed = co_await simrun::timeout(config_.replicate_timeout, exchange(line));
        } catch (const std::exception&) {
            // Refused, reset, timed out: the backup is unavailable for now.
        }
        co_return confirmed;
    }

  private:
    Coro<bool> exchange(std::string line) {
        simrun::LockGuard guard = co_await lock_.hold();  // one request in flight at a time
        try {
            if (!connection_) {
                simrun::OpenOptions options;  // explicit: no defaulted argument in co_await
                auto [reader, writer] = co_await simrun::open_connection(host_, port_, options);
                connection_.emplace(std::move(reader), std::move(writer));
            }
            connection_->second.write(line);
            co_await connection_->second.drain();
            std::string answer = co_await connection_->first.readline();
            if (answer.empty()) {
                drop(connection_);  // the backup closed the connection
            }
            co_return answer == "OK\n";
        } catch (...) {
            drop(connection_);  // an error, or cancelled by the timeout mid-exchange
            throw;
        }
    }

    std::string host_;
    std::uint16_t port_;
    Config config_;
    simrun::Lock lock_;
    std::optional<Connection> connection_;
};

/// The answer to one request line. `replicator` is null on the backup.
inline Coro<std::string> answer(std::string line, std::shared_ptr<Store> store,
                                std::shared_ptr<Replicator> replicator) {
    const Request request = parse_request(line);
    if (request.command == "GET") {
        std::optional<Entry> entry = store->get(request.key);
        co_return entry ? "VALUE " + std::to_string(entry->version) + " " + entry->value + "\n"
                        : std::string("NONE\n");
    }
    if (request.command != "SET") {
        co_return std::string("ERR bad request\n");
    }
    store->apply(request.key, request.version, request.value);
    if (replicator && !co_await replicator->replicate(line)) {
        co_return std::string("ERR backup unavailable\n");  // not acknowledged: retry later
    }
    co_return std::string("OK\n");
}

/// Serves one connection until the peer closes it, goes idle, or the connection fails. Never
/// throws (but for cancellation): a bad connection is only its own problem.
inline Coro<void> handle_connection(simrun::StreamReader reader, simrun::StreamWriter writer,
                                    std::shared_ptr<Store> store,
                                    std::shared_ptr<Replicator> replicator, Config config) {
    try {
        for (;;) {
            std::string line = co_await simrun::timeout(config.idle_timeout, reader.readline());
            if (line.empty() || line.back() != '\n') {
                break;  // end of stream (a cut-off last line is not a request)
            }
            std::string reply = co_await answer(std::move(line), store, replicator);
            writer.write(reply);
            co_await simrun::timeout(config.idle_timeout, writer.drain());
        }
    } catch (const std::exception&) {
        // Reset, broken pipe, idle, a line over the limit: drop this connection.
        writer.transport().abort();
    }
    writer.close();
}

/// Starts a node's server on `host`:`port` (port 0: any). `replicator` null: a backup.
inline Coro<std::shared_ptr<simrun::Server>> start_node(std::shared_ptr<Store> store,
                                                        std::shared_ptr<Replicator> replicator,
                                                        std::string host, std::uint16_t port,
                                                        Config config) {
    simrun::ServerOptions options;
    options.limit = config.line_limit;
    simrun::ClientConnected handler = [store, replicator, config](simrun::StreamReader reader,
                                                                  simrun::StreamWriter writer) {
        return handle_connection(std::move(reader), std::move(writer), store, replicator, config);
    };
    std::shared_ptr<simrun::Server> server =
        co_await simrun::start_server(std::move(handler), std::move(host), port, options);
    co_return server;
}

/// The backup: stores what it is sent.
inline Coro<std::shared_ptr<simrun::Server>> start_backup(std::shared_ptr<Store> store,
                                                          std::string host, std::uint16_t port,
                                                          Config config = {}) {
    std::shared_ptr<Replicator> none;
    co_return co_await start_node(std::move(store), none, std::move(host), port, config);
}

/// The primary: stores each SET and acknowledges it once the backup at
/// `backup_host`:`backup_port` has it too.
inline Coro<std::shared_ptr<simrun::Server>> start_primary(std::shared_ptr<Store> store,
                                                           std::string host, std::uint16_t port,
                                                           std::string backup_host,
                                                           std::uint16_t backup_port,
                                                           Config config = {}) {
    auto replicator = std::make_shared<Replicator>(std::move(backup_host), backup_port, config);
    co_return co_await start_node(std::move(store), replicator, std::move(host), port, config);
}

/// Runs a started server until cancelled (a node's whole life).
inline Coro<void> serve(std::shared_ptr<simrun::Server> server) {
    co_await server->serve_forever();
}

/// The client's counters.
struct ClientStats {
    int requests = 0, retries = 0, connects = 0;
};

/// A client of one server: one request at a time, retried until it is answered.
class Client {
  public:
    Client(std::string host, std::uint16_t port, Config config = {})
        : host_(std::move(host)), port_(port), config_(config) {}
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    ~Client() { drop(connection_); }

    /// Sends `line` and returns the answer line. After a failure, a timeout or an "ERR"
    /// answer it waits config.retry_delay and tries again on a new connection; throws
    /// TimeoutError "gave up: <request>" once the loop's time would pass `deadline`.
    Coro<std::string> request(std::string line, Duration deadline) {
        ++stats_.requests;
        simrun::EventLoop& loop = simrun::get_running_loop();
        for (;;) {
            std::string reply;
            try {
                reply = co_await simrun::timeout(config_.request_timeout, attempt(line));
            } catch (const std::exception&) {
                drop(connection_);  // refused, reset, timed out: the connection is suspect
            } catch (...) {
                drop(connection_);  // cancelled mid-request: its answer must not be taken
                throw;              // for the answer to the next one
            }
            if (!reply.empty() && reply.rfind("ERR", 0) != 0) {
                co_return reply;
            }
            if (loop.time() + config_.retry_delay > deadline) {
                throw simrun::TimeoutError("gave up: " + line.substr(0, line.size() - 1));
            }
            ++stats_.retries;
            co_await simrun::sleep(config_.retry_delay);
        }
    }
    /// SET until acknowledged (see request()).
    Coro<void> set(std::string key, std::uint64_t version, std::string value, Duration deadline) {
        std::string reply = co_await request(set_line(key, version, value), deadline);
        if (reply != "OK\n") {
            throw simrun::RuntimeError("unexpected answer to SET: " + reply);
        }
    }
    /// GET until answered: the entry, or none if the key is unknown (see request()).
    Coro<std::optional<Entry>> get(std::string key, Duration deadline) {
        std::string reply = co_await request("GET " + key + "\n", deadline);
        std::istringstream in(reply);
        std::string word;
        Entry entry;
        if (in >> word && word == "VALUE" && in >> entry.version >> entry.value) {
            co_return entry;
        }
        if (reply == "NONE\n") {
            co_return std::nullopt;
        }
        throw simrun::RuntimeError("unexpected answer to GET: " + reply);
    }
    /// Closes the connection, if any.
    void close() { drop(connection_); }
    const ClientStats& stats() const noexcept { return stats_; }

  private:
    Coro<std::string> attempt(std::string line) {
        if (!connection_) {
            ++stats_.connects;
            simrun::OpenOptions options;  // explicit: no defaulted argument in co_await
            auto [reader, writer] = co_await simrun::open_connection(host_, port_, options);
            connection_.emplace(std::move(reader), std::move(writer));
        }
        connection_->second.write(line);
        co_await connection_->second.drain();
        std::string reply = co_await connection_->first.readline();
        if (reply.empty() || reply.back() != '\n') {
            drop(connection_);  // the server closed the connection
            co_return std::string();
        }
        co_return reply;
    }

    std::string host_;
    std::uint16_t port_;
    Config config_;
    std::optional<Connection> connection_;
    ClientStats stats_;
};

}  // namespace kv_service
