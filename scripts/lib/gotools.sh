#!/usr/bin/env bash
# shellcheck shell=bash
# Third-party Go programs the receiver tests run for real, built once per machine from the Go
# module proxy at pinned versions into a cache OUTSIDE the repository, then reused.
#
#   bash scripts/lib/gotools.sh kube-apiserver   # prints the binary's path on stdout
#   bash scripts/lib/gotools.sh oauth2-proxy
#   bash scripts/lib/gotools.sh all              # both, one after the other
#
# Cache: $MICROSTAX_TOOLS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/microstax-tools):
#   bin/<name>-<version>   the binaries (a finished build is renamed into place, so a half-built
#                          one is never used)
#   go-build/ go-mod/      Go's build and module caches (kept: a rebuild only relinks)
#   logs/<name>.log        the last build's output
# A lock per tool lets parallel callers (a pre-test hook, a test) wait for one build.
set -euo pipefail

KUBE_VERSION="${MICROSTAX_KUBE_VERSION:-v1.37.2}"
OAUTH2_PROXY_VERSION="${MICROSTAX_OAUTH2_PROXY_VERSION:-v7.15.6}"

TOOLS="${MICROSTAX_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/microstax-tools}"
mkdir -p "$TOOLS/bin" "$TOOLS/logs" "$TOOLS/src"
export GOCACHE="$TOOLS/go-build" GOMODCACHE="$TOOLS/go-mod" GOFLAGS=-mod=mod GOTOOLCHAIN=local
export PATH="$PATH:/usr/local/go/bin"

_log() { printf '[gotools] %s\n' "$*" >&2; }
_die() { _log "error: $*"; exit 1; }

command -v go >/dev/null 2>&1 || _die "no Go toolchain on PATH (install Go >= 1.25)"

_build_kube_apiserver() {
    local out=$1 dir="$TOOLS/src/kube-$KUBE_VERSION" minor staging
    minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
    staging="v0.${KUBE_VERSION#v1.}"
    mkdir -p "$dir" && cd "$dir"
    go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null
    # k8s.io/kubernetes points its staging modules at ./staging: pin each to its tagged release.
    {
        printf 'module microstax.local/kubetools\n\ngo 1.25.0\n\nreplace (\n'
        grep '=> ./staging' "$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/$KUBE_VERSION.mod" \
            | awk -v v="$staging" '{print "\t"$1" => "$1" "v}'
        printf ')\n'
    } >go.mod
    go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION"
    go build -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
        -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
        -o "$out" k8s.io/kubernetes/cmd/kube-apiserver
}

_build_oauth2_proxy() {
    local out=$1 dir="$TOOLS/src/oauth2-proxy-$OAUTH2_PROXY_VERSION"
    mkdir -p "$dir"
    GOBIN="$dir" go install "github.com/oauth2-proxy/oauth2-proxy/v7@$OAUTH2_PROXY_VERSION"
    mv "$dir/oauth2-proxy" "$out"
}

ensure_tool() {
    local name=$1 version builder bin
    case "$name" in
        kube-apiserver) version=$KUBE_VERSION builder=_build_kube_apiserver ;;
        oauth2-proxy) version=$OAUTH2_PROXY_VERSION builder=_build_oauth2_proxy ;;
        *) _die "unknown tool '$name' (kube-apiserver, oauth2-proxy)" ;;
    esac
    bin="$TOOLS/bin/$name-$version"
    (
        flock -w 3600 9 || _die "timed out waiting for another build of $name"
        if [[ ! -x "$bin" ]]; then
            _log "building $name $version (once per machine; log: $TOOLS/logs/$name.log)"
            local t0=$SECONDS
            if ! ( "$builder" "$bin.partial" ) >"$TOOLS/logs/$name.log" 2>&1 </dev/null; then
                tail -n 30 "$TOOLS/logs/$name.log" >&2
                rm -f "$bin.partial"
                _die "building $name $version failed"
            fi
            mv -f "$bin.partial" "$bin"
            _log "built $name $version in $((SECONDS - t0))s"
        fi
    ) 9>"$TOOLS/$name.lock"
    printf '%s\n' "$bin"
}

case "${1:-}" in
    all) ensure_tool kube-apiserver && ensure_tool oauth2-proxy ;;
    kube-apiserver|oauth2-proxy) ensure_tool "$1" ;;
    *) _die "usage: gotools.sh kube-apiserver|oauth2-proxy|all" ;;
esac
