# shellcheck shell=bash
# Shared helpers for scripts/*.sh. Source it; don't execute it.

simrun_log() { printf '==> %s\n' "$*" >&2; }

# simrun_ensure_packages PKG...
#   Installs the Debian packages that are not installed yet. Runs
#   `apt-get update` at most once per script run, and only if something is
#   missing. Uses sudo only when not root.
SIMRUN_APT_UPDATED=${SIMRUN_APT_UPDATED:-0}
simrun_ensure_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        simrun_log "dpkg-query not found (not Debian?); not installing: $*"
        return 0
    fi
    local pkg
    local -a missing=()
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi

    local -a sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        sudo=(sudo)
    fi
    simrun_log "installing missing packages: ${missing[*]}"
    if [[ $SIMRUN_APT_UPDATED != 1 ]]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
        SIMRUN_APT_UPDATED=1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# simrun_generator_args ARRAY_NAME
#   Fills the named array with cmake's -G arguments: Ninja if available, else make.
simrun_generator_args() {
    local -n _out=$1
    if command -v ninja >/dev/null 2>&1; then
        _out=(-G Ninja)
    else
        _out=(-G "Unix Makefiles")
    fi
}

# simrun_reset_stale_build_dir DIR GENERATOR CXX
#   Deletes DIR if it was configured with another generator or compiler
#   (cmake refuses to switch those in an existing build dir).
simrun_reset_stale_build_dir() {
    local dir=$1 generator=$2 cxx=$3 cache=$1/CMakeCache.txt
    [[ -f $cache ]] || return 0
    local old_gen old_cxx want_cxx
    old_gen=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$cache")
    old_cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$cache")
    want_cxx=$(command -v "$cxx" || echo "$cxx")
    if [[ $old_gen != "$generator" ]] ||
        [[ -n $old_cxx && $(readlink -f "$old_cxx") != $(readlink -f "$want_cxx") ]]; then
        simrun_log "$dir was configured with '$old_gen' / '$old_cxx'; starting afresh"
        rm -rf "$dir"
    fi
}

# simrun_build_examples DIR TARGET...
#   Configures DIR as a g++ Release build of the library and its examples (no unit tests, warnings
#   not errors: a user's build) and builds TARGET...; build output goes to stderr.
simrun_build_examples() {
    local dir=$1
    shift
    local -a gen_args
    simrun_generator_args gen_args
    simrun_reset_stale_build_dir "$dir" "${gen_args[1]}" g++
    cmake -S "$ROOT" -B "$dir" "${gen_args[@]}" \
        -DCMAKE_CXX_COMPILER=g++ \
        -DCMAKE_BUILD_TYPE=Release \
        -DSIMRUN_BUILD_TESTS=OFF \
        -DSIMRUN_BUILD_EXAMPLES=ON \
        -DSIMRUN_WARNINGS_AS_ERRORS=OFF >&2
    cmake --build "$dir" --target "$@" --parallel "${SIMRUN_JOBS:-2}" >&2
}
