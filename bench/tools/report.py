#!/usr/bin/env python3
"""Builds the benchmark table from the result files scripts/bench.sh leaves in one directory:

    simrun.json asio.json libuv.json   Google Benchmark JSON (--benchmark_out), one entry per
                                       workload, implementation and repetition
    asyncio.jsonl                      peers/asyncio_bench.py, one object per line
    sleepers.jsonl                     the sleepers runs, one object per line and process
    net.jsonl                          the network runs (echo, idle connections), one object
                                       per line (bench/common/echo.hpp)
    meta.json                          machine, compilers, settings (from bench.sh)

    report.py RESULTS_DIR [--markdown] [--targets]

Every cell is the median over the repetitions. Times are per operation (lower is better);
the rows marked "higher is better" are rates. After the table: the floors (simrun.json's
"floor_*/none" entries: a std::function call, a coroutine resume, a heap push + pop, ...,
measured in the same run; the table's floor columns set the relevant one beside each in-loop
row) and the targets (the performance issue's goals, each computed from this run and marked met
or not met; "-" where this run has no data for it). --targets prints the targets alone.
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


# The floors: (key, short name for the table's floor column, what is measured).
FLOORS = [
    ("floor_function_call", "fn", "std::function call, through an opaque pointer"),
    ("floor_coroutine_resume", "resume", "coroutine resume (co_await suspend_always)"),
    ("floor_heap_push_pop", "heap", "min-heap of 10k (deadline, seq, ptr): push + pop"),
    ("floor_malloc_free", "malloc", "malloc + free, 64 to 200 B"),
    ("floor_shared_ptr_make", "make_shared", "make_shared of 152 B + release"),
    ("floor_atomic_increment", "atomic", "atomic increment, uncontended"),
    ("floor_epoll_wait", "epoll_wait", "epoll_wait, zero timeout, empty set (a syscall)"),
    ("floor_exception", "throw", "C++ exception thrown and caught one call up"),
]

# The floor each in-loop row cannot go below: the one primitive its operation cannot do without.
ROW_FLOORS = {
    "callbacks": "floor_function_call",
    "tasks": "floor_coroutine_resume",
    "sleep0": "floor_coroutine_resume",
    "yield_now": "floor_coroutine_resume",
    "timers_fire": "floor_heap_push_pop",
    "timers_fire_shuffled_ties": "floor_heap_push_pop",
    "timers_cancel": "floor_heap_push_pop",
    "cancel_depth1": "floor_exception",
    "cancel_depth10": "floor_exception",
}

# The rows where the simulator should be at least as fast as the epoll loop.
IN_LOOP = ["callbacks", "tasks", "sleep0", "yield_now", "timers_fire", "timers_cancel",
           "cancel_depth1", "cancel_depth10"]

# How many times faster than asyncio the simulator should be: (key, at least).
ASYNCIO_TARGETS = [("callbacks", 30), ("tasks", 20), ("sleep0", 50), ("cancel_depth1", 1),
                   ("cancel_depth10", 2)]


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
    return f"{value:,.0f}x" if value >= 10 else f"{value:.2f}x"


def median(values, key, implementation, metric):
    samples = values.get((key, implementation, metric))
    return statistics.median(samples) if samples else None


def floor_cells(values, key, metric, sim, epoll):
    """The floor columns of a row: the floor's short name and time, sim and epoll over it."""
    floor_key = ROW_FLOORS.get(key) if metric == "ns_per_op" else None
    if floor_key is None:
        return ["", "", ""]
    short = next(name for k, name, _ in FLOORS if k == floor_key)
    floor = median(values, floor_key, "none", "ns_per_op")
    return [f"{short} {number(floor)}", ratio(sim, floor), ratio(epoll, floor)]


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
        cells += floor_cells(values, key, metric, sim, epoll)
        cells.append(str(min(counts)) if min(counts) == max(counts)
                     else f"{min(counts)}-{max(counts)}")
        rows.append(cells)
    return rows


def build_floor_rows(values):
    rows = []
    for key, short, what in FLOORS:
        samples = values.get((key, "none", "ns_per_op"))
        if samples:
            rows.append([short, what, number(statistics.median(samples)), str(len(samples))])
    return rows


def measured_text(value, unit):
    if value is None:
        return "-"
    if unit == "x":
        return f"{number(value)}x" if value >= 1000 else ratio(value, 1)
    return f"{number(value)} {unit}".rstrip()


def target_row(what, goal, measured, unit, passes, applies=True):
    """measured: [(label, value)], labelled when the target covers both loops; passes(value);
    applies: False where this run's figures are not the target's workload (judged n/a)."""
    cells = [f"{label} {measured_text(value, unit)}" if label else measured_text(value, unit)
             for label, value in measured]
    if any(value is None for _, value in measured):
        status = "-"
    elif not applies:
        status = "n/a (target is for 1M)"
    else:
        failed = [label for label, value in measured if not passes(value)]
        if not failed:
            status = "met"
        elif len(measured) > 1 and len(failed) < len(measured):
            status = "not met (" + ", ".join(failed) + ")"
        else:
            status = "not met"
    if all(value is None for _, value in measured):
        cells = ["-"]
    return [what, goal, ", ".join(cells), status]


