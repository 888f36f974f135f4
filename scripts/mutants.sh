#!/usr/bin/env bash
# Proof that the properties bite: applies each deliberate bug in properties/mutants/*.patch to a
# scratch copy of the sources (never to the work tree), builds the property tests there, runs
# them, and reports which property caught the bug and its shrunk counterexample.
#
#   scripts/mutants.sh                 # every mutant
#   scripts/mutants.sh flip_uncancel   # mutants whose name contains the word
#
# A patch's first line says what it breaks ("# what it breaks"). Lines "# caught-by: TARGET
# [ARGS...]" after it name the test binaries (CMake targets) that must catch the break and their
# arguments, e.g. "# caught-by: simrun_properties -tc=*SIGINT*" or "# caught-by: simrun_tests
# -tc=*uncancel*"; the mutant is caught if one of them fails. Without such a line: the whole
# simrun_properties.
#
# Exit status 1 if a mutant survives (no property fails). Output of each run is kept in
# build/mutants/<name>.log.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
simrun_ensure_packages cmake ninja-build g++ doctest-dev librapidcheck-dev rsync

WORK=$ROOT/build/mutants
SRC=$WORK/src
mkdir -p "$WORK"
declare -a GEN_ARGS
simrun_generator_args GEN_ARGS

sync_sources() {
    # By content, and without keeping times: a file put back after a mutant gets a new time, so
    # the build recompiles it; unchanged files keep theirs and are not rebuilt.
    rsync -rlpD --checksum --delete --exclude build --exclude .git "$ROOT/" "$SRC/"
}

sync_sources
cmake -S "$SRC" -B "$WORK/build" "${GEN_ARGS[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ \
    -DSIMRUN_WARNINGS_AS_ERRORS=OFF -DSIMRUN_BUILD_EXAMPLES=OFF >/dev/null

survivors=0
for patch in properties/mutants/*.patch; do
    name=$(basename "$patch" .patch)
    [[ -n ${1:-} && $name != *"$1"* ]] && continue
    sync_sources
    (cd "$SRC" && patch -s -p1 <"$ROOT/$patch")
    simrun_log "mutant $name: $(head -1 "$patch" | sed 's/^# //')"
    mapfile -t catchers < <(sed -n 's/^# caught-by: *//p' "$patch")
    ((${#catchers[@]} > 0)) || catchers=(simrun_properties)
    caught=0
    : >"$WORK/$name.log"
    for catcher in "${catchers[@]}"; do
        read -r -a words <<<"$catcher"
        target=${words[0]}
        cmake --build "$WORK/build" --target "$target" -- -j"${SIMRUN_JOBS:-2}" >"$WORK/$name.build.log" 2>&1
        binary=$(find "$WORK/build" -type f -name "$target" -perm -u+x | head -1)
        if ! RC_PARAMS="max_success=${MUTANT_CASES:-3000} seed=${MUTANT_SEED:-1}" \
            "$binary" "${words[@]:1}" >>"$WORK/$name.log" 2>&1; then
            caught=1
        fi
    done
    if ((caught == 0)); then
        echo "SURVIVED  $name (no test failed: ${catchers[*]})"
        survivors=$((survivors + 1))
    else
        echo "CAUGHT    $name by:"
        # The test cases that failed (a TEST CASE header followed by an ERROR, not a MESSAGE).
        awk '/^TEST CASE:/ { tc = $0; sub(/^TEST CASE: */, "", tc); next }
             /^====/ { tc = "" }
             /ERROR:/ && tc != "" { if (!seen[tc]++) print "    - " tc }' "$WORK/$name.log"
        # rapidcheck's shrunk counterexample, or (a unit test) the first failed checks.
        if grep -q Falsifiable "$WORK/$name.log"; then
            sed -n '/Falsifiable/,/^Log:/p' "$WORK/$name.log" | grep -v '^Log:' | head -20 | sed 's/^/    /'
        else
            grep -E 'ERROR:|values:' "$WORK/$name.log" | head -6 | sed 's/^/    /' || true
        fi
    fi
done
sync_sources  # leave the scratch copy clean
exit $((survivors > 0))
