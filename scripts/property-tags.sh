#!/usr/bin/env bash
# Generator statistics of the property tests: runs simrun_properties (default case count, or
# RC_PARAMS) and prints, for each property, the share of cases that carry each tag (rapidcheck
# prints combinations of tags; this adds them up per tag). Every tag should be >= 5 %.
#
#   scripts/property-tags.sh [path/to/simrun_properties] [doctest args, e.g. -tc=*cancel*]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary=${1:-$ROOT/build/gcc/properties/simrun_properties}
shift || true
[[ -x $binary ]] || { echo "no property binary at $binary (build the target simrun_properties)" >&2; exit 2; }
"$binary" "$@" 2>&1 | awk '
    function flush() { if (name != "") { for (t in share) printf "  %6.2f%%  %s\n", share[t], t; delete share } }
    /^- / { flush(); name = substr($0, 3); print name; next }
    /^ *[0-9.]+% - / {
        pct = $1; sub(/%/, "", pct)
        rest = $0; sub(/^ *[0-9.]+% - /, "", rest)
        n = split(rest, tags, /", "/)
        for (i = 1; i <= n; i++) { t = tags[i]; gsub(/"/, "", t); share[t] += pct }
    }
    END { flush() }' | awk '/^[^ ]/ { if (n) { print head; for (i = 1; i <= n; i++) print rows[i] | "sort -rn"; close("sort -rn") } head = $0; n = 0; next }
                            { rows[++n] = $0 }
                            END { if (n) { print head; for (i = 1; i <= n; i++) print rows[i] | "sort -rn"; close("sort -rn") } else if (head) print head }'
