#!/usr/bin/env bash
# Build (Release, g++) and run the worker_service_demo example:
#   scripts/demo.sh [args passed to worker_service_demo...]
# Build output goes to stderr; the demo's own stdout is left clean.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

simrun_ensure_packages cmake ninja-build g++

declare -a GEN_ARGS
simrun_generator_args GEN_ARGS
BUILD=$ROOT/build/demo

simrun_reset_stale_build_dir "$BUILD" "${GEN_ARGS[1]}" g++
cmake -S "$ROOT" -B "$BUILD" "${GEN_ARGS[@]}" \
    -DCMAKE_CXX_COMPILER=g++ \
    -DCMAKE_BUILD_TYPE=Release \
    -DSIMRUN_BUILD_TESTS=OFF \
    -DSIMRUN_BUILD_EXAMPLES=ON \
    -DSIMRUN_WARNINGS_AS_ERRORS=OFF >&2
cmake --build "$BUILD" --target worker_service_demo --parallel "${SIMRUN_JOBS:-2}" >&2

exec "$BUILD/examples/worker_service_demo" "$@"
