#!/usr/bin/env python3
"""Builds the benchmark table from the result files scripts/bench.sh leaves in one directory:

    simrun.json asio.json libuv.json   Google Benchmark JSON (--benchmark_out), one entry per
                                       workload, implementation and repetition
    asyncio.jsonl                      peers/asyncio_bench.py, one object per line
    sleepers.jsonl                     the sleepers runs, one object per line and process
    net.jsonl                          the network runs (echo, idle connections), one object
                                       per line (bench/common/echo.hpp)
    meta.json                          machine, compilers, settings (from bench.sh)

    report.py RESULTS_DIR [--markdown]

Every cell is the median over the repetitions. Times are per operation (lower is better);
the rows marked "higher is better" are rates.
"""

import json
import math
import os
import statistics
import sys

IMPLEMENTATIONS = ["sim", "epoll", "asyncio", "asio", "libuv"]

# (key, metric, what, unit, higher_is_better)
ROWS = [
    ("callbacks", "ns_per_op", "call_soon callback, schedule + run", "ns", False),
    ("tasks", "ns_per_op", "task create + run + complete", "ns", False),
    ("sleep0", "ns_per_op", "sleep(0) round trip", "ns", False),
    ("yield_now", "ns_per_op", "yield_now() round trip (no frame)", "ns", False),
    ("timers_fire", "ns_per_op", "timer schedule + fire", "ns", False),
    ("timers_fire_shuffled_ties", "ns_per_op", "  same, sim with shuffled ties", "ns", False),
    ("timers_cancel", "ns_per_op", "timer schedule + cancel, 10k live", "ns", False),
    ("cancel_depth1", "ns_per_op", "cancel a task awaiting at depth 1", "ns", False),
    ("cancel_depth10", "ns_per_op", "cancel a task awaiting at depth 10", "ns", False),
    ("executor", "ns_per_op", "executor round trip (wall)", "ns", False),
    ("threadsafe", "ns_per_op", "call_soon_threadsafe wake-up (wall)", "ns", False),
    ("pending_memory", "bytes_per_task", "pending task: heap bytes, frame incl.", "B", False),
    ("pending_memory", "bookkeeping_bytes", "pending task: bytes beyond the frame", "B", False),
    ("sleepers", "seconds", "1M sleeping tasks: wall time", "s", False),
    ("sleepers", "cpu_seconds", "1M sleeping tasks: CPU time", "s", False),
    ("sleepers", "peak_rss_mb", "1M sleeping tasks: peak RSS", "MB", False),
    ("sim_speed", "virtual_seconds_per_second", "virtual s per second, timer-heavy", "x", True),
    ("random_programs", "per_second", "random programs per second", "1/s", True),
    ("echo", "messages_per_second", "echo 1k clients x 100: messages per second", "1/s", True),
    ("echo", "p99_us", "echo: p99 round trip (wall)", "us", False),
    ("echo", "p50_us", "echo: median round trip (wall)", "us", False),
    ("echo", "peak_rss_mb", "echo: peak RSS", "MB", False),
    ("idle_server", "heap_bytes_per_connection", "idle connection, server side: heap", "B", False),
    ("idle_server", "rss_bytes_per_connection", "idle connection, server side: RSS", "B", False),
    ("idle_client", "heap_bytes_per_connection", "idle connection, client side: heap", "B", False),
    ("idle_client", "rss_bytes_per_connection", "idle connection, client side: RSS", "B", False),
]


def load_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        text = handle.read()
    # A filter that matches none of a program's workloads leaves its file empty.
    return json.loads(text) if text.strip() else None


def load_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip().startswith("{")]


