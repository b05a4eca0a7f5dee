# shellcheck shell=bash
# A private, headless desktop session: a real OS keyring (gnome-keyring's Secret Service on a
# private D-Bus session bus, unlocked) and a real X clipboard (Xvfb + xclip/xsel).
# See shared/notes/keyring-clipboard.md for why each step is done the way it is.
#
# Sourced (scripts/test):
#     . scripts/lib/common.sh; . scripts/lib/desktop-session.sh
#     on_exit stop_desktop_session      # or: trap stop_desktop_session EXIT
#     start_desktop_session
# exports DISPLAY, DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR, XDG_DATA_HOME,
# PYTHON_KEYRING_BACKEND=keyring.backends.SecretService.Keyring, MICROSTAX_DESKTOP_SESSION=1 and
# MICROSTAX_DESKTOP_DIR (the session's private temp dir; HOME too if it had to be made up).
#
# As a program (tests/harness/desktop.py):
#     bash scripts/lib/desktop-session.sh start          # starts a new session, prints KEY=VALUE lines
#     bash scripts/lib/desktop-session.sh print-env DIR  # prints them again
#     bash scripts/lib/desktop-session.sh stop DIR       # stops that session, removes DIR
# The printed lines are raw KEY=VALUE (split at the first '='), not shell-quoted.
#
# Every session is independent (own temp dir, bus, keyring daemon, X display), so concurrent
# sessions do not interfere. Works with no controlling terminal and stdin on /dev/null.

if [[ -n "${_MICROSTAX_DESKTOP_SH:-}" ]]; then
    return 0
fi
_MICROSTAX_DESKTOP_SH=1

DESKTOP_APT_PACKAGES=(dbus gnome-keyring xvfb xclip xsel)
_DESKTOP_VARS=(DISPLAY DBUS_SESSION_BUS_ADDRESS XDG_RUNTIME_DIR XDG_DATA_HOME HOME
    PYTHON_KEYRING_BACKEND MICROSTAX_DESKTOP_SESSION MICROSTAX_DESKTOP_DIR)
# Started processes, in start order; stop goes in reverse. comm names are cut to 15 chars.
_DESKTOP_PROCS=(dbus-daemon gnome-keyring-d Xvfb)
_DESKTOP_STARTED_DIR=""           # the session this shell started (not exported)
declare -gA _DESKTOP_SAVED_ENV=()  # values the variables had before start, to restore on stop

if ! declare -F log >/dev/null; then
    # shellcheck source=common.sh
    . "$(dirname "${BASH_SOURCE[0]}")/common.sh"
fi

_desktop_alive() {
    # Running and not a zombie.
    local state
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z ]]
}

_desktop_wait() {
    # _desktop_wait SECONDS PID WHAT CMD…: poll CMD every 20 ms while PID lives.
    local limit=$1 pid=$2 what=$3 i
    shift 3
    for ((i = 0; i < limit * 50; i++)); do
        "$@" && return 0
        if ! _desktop_alive "$pid"; then
            log "error: $what exited before it was ready"
            return 1
        fi
        sleep 0.02
    done
    log "error: $what was not ready after ${limit}s"
    return 1
}

_desktop_secrets_owned() {
    local reply
    reply="$(dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null)" || return 1
    [[ "$reply" == *"boolean true"* ]]
}

_desktop_display_ready() {
    local n
    n="$(head -n 1 "$1" 2>/dev/null)" || return 1
    [[ "$n" =~ ^[0-9]+$ ]]
}