def build_target_rows(values, sleepers, clock):
    def get(key, implementation, metric="ns_per_op"):
        return median(values, key, implementation, metric)

    def over(numerator, denominator):
        if numerator is None or denominator is None or denominator == 0:
            return None
        return numerator / denominator

    names = {key: what for key, metric, what, _, _ in ROWS if metric == "ns_per_op"}
    rows = []
    for key in IN_LOOP:
        rows.append(target_row(f"sim vs epoll: {names[key]}", "sim/epoll <= 1.00x",
                               [("", over(get(key, "sim"), get(key, "epoll")))], "x",
                               lambda value: value <= 1.0))
    for key, least in ASYNCIO_TARGETS:
        rows.append(target_row(f"sim vs asyncio: {names[key]}", f"asyncio/sim >= {least}x",
                               [("", over(get(key, "asyncio"), get(key, "sim")))], "x",
                               lambda value, least=least: value >= least))
    for key, most in (("timers_fire", 1), ("timers_cancel", 2)):
        rows.append(target_row(f"{names[key]}, against libuv", f"loop/libuv <= {most:.2f}x",
                               [(loop, over(get(key, loop), get(key, "libuv")))
                                for loop in ("sim", "epoll")], "x",
                               lambda value, most=most: value <= most))
    rows.append(target_row("pending task: bytes beyond the frame", "<= 256 B",
                           [(loop, get("pending_memory", loop, "bookkeeping_bytes"))
                            for loop in ("sim", "epoll")], "B", lambda value: value <= 256))
    # The absolute sleeper targets are for a million tasks; a run with another count (quick:
    # 100,000) shows its figures, but does not judge them.
    million = sleepers == 1_000_000
    count = "1M" if million else f"{sleepers:,}"
    rows.append(target_row(f"{count} sleeping tasks: sim wall time", "< 1.00 s",
                           [("", get("sleepers", "sim", "seconds"))], "s",
                           lambda value: value < 1.0, million))
    rows.append(target_row(f"{count} sleeping tasks: epoll wall time, against libuv",
                           "epoll/libuv <= 1.00x",
                           [("", over(get("sleepers", "epoll", "seconds"),
                                      get("sleepers", "libuv", "seconds")))], "x",
                           lambda value: value <= 1.0))
    rows.append(target_row(f"{count} sleeping tasks: peak RSS", "<= 500 MB",
                           [(loop, get("sleepers", loop, "peak_rss_mb"))
                            for loop in ("sim", "epoll")], "MB",
                           lambda value: value <= 500, million))
    per = "per CPU s" if clock == "cpu" else "per wall s"
    rows.append(target_row(f"random programs {per} (sim)", ">= 100,000",
                           [("", get("random_programs", "sim", "per_second"))], "",
                           lambda value: value >= 100_000))
    rows.append(target_row(f"virtual s {per}, timer-heavy (sim)", ">= 10,000",
                           [("", get("sim_speed", "sim", "virtual_seconds_per_second"))], "x",
                           lambda value: value >= 10_000))
    for key in ("threadsafe", "executor"):
        rows.append(target_row(f"{names[key]}, against Asio", "epoll/asio <= 1.00x",
                               [("", over(get(key, "epoll"), get(key, "asio")))], "x",
                               lambda value: value <= 1.0))
    return rows


HEADER = ["workload", "unit", "simrun sim", "simrun epoll", "asyncio", "asio", "libuv",
          "asyncio/epoll", "asyncio/sim", "epoll/best C peer", "floor ns", "sim/floor",
          "epoll/floor", "runs"]
FLOOR_HEADER = ["floor", "what (no loop; measured in the same run)", "ns", "runs"]
TARGET_HEADER = ["target", "goal", "measured", "status"]


def alignments(header, left):
    """The columns' alignments: `left` is the number of leading columns aligned left (the
    others right), or a string of "l" and "r", one per column."""
    return left if isinstance(left, str) else "l" * left + "r" * (len(header) - left)


def render_text(rows, header=HEADER, left=2):
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
    align = alignments(header, left)

    def line(cells):
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.ljust(widths[i]) if align[i] == "l" else cell.rjust(widths[i]))
        return "  ".join(out).rstrip()

    separator = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), separator] + [line(row) for row in rows])


def render_markdown(rows, header=HEADER, left=2):
    align = alignments(header, left)
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|"]
    out += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return "\n".join(out)


def summarize_targets(rows):
    met = sum(1 for row in rows if row[-1] == "met")
    judged = sum(1 for row in rows if row[-1] == "met" or row[-1].startswith("not met"))
    not_applicable = sum(1 for row in rows if row[-1].startswith("n/a"))
    return (f"targets met: {met} of {judged} judged; {not_applicable} n/a, "
            f"{len(rows) - judged - not_applicable} without data in this run")


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
        "floor ns: the primitive the row's operation cannot do without, timed alone in the same",
        "run (the floors below); sim/floor, epoll/floor: how far above that limit each loop is.",
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
    floor_rows = build_floor_rows(values)
    if not rows and not floor_rows:
        print("no results in " + results_dir, file=sys.stderr)
        return 1
    render = render_markdown if "--markdown" in sys.argv else render_text
    target_rows = build_target_rows(values, meta.get("sleepers", 1_000_000), clock)
    targets = "\n".join([render(target_rows, TARGET_HEADER, "llrl"), "",
                         summarize_targets(target_rows)])
    if "--targets" in sys.argv:
        print(targets)
        return 0
    print(describe(meta))
    if rows:
        print()
        print(render(rows))
    if floor_rows:
        print()
        print(render(floor_rows, FLOOR_HEADER, 2))
    print()
    print(targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
