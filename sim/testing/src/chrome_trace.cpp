// Chrome trace event JSON of a simulated run (see simrun/testing/chrome_trace.hpp).
#include "simrun/testing/chrome_trace.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "simrun/core/exceptions.hpp"

namespace simrun::testing {

namespace {

std::string json_string(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char escaped[8];
                    std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
                    out += escaped;
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

std::string number(double value) {
    char text[64];
    std::snprintf(text, sizeof text, "%.3f", value);
    return text;
}

/// Events that concern the whole run, drawn across every track ("s":"g"): a signal's arrival
/// (not the installation of a handler), the process ending, a deadlock or livelock report, and
/// the simulated network's faults.
bool is_global(const sim::TraceEntry& entry) {
    if (entry.kind == "process" || entry.kind == "deadlock" || entry.kind == "livelock")
        return true;
    if (entry.kind == "signal")
        return entry.text.find(" arrived") != std::string::npos ||
               entry.text.rfind("repeated ", 0) == 0;
    if (entry.kind == "net") {
        for (const char* fault : {"partition ", "repair ", "hold ", "release ", "crash ",
                                  "restart ", "reset ", "fault "})
            if (entry.text.rfind(fault, 0) == 0)
                return true;
    }
    return false;
}

constexpr int loop_track = 1;
constexpr int callback_track = 2;

}  // namespace

std::string chrome_trace_json(const sim::Trace& trace, const std::string& title) {
    std::ostringstream out;
    out << "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"title\":" << json_string(title)
        << ",\"entries\":" << trace.size() << ",\"kept\":" << trace.entries().size()
        << "},\"traceEvents\":[\n";
    bool first_event = true;
    const auto emit = [&](const std::string& event) {
        out << (first_event ? "" : ",\n") << event;
        first_event = false;
    };
    const auto thread_name = [&](int tid, const std::string& name) {
        emit("{\"ph\":\"M\",\"pid\":1,\"tid\":" + std::to_string(tid) +
             ",\"name\":\"thread_name\",\"args\":{\"name\":" + json_string(name) + "}}");
        emit("{\"ph\":\"M\",\"pid\":1,\"tid\":" + std::to_string(tid) +
             ",\"name\":\"thread_sort_index\",\"args\":{\"sort_index\":" + std::to_string(tid) +
             "}}");
    };
    emit("{\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\",\"args\":{\"name\":" +
         json_string(title) + "}}");
    thread_name(loop_track, "loop (signals, executor, time)");
    thread_name(callback_track, "callbacks");

    std::map<std::string, int> tracks;      // task name -> tid
    std::map<int, double> suspended_since;  // tid -> end of its last step
    int next_track = callback_track + 1;
    double cursor = -1.0;  // the last event's display time (us)
    for (const sim::TraceEntry& entry : trace.entries()) {
        const double virtual_us =
            static_cast<double>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(entry.time).count()) /
            1000.0;
        const double ts = std::max(virtual_us, cursor + 1.0);
        cursor = ts;
        const std::string args = "{\"t\":" + json_string(sim::format_time(entry.time)) +
                                 ",\"step\":" + std::to_string(entry.step) + "}";
        // "run": a task's step, on the task's own track; "call": any other callback.
        if (entry.kind == "run" || entry.kind == "call") {
            int tid = callback_track;
            if (entry.kind == "run") {
                auto [found, added] = tracks.try_emplace(entry.text, next_track);
                if (added)
                    thread_name(next_track++, entry.text);
                tid = found->second;
                auto since = suspended_since.find(tid);
                if (since != suspended_since.end() && ts > since->second)
                    emit("{\"ph\":\"X\",\"pid\":1,\"tid\":" + std::to_string(tid) +
                         ",\"name\":\"suspended\",\"cat\":\"await\",\"ts\":" +
                         number(since->second) + ",\"dur\":" + number(ts - since->second) +
                         ",\"args\":" + args + "}");
                suspended_since[tid] = ts + 1.0;
            }
            emit("{\"ph\":\"X\",\"pid\":1,\"tid\":" + std::to_string(tid) +
                 ",\"name\":" + json_string(tid == callback_track ? entry.text : "step") +
                 ",\"cat\":\"step\",\"ts\":" + number(ts) + ",\"dur\":1,\"args\":" + args + "}");
            cursor = ts + 1.0;
        } else {
            const bool global = is_global(entry);
            emit("{\"ph\":\"i\",\"pid\":1,\"tid\":" + std::to_string(loop_track) +
                 ",\"name\":" + json_string(entry.kind + ": " + entry.text) +
                 ",\"cat\":" + json_string(entry.kind) + ",\"s\":\"" + (global ? "g" : "t") +
                 "\",\"ts\":" + number(ts) + ",\"args\":" + args + "}");
        }
    }
    out << "\n]}\n";
    return out.str();
}

void write_chrome_trace(const sim::Trace& trace, const std::string& path,
                        const std::string& title) {
    const std::filesystem::path file(path);
    std::error_code error;
    if (file.has_parent_path())
        std::filesystem::create_directories(file.parent_path(), error);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << chrome_trace_json(trace, title);
    out.close();
    if (!out)
        throw RuntimeError("cannot write the trace to '" + path + "'");
}

}  // namespace simrun::testing
