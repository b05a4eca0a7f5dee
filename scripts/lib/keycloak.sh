#!/usr/bin/env bash
# shellcheck shell=bash
# A Keycloak server distribution and a Java that runs it, for the interop tests.
#
# Run it: `bash scripts/lib/keycloak.sh` (idempotent). It makes sure that
#
#   * the Keycloak distribution org.keycloak:keycloak-quarkus-dist:$MICROSTAX_KEYCLOAK_VERSION (zip)
#     is unpacked in $MICROSTAX_CACHE/keycloak/<version> (default cache: <repo>/.cache). Maven
#     downloads it (mvn knows the repository; no host name is written here); a complete unpack is
#     marked by the file .microstax-ready, so a half-finished one is redone;
#   * a Java that this Keycloak supports is on the machine: Keycloak 26.x supports OpenJDK 17, 21
#     and 25 and recommends the newest, so the newest of those found in /usr/lib/jvm (or $JAVA_HOME,
#     or the `java` on PATH) wins. $MICROSTAX_KEYCLOAK_JAVA_HOME forces one. Only if none is found
#     does it install one with apt-get (after one `apt-get update`).
#
# and prints, on stdout and nothing else:
#
#   KEYCLOAK_VERSION=26.7.3
#   KEYCLOAK_HOME=/…/.cache/keycloak/26.7.3
#   JAVA_HOME=/usr/lib/jvm/…
#   JAVA_VERSION=25
#
# Progress and errors go to stderr. Sourcing the file (from a script that runs under
# `set -euo pipefail` anyway) and calling `microstax_keycloak_ensure` exports the same variables.
#
# Environment: MICROSTAX_CACHE, MICROSTAX_KEYCLOAK_VERSION (a 26.x with standard token exchange v2,
# i.e. >= 26.2), MICROSTAX_KEYCLOAK_JAVA_HOME.
set -euo pipefail

MICROSTAX_KEYCLOAK_VERSION="${MICROSTAX_KEYCLOAK_VERSION:-26.7.3}"
# The Java feature releases Keycloak 26.x supports, most preferred first (its "Supported
# Configurations" guide: OpenJDK 17, 21, 25; "use the latest supported JDK").
MICROSTAX_KEYCLOAK_JAVA_MAJORS=(25 21 17)
# A maven-dependency-plugin that can copy an artifact without a project (the machine's default,
# 2.8, cannot).
_msx_kc_dependency_plugin="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

_msx_kc_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

_msx_kc_log() { printf '[keycloak] %s\n' "$*" >&2; }
_msx_kc_die() { _msx_kc_log "error: $*"; exit 1; }

# Run a command as root (directly, or through sudo when there is one).
_msx_kc_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        _msx_kc_die "need root to run: $*"
    fi
}

_msx_kc_apt_updated=""
_msx_kc_apt_update_once() {
    if [[ -z "$_msx_kc_apt_updated" ]]; then
        _msx_kc_log "apt-get update"
        _msx_kc_root apt-get update -qq >&2
        _msx_kc_apt_updated=1
    fi
}
_msx_kc_apt_install() {
    _msx_kc_apt_update_once
    _msx_kc_log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive _msx_kc_root apt-get install -y -qq --no-install-recommends "$@" >&2
}

