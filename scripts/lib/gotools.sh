#!/usr/bin/env bash
# shellcheck shell=bash
# Third-party Go programs the receiver tests run for real, built once per machine from the Go
# module proxy at pinned versions into a cache OUTSIDE the repository, then reused.
#
#   bash scripts/lib/gotools.sh kube-apiserver   # prints the binary's path on stdout
#   bash scripts/lib/gotools.sh oauth2-proxy
#   bash scripts/lib/gotools.sh dex              # Dex at the v2.45.1 commit (cgo: sqlite3)
#   bash scripts/lib/gotools.sh spire            # prints the DIRECTORY holding spire-server,
#                                                # spire-agent and oidc-discovery-provider
#   bash scripts/lib/gotools.sh all              # all of them, one after the other
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
# Modern Dex has no semver tag for its module path: only the pseudo-version of a tag's commit
# works (this one is v2.45.1), with its api module pinned beside it (Dex's go.mod replaces it
# with ./api/v2, so it is added as a second tool of a scratch module).
DEX_VERSION="${MICROSTAX_DEX_VERSION:-v0.0.0-20260303133905-11d2eeb52b42}"
DEX_API_VERSION="${MICROSTAX_DEX_API_VERSION:-v2.4.0}"
SPIRE_VERSION="${MICROSTAX_SPIRE_VERSION:-v1.13.3}"

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

_build_dex() {
    local out=$1 dir="$TOOLS/src/dex-$DEX_VERSION"
    mkdir -p "$dir" && cd "$dir"
    printf 'module microstax.local/dextools\n\ngo 1.25.0\n' >go.mod
    go get -tool "github.com/dexidp/dex/cmd/dex@$DEX_VERSION" "github.com/dexidp/dex/api/v2@$DEX_API_VERSION"
    go build -o "$out" github.com/dexidp/dex/cmd/dex
}

_build_spire() {
    # One `go build` for the three programs so they share one compilation of SPIRE's packages.
    # $1 is a directory here (renamed into place as a whole).
    local out=$1 dir="$TOOLS/src/spire-$SPIRE_VERSION"
    mkdir -p "$dir" "$out" && cd "$dir"
    printf 'module microstax.local/spiretools\n\ngo 1.25.0\n' >go.mod
    go get -tool "github.com/spiffe/spire/cmd/spire-server@$SPIRE_VERSION" \
        "github.com/spiffe/spire/cmd/spire-agent@$SPIRE_VERSION" \
        "github.com/spiffe/spire/support/oidc-discovery-provider@$SPIRE_VERSION"
    go build -o "$out/" github.com/spiffe/spire/cmd/spire-server \
        github.com/spiffe/spire/cmd/spire-agent github.com/spiffe/spire/support/oidc-discovery-provider
}

ensure_tool() {
    local name=$1 version builder bin
    case "$name" in
        kube-apiserver) version=$KUBE_VERSION builder=_build_kube_apiserver ;;
        oauth2-proxy) version=$OAUTH2_PROXY_VERSION builder=_build_oauth2_proxy ;;
        dex) version=$DEX_VERSION builder=_build_dex ;;
        spire) version=$SPIRE_VERSION builder=_build_spire ;;
        *) _die "unknown tool '$name' (kube-apiserver, oauth2-proxy, dex, spire)" ;;
    esac
    bin="$TOOLS/bin/$name-$version"
    (
        flock -w 3600 9 || _die "timed out waiting for another build of $name"
        if [[ ! -x "$bin" ]]; then
            rm -rf "$bin.partial"
            _log "building $name $version (once per machine; log: $TOOLS/logs/$name.log)"
            local t0=$SECONDS
            if ! ( "$builder" "$bin.partial" ) >"$TOOLS/logs/$name.log" 2>&1 </dev/null; then
                tail -n 30 "$TOOLS/logs/$name.log" >&2
                rm -rf "$bin.partial"
                _die "building $name $version failed"
            fi
            mv -fT "$bin.partial" "$bin"
            _log "built $name $version in $((SECONDS - t0))s"
        fi
    ) 9>"$TOOLS/$name.lock"
    printf '%s\n' "$bin"
}

case "${1:-}" in
    all) for t in kube-apiserver oauth2-proxy dex spire; do ensure_tool "$t"; done ;;
    kube-apiserver|oauth2-proxy|dex|spire) ensure_tool "$1" ;;
    *) _die "usage: gotools.sh kube-apiserver|oauth2-proxy|dex|spire|all" ;;
esac
