#!/usr/bin/env bash
# Where the time goes in one simrun workload: a perf profile of build/bench's simrun_bench,
# grouped by bench/tools/perf_groups.py. Build first (scripts/bench.sh does).
#
#   bench/tools/profile.sh 'callbacks/epoll'        # a Google Benchmark workload (a regex)
#   bench/tools/profile.sh sleepers epoll [N]       # the sleepers workload (default N 1000000)
#   bench/tools/profile.sh echo [N]                 # the echo workload on epoll (N clients, 1000)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
simrun_ensure_packages linux-perf

BIN=$ROOT/build/bench/bench/simrun_bench
if [[ ! -x $BIN ]]; then
    echo "no $BIN: run scripts/bench.sh (or BENCH_QUICK=1 scripts/bench.sh) first" >&2
    exit 2
fi
DATA=$(mktemp /tmp/simrun-profile.XXXXXX)
trap 'rm -f "$DATA" "$DATA.old"' EXIT

if [[ ${1:-} == echo ]]; then
    perf record -q -F 2000 -o "$DATA" "$(dirname "$BIN")/simrun_net_bench" --echo --clients="${2:-1000}" \
        >/dev/null
elif [[ ${1:-} == sleepers ]]; then
    perf record -q -F 1000 -o "$DATA" "$BIN" --sleepers="${3:-1000000}" --loop="${2:-epoll}"
else
    perf record -q -F 2000 -o "$DATA" "$BIN" --benchmark_filter="^${1:?workload regex}" \
        --benchmark_min_time=1 >/dev/null 2>&1
fi
perf report -i "$DATA" --no-children --sort dso,sym --stdio 2>/dev/null |
    python3 "$ROOT/bench/tools/perf_groups.py"
