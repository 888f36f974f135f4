#!/usr/bin/env bash
# Checks the testing kit's HTML timeline in a real browser, and remakes the screenshot in the docs:
#   scripts/check-timeline.sh [--no-screenshot]
# 1. builds examples/lost_update (Release, build/timeline), a seed sweep that finds a lost update
#    between two clients of a bank on the simulated network (with a partition and a signal);
# 2. runs it with SIMRUN_TRACE_DIR set, so the failing seed's trace is written as JSON and HTML;
# 3. opens the HTML page in headless Chromium (Debian's `chromium`, installed if missing) and
#    checks the rendered DOM: <body data-rendered="N"> with N > 0 slices drawn, and the tracks
#    alice, bob, bank, callbacks and the loop in the page's table of tracks;
# 4. takes the screenshot docs/images/timeline.png (1400x800) of the page.
# Exit status 1, with the reason, if a step fails. Not part of scripts/test.sh (it needs a
# browser); run it after changing sim/testing/src/html_timeline.cpp or timeline_page.hpp.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

screenshot=1
if [[ ${1:-} == --no-screenshot ]]; then
    screenshot=0
elif [[ $# -gt 0 ]]; then
    echo "usage: scripts/check-timeline.sh [--no-screenshot]" >&2
    exit 2
fi

fail() {
    echo "check-timeline: FAILED: $*" >&2
    exit 1
}

simrun_ensure_packages cmake ninja-build g++ doctest-dev librapidcheck-dev chromium

BUILD=$ROOT/build/timeline
simrun_build_examples "$BUILD" lost_update
[[ -x $BUILD/examples/lost_update ]] ||
    fail "examples/lost_update was not built (are doctest and rapidcheck installed?)"

# A real failing run: the sweep stops at the first seed that loses a deposit.
TRACES=$BUILD/traces
rm -rf "$TRACES"
simrun_log "running examples/lost_update with SIMRUN_TRACE_DIR=$TRACES"
if ! SIMRUN_TRACE_DIR=$TRACES "$BUILD/examples/lost_update" | tee "$BUILD/lost_update.out"; then
    fail "examples/lost_update found no lost update (see $BUILD/lost_update.out)"
fi
shopt -s nullglob
pages=("$TRACES"/*.html)
jsons=("$TRACES"/*.json)
shopt -u nullglob
((${#pages[@]} == 1)) || fail "expected one .html page in $TRACES, found ${#pages[@]}"
((${#jsons[@]} == 1)) || fail "expected one .json trace in $TRACES, found ${#jsons[@]}"
page=${pages[0]}
grep -qF "  html:   $page" "$BUILD/lost_update.out" ||
    fail "the failure report does not name the page $page"

BROWSER=(chromium --headless --no-sandbox --disable-gpu --hide-scrollbars
    --no-first-run --user-data-dir="$BUILD/chromium-profile")

# The DOM after the page's script ran.
DOM=$BUILD/timeline-dom.html
simrun_log "rendering $page in headless Chromium"
timeout 120 "${BROWSER[@]}" --dump-dom "file://$page" >"$DOM" 2>"$BUILD/chromium.log" ||
    fail "chromium --dump-dom failed (see $BUILD/chromium.log)"
rendered=$(grep -o 'data-rendered="[0-9]*"' "$DOM" | head -n1 | grep -o '[0-9][0-9]*' || true)
[[ -n $rendered ]] || fail "the page did not render: no data-rendered=\"N\" in the DOM ($DOM)"
((rendered > 0)) || fail "the page rendered no slices (data-rendered=\"$rendered\")"
for track in alice bob bank callbacks 'loop ('; do
    grep -qF "<td>$track" "$DOM" || fail "the table of tracks has no '$track' track ($DOM)"
done
grep -q 'id="failure"' "$DOM" || fail "the page does not show the failure"
echo "check-timeline: the page rendered $rendered slices; tracks alice, bob, bank, callbacks, loop"

if ((screenshot)); then
    mkdir -p "$ROOT/docs/images"
    timeout 120 "${BROWSER[@]}" --window-size=1400,800 \
        --screenshot="$ROOT/docs/images/timeline.png" "file://$page" \
        >>"$BUILD/chromium.log" 2>&1 || fail "chromium --screenshot failed (see $BUILD/chromium.log)"
    [[ -s $ROOT/docs/images/timeline.png ]] || fail "no screenshot was written"
    echo "check-timeline: wrote docs/images/timeline.png"
fi
echo "check-timeline: OK ($page)"
