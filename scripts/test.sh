#!/usr/bin/env bash
# Build simrun and run ctest in several configurations, each in build/<name>.
#
#   scripts/test.sh                              # all default configurations
#   SIMRUN_TEST_CONFIGS=gcc scripts/test.sh      # only some (comma/space separated)
#   SIMRUN_TEST_CONFIGS=gcc-tsan scripts/test.sh # a defined but non-default one
#
# Env: SIMRUN_TEST_CONFIGS (see above), SIMRUN_JOBS (default 2),
#      SIMRUN_CHECK_FORMAT=1 to also run a clang-format check (off by default).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

simrun_ensure_packages cmake ninja-build g++ clang doctest-dev librapidcheck-dev clang-format

JOBS=${SIMRUN_JOBS:-2}
declare -a GEN_ARGS
simrun_generator_args GEN_ARGS
GENERATOR=${GEN_ARGS[1]}

# Sanitizer runtime options (only the sanitizer that is compiled in reads them).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

# ---------------------------------------------------------------------------
# Configurations: add_config NAME CXX BUILD_TYPE [extra cmake args...]
# ---------------------------------------------------------------------------
declare -A CFG_CXX=() CFG_TYPE=() CFG_ARGS=()
add_config() {
    local name=$1 cxx=$2 type=$3
    shift 3
    CFG_CXX[$name]=$cxx
    CFG_TYPE[$name]=$type
    CFG_ARGS[$name]="$*"
}

# g++ and clang build as users do, Release (-O3 -DNDEBUG): optimisers warn where -O0 does not,
# and -Werror catches that here rather than in a user's build (where warnings stay warnings; g++
# 12's known false positives at -O3 are silenced in cmake/SimrunHelpers.cmake). The assertions
# and the debug checks of a Debug build run in the sanitizer configurations.
add_config gcc      g++     Release
add_config gcc-asan g++     Debug          -DSIMRUN_SANITIZE=address,undefined
add_config clang    clang++ Release
# ThreadSanitizer for the real loop, the thread pool and the signal watchdog: the unit tests only
# (the property tests and examples are single-threaded simulations; the install check is covered
# by the other configurations), at -O1 without debug info to keep the build short.
add_config gcc-tsan g++     Debug          -DSIMRUN_SANITIZE=thread -DCMAKE_CXX_FLAGS_DEBUG=-O1 \
    -DSIMRUN_BUILD_PROPERTIES=OFF -DSIMRUN_BUILD_EXAMPLES=OFF -DSIMRUN_INSTALL=OFF

DEFAULT_CONFIGS=(gcc gcc-asan clang gcc-tsan)

# ---------------------------------------------------------------------------
declare -A RESULT=()

# run_config NAME: configure, build, ctest. Records RESULT[NAME]; returns non-zero on failure.
run_config() {
    local name=$1
    local dir=build/$name start=$SECONDS
    local -a extra=()
    read -ra extra <<<"${CFG_ARGS[$name]}"

    simrun_log "[$name] configure (${CFG_CXX[$name]}, ${CFG_TYPE[$name]}${extra[*]:+, ${extra[*]}})"
    simrun_reset_stale_build_dir "$dir" "$GENERATOR" "${CFG_CXX[$name]}"
    if ! cmake -S . -B "$dir" "${GEN_ARGS[@]}" \
        -DCMAKE_CXX_COMPILER="${CFG_CXX[$name]}" \
        -DCMAKE_BUILD_TYPE="${CFG_TYPE[$name]}" \
        -DSIMRUN_WARNINGS_AS_ERRORS=ON \
        -DSIMRUN_BUILD_TESTS=ON \
        -DSIMRUN_BUILD_EXAMPLES=ON \
        "${extra[@]}"; then
        RESULT[$name]="FAIL (configure, $((SECONDS - start))s)"
        return 1
    fi

    simrun_log "[$name] build"
    if ! cmake --build "$dir" --parallel "$JOBS"; then
        RESULT[$name]="FAIL (build, $((SECONDS - start))s)"
        return 1
    fi

    simrun_log "[$name] ctest"
    if ! ctest --test-dir "$dir" --output-on-failure --no-tests=error; then
        RESULT[$name]="FAIL (ctest, $((SECONDS - start))s)"
        return 1
    fi
    RESULT[$name]="PASS ($((SECONDS - start))s)"
    [[ -z ${SUITE_COUNTS:-} ]] && SUITE_COUNTS=$(suite_counts "$dir/tests/simrun_tests")
    return 0
}

