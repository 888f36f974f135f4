#!/usr/bin/env bash
# Benchmarks simrun (simulator and epoll loop) against CPython asyncio, Asio and libuv on the same
# workloads (bench/common/workloads.hpp) and prints one table of medians (bench/tools/report.py),
# then the floors (simrun_bench's "floor_*" benchmarks: a std::function call, a coroutine resume, a
# heap push + pop, ..., timed in the same run) and the performance targets, each marked met or not.
# docs/performance.md holds the last table with the machine it ran on.
#
#   scripts/bench.sh                      # everything: 5 repetitions, 1 run of the sleepers
#   BENCH_QUICK=1 scripts/bench.sh        # a smoke run: 1 repetition, short timings, 100k sleepers
#
# Env: BENCH_REPETITIONS (default 5), BENCH_MIN_TIME (seconds per workload and repetition,
#      default 0.1), BENCH_SLEEPERS (default 1000000), BENCH_SLEEPER_REPETITIONS (default 1: a
#      million sleepers take 4 to 80 seconds per implementation on a 2-core machine),
#      BENCH_ASYNCIO_SLEEPER_REPETITIONS (default: as BENCH_SLEEPER_REPETITIONS),
#      BENCH_CLOCK=wall (time everything by wall clock; default: the loop thread's CPU time where
#      the workload runs on one thread), BENCH_PYTHON (default: pyenv's newest 3.13 if installed,
#      else python3), BENCH_FILTER (a regex for Google Benchmark; a substring for asyncio),
#      SIMRUN_JOBS (build parallelism, default 2), BENCH_ECHO_CLIENTS (default 1000; quick: 200),
#      BENCH_ECHO_MESSAGES (default 100), BENCH_ECHO_REPETITIONS (default: BENCH_REPETITIONS),
#      BENCH_IDLE_CONNECTIONS (default 10000, fewer if the descriptor limit is lower; quick: 1000).
#      The floors run whatever BENCH_FILTER says (a few seconds).
# Results (JSON) and the tables stay in build/bench/results/ (table.txt, table.md: everything;
# targets.txt, targets.md: the targets alone).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

simrun_ensure_packages cmake ninja-build g++ python3 libbenchmark-dev libasio-dev libuv1-dev \
    librapidcheck-dev

QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
    REPETITIONS=${BENCH_REPETITIONS:-1}
    MIN_TIME=${BENCH_MIN_TIME:-0.02}
    SLEEPERS=${BENCH_SLEEPERS:-100000}
    SLEEPER_REPETITIONS=${BENCH_SLEEPER_REPETITIONS:-1}
    ECHO_CLIENTS=${BENCH_ECHO_CLIENTS:-200}
    IDLE_CONNECTIONS=${BENCH_IDLE_CONNECTIONS:-1000}
else
    REPETITIONS=${BENCH_REPETITIONS:-5}
    MIN_TIME=${BENCH_MIN_TIME:-0.1}
    SLEEPERS=${BENCH_SLEEPERS:-1000000}
    SLEEPER_REPETITIONS=${BENCH_SLEEPER_REPETITIONS:-1}
    ECHO_CLIENTS=${BENCH_ECHO_CLIENTS:-1000}
    IDLE_CONNECTIONS=${BENCH_IDLE_CONNECTIONS:-10000}
fi
ECHO_MESSAGES=${BENCH_ECHO_MESSAGES:-100}
ECHO_REPETITIONS=${BENCH_ECHO_REPETITIONS:-$REPETITIONS}
ASYNCIO_SLEEPER_REPETITIONS=${BENCH_ASYNCIO_SLEEPER_REPETITIONS:-$SLEEPER_REPETITIONS}
FILTER=${BENCH_FILTER:-}
JOBS=${SIMRUN_JOBS:-2}
BUILD=$ROOT/build/bench
RESULTS=$BUILD/results

