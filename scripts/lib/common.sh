# shellcheck shell=bash
# Shared helpers for scripts/run, scripts/test, .ci/run and the pre-test.d hooks.
#
# Source it (do not execute it):   . "$(dirname "$0")/lib/common.sh"
#
# Provides
#   REPO              absolute path of the repository root
#   MICROSTAX_CACHE   cache dir for stamps, logs and tool caches (default: $REPO/.cache)
#   VENV              $REPO/.venv
#   log MSG…          one line to stderr, prefixed with the calling script's name
#   die MSG…          log, then exit 1
#   on_exit CMD       register a cleanup command; all run once at exit, last registered first
#   run_logged NAME CMD…   run CMD with its output in $MICROSTAX_CACHE/logs/NAME.log;
#                     quiet on success, prints the log's tail on failure
#   ensure_apt PKG…   install the missing Debian packages (--no-install-recommends)
#   ensure_venv       create/reuse $VENV (python >= 3.11) and `pip install -e .[test,dev]`
#                     when pyproject.toml changed; puts $VENV/bin first on PATH
#   free_port         print a free TCP port on 127.0.0.1
#
# Everything is idempotent and quiet when there is nothing to do. Works with no terminal and
# stdin on /dev/null (CI).

if [[ -n "${_MICROSTAX_COMMON_SH:-}" ]]; then
    return 0
fi
_MICROSTAX_COMMON_SH=1

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
export REPO
: "${MICROSTAX_CACHE:=$REPO/.cache}"
export MICROSTAX_CACHE
VENV="$REPO/.venv"
MICROSTAX_MIN_PYTHON="3.11"

