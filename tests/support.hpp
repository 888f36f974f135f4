#pragma once
// Helpers shared by the unit tests.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include <simrun/sim/sim.hpp>
#include <simrun/simrun.hpp>
#include <simrun/testing/doctest.hpp>

namespace test_support {

/// Collects the log lines of a loop (warnings included).
class LogCapture {
  public:
    void attach(simrun::EventLoop& loop) {
        loop.set_log_handler([this](simrun::LogLevel level, const std::string& line) {
            lines.emplace_back(level, line);
        });
    }
    /// Number of lines containing `text`.
    std::size_t count(std::string_view text) const {
        std::size_t n = 0;
        for (const auto& [level, line] : lines)
            n += line.find(text) != std::string::npos ? 1 : 0;
        return n;
    }
    bool contains(std::string_view text) const { return count(text) > 0; }
    std::string all() const {
        std::string text;
        for (const auto& [level, line] : lines)
            text += line + "\n";
        return text;
    }
    std::vector<std::pair<simrun::LogLevel, std::string>> lines;
};

/// Collects what reaches a loop's exception handler.
class HandlerCapture {
  public:
    void attach(simrun::EventLoop& loop) {
        loop.set_exception_handler(
            [this](simrun::EventLoop&, const simrun::ExceptionContext& context) {
                contexts.push_back(context);
            });
    }
    std::size_t count(std::string_view message) const {
        std::size_t n = 0;
        for (const auto& context : contexts)
            n += context.message.find(message) != std::string::npos ? 1 : 0;
        return n;
    }
    std::vector<simrun::ExceptionContext> contexts;
};

/// A loop factory that makes SimLoops and remembers them, so a test can inspect the loop after
/// run() closed it.
class SimFactory {
  public:
    explicit SimFactory(simrun::sim::SimOptions options = {}) : options_(std::move(options)) {}
    simrun::LoopFactory factory() {
        return [this] {
            auto loop = std::make_shared<simrun::sim::SimLoop>(options_);
            if (on_new_loop)
                on_new_loop(*loop);
            loops.push_back(loop);
            return std::shared_ptr<simrun::EventLoop>(loop);
        };
    }
    simrun::sim::SimLoop& last() { return *loops.back(); }
    /// Called for each new loop (e.g. to schedule signals or attach captures).
    std::function<void(simrun::sim::SimLoop&)> on_new_loop;
    std::vector<std::shared_ptr<simrun::sim::SimLoop>> loops;

  private:
    simrun::sim::SimOptions options_;
};

/// A simulated loop with its log and exception handler captured, closed at the end of the test.
struct Sim {
    LogCapture log;
    HandlerCapture errors;
    simrun::sim::SimLoop loop;
    explicit Sim(simrun::sim::SimOptions options = {}, bool capture_errors = true)
        : loop(std::move(options)) {
        log.attach(loop);
        if (capture_errors)
            errors.attach(loop);
    }
    ~Sim() {
        if (!loop.is_closed() && !loop.is_running())
            loop.close();
    }
    Sim(const Sim&) = delete;
    Sim& operator=(const Sim&) = delete;
};

// ---- the conformance suite: one test body, both loops -----------------------------------------
//
//     LOOP_TEST_CASE("call_soon runs callbacks in FIFO order") {
//         test_support::TestLoop<LoopKind> s;      // s.loop is an EventLoop&
//         ...
//     }
//
// runs the body once on a SimLoop and once on an EpollLoop, in the doctest suite "shared".
// Tests that need virtual time, fake signals, fake executors or seeds are in the suite
// "sim-only"; tests that need sockets or real signals in "real-only". scripts/test.sh prints
// the count of each.

/// The loop kinds of the testing kit (simrun/testing/doctest.hpp): `is_sim`, `make()`.
using SimKind = simrun::testing::SimKind;
using EpollKind = simrun::testing::EpollKind;

/// A loop of `Kind` with its log and exception handler captured, closed at the end of the test
/// (the loop-kind twin of Sim).
template <class Kind>
struct TestLoop {
    LogCapture log;
    HandlerCapture errors;
    std::shared_ptr<simrun::EventLoop> owner;
    simrun::EventLoop& loop;
    explicit TestLoop(bool capture_errors = true) : owner(Kind::make()), loop(*owner) {
        log.attach(loop);
        if (capture_errors)
            errors.attach(loop);
    }
    ~TestLoop() {
        if (!loop.is_closed() && !loop.is_running())
            loop.close();
    }
    TestLoop(const TestLoop&) = delete;
    TestLoop& operator=(const TestLoop&) = delete;
};

/// A loop factory for RunnerOptions::loop_factory that makes loops of `Kind` and remembers them
/// (the loop-kind twin of SimFactory).
template <class Kind>
class LoopRecorder {
  public:
    simrun::LoopFactory factory() {
        return [this] {
            std::shared_ptr<simrun::EventLoop> loop = Kind::make();
            if (on_new_loop)
                on_new_loop(*loop);
            loops.push_back(loop);
            return loop;
        };
    }
    simrun::EventLoop& last() { return *loops.back(); }
    /// Called for each new loop (e.g. to attach captures).
    std::function<void(simrun::EventLoop&)> on_new_loop;
    std::vector<std::shared_ptr<simrun::EventLoop>> loops;
};

/// True if `part` occurs in `text`.
inline bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

/// The exception of type E that `body` throws, if it throws one.
template <class E, class F>
std::optional<E> thrown(F&& body) {
    try {
        body();
    } catch (const E& error) {
        return error;
    }
    return std::nullopt;
}

/// "a | b | c": comparable and printable by doctest.
inline std::string joined(const std::vector<std::string>& items) {
    std::string text;
    for (const std::string& item : items)
        text += (text.empty() ? "" : " | ") + item;
    return text;
}

/// The running loop's time, "1250ms".
inline std::string at_now() {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                              simrun::get_running_loop().time())
                              .count()) +
           "ms";
}

}  // namespace test_support

/// A test case whose body runs on both loops; `LoopKind` names the kind (SimKind, EpollKind).
/// Test cases are named "name<sim>" and "name<epoll>"; the kit's SIMRUN_LOOP_TEST_CASE gives
/// the epoll run SIGINT's default disposition (a Runner takes it over instead of doctest).
#define LOOP_TEST_CASE(name) SIMRUN_LOOP_TEST_CASE(name* doctest::test_suite("shared"))