# ---------------------------------------------------------------------------
# Build: Release at -O2 with g++. No -Werror: g++ 12 gives false positives inside libstdc++ at
# high optimisation (the warning-clean check is test.sh's business).
# ---------------------------------------------------------------------------
declare -a GEN_ARGS
simrun_generator_args GEN_ARGS
simrun_reset_stale_build_dir "$BUILD" "${GEN_ARGS[1]}" g++
simrun_log "configure $BUILD (g++, Release, -O2)"
mkdir -p "$BUILD"
if ! cmake -S "$ROOT" -B "$BUILD" "${GEN_ARGS[@]}" \
    -DCMAKE_CXX_COMPILER=g++ \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DSIMRUN_WARNINGS_AS_ERRORS=OFF \
    -DSIMRUN_BUILD_TESTS=OFF \
    -DSIMRUN_BUILD_EXAMPLES=OFF \
    -DSIMRUN_INSTALL=OFF \
    -DSIMRUN_BUILD_BENCHMARKS=ON >"$BUILD/configure.log" 2>&1; then
    tail -30 "$BUILD/configure.log"
    exit 2
fi
simrun_log "build simrun_bench asio_bench libuv_bench simrun_net_bench asio_net_bench (-j$JOBS)"
if ! cmake --build "$BUILD" --parallel "$JOBS" --target simrun_bench asio_bench libuv_bench \
    simrun_net_bench asio_net_bench >"$BUILD/build.log" 2>&1; then
    tail -40 "$BUILD/build.log"
    exit 2
fi
BIN=$BUILD/bench

# ---------------------------------------------------------------------------
# The asyncio peer's interpreter: BENCH_PYTHON, else pyenv's newest 3.13, else python3.
# ---------------------------------------------------------------------------
PYTHON=${BENCH_PYTHON:-}
if [[ -z $PYTHON ]]; then
    pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
    candidate=$(find "$pyenv_root/versions" -maxdepth 3 -path '*/3.13*/bin/python3' 2>/dev/null |
        sort -V | tail -1 || true)
    PYTHON=${candidate:-python3}
fi

# ---------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
LOG=$RESULTS/console.log

load() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_BEFORE=$(load)

GB_FLAGS=(
    --benchmark_repetitions="$REPETITIONS"
    --benchmark_min_time="$MIN_TIME"
    --benchmark_enable_random_interleaving=true
    --benchmark_out_format=json
)

# Warnings about the Debian library's build type go to the console log with the rest.
for program in simrun asio libuv; do
    simrun_log "run ${program}_bench ($REPETITIONS repetitions, min time ${MIN_TIME}s)"
    filter=()
    if [[ -n $FILTER && $program == simrun ]]; then
        filter=(--benchmark_filter="($FILTER)|^floor_")  # the floors, for the rows that run
    elif [[ -n $FILTER ]]; then
        filter=(--benchmark_filter="$FILTER")
    fi
    if ! "$BIN/${program}_bench" "${GB_FLAGS[@]}" "${filter[@]}" \
        --benchmark_out="$RESULTS/$program.json" >>"$LOG" 2>&1; then
        tail -20 "$LOG"
        exit 1
    fi
done

simrun_log "run asyncio ($("$PYTHON" --version 2>&1))"
"$PYTHON" "$ROOT/bench/peers/asyncio_bench.py" --repetitions="$REPETITIONS" \
    --min-time="$MIN_TIME" --filter="$FILTER" >"$RESULTS/asyncio.jsonl" 2>>"$LOG"

# The sleepers: one process per run, so that the peak RSS is that workload's alone.
LOOPS=$("$BIN/simrun_bench" --list-loops)
if [[ -z $FILTER || sleepers =~ $FILTER ]]; then
    for ((run = 1; run <= SLEEPER_REPETITIONS; ++run)); do
        simrun_log "sleepers: $SLEEPERS tasks, run $run of $SLEEPER_REPETITIONS"
        for loop in $LOOPS; do
            "$BIN/simrun_bench" --sleepers="$SLEEPERS" --loop="$loop" >>"$RESULTS/sleepers.jsonl"
        done
        "$BIN/asio_bench" --sleepers="$SLEEPERS" >>"$RESULTS/sleepers.jsonl"
        "$BIN/libuv_bench" --sleepers="$SLEEPERS" >>"$RESULTS/sleepers.jsonl"
        if ((run <= ASYNCIO_SLEEPER_REPETITIONS)); then
            "$PYTHON" "$ROOT/bench/peers/asyncio_bench.py" --sleepers="$SLEEPERS" \
                >>"$RESULTS/sleepers.jsonl"
        fi
    done
fi

