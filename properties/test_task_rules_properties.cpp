// Properties of single rules of tasks and timers, each against a small model of CPython 3.13
// (checked by experiments on CPython 3.13's asyncio): cancel() return values, cancelling() and
// uncancel() counting, cancel messages through awaits, and the order of timers with equal
// deadlines. The random programs of program.hpp check cancel() and uncancel() as well, in
// whatever situations the programs reach.
#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <rapidcheck.h>

#include "generators.hpp"

using namespace simrun;
using namespace std::chrono_literals;

namespace {

// ---- cancel(), cancelling(), uncancel() and messages, on a chain of awaiting tasks ----

/// The harness's task runs `depth` tasks above a leaf: each awaits the next (a task), the last
/// one awaits the leaf coroutine, which sleeps 10 s. The harness then calls cancel("m<i>") or
/// uncancel() on the outermost task, in the order of `requests`, and awaits it.
struct CancelScript {
    int depth = 0;
    bool started = true;         ///< every task reached its await before the requests
    bool reraise = true;         ///< the leaf re-raises CancelledError (else it returns 2)
    std::vector<bool> requests;  ///< true: cancel("m<index>"), false: uncancel()
};

std::ostream& operator<<(std::ostream& out, const CancelScript& script) {
    out << "depth " << script.depth << (script.started ? ", started" : ", not started")
        << (script.reraise ? ", leaf re-raises" : ", leaf returns 2") << ", requests:";
    for (std::size_t i = 0; i < script.requests.size(); ++i)
        out << (script.requests[i] ? " cancel(m" + std::to_string(i) + ")" : " uncancel()");
    return out;
}

using Lines = std::vector<std::string>;

std::string message_of(const CancelledError& error) {
    return std::string(error.what()).empty() ? "<none>" : error.what();
}

Coro<int> leaf(std::shared_ptr<Lines> seen, bool reraise) {
    try {
        co_await sleep(10s);
        seen->push_back("slept");
        co_return 1;
    } catch (const CancelledError& error) {
        seen->push_back("leaf sees " + message_of(error) + " with cancelling() " +
                        std::to_string(current_task().cancelling()));
        if (reraise)
            throw;
    }
    co_return 2;
}

Coro<int> level(std::shared_ptr<Lines> seen, int depth, bool reraise) {
    if (depth == 0)
        co_return co_await leaf(seen, reraise);
    Task<int> inner = create_task(level(seen, depth - 1, reraise));
    int value = 0;
    try {
        value = co_await inner;
    } catch (const CancelledError& error) {
        seen->push_back("level " + std::to_string(depth) + " sees " + message_of(error) +
                        " with cancelling() " + std::to_string(current_task().cancelling()));
        throw;
    }
    co_return value;
}

Coro<int> cancel_harness(CancelScript script, std::shared_ptr<Lines> seen) {
    Task<int> outer = create_task(level(seen, script.depth, script.reraise));
    if (script.started) {
        for (int i = 0; i <= script.depth; ++i)
            co_await sleep(Duration::zero());
    }
    for (std::size_t i = 0; i < script.requests.size(); ++i) {
        if (script.requests[i]) {
            const bool returned = outer.cancel("m" + std::to_string(i));
            seen->push_back("cancel -> " + std::string(returned ? "true" : "false") + ", " +
                            std::to_string(outer.cancelling()));
        } else {
            const int returned = outer.uncancel();
            seen->push_back("uncancel -> " + std::to_string(returned) + ", " +
                            std::to_string(outer.cancelling()));
        }
    }
    try {
        const int value = co_await outer;
        seen->push_back("outer returns " + std::to_string(value));
    } catch (const CancelledError& error) {
        seen->push_back("outer cancelled with " + message_of(error));
    }
    const bool late = outer.cancel("late");
    seen->push_back("cancel of the done task -> " + std::string(late ? "true" : "false") + ", " +
                    std::to_string(outer.cancelling()));
    co_return 0;
}

/// CPython 3.13's answer (see the file comment): cancel() of a pending task returns true and
/// counts; uncancel() returns the count minus one, never below 0. A task that never ran ends
/// cancelled, with the LAST message, if requests remain, else runs normally (the cancellation
/// was withdrawn). A task waiting in its sleep gets the FIRST message, whatever follows; every
/// task under the outermost counted every request (each was passed down), the outermost only
/// what uncancel() left. Once done, cancel() returns false and changes nothing.
///
/// KNOWN DIVERGENCE (found by this property, reported, not fixed yet): when a task waiting in its
/// sleep is cancelled again before it resumes, simrun delivers the message of the latest request
/// (it is pending as "must cancel" at the task's next step) instead of the first one (the
/// message of the future the first request cancelled): `cancel("m0"); cancel("m1")` on a task in
/// `sleep()` gives CancelledError("m1"); CPython 3.13 gives "m0". With kLatestMessageWins the
/// model predicts simrun's message in that case and tags it, so that the property keeps
/// checking everything else; set it to false once the library is fixed.
constexpr bool kLatestMessageWins = false;

/// Whether the case is one of the known divergence above (set by predict()).
bool known_divergence = false;

Lines predict(const CancelScript& script) {
    Lines lines;
    int count = 0;
    int cancels = 0;
    int first = -1;
    int last = -1;
    // simrun: after the first request cancelled the sleep, each further request on the leaf
    // marks it "must cancel" with its message; uncancel() back to 0 clears the mark. The leaf
    // counts every request when it is under other tasks (they pass each one down).
    bool leaf_marked = false;
    for (std::size_t i = 0; i < script.requests.size(); ++i) {
        if (script.requests[i]) {
            ++count;
            ++cancels;
            if (first < 0)
                first = static_cast<int>(i);
            else
                leaf_marked = true;
            last = static_cast<int>(i);
            lines.push_back("cancel -> true, " + std::to_string(count));
        } else {
            count = std::max(count - 1, 0);
            if (script.depth == 0 && count == 0)
                leaf_marked = false;
            lines.push_back("uncancel -> " + std::to_string(count) + ", " + std::to_string(count));
        }
    }
    known_divergence = script.started && leaf_marked && last != first;
    if (known_divergence && kLatestMessageWins)
        first = last;
    if (!script.started) {
        if (count > 0) {
            lines.push_back("outer cancelled with m" + std::to_string(last));
        } else {
            lines.push_back("slept");
            lines.push_back("outer returns 1");
        }
    } else if (cancels == 0) {
        lines.push_back("slept");
        lines.push_back("outer returns 1");
    } else {
        const std::string message = "m" + std::to_string(first);
        const auto counted = [&](int depth) {
            return std::to_string(depth == script.depth ? count : cancels);
        };
        lines.push_back("leaf sees " + message + " with cancelling() " + counted(0));
        if (script.reraise) {
            for (int depth = 1; depth <= script.depth; ++depth) {
                lines.push_back("level " + std::to_string(depth) + " sees " + message +
                                " with cancelling() " + counted(depth));
            }
            lines.push_back("outer cancelled with " + message);
        } else {
            lines.push_back("outer returns 2");
        }
    }
    lines.push_back("cancel of the done task -> false, " + std::to_string(count));
    return lines;
}

/// The observed lines in the order of the model: the requests' answers come first in both
/// (the tasks run only when the harness awaits), then what the tasks saw.
Lines observe(const CancelScript& script) {
    auto seen = std::make_shared<Lines>();
    sim::SimLoop loop;
    loop.run_until_complete(cancel_harness(script, seen));
    loop.close();
    return *seen;
}

std::string joined(const Lines& lines) {
    std::string out;
    for (const std::string& line : lines)
        out += "  " + line + "\n";
    return out;
}

}  // namespace

