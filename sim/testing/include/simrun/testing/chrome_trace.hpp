#pragma once
// A simulated run as a picture: the trace in the Chrome trace event format (JSON), which
// chrome://tracing and https://ui.perfetto.dev open. One track per task (a slice for each step it
// runs, a "suspended" slice while it awaits; the trace's "run" entries), a track for every other
// callback (the "call" entries: "sleep wake-up of worker-1", "main.cpp:12"), and the loop's own
// events (signals, executor jobs, network events, time jumps, logs, deadlock/livelock reports) as
// instant events on a "loop" track. Those that concern the whole run (a signal's arrival, a
// network fault such as a partition, the process ending, a deadlock or livelock report) are
// global instant events, drawn across every track. The time axis is virtual time; steps that run
// at the same virtual instant are drawn one microsecond apart (the exact virtual time and step
// are in each event's args).

#include <string>

#include "simrun/sim/loop/trace.hpp"

namespace simrun::testing {

/// The JSON text of `trace` (see the file comment). `title` names the process track.
std::string chrome_trace_json(const sim::Trace& trace, const std::string& title = "simrun");

/// Writes chrome_trace_json(trace, title) to `path` (directories are created). RuntimeError if
/// the file cannot be written.
void write_chrome_trace(const sim::Trace& trace, const std::string& path,
                        const std::string& title = "simrun");

}  // namespace simrun::testing
