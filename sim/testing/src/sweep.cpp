// Seed sweeps (see simrun/testing/sweep.hpp).
#include "simrun/testing/sweep.hpp"

#include <cxxabi.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <typeinfo>

#include "simrun/core/exceptions.hpp"
#include "simrun/core/runner.hpp"
#include "simrun/testing/chrome_trace.hpp"
#include "simrun/testing/html_timeline.hpp"
#include "simrun/testing/real_time_guard.hpp"

namespace simrun::testing {

namespace {

std::optional<std::string> env(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0')
        return std::nullopt;
    return std::string(value);
}

/// `text` as a number; ValueError "<variable> must be <expected>, got '<whole>'" if it is not.
std::uint64_t parse_number(const std::string& text, const char* variable, const char* expected,
                           const std::string& whole) {
    std::uint64_t value = 0;
    const char* end = text.data() + text.size();
    auto [stop, error] = std::from_chars(text.data(), end, value);
    if (text.empty() || error != std::errc() || stop != end)
        throw ValueError(std::string(variable) + " must be " + expected + ", got '" + whole + "'");
    return value;
}

std::optional<std::uint64_t> env_number(const char* variable) {
    std::optional<std::string> text = env(variable);
    if (!text)
        return std::nullopt;
    return parse_number(*text, variable, "a non-negative integer", *text);
}

bool env_flag(const char* variable) {
    std::optional<std::string> text = env(variable);
    return text && *text != "0";
}

std::string demangled(const char* name) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> text(
        abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
    return status == 0 && text ? std::string(text.get()) : std::string(name);
}

/// The test name as a doctest-free, shell-safe file name part.
std::string file_part(const std::string& name) {
    std::string part;
    for (char c : name) {
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '_';
        part += plain ? c : '_';
        if (part.size() == 80)
            break;
    }
    return part.empty() ? std::string("test") : part;
}

std::string replay_line(std::uint64_t seed, bool determinism, const SweepHooks& hooks) {
    std::string line = "SIMRUN_SEED=" + std::to_string(seed) + " ";
    if (determinism)
        line += "SIMRUN_CHECK_DETERMINISM=1 ";
    line += program_name();
    if (!hooks.replay_arguments.empty())
        line += " " + hooks.replay_arguments;
    return line;
}

}  // namespace

sim::SimOptions sim_options(const SimTestOptions& options, std::uint64_t seed) {
    sim::SimOptions sim;
    sim.seed = seed;
    sim.executor = options.executor;
    sim.max_timer_lateness = options.max_timer_lateness;
    sim.shuffle_timer_ties = options.shuffle_timer_ties;
    sim.time_limit = options.time_limit;
    sim.step_limit = options.step_limit;
    if (options.choices)
        sim.choices = options.choices(seed);
    return sim;
}

std::vector<std::uint64_t> SeedPlan::seeds() const {
    if (replay)
        return {*replay};
    std::vector<std::uint64_t> list;
    for (std::uint64_t position = shard; position < count; position += shards)
        list.push_back(first + position);
    return list;
}

SeedPlan seed_plan(const SimTestOptions& options) {
    SeedPlan plan;
    plan.first = env_number("SIMRUN_FIRST_SEED").value_or(options.first_seed);
    plan.count = env_number("SIMRUN_SEEDS").value_or(options.seeds);
    plan.replay = env_number("SIMRUN_SEED");
    if (std::optional<std::string> shard = env("SIMRUN_SHARD")) {
        const std::size_t slash = shard->find('/');
        const char* expected = "i/n with 0 <= i < n";
        if (slash == std::string::npos)
            throw ValueError("SIMRUN_SHARD must be " + std::string(expected) + ", got '" + *shard +
                             "'");
        plan.shard = parse_number(shard->substr(0, slash), "SIMRUN_SHARD", expected, *shard);
        plan.shards = parse_number(shard->substr(slash + 1), "SIMRUN_SHARD", expected, *shard);
        if (plan.shards == 0 || plan.shard >= plan.shards)
            throw ValueError("SIMRUN_SHARD must be " + std::string(expected) + ", got '" + *shard +
                             "'");
    }
    return plan;
}

std::string describe(const std::exception_ptr& error) {
    if (!error)
        return "no error";
    try {
        std::rethrow_exception(error);
    } catch (const BaseException& e) {
        const std::string text = e.what();
        return std::string(e.type_name()) + (text.empty() ? "" : ": " + text);
    } catch (const std::exception& e) {
        std::string type = demangled(typeid(e).name());
        for (const char* prefix : {"simrun::sim::", "simrun::"})
            if (type.rfind(prefix, 0) == 0) {
                type.erase(0, std::string(prefix).size());
                break;
            }
        return type + ": " + e.what();
    } catch (...) {
        return "an exception of a type the kit does not know";
    }
}

std::string program_name() {
    std::ifstream cmdline("/proc/self/cmdline", std::ios::binary);
    std::string argv0;
    if (cmdline && std::getline(cmdline, argv0, '\0') && !argv0.empty())
        return argv0;
    return "<test program>";
}

SeedRun run_seed(const SimTestOptions& options, std::uint64_t seed, const TestBody& body) {
    SeedRun out;
    out.loop = std::make_shared<sim::SimLoop>(sim_options(options, seed));
    std::shared_ptr<sim::SimLoop> loop = out.loop;
    std::optional<RealTimeGuard> guard;
    try {
        if (options.setup)
            options.setup(*loop, seed);
        if (options.guard_real_time)
            guard.emplace(*loop);
        Runner runner(RunnerOptions{.loop_factory = [loop] { return loop; }});
        try {
            // No creation site: the trace says "Task-1 (sim_test_body_17())", the test's body,
            // not the line of the kit that started it.
            runner.run(body(), SourceLocation{});
        } catch (...) {
            out.error = std::current_exception();
            out.failed_at = loop->trace().size();
        }
        try {
            runner.close();
        } catch (...) {
            if (!out.error)
                out.error = std::current_exception();
        }
        if (!loop->is_closed() && !loop->is_running()) {
            try {
                loop->close();  // the clean-up failed (a limit, a terminated process)
            } catch (...) {
            }
        }
    } catch (...) {
        if (!out.error)
            out.error = std::current_exception();
    }
    if (out.error && options.allow_keyboard_interrupt) {
        try {
            std::rethrow_exception(out.error);
        } catch (const KeyboardInterrupt&) {
            out.error = nullptr;
        } catch (...) {
        }
    }
    if (guard) {
        out.leaks = guard->reports();
        if (guard->count() > guard->reports().size())
            out.leaks.push_back("... and " +
                                std::to_string(guard->count() - guard->reports().size()) + " more");
    }
    return out;
}

std::optional<Divergence> compare_traces(const sim::Trace& first, const sim::Trace& second) {
    const auto& a = first.entries();
    const auto& b = second.entries();
    const std::size_t common = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < common; ++i) {
        if (a[i].step != b[i].step || a[i].time != b[i].time || a[i].kind != b[i].kind ||
            a[i].text != b[i].text)
            return Divergence{i, sim::Trace::format_entry(a[i]), sim::Trace::format_entry(b[i])};
    }
    if (a.size() != b.size()) {
        const std::string ended = "(trace ended)";
        return Divergence{common, a.size() > common ? sim::Trace::format_entry(a[common]) : ended,
                          b.size() > common ? sim::Trace::format_entry(b[common]) : ended};
    }
    if (first.size() != second.size() || first.digest() != second.digest()) {
        const auto digest = [](const sim::Trace& t) {
            std::ostringstream text;
            text << "(entries past the kept ones differ: " << t.size() << " entries, digest "
                 << std::hex << t.digest() << ")";
            return text.str();
        };
        return Divergence{common, digest(first), digest(second)};
    }
    return std::nullopt;
}