TEST_CASE(
    "property: cancel() returns true and counts until done then false, uncancel() returns the new "
    "count, and the first cancel message reaches every awaiting task (CPython 3.13)") {
    CHECK(rc::check("cancel, uncancel and messages", [] {
        CancelScript script;
        script.depth = *rc::gen::inRange(0, 3);
        script.started = *rc::gen::weightedElement<bool>({{1, false}, {3, true}});
        script.reraise = *rc::gen::arbitrary<bool>();
        script.requests = *rc::gen::container<std::vector<bool>>(
            *rc::gen::inRange(0, 7), rc::gen::weightedElement<bool>({{1, false}, {2, true}}));
        RC_LOG() << script << "\n";
        const Lines expected = predict(script);
        const Lines observed = observe(script);
        RC_LOG() << "CPython 3.13 (model):\n"
                 << joined(expected) << "simrun:\n"
                 << joined(observed);
        const auto cancels = std::count(script.requests.begin(), script.requests.end(), true);
        const auto uncancels = static_cast<std::ptrdiff_t>(script.requests.size()) - cancels;
        RC_CLASSIFY(!script.started, "not started");
        RC_CLASSIFY(script.depth > 0, "through awaits (depth > 0)");
        RC_CLASSIFY(cancels == 0, "no cancel");
        RC_CLASSIFY(cancels >= 2, "repeated cancel");
        RC_CLASSIFY(uncancels > 0 && cancels > 0, "cancel and uncancel");
        // The last request of a task that never ran decides whether it runs (count back to 0).
        int count = 0;
        bool withdrawn = false;
        for (bool cancel : script.requests) {
            count = cancel ? count + 1 : std::max(count - 1, 0);
            withdrawn = withdrawn || (!cancel && count == 0 && cancels > 0);
        }
        RC_CLASSIFY(withdrawn, "uncancel() back to 0");
        RC_CLASSIFY(known_divergence, "known divergence: latest message delivered");
        RC_ASSERT(observed == expected);
    }));
}