# suite_counts BINARY: how many unit tests run on both loops, on the simulator only, on the real
# loop only, on no loop (doctest suites "shared", "sim-only", "real-only", "loop-free"; a shared
# test is two cases, one per loop).
suite_counts() {
    local binary=$1 shared sim_only real_only loop_free all
    count_cases() { "$binary" --count --no-intro "$@" | sed -n 's/.*current filters: //p'; }
    shared=$(count_cases -ts=shared)
    sim_only=$(count_cases -ts=sim-only)
    real_only=$(count_cases -ts=real-only)
    loop_free=$(count_cases -ts=loop-free)
    all=$(count_cases)
    echo "unit tests: $((shared / 2)) shared (run on both loops: $shared cases)," \
        "$sim_only sim-only, $real_only real-only, $loop_free loop-free;" \
        "$all cases in all ($((all - shared - sim_only - real_only - loop_free)) unmarked)"
}

check_format() {
    local -a files=()
    mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' 2>/dev/null ||
        find runner sim tests properties examples -name '*.[ch]pp' 2>/dev/null)
    ((${#files[@]} == 0)) && return 0
    clang-format --dry-run --Werror "${files[@]}"
}

# ---------------------------------------------------------------------------
if [[ -n ${SIMRUN_TEST_CONFIGS:-} ]]; then
    read -ra CONFIGS <<<"${SIMRUN_TEST_CONFIGS//,/ }"
else
    CONFIGS=("${DEFAULT_CONFIGS[@]}")
fi
for name in "${CONFIGS[@]}"; do
    if [[ -z ${CFG_CXX[$name]+x} ]]; then
        echo "unknown configuration '$name' (known: ${!CFG_CXX[*]})" >&2
        exit 2
    fi
done

failed=0
ORDER=()
if [[ ${SIMRUN_CHECK_FORMAT:-0} == 1 ]]; then
    ORDER+=(format)
    simrun_log "[format] clang-format --dry-run --Werror"
    if check_format; then RESULT[format]="PASS"; else RESULT[format]="FAIL"; failed=1; fi
fi
for name in "${CONFIGS[@]}"; do
    ORDER+=("$name")
    run_config "$name" || failed=1
done

# The same seed gives the same trace digest in every build: each configuration that built the
# property tests wrote build/<name>/trace-digests.txt (ctest "trace_digests"); they must agree.
digest_configs=()
for name in "${CONFIGS[@]}"; do
    [[ -f build/$name/trace-digests.txt && ${RESULT[$name]} == PASS* ]] && digest_configs+=("$name")
done
if ((${#digest_configs[@]} >= 2)); then
    ORDER+=(digests)
    first=${digest_configs[0]}
    RESULT[digests]="PASS (trace digests of $(wc -l <"build/$first/trace-digests.txt") programs identical in ${digest_configs[*]})"
    for name in "${digest_configs[@]:1}"; do
        if ! cmp -s "build/$first/trace-digests.txt" "build/$name/trace-digests.txt"; then
            RESULT[digests]="FAIL ($first and $name give different trace digests: diff build/$first/trace-digests.txt build/$name/trace-digests.txt)"
            failed=1
        fi
    done
fi

echo
echo "==== simrun test summary ===="
[[ -n ${SUITE_COUNTS:-} ]] && echo "$SUITE_COUNTS"
for name in "${ORDER[@]}"; do
    printf '%-10s %s\n' "$name" "${RESULT[$name]}"
done
if ((failed)); then
    echo "==== FAILED ===="
    exit 1
fi
echo "==== all passed ===="
