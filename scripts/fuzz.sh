#!/usr/bin/env bash
# A long property-testing campaign: runs the property tests batch after batch with fresh seeds,
# prints a progress line (cases, failures, cases/s) and appends every failure's replay command
# to build/fuzz/failures.txt.
#
#   scripts/fuzz.sh                # until interrupted (Ctrl-C)
#   scripts/fuzz.sh 600            # for about 600 seconds
#   FUZZ_BATCH=5000 scripts/fuzz.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
simrun_ensure_packages cmake ninja-build g++ doctest-dev librapidcheck-dev

DURATION=${1:-0}
BATCH=${FUZZ_BATCH:-2000}
WORK=$ROOT/build/fuzz
FAILURES=$WORK/failures.txt
declare -a GEN_ARGS
simrun_generator_args GEN_ARGS

# -O3 with g++ 12 gives false-positive warnings inside libstdc++ (-Wstringop-overflow): this
# tool build does not turn warnings into errors (test.sh's builds do).
cmake -S "$ROOT" -B "$WORK" "${GEN_ARGS[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ \
    -DSIMRUN_BUILD_EXAMPLES=OFF -DSIMRUN_WARNINGS_AS_ERRORS=OFF >/dev/null
if ! cmake --build "$WORK" --target simrun_properties -- -j"${SIMRUN_JOBS:-2}" >"$WORK/build.log" 2>&1; then
    tail -30 "$WORK/build.log"
    exit 2
fi
BINARY=$WORK/properties/simrun_properties
mkdir -p "$WORK"
touch "$FAILURES"

# The random-program properties (the lifecycle and two-process tests run in test.sh).
FILTER='property: run() ends*,property: after close()*,property: every task exception*,property: the executor warning*,property: virtual time*,property: the same program*'
PROPERTIES=6

start=$SECONDS cases=0 failures=0 batch=0
seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
while :; do
    batch=$((batch + 1))
    seed=$((seed + 1))
    log=$WORK/batch.log
    if RC_PARAMS="max_success=$BATCH seed=$seed" "$BINARY" -tc="$FILTER" >"$log" 2>&1; then
        cases=$((cases + BATCH * PROPERTIES))
    else
        cases=$((cases + BATCH * PROPERTIES))
        failures=$((failures + 1))
        {
            echo "# $(date -u +%FT%TZ) seed $seed: $(grep -m1 -E '^TEST CASE:' "$log" | sed 's/^TEST CASE: *//')"
            grep -A1 'To reproduce these' "$log" | tail -1 | sed "s|\$| '$BINARY'|"
        } >>"$FAILURES"
        cp "$log" "$WORK/failure-$seed.log"
    fi
    elapsed=$((SECONDS - start))
    rate=$((cases / (elapsed > 0 ? elapsed : 1)))
    printf '\rbatch %d  cases %d  failures %d  %d cases/s  (%ds)   ' "$batch" "$cases" "$failures" "$rate" "$elapsed"
    if ((DURATION > 0 && elapsed >= DURATION)); then break; fi
done
echo
echo "failures: $failures (replay commands in $FAILURES)"
exit $((failures > 0))