namespace {

/// The programs of program.hpp with more cancel() calls where they matter (the plain programs
/// cancel a done child in under 1 % of the cases): after some spawn steps, the parent cancels
/// that child at once, once or twice (the second request finds it being cancelled), or awaits
/// it and then cancels it (done by then). The main task too: no model runs here. A quarter of
/// the tasks uncancel() and re-raise when cancelled.
rc::Gen<props::Program> programs_with_more_cancels() {
    return rc::gen::exec([] {
        props::Program program = *props::programs();
        for (props::TaskCode& task : program.tasks) {
            if (*rc::gen::weightedElement<bool>({{3, false}, {1, true}}))
                task.on_cancel = props::OnCancel::uncancel_and_reraise;
            std::vector<props::Step> steps;
            int spawned = 0;
            for (const props::Step& step : task.steps) {
                steps.push_back(step);
                if (step.kind != props::Step::Kind::spawn)
                    continue;
                props::Step extra = step;
                extra.target = spawned++;
                switch (*rc::gen::inRange(0, 4)) {
                    case 0:  // cancel twice
                        extra.kind = props::Step::Kind::cancel_child;
                        steps.push_back(extra);
                        steps.push_back(extra);
                        break;
                    case 1:  // await, then cancel the done child
                        extra.kind = props::Step::Kind::await_child;
                        steps.push_back(extra);
                        extra.kind = props::Step::Kind::cancel_child;
                        steps.push_back(extra);
                        break;
                    default:
                        break;
                }
            }
            task.steps = steps;
        }
        return program;
    });
}

}  // namespace

TEST_CASE(
    "property: cancel() and uncancel() inside random programs answer as CPython 3.13 (false on a "
    "done task, repeated requests counted, uncancel() returns the new count)") {
    CHECK(rc::check("cancel and uncancel in programs", [] {
        const props::Program program = *programs_with_more_cancels();
        const props::Observation observed = props::execute(program);
        for (const std::string& violation : observed.cancel_violations)
            RC_LOG() << violation << "\n";
        RC_CLASSIFY(observed.cancels_of_done_tasks > 0, "cancel() of a done task");
        RC_CLASSIFY(observed.cancels_of_cancelling > 0, "cancel() of a task being cancelled");
        RC_CLASSIFY(observed.uncancels > 0, "uncancel()");
        RC_ASSERT(observed.cancel_violations.empty());
    }));
}

// ---- timers with equal deadlines ----

namespace {

/// A timer of the script: scheduled in batch `batch` (batch b runs at b * 100 us) for the
/// absolute deadline `slot` * 250 us, by call_at or by call_later.
struct TimerSpec {
    int batch = 0;
    int slot = 1;
    bool later = false;
};

std::ostream& operator<<(std::ostream& out, const TimerSpec& spec) {
    return out << "{batch " << spec.batch << ", at " << 250 * spec.slot << " us"
               << (spec.later ? ", call_later}" : ", call_at}");
}

struct Fired {
    int id;
    Duration at;
};

}  // namespace