# The network workloads (bench/common/echo.hpp): one process per run, as the sleepers. The
# simulated network's echo row appears when simrun_net_bench lists the "sim" loop.
NET_LOOPS=$("$BIN/simrun_net_bench" --list-loops)
if [[ -z $FILTER || echo =~ $FILTER ]]; then
    for ((run = 1; run <= ECHO_REPETITIONS; ++run)); do
        simrun_log "echo: $ECHO_CLIENTS clients x $ECHO_MESSAGES lines, run $run of $ECHO_REPETITIONS"
        echo_args=(--clients="$ECHO_CLIENTS" --messages="$ECHO_MESSAGES")
        for loop in $NET_LOOPS; do
            "$BIN/simrun_net_bench" --echo --loop="$loop" "${echo_args[@]}" >>"$RESULTS/net.jsonl"
        done
        "$BIN/asio_net_bench" --echo "${echo_args[@]}" >>"$RESULTS/net.jsonl"
        "$PYTHON" "$ROOT/bench/peers/asyncio_net_bench.py" --echo "${echo_args[@]}" \
            >>"$RESULTS/net.jsonl"
    done
fi
if [[ -z $FILTER || idle =~ $FILTER ]]; then
    simrun_log "idle connections: $IDLE_CONNECTIONS"
    for side in server client; do
        "$BIN/simrun_net_bench" --idle="$IDLE_CONNECTIONS" --side=$side >>"$RESULTS/net.jsonl"
    done
    "$BIN/asio_net_bench" --idle="$IDLE_CONNECTIONS" >>"$RESULTS/net.jsonl"
    "$PYTHON" "$ROOT/bench/peers/asyncio_net_bench.py" --idle="$IDLE_CONNECTIONS" \
        >>"$RESULTS/net.jsonl"
fi

# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------
first_line() { "$@" 2>&1 | head -1; }
json_string() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"; }
command="scripts/bench.sh"
[[ $QUICK == 1 ]] && command="BENCH_QUICK=1 $command"
[[ -n ${BENCH_REPETITIONS:-} ]] && command="BENCH_REPETITIONS=$BENCH_REPETITIONS $command"
[[ -n $FILTER ]] && command="BENCH_FILTER='$FILTER' $command"
cat >"$RESULTS/meta.json" <<EOF
{
  "date": $(json_string "$(date -u '+%Y-%m-%d %H:%M UTC')"),
  "command": $(json_string "$command"),
  "cpu": $(json_string "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"),
  "nproc": $(nproc),
  "load_before": $(json_string "$LOAD_BEFORE"),
  "load_after": $(json_string "$(load)"),
  "cxx": $(json_string "$(first_line g++ --version), -O2"),
  "python": $(json_string "$(first_line "$PYTHON" --version)"),
  "asio": $(json_string "$(dpkg-query -W -f='${Version}' libasio-dev 2>/dev/null || echo '?')"),
  "libuv": $(json_string "$(dpkg-query -W -f='${Version}' libuv1-dev 2>/dev/null || echo '?')"),
  "benchmark": $(json_string "$(dpkg-query -W -f='${Version}' libbenchmark-dev 2>/dev/null || echo '?')"),
  "repetitions": $REPETITIONS,
  "sleeper_repetitions": $SLEEPER_REPETITIONS,
  "asyncio_sleeper_repetitions": $ASYNCIO_SLEEPER_REPETITIONS,
  "sleepers": $SLEEPERS,
  "min_time": $MIN_TIME,
  "echo_clients": $ECHO_CLIENTS,
  "echo_messages": $ECHO_MESSAGES,
  "echo_repetitions": $ECHO_REPETITIONS,
  "idle_connections": $IDLE_CONNECTIONS,
  "clock": $(json_string "${BENCH_CLOCK:-cpu}")
}
EOF
python3 "$ROOT/bench/tools/report.py" "$RESULTS" | tee "$RESULTS/table.txt"
python3 "$ROOT/bench/tools/report.py" "$RESULTS" --markdown >"$RESULTS/table.md"
python3 "$ROOT/bench/tools/report.py" "$RESULTS" --targets >"$RESULTS/targets.txt"
python3 "$ROOT/bench/tools/report.py" "$RESULTS" --targets --markdown >"$RESULTS/targets.md"