_desktop_fail() {
    local dir=$1
    shift
    log "error: desktop session: $*"
    local f
    for f in "$dir"/logs/*.log; do
        [[ -s "$f" ]] || continue
        log "--- $(basename "$f"):"
        tail -n 20 "$f" | sed 's/^/    /' >&2
    done
    stop_desktop_session "$dir"
    return 1
}

start_desktop_session() {
    if [[ -n "$_DESKTOP_STARTED_DIR" && -d "$_DESKTOP_STARTED_DIR" ]]; then
        return 0   # idempotent within one shell
    fi
    ensure_apt "${DESKTOP_APT_PACKAGES[@]}" || return 1

    local v
    _DESKTOP_SAVED_ENV=()
    for v in "${_DESKTOP_VARS[@]}"; do
        if [[ -v "$v" ]]; then _DESKTOP_SAVED_ENV[$v]="${!v}"; fi
    done

    local dir
    dir="$(mktemp -d "${TMPDIR:-/tmp}/microstax-desktop.XXXXXX")" || return 1
    chmod 700 "$dir"
    mkdir -m 700 "$dir/runtime" "$dir/data" "$dir/pids" "$dir/logs"
    _DESKTOP_STARTED_DIR="$dir"
    export MICROSTAX_DESKTOP_DIR="$dir"
    export XDG_RUNTIME_DIR="$dir/runtime" XDG_DATA_HOME="$dir/data"
    # A missing HOME makes the first keyring call hang for 120 s on a D-Bus timeout.
    if [[ -z "${HOME:-}" ]] || ! mkdir -p "$HOME" 2>/dev/null; then
        export HOME="$dir/home"
        mkdir -m 700 "$HOME"
    fi

    # 1. Session bus, started WITHOUT DISPLAY (else an unlock prompt waits forever on Xvfb).
    local out address pid
    out="$(env -u DISPLAY dbus-daemon --session --fork --nopidfile \
        --address="unix:path=$dir/runtime/bus" --print-address=1 --print-pid=1 \
        </dev/null 2>"$dir/logs/dbus-daemon.log")" \
        || { _desktop_fail "$dir" "dbus-daemon did not start"; return 1; }
    { read -r address && read -r pid; } <<<"$out" || true
    if [[ -z "${address:-}" || ! "${pid:-}" =~ ^[0-9]+$ ]]; then
        _desktop_fail "$dir" "unexpected dbus-daemon output"
        return 1
    fi
    echo "$pid" >"$dir/pids/dbus-daemon"
    export DBUS_SESSION_BUS_ADDRESS="$address"

    # 2. gnome-keyring-daemon, unlocked with a password made here and fed byte-exact on stdin
    #    (printf is a builtin: the password is in no argv, no file, no log).
    local pw
    pw="$(head -c 24 /dev/urandom | base64)"
    printf '%s' "$pw" | env -u DISPLAY gnome-keyring-daemon --foreground --unlock \
        --components=secrets >"$dir/logs/gnome-keyring.log" 2>&1 &
    pid=$!
    pw=""
    echo "$pid" >"$dir/pids/gnome-keyring-d"
    # It answers before it owns the name: wait, or a client may D-Bus-activate a second one.
    _desktop_wait 20 "$pid" gnome-keyring-daemon _desktop_secrets_owned \
        || { _desktop_fail "$dir" "no owner for org.freedesktop.secrets"; return 1; }

    # 3. Xvfb on the first free display; it writes the number to fd 3 when it is ready.
    Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp \
        3>"$dir/display" </dev/null >"$dir/logs/xvfb.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/pids/Xvfb"
    _desktop_wait 20 "$pid" Xvfb _desktop_display_ready "$dir/display" \
        || { _desktop_fail "$dir" "Xvfb did not start"; return 1; }
    local display
    display="$(head -n 1 "$dir/display")"
    export DISPLAY=":$display"

    export PYTHON_KEYRING_BACKEND=keyring.backends.SecretService.Keyring
    export MICROSTAX_DESKTOP_SESSION=1
    for v in "${_DESKTOP_VARS[@]}"; do
        if [[ -v "$v" ]]; then printf '%s=%s\n' "$v" "${!v}"; fi
    done >"$dir/env"
}

stop_desktop_session() {
    # stop_desktop_session [DIR]: stop the session of DIR (default: the one this shell started).
    local dir=${1:-$_DESKTOP_STARTED_DIR}
    [[ -n "$dir" && -d "$dir/pids" ]] || return 0
    local i name pid comm
    local -a pids=()
    for ((i = ${#_DESKTOP_PROCS[@]} - 1; i >= 0; i--)); do
        name=${_DESKTOP_PROCS[i]}
        pid="$(cat "$dir/pids/$name" 2>/dev/null)" || continue
        [[ "$pid" =~ ^[0-9]+$ ]] || continue
        comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || continue
        # Only the process we started: a recycled pid has another name.
        [[ "$comm" == "$name" ]] || continue
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$pid")
    done
    for pid in "${pids[@]}"; do
        for ((i = 0; i < 150; i++)); do
            _desktop_alive "$pid" || break
            sleep 0.02
        done
        if _desktop_alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true   # reap it if it is our child
    done
    rm -rf -- "$dir"

    if [[ "$dir" == "$_DESKTOP_STARTED_DIR" ]]; then
        local v
        for v in "${_DESKTOP_VARS[@]}"; do
            if [[ -v "_DESKTOP_SAVED_ENV[$v]" ]]; then
                export "$v=${_DESKTOP_SAVED_ENV[$v]}"
            else
                unset "$v"
            fi
        done
        _DESKTOP_SAVED_ENV=()
        _DESKTOP_STARTED_DIR=""
    fi
}

_desktop_main() {
    set -euo pipefail
    # shellcheck disable=SC2034 # read by log()
    MICROSTAX_LOG_NAME=desktop-session
    case "${1:-}" in
        start)
            start_desktop_session
            cat "$MICROSTAX_DESKTOP_DIR/env"
            ;;
        print-env)
            local dir=${2:-${MICROSTAX_DESKTOP_DIR:-}}
            [[ -n "$dir" && -f "$dir/env" ]] || die "no desktop session at '${dir}'"
            cat "$dir/env"
            ;;
        stop)
            [[ -n "${2:-}" ]] || die "usage: $0 stop DIR"
            stop_desktop_session "$2"
            ;;
        *)
            die "usage: $0 start | print-env DIR | stop DIR"
            ;;
    esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    _desktop_main "$@"
fi