log() {
    printf '%s: %s\n' "${MICROSTAX_LOG_NAME:-$(basename -- "$0")}" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

_microstax_cache_dir() {
    mkdir -p "$MICROSTAX_CACHE/logs" || die "cannot create the cache dir $MICROSTAX_CACHE"
}

# --- cleanup registry -------------------------------------------------------------------------
# One EXIT trap for everybody, so that hooks do not overwrite each other's traps.
_MICROSTAX_CLEANUPS=()

_microstax_run_cleanups() {
    local rc=$? i
    trap - EXIT
    for ((i = ${#_MICROSTAX_CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${_MICROSTAX_CLEANUPS[i]}" || log "cleanup failed: ${_MICROSTAX_CLEANUPS[i]}"
    done
    _MICROSTAX_CLEANUPS=()
    exit "$rc"
}

on_exit() {
    _MICROSTAX_CLEANUPS+=("$*")
    if [[ -z "${_MICROSTAX_TRAPS_SET:-}" ]]; then
        _MICROSTAX_TRAPS_SET=1
        trap _microstax_run_cleanups EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        trap 'exit 129' HUP
    fi
}

# --- quiet command runner ---------------------------------------------------------------------
run_logged() {
    local name=$1
    shift
    _microstax_cache_dir
    local logfile="$MICROSTAX_CACHE/logs/$name.log"
    local rc=0
    "$@" >"$logfile" 2>&1 </dev/null || rc=$?
    ((rc == 0)) && return 0
    log "'$name' failed (exit $rc); last lines of $logfile:"
    tail -n 40 "$logfile" | sed 's/^/    /' >&2
    return "$rc"
}

# --- Debian packages --------------------------------------------------------------------------
_apt_missing() {
    local pkg status
    for pkg in "$@"; do
        status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)"
        [[ "$status" == ii* ]] || printf '%s\n' "$pkg"
    done
}

_apt_update() {
    # At most once a day per cache dir (so once per fresh CI clone), unless forced.
    local stamp="$MICROSTAX_CACHE/apt-update.stamp" force=${1:-}
    if [[ -z "$force" && -f "$stamp" && -n "$(find "$stamp" -mmin -1440 2>/dev/null)" ]]; then
        return 0
    fi
    run_logged apt-update apt-get -q -o DPkg::Lock::Timeout=600 update || return 1
    touch "$stamp"
}

ensure_apt() {
    (($# > 0)) || return 0
    command -v dpkg-query >/dev/null 2>&1 || die "ensure_apt needs a Debian system (no dpkg-query)"
    local missing
    mapfile -t missing < <(_apt_missing "$@")
    ((${#missing[@]} == 0)) && return 0

    if [[ "$(id -u)" != 0 ]]; then
        die "missing Debian packages: ${missing[*]}. Install them as root:" \
            "apt-get install --no-install-recommends ${missing[*]}"
    fi
    _microstax_cache_dir
    log "installing Debian packages: ${missing[*]}"
    local lockfile="$MICROSTAX_CACHE/apt.lock"
    (
        flock -w 900 9 || die "timed out waiting for $lockfile"
        # Somebody else may have installed them while we waited.
        mapfile -t missing < <(_apt_missing "${missing[@]}")
        ((${#missing[@]} == 0)) && exit 0
        export DEBIAN_FRONTEND=noninteractive
        local install=(apt-get -q -y -o DPkg::Lock::Timeout=600 install --no-install-recommends)
        _apt_update || die "apt-get update failed"
        if ! run_logged apt-install "${install[@]}" "${missing[@]}"; then
            # The package lists may be stale (a stamp younger than a day): refresh once, retry.
            log "retrying after a fresh apt-get update"
            _apt_update force || die "apt-get update failed"
            run_logged apt-install "${install[@]}" "${missing[@]}" \
                || die "could not install: ${missing[*]}"
        fi
    ) 9>"$lockfile"
}

# --- Python virtualenv ------------------------------------------------------------------------
_python_ok() {
    # True when $1 is a Python >= MICROSTAX_MIN_PYTHON.
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1 </dev/null
}

_find_python() {
    local candidate
    for candidate in "${MICROSTAX_PYTHON:-}" python3 python3.11 python3.12 python3.13; do
        [[ -n "$candidate" ]] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if _python_ok "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

_venv_fingerprint() {
    {
        printf '%s\n' "$REPO"
        "$VENV/bin/python" -c 'import sys; print(sys.version)'
        cat "$REPO/pyproject.toml"
    } | sha256sum | cut -d' ' -f1
}

ensure_venv() {
    _microstax_cache_dir
    local lockfile="$MICROSTAX_CACHE/venv.lock"
    (
        flock -w 900 9 || die "timed out waiting for $lockfile"
        if ! { [[ -x "$VENV/bin/python" ]] && _python_ok "$VENV/bin/python"; }; then
            local py
            py="$(_find_python)" || die "no python >= $MICROSTAX_MIN_PYTHON found" \
                "(tried \$MICROSTAX_PYTHON, python3, python3.11, python3.12, python3.13)"
            log "creating $VENV with $py ($("$py" -c 'import platform; print(platform.python_version())'))"
            if ! run_logged venv "$py" -m venv --clear "$VENV"; then
                # Debian's own python3 needs python3-venv for ensurepip.
                [[ "$py" == /usr/bin/* ]] || die "could not create $VENV"
                ensure_apt python3-venv
                run_logged venv "$py" -m venv --clear "$VENV" || die "could not create $VENV"
            fi
        fi
        local stamp="$VENV/.microstax-install.sha256" want
        want="$(_venv_fingerprint)"
        if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
            exit 0
        fi
        log "installing microstax[test,dev] into $VENV (first install, or pyproject.toml changed)"
        run_logged pip-install "$VENV/bin/python" -m pip install --disable-pip-version-check \
            -e "${REPO}[test,dev]" || die "pip install -e '.[test,dev]' failed"
        printf '%s\n' "$want" >"$stamp"
    ) 9>"$lockfile"
    export VIRTUAL_ENV="$VENV"
    case ":$PATH:" in
        *":$VENV/bin:"*) ;;
        *) export PATH="$VENV/bin:$PATH" ;;
    esac
}

# --- misc -------------------------------------------------------------------------------------
free_port() {
    local py="python3"
    [[ -x "$VENV/bin/python" ]] && py="$VENV/bin/python"
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
