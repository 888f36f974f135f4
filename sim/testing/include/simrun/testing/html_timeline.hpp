#pragma once
// A simulated run as a page anyone can open: one self-contained HTML file (inline CSS and
// JavaScript, no network access, no external fonts or scripts) that draws the same data as
// chrome_trace_json() on a canvas. A row per track (the loop's events, plain callbacks, each
// task), a box per step and a light bar while a task is suspended, markers for the loop's
// instant events (signals, network, executor jobs, time jumps, logs; signals and deadlock or
// livelock reports also cross every row), tick labels in virtual time, a tooltip (name, virtual
// time, step), zoom and pan (mouse wheel and drag, the toolbar's buttons, or the keys + - 0 and
// the arrows), a legend, a table of the tracks, and the last trace lines of the run below.
//
// The Chrome JSON is embedded in a <script type="application/json" id="trace-data"> element,
// with every '<' written as \u003c so that no text of the trace can end the element. Once
// drawn, the page sets <body data-rendered="N">, N the number of slices drawn, so that a script
// (scripts/check-timeline.sh, a headless browser) can tell it rendered. It draws up to the
// trace's kept entries (sim::Trace keeps the first 200 000); the list of last lines comes from
// Trace::last() and so shows the true end of a longer run.

#include <string>

#include "simrun/sim/loop/trace.hpp"

namespace simrun::testing {

/// Trace lines listed below the timeline (the failure's tail).
inline constexpr std::size_t html_timeline_tail = 40;

/// The HTML page of `trace` (see the file comment). `title` heads the page and names its
/// <title>; `failure`, if not empty, is shown under it (e.g. "ValueError: lost update") and
/// marked at the end of the run. Both are HTML-escaped.
std::string html_timeline(const sim::Trace& trace, const std::string& title,
                          const std::string& failure = {});

/// Writes html_timeline(trace, title, failure) to `path` (directories are created).
/// RuntimeError if the file cannot be written.
void write_html_timeline(const sim::Trace& trace, const std::string& path,
                         const std::string& title = "simrun", const std::string& failure = {});

}  // namespace simrun::testing