def collect(results_dir, clock="cpu"):
    """{(workload, implementation, metric): [values]}"""
    values = {}

    def add(workload, implementation, metric, value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return
        values.setdefault((workload, implementation, metric), []).append(float(value))

    for program in ("simrun", "asio", "libuv"):
        data = load_json(os.path.join(results_dir, program + ".json"))
        if not data:
            continue
        for entry in data.get("benchmarks", []):
            if entry.get("run_type") != "iteration" or entry.get("error_occurred"):
                continue
            workload, implementation = entry["run_name"].split("/")[:2]
            rate = entry.get("items_per_second")
            if rate:
                add(workload, implementation, "ns_per_op", 1e9 / rate)
                add(workload, implementation, "per_second", rate)
            for metric in ("bytes_per_task", "bookkeeping_bytes", "virtual_seconds_per_second"):
                if metric in entry:
                    add(workload, implementation, metric, entry[metric])

    for entry in load_lines(os.path.join(results_dir, "asyncio.jsonl")):
        workload, implementation = entry["name"].split("/")[:2]
        for metric in ("ns_per_op", "bytes_per_task", "bookkeeping_bytes"):
            if metric in entry:
                add(workload, implementation, metric, entry[metric])

    for entry in load_lines(os.path.join(results_dir, "sleepers.jsonl")):
        workload, implementation = entry["name"].split("/")[:2]
        add(workload, implementation, "seconds", entry.get("seconds"))
        add(workload, implementation, "cpu_seconds", entry.get("cpu_seconds"))
        add(workload, implementation, "peak_rss_mb", entry.get("peak_rss_bytes", 0) / 1e6)
    for entry in load_lines(os.path.join(results_dir, "net.jsonl")):
        workload, implementation = entry["name"].split("/")[:2]
        for metric in ("heap_bytes_per_connection", "rss_bytes_per_connection", "connections"):
            if metric in entry:
                add(workload, implementation, metric, entry[metric])
        if workload != "echo":
            continue
        # The rate by the table's clock; on a simulated network the messages are virtual and
        # only CPU time is real, whatever the clock.
        virtual = entry.get("clock") == "virtual"
        rate = "messages_per_cpu_second" if clock == "cpu" or virtual else "messages_per_second"
        add(workload, implementation, "messages_per_second", entry.get(rate))
        if not virtual:  # a simulated round trip takes the latency the network was given
            add(workload, implementation, "p50_us", entry.get("p50_us"))
            add(workload, implementation, "p99_us", entry.get("p99_us"))
        add(workload, implementation, "peak_rss_mb", entry.get("peak_rss_bytes", 0) / 1e6)
    return values


def number(value):
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator == 0:
        return "-"
    value = numerator / denominator
    return f"{value:.0f}x" if value >= 10 else f"{value:.2f}x"


def build_rows(values, sleepers, clock, echo_clients=1000, idle_connections=None):
    rows = []
    for key, metric, what, unit, higher in ROWS:
        what = what.replace("1M", f"{sleepers:,}" if sleepers != 1_000_000 else "1M")
        if echo_clients != 1000:
            what = what.replace("1k clients", f"{echo_clients:,} clients")
        if idle_connections:
            what = what.replace("idle connection,", f"{idle_connections:,} idle,")
        if higher:  # the rates are per second of the clock the workloads were timed with
            what = what.replace("per second", "per CPU s" if clock == "cpu" else "per wall s")
        medians = {}
        counts = []
        for implementation in IMPLEMENTATIONS:
            samples = values.get((key, implementation, metric))
            if samples:
                medians[implementation] = statistics.median(samples)
                counts.append(len(samples))
        if not medians:
            continue
        sim, epoll, asyncio = medians.get("sim"), medians.get("epoll"), medians.get("asyncio")
        peers = [medians[p] for p in ("asio", "libuv") if p in medians]
        best_peer = (max(peers) if higher else min(peers)) if peers else None
        cells = [what, unit + (" (higher is better)" if higher else "")]
        cells += [number(medians.get(implementation)) for implementation in IMPLEMENTATIONS]
        if higher:  # how many times the rate of asyncio; the best peer's rate over epoll's
            ratios = [ratio(epoll, asyncio), ratio(sim, asyncio), ratio(best_peer, epoll)]
            cells += [cell if cell != "-" else "" for cell in ratios]
        else:
            cells += [ratio(asyncio, epoll), ratio(asyncio, sim), ratio(epoll, best_peer)]
        cells.append(str(min(counts)) if min(counts) == max(counts)
                     else f"{min(counts)}-{max(counts)}")
        rows.append(cells)
    return rows


HEADER = ["workload", "unit", "simrun sim", "simrun epoll", "asyncio", "asio", "libuv",
          "asyncio/epoll", "asyncio/sim", "epoll/best C peer", "runs"]


def render_text(rows):
    widths = [max(len(row[i]) for row in rows + [HEADER]) for i in range(len(HEADER))]

    def line(cells):
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]))
        return "  ".join(out).rstrip()

    separator = "  ".join("-" * width for width in widths)
    return "\n".join([line(HEADER), separator] + [line(row) for row in rows])


