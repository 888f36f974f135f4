#!/usr/bin/env bash
# The differential campaign against CPython 3.13 (docs/testing.md): random programs from the
# property generator run on simrun's simulator and on CPython's own asyncio.Runner in virtual
# time; both traces are compared event by event and every program is put in a category.
#
#   scripts/diff-cpython.sh            # 2000 programs
#   scripts/diff-cpython.sh 100000     # that many programs
#   scripts/diff-cpython.sh 600s       # for about 600 seconds
#   DIFF_SEED=7 scripts/diff-cpython.sh 5000
#
# Needs CPython 3.13 through pyenv (~/.pyenv/versions/3.13*/bin/python); without it, says so
# and exits 0. Not part of scripts/test.sh. Exit status 1 if a difference is unexplained.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

PYTHON=
for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python; do
    if [[ -x $candidate ]]; then
        PYTHON=$candidate
    fi
done
if [[ -z $PYTHON ]]; then
    echo "diff-cpython: CPython 3.13 not found (looked for ${PYENV_ROOT:-$HOME/.pyenv}/versions/3.13*/bin/python); nothing to compare against."
    exit 0
fi

ARG=${1:-2000}
declare -a LIMIT
if [[ $ARG == *s ]]; then
    LIMIT=(--seconds "${ARG%s}")
else
    LIMIT=(--count "$ARG")
fi

simrun_ensure_packages cmake ninja-build g++ doctest-dev librapidcheck-dev
declare -a GEN_ARGS
simrun_generator_args GEN_ARGS
WORK=${DIFF_BUILD_DIR:-$ROOT/build/diff-cpython}
# -O3 with g++ 12 gives false-positive warnings inside libstdc++ (-Wstringop-overflow): this
# tool build does not turn warnings into errors (test.sh's builds do).
cmake -S "$ROOT" -B "$WORK" "${GEN_ARGS[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DSIMRUN_BUILD_EXAMPLES=OFF -DSIMRUN_WARNINGS_AS_ERRORS=OFF >/dev/null
if ! cmake --build "$WORK" --target simrun_diff_programs -- -j"${SIMRUN_JOBS:-2}" >"$WORK/build.log" 2>&1; then
    tail -30 "$WORK/build.log"
    exit 2
fi

simrun_log "comparing with $("$PYTHON" --version) ($PYTHON)"
PYTHONDONTWRITEBYTECODE=1 exec "$PYTHON" "$ROOT/properties/cpython/diff_runner.py" --tool "$WORK/properties/simrun_diff_programs" \
    --seed "${DIFF_SEED:-1}" "${LIMIT[@]}"
