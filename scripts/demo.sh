#!/usr/bin/env bash
# Build (Release, g++) and run the demos: first worker_service_demo, then kv_sim_test (a
# replicated key-value service tested on the simulated network):
#   scripts/demo.sh [args passed to worker_service_demo...]
# Build output goes to stderr; the demos' own stdout is left clean. Exit status 1 if either
# demo found a broken invariant.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

simrun_ensure_packages cmake ninja-build g++

BUILD=$ROOT/build/demo
simrun_build_examples "$BUILD" worker_service_demo kv_sim_test

status=0
echo "=== Demo 1: worker_service_demo (a job service under seeded schedules and Ctrl-Cs) ==="
echo
"$BUILD/examples/worker_service_demo" "$@" || status=1
echo
echo "=== Demo 2: kv_sim_test (a replicated key-value service on the simulated network) ==="
echo
"$BUILD/examples/kv_sim_test" --seeds 200 || status=1
exit "$status"