# The feature release (17, 21, 25, …) of the JDK or JRE at $1, or nothing.
_msx_kc_java_major() {
    local home="$1" version=""
    [[ -x "$home/bin/java" ]] || return 0
    if [[ -r "$home/release" ]]; then
        version="$(sed -n 's/^JAVA_VERSION="\([^"]*\)".*/\1/p' "$home/release")"
    fi
    if [[ -z "$version" ]]; then
        version="$("$home/bin/java" -XshowSettings:properties -version 2>&1 \
            | sed -n 's/^ *java\.specification\.version = *//p')" || true
    fi
    version="${version#1.}"
    version="${version%%[.+-]*}"
    [[ "$version" =~ ^[0-9]+$ ]] && printf '%s\n' "$version"
    return 0
}

_msx_kc_java_supported() {
    local major="$1" m
    for m in "${MICROSTAX_KEYCLOAK_JAVA_MAJORS[@]}"; do
        [[ "$m" == "$major" ]] && return 0
    done
    return 1
}

# Print "<major> <home>" for every distinct Java home found on the machine.
_msx_kc_java_candidates() {
    local home java seen=" "
    local -a homes=()
    [[ -n "${JAVA_HOME:-}" ]] && homes+=("$JAVA_HOME")
    for home in /usr/lib/jvm/*; do
        [[ -d "$home" ]] && homes+=("$home")
    done
    if java="$(command -v java 2>/dev/null)"; then
        homes+=("$(dirname "$(dirname "$(readlink -f "$java")")")")
    fi
    for home in "${homes[@]}"; do
        home="$(readlink -f "$home")" || continue
        [[ "$seen" == *" $home "* ]] && continue
        seen+="$home "
        local major
        major="$(_msx_kc_java_major "$home")"
        [[ -n "$major" ]] && printf '%s %s\n' "$major" "$home"
    done
    return 0
}

# Choose the Java for Keycloak; sets MICROSTAX_KEYCLOAK_JAVA_HOME_CHOSEN and _MAJOR.
_msx_kc_pick_java() {
    local major home want candidates
    if [[ -n "${MICROSTAX_KEYCLOAK_JAVA_HOME:-}" ]]; then
        home="$MICROSTAX_KEYCLOAK_JAVA_HOME"
        major="$(_msx_kc_java_major "$home")"
        [[ -n "$major" ]] || _msx_kc_die "MICROSTAX_KEYCLOAK_JAVA_HOME=$home has no bin/java"
        _msx_kc_java_supported "$major" \
            || _msx_kc_die "MICROSTAX_KEYCLOAK_JAVA_HOME is Java $major; Keycloak supports ${MICROSTAX_KEYCLOAK_JAVA_MAJORS[*]}"
        MICROSTAX_KEYCLOAK_JAVA_HOME_CHOSEN="$home"
        MICROSTAX_KEYCLOAK_JAVA_MAJOR="$major"
        return 0
    fi
    candidates="$(_msx_kc_java_candidates)"
    for want in "${MICROSTAX_KEYCLOAK_JAVA_MAJORS[@]}"; do
        home="$(awk -v w="$want" '$1 == w { print $2; exit }' <<<"$candidates")"
        if [[ -n "$home" ]]; then
            MICROSTAX_KEYCLOAK_JAVA_HOME_CHOSEN="$home"
            MICROSTAX_KEYCLOAK_JAVA_MAJOR="$want"
            return 0
        fi
    done
    return 1
}

_msx_kc_ensure_java() {
    if _msx_kc_pick_java; then
        return 0
    fi
    _msx_kc_log "no Java ${MICROSTAX_KEYCLOAK_JAVA_MAJORS[*]} found; installing one with apt"
    local major pkg=""
    _msx_kc_apt_update_once
    for major in "${MICROSTAX_KEYCLOAK_JAVA_MAJORS[@]}"; do
        if apt-cache show "openjdk-$major-jre-headless" >/dev/null 2>&1; then
            pkg="openjdk-$major-jre-headless"
            break
        fi
    done
    [[ -n "$pkg" ]] || _msx_kc_die "apt has no openjdk-{${MICROSTAX_KEYCLOAK_JAVA_MAJORS[*]}}-jre-headless"
    _msx_kc_apt_install "$pkg"
    _msx_kc_pick_java || _msx_kc_die "installed $pkg but still found no usable Java"
}

_msx_kc_ensure_dist() {
    local version="$1" root="$2"
    local home="$root/$version"
    if [[ -f "$home/.microstax-ready" && -x "$home/bin/kc.sh" ]]; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || _msx_kc_apt_install maven
    command -v unzip >/dev/null 2>&1 || _msx_kc_apt_install unzip

    local work
    work="$(mktemp -d "$root/.download-$version.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" EXIT
    _msx_kc_log "downloading org.keycloak:keycloak-quarkus-dist:$version:zip with Maven"
    if ! mvn -B -q -Dstyle.color=never "$_msx_kc_dependency_plugin:copy" \
        "-Dartifact=org.keycloak:keycloak-quarkus-dist:$version:zip" \
        "-DoutputDirectory=$work/zip" >"$work/mvn.log" 2>&1; then
        tail -n 40 "$work/mvn.log" >&2
        _msx_kc_die "Maven could not fetch keycloak-quarkus-dist $version"
    fi
    _msx_kc_log "unpacking into $home"
    unzip -q "$work/zip/keycloak-quarkus-dist-$version.zip" -d "$work/unpacked"
    [[ -x "$work/unpacked/keycloak-$version/bin/kc.sh" ]] \
        || _msx_kc_die "the zip has no keycloak-$version/bin/kc.sh"
    chmod +x "$work/unpacked/keycloak-$version/bin/"*.sh
    touch "$work/unpacked/keycloak-$version/.microstax-ready"
    rm -rf "$home"
    mv "$work/unpacked/keycloak-$version" "$home"
    rm -rf "$work"
    trap - EXIT
}

microstax_keycloak_ensure() {
    local version="$MICROSTAX_KEYCLOAK_VERSION"
    if ! [[ "$version" =~ ^26\.([0-9]+)\.[0-9]+$ ]] || (( BASH_REMATCH[1] < 2 )); then
        _msx_kc_die "MICROSTAX_KEYCLOAK_VERSION=$version: need a 26.x release >= 26.2 (standard token exchange v2)"
    fi
    local cache="${MICROSTAX_CACHE:-$_msx_kc_repo/.cache}"
    local root="$cache/keycloak"
    mkdir -p "$root"
    root="$(cd "$root" && pwd)"

    _msx_kc_ensure_java

    # One download at a time, even across concurrent test sessions.
    exec 9>"$root/.ensure.lock"
    flock 9
    _msx_kc_ensure_dist "$version" "$root"
    flock -u 9
    exec 9>&-

    export KEYCLOAK_VERSION="$version"
    export KEYCLOAK_HOME="$root/$version"
    export JAVA_HOME="$MICROSTAX_KEYCLOAK_JAVA_HOME_CHOSEN"
    export JAVA_VERSION="$MICROSTAX_KEYCLOAK_JAVA_MAJOR"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    microstax_keycloak_ensure
    printf 'KEYCLOAK_VERSION=%s\nKEYCLOAK_HOME=%s\nJAVA_HOME=%s\nJAVA_VERSION=%s\n' \
        "$KEYCLOAK_VERSION" "$KEYCLOAK_HOME" "$JAVA_HOME" "$JAVA_VERSION"
fi