def render_markdown(rows):
    out = ["| " + " | ".join(HEADER) + " |",
           "|" + "|".join(["---", "---"] + ["---:"] * (len(HEADER) - 2)) + "|"]
    out += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return "\n".join(out)


def describe(meta):
    if not meta:
        return ""
    lines = [
        f"date: {meta.get('date', '?')}   command: {meta.get('command', '?')}",
        f"machine: {meta.get('cpu', '?')}, {meta.get('nproc', '?')} CPUs, "
        f"load average {meta.get('load_before', '?')} before / {meta.get('load_after', '?')} after",
        f"compilers: {meta.get('cxx', '?')}; asyncio: {meta.get('python', '?')}; "
        f"Asio {meta.get('asio', '?')}; libuv {meta.get('libuv', '?')}; "
        f"Google Benchmark {meta.get('benchmark', '?')}",
        f"settings: {meta.get('repetitions', '?')} repetitions (sleepers: "
        f"{meta.get('sleeper_repetitions', '?')}, asyncio sleepers: "
        f"{meta.get('asyncio_sleeper_repetitions', '?')}), min time "
        f"{meta.get('min_time', '?')} s per repetition, clock: {meta.get('clock', '?')}",
        f"network: echo {meta.get('echo_clients', '?')} clients x {meta.get('echo_messages', '?')} "
        f"lines of 64 B, {meta.get('echo_repetitions', '?')} runs (one process each); "
        f"{meta.get('idle_connections', '?')} idle connections asked for, 1 run",
        "cells: medians. ns = nanoseconds per operation, lower is better (loop-thread CPU time",
        "unless marked wall, see bench/common/stopwatch.hpp); asyncio/x = how many times faster",
        "x is than asyncio; epoll/best C peer = simrun epoll's time over the best of Asio and",
        "libuv (1.00x or less: at least even); for the rates (higher is better) the same",
        "ratios compare rates. echo: messages per CPU s of the whole process (server and clients)",
        "unless clock is wall; the sim column is virtual messages per CPU s. idle: bytes per",
        "connection, heap = malloc's in-use bytes (asyncio: tracemalloc), RSS = growth.",
    ]
    return "\n".join(lines)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    results_dir = sys.argv[1]
    meta = load_json(os.path.join(results_dir, "meta.json"))
    meta = meta or {}
    clock = meta.get("clock", "cpu")
    values = collect(results_dir, clock)
    # The idle connections made (fewer than asked for under a low descriptor limit).
    idle = [value for (workload, _, metric), samples in values.items()
            if workload.startswith("idle_") and metric == "connections" for value in samples]
    rows = build_rows(values, meta.get("sleepers", 1_000_000), clock,
                      meta.get("echo_clients", 1000),
                      int(min(idle)) if idle else meta.get("idle_connections"))
    if not rows:
        print("no results in " + results_dir, file=sys.stderr)
        return 1
    table = render_markdown(rows) if "--markdown" in sys.argv else render_text(rows)
    print(describe(meta))
    print()
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