TEST_CASE(
    "property: timers with equal deadlines fire in scheduling order, or with shuffled ties in "
    "deadline order, each once and on time") {
    CHECK(rc::check("equal timers", [] {
        const bool shuffle = *rc::gen::arbitrary<bool>();
        const auto timers =
            *rc::gen::container<std::vector<TimerSpec>>(*rc::gen::inRange(1, 13), rc::gen::exec([] {
                TimerSpec spec;
                spec.batch = *rc::gen::inRange(0, 3);
                spec.slot = *rc::gen::inRange(1, 5);
                spec.later = *rc::gen::arbitrary<bool>();
                return spec;
            }));
        const auto choices =
            *rc::gen::container<std::vector<std::uint64_t>>(rc::gen::arbitrary<std::uint64_t>());
        sim::SimOptions options;
        options.shuffle_timer_ties = shuffle;
        options.choices = std::make_shared<sim::ScriptedChoices>(choices);
        sim::SimLoop loop(options);
        auto fired = std::make_shared<std::vector<Fired>>();
        // The ids in scheduling order: batch by batch, each batch in the script's order.
        std::vector<int> order;
        std::vector<Duration> deadline(timers.size());
        for (int batch = 0; batch < 3; ++batch) {
            for (std::size_t i = 0; i < timers.size(); ++i) {
                if (timers[i].batch == batch)
                    order.push_back(static_cast<int>(i));
            }
        }
        for (int batch = 0; batch < 3; ++batch) {
            loop.call_at(Duration(100us * batch), [&loop, &timers, &deadline, fired, batch] {
                for (std::size_t i = 0; i < timers.size(); ++i) {
                    if (timers[i].batch != batch)
                        continue;
                    const int id = static_cast<int>(i);
                    deadline[i] = 250us * timers[i].slot;
                    auto callback = [&loop, fired, id] { fired->push_back({id, loop.time()}); };
                    if (timers[i].later)
                        loop.call_later(deadline[i] - loop.time(), callback);
                    else
                        loop.call_at(deadline[i], callback);
                }
            });
        }
        loop.call_at(Duration(2ms), [&loop] { loop.stop(); });
        loop.run_forever();
        loop.close();
        std::ostringstream log;
        for (const Fired& f : *fired)
            log << " t" << f.id << "@" << sim::format_time(f.at);
        RC_LOG() << (shuffle ? "shuffled ties" : "ties in scheduling order")
                 << "; fired:" << log.str() << "\n";
        // Each timer once, on time, deadlines in order.
        RC_ASSERT(fired->size() == timers.size());
        std::vector<int> ids;
        for (std::size_t k = 0; k < fired->size(); ++k) {
            const Fired& f = (*fired)[k];
            ids.push_back(f.id);
            RC_ASSERT(f.at == deadline[static_cast<std::size_t>(f.id)]);
            if (k > 0)
                RC_ASSERT((*fired)[k - 1].at <= f.at);
        }
        std::vector<int> sorted_ids = ids;
        std::sort(sorted_ids.begin(), sorted_ids.end());
        for (std::size_t k = 0; k < sorted_ids.size(); ++k)
            RC_ASSERT(sorted_ids[k] == static_cast<int>(k));
        // Without shuffling: the scheduling order, stably sorted by deadline.
        std::vector<int> fifo = order;
        std::stable_sort(fifo.begin(), fifo.end(), [&](int a, int b) {
            return deadline[static_cast<std::size_t>(a)] < deadline[static_cast<std::size_t>(b)];
        });
        bool ties = false;
        for (std::size_t k = 1; k < fifo.size(); ++k) {
            ties = ties || deadline[static_cast<std::size_t>(fifo[k])] ==
                               deadline[static_cast<std::size_t>(fifo[k - 1])];
        }
        RC_CLASSIFY(shuffle, "shuffled");
        RC_CLASSIFY(ties, "equal deadlines");
        RC_CLASSIFY(shuffle && ids != fifo, "shuffled order differs from scheduling order");
        if (!shuffle)
            RC_ASSERT(ids == fifo);
    }));
}
