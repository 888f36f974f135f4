// simrun_diff_programs: the C++ half of the differential campaign against CPython 3.13
// (scripts/diff-cpython.sh, properties/cpython/diff_runner.py).
//
//   simrun_diff_programs generate SEED COUNT   random programs (the properties' generator)
//   simrun_diff_programs run                   programs read from stdin, one per line
//
// For each program it prints a block: "P <program>" (the plain format below), one line
// "E <virtual time in us> <event>" per event of simrun's run of it (Observation::events), and
// "." to end the block. The Python side runs the same program on CPython's asyncio.Runner in
// virtual time and compares the events.
//
// Program format (one line, tokens separated by spaces, every duration in microseconds):
//   workers=N ext=US|-1 sigints=US,US,... costs=US,... choices=N,N,...
//   T=on_cancel/cleanup/result/raise_at_end      starts a task (tasks[0] is main)
//   S=kind/duration/inner/target/target2/count/hangs   appends a step to the last task
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <rapidcheck.h>

#include "../generators.hpp"
#include "../program.hpp"

namespace {

using props::OnCancel;
using props::Program;
using props::Step;
using props::TaskCode;
using simrun::Duration;

const char* const on_cancel_names[] = {"propagate", "swallow_and_return", "raise_error",
                                       "uncancel_and_reraise", "cleanup_then_reraise"};
const char* const kind_names[] = {"sleep",       "yield",     "busy",         "spawn",
                                  "await_child", "gather",    "cancel_child", "raise",
                                  "executor",    "generator", "timeout",      "group"};

long long us(Duration d) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

Duration from_us(long long value) {
    return std::chrono::microseconds(value);
}

std::string format(const Program& program) {
    std::ostringstream out;
    out << "workers=" << program.workers
        << " ext=" << (program.external_cancel ? us(*program.external_cancel) : -1) << " sigints=";
    for (std::size_t i = 0; i < program.sigints.size(); ++i)
        out << (i ? "," : "") << us(program.sigints[i]);
    out << " costs=";
    for (std::size_t i = 0; i < program.job_costs.size(); ++i)
        out << (i ? "," : "") << us(program.job_costs[i]);
    out << " choices=";
    for (std::size_t i = 0; i < program.choices.size(); ++i)
        out << (i ? "," : "") << program.choices[i];
    for (const TaskCode& task : program.tasks) {
        out << " T=" << on_cancel_names[static_cast<int>(task.on_cancel)] << "/" << us(task.cleanup)
            << "/" << task.result << "/" << (task.raise_at_end ? 1 : 0);
        for (const Step& step : task.steps) {
            out << " S=" << kind_names[static_cast<int>(step.kind)] << "/" << us(step.duration)
                << "/" << us(step.inner) << "/" << step.target << "/" << step.target2 << "/"
                << step.count << "/" << (step.hangs ? 1 : 0);
        }
    }
    return out.str();
}

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(text);
    while (std::getline(in, part, separator))
        parts.push_back(part);
    return parts;
}

template <class Names>
int index_of(const Names& names, const std::string& name) {
    int i = 0;
    for (const char* candidate : names) {
        if (name == candidate)
            return i;
        ++i;
    }
    throw std::invalid_argument("unknown name: " + name);
}

Program parse(const std::string& line) {
    Program program;
    std::istringstream in(line);
    std::string token;
    while (in >> token) {
        const auto eq = token.find('=');
        if (eq == std::string::npos)
            throw std::invalid_argument("bad token: " + token);
        const std::string key = token.substr(0, eq);
        const std::string value = token.substr(eq + 1);
        if (key == "workers") {
            program.workers = std::stoi(value);
        } else if (key == "ext") {
            if (std::stoll(value) >= 0)
                program.external_cancel = from_us(std::stoll(value));
        } else if (key == "sigints") {
            for (const std::string& part : split(value, ','))
                program.sigints.push_back(from_us(std::stoll(part)));
        } else if (key == "costs") {
            for (const std::string& part : split(value, ','))
                program.job_costs.push_back(from_us(std::stoll(part)));
        } else if (key == "choices") {
            for (const std::string& part : split(value, ','))
                program.choices.push_back(std::stoull(part));
        } else if (key == "T") {
            const std::vector<std::string> f = split(value, '/');
            if (f.size() != 4)
                throw std::invalid_argument("bad task: " + value);
            TaskCode task;
            task.on_cancel = static_cast<OnCancel>(index_of(on_cancel_names, f[0]));
            task.cleanup = from_us(std::stoll(f[1]));
            task.result = std::stoi(f[2]);
            task.raise_at_end = f[3] == "1";
            program.tasks.push_back(task);
        } else if (key == "S") {
            const std::vector<std::string> f = split(value, '/');
            if (f.size() != 7 || program.tasks.empty())
                throw std::invalid_argument("bad step: " + value);
            Step step;
            step.kind = static_cast<Step::Kind>(index_of(kind_names, f[0]));
            step.duration = from_us(std::stoll(f[1]));
            step.inner = from_us(std::stoll(f[2]));
            step.target = std::stoi(f[3]);
            step.target2 = std::stoi(f[4]);
            step.count = std::stoi(f[5]);
            step.hangs = f[6] == "1";
            program.tasks.back().steps.push_back(step);
        } else {
            throw std::invalid_argument("unknown key: " + key);
        }
    }
    if (program.tasks.empty())
        throw std::invalid_argument("a program needs a main task");
    return program;
}

void run_and_print(Program program) {
    program.record_events = true;
    if (program.job_costs.empty())
        program.job_costs.push_back(std::chrono::milliseconds(1));
    const props::Observation observed = props::execute(program);
    std::string out = "P " + format(program) + "\n";
    for (const auto& [time, text] : observed.events)
        out += "E " + std::to_string(us(time)) + " " + text + "\n";
    out += ".\n";
    std::fputs(out.c_str(), stdout);
}

/// The properties' generator, with what the CPython side cannot reproduce taken out: SIGINTs
/// "during scheduling step N" (steps are simrun's own callbacks), and job durations drawn from
/// the choices (replaced by whole milliseconds drawn here, given to both sides).
Program generate(std::uint64_t seed, int index) {
    rc::Random random(seed * 1000003ULL + static_cast<std::uint64_t>(index));
    Program program = props::programs()(random, index % 101).value();
    program.sigint_steps.clear();
    std::mt19937_64 costs(seed ^ (0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(index + 1)));
    std::uniform_int_distribution<int> milliseconds(1, 2000);
    program.job_costs.clear();
    for (int i = 0; i < 16; ++i)
        program.job_costs.push_back(std::chrono::milliseconds(milliseconds(costs)));
    return program;
}

}  // namespace

int main(int argc, char** argv) {
    simrun::set_default_log_handler([](simrun::LogLevel, const std::string&) {});
    try {
        const std::string mode = argc > 1 ? argv[1] : "";
        if (mode == "generate" && argc == 4) {
            const std::uint64_t seed = std::strtoull(argv[2], nullptr, 10);
            const int count = std::atoi(argv[3]);
            for (int i = 0; i < count; ++i)
                run_and_print(generate(seed, i));
            return 0;
        }
        if (mode == "run" && argc == 2) {
            std::string line;
            while (std::getline(std::cin, line)) {
                if (!line.empty())
                    run_and_print(parse(line));
                std::fflush(stdout);
            }
            return 0;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "simrun_diff_programs: %s\n", e.what());
        return 2;
    }
    std::fprintf(stderr,
                 "usage: %s generate SEED COUNT | %s run  (programs on stdin, one per line)\n",
                 argv[0], argv[0]);
    return 2;
}