std::optional<Divergence> check_determinism(const SimTestOptions& options, std::uint64_t seed,
                                            const TestBody& body) {
    SeedRun first = run_seed(options, seed, body);
    SeedRun second = run_seed(options, seed, body);
    return compare_traces(first.loop->trace(), second.loop->trace());
}

SweepReport run_seeds(const std::string& test_name, const SimTestOptions& options,
                      const TestBody& body, const SweepHooks& hooks) {
    const SeedPlan plan = seed_plan(options);
    const bool determinism = options.check_determinism || env_flag("SIMRUN_CHECK_DETERMINISM");
    const std::optional<std::string> trace_dir = env("SIMRUN_TRACE_DIR");
    SweepReport report;
    for (std::uint64_t seed : plan.seeds()) {
        const std::uint64_t failed_before = hooks.failed_assertions ? hooks.failed_assertions() : 0;
        SeedRun run;
        std::optional<Divergence> divergence;
        const std::function<void()> one = [&] {
            run = run_seed(options, seed, body);
            if (determinism && !run.error && run.leaks.empty()) {
                SeedRun again = run_seed(options, seed, body);
                divergence = compare_traces(run.loop->trace(), again.loop->trace());
            }
        };
        if (hooks.around_seed)
            hooks.around_seed(seed, one);
        else
            one();
        ++report.seeds_run;

        std::string reason;
        std::vector<std::string> details;
        if (hooks.failed_assertions && hooks.failed_assertions() > failed_before) {
            reason = "assertion failed (see above)";
        } else if (run.error) {
            reason = describe(run.error);
        } else if (!run.leaks.empty()) {
            reason = "real time leaked into the simulation: " + run.leaks.front();
            details.assign(run.leaks.begin() + 1, run.leaks.end());
        } else if (divergence) {
            reason =
                "the simulation is not deterministic: two runs of the seed differ at trace "
                "entry #" +
                std::to_string(divergence->index);
            details.push_back("first run:  " + divergence->first);
            details.push_back("second run: " + divergence->second);
        }
        if (reason.empty() || !run.loop)
            continue;

        report.passed = false;
        report.failing_seed = seed;
        report.reason = reason;
        report.replay = replay_line(seed, determinism, hooks);
        const sim::Trace& trace = run.loop->trace();
        // The lines that led to the failure, not the Runner's clean-up after it; none if the
        // error (a deadlock or livelock report) lists the last lines itself.
        bool lists_its_own_lines = false;
        try {
            if (run.error)
                std::rethrow_exception(run.error);
        } catch (const sim::DeadlockError&) {
            lists_its_own_lines = true;
        } catch (const sim::LivelockError&) {
            lists_its_own_lines = true;
        } catch (...) {
        }
        std::string tail_title;
        const auto& kept = trace.entries();
        if (lists_its_own_lines) {
            // the error's message has them
        } else if (run.failed_at > 0 && run.failed_at <= kept.size() &&
                   run.failed_at < trace.size()) {
            const std::size_t end = static_cast<std::size_t>(run.failed_at);
            const std::size_t begin = end > options.trace_tail ? end - options.trace_tail : 0;
            for (std::size_t i = begin; i < end; ++i)
                report.trace_tail.push_back(sim::Trace::format_entry(kept[i]));
            tail_title = "trace entries " + std::to_string(begin + 1) + " to " +
                         std::to_string(end) + " of " + std::to_string(trace.size()) +
                         ", up to the failure (the Runner's clean-up follows)";
        } else {
            for (const sim::TraceEntry& entry : trace.last(options.trace_tail))
                report.trace_tail.push_back(sim::Trace::format_entry(entry));
            tail_title = "last " + std::to_string(report.trace_tail.size()) + " of " +
                         std::to_string(trace.size()) + " trace entries";
        }
        std::string trace_note;
        if (trace_dir) {
            const std::string stem =
                *trace_dir + "/" + file_part(test_name) + "-seed-" + std::to_string(seed);
            const std::string title = test_name + " (seed " + std::to_string(seed) + ")";
            const auto write = [&](std::string& file, const std::string& path, const char* label,
                                   const auto& writer) {
                try {
                    writer(path);
                    file = path;
                } catch (const std::exception& error) {
                    trace_note += std::string(label) + "not written: " + error.what() + "\n";
                } catch (const BaseException& error) {
                    trace_note += std::string(label) + "not written: " + error.what() + "\n";
                }
            };
            write(report.trace_file, stem + ".json", "  trace:  ", [&](const std::string& path) {
                write_chrome_trace(trace, path, title);
            });
            if (!report.trace_file.empty())
                trace_note +=
                    "  trace:  " + report.trace_file + " (open in https://ui.perfetto.dev)\n";
            write(report.timeline_file, stem + ".html", "  html:   ", [&](const std::string& path) {
                write_html_timeline(trace, path, title, reason);
            });
            if (!report.timeline_file.empty())
                trace_note +=
                    "  html:   " + report.timeline_file + " (a timeline: open in a web browser)\n";
        } else {
            trace_note =
                "  trace:  set SIMRUN_TRACE_DIR=<dir> to get it as Chrome trace JSON and an HTML "
                "timeline\n";
        }

        std::string& m = report.message;
        m = "simrun: \"" + test_name + "\" failed with seed " + std::to_string(seed) + " (" +
            std::to_string(report.seeds_run) + (report.seeds_run == 1 ? " seed" : " seeds") +
            " run): " + reason + "\n";
        for (const std::string& line : details)
            m += "  " + line + "\n";
        m += "  replay: " + report.replay + "\n";
        m += trace_note;
        if (!tail_title.empty())
            m += "  " + tail_title + ":\n";
        for (const std::string& line : report.trace_tail)
            m += "    " + line + "\n";
        break;
    }
    return report;
}

}  // namespace simrun::testing
