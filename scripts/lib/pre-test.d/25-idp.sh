# shellcheck shell=bash
# Sourced by scripts/test before pytest: what the identity-provider tests (tests/idp/) run for real.
# - Dex (v2.45.1 commit) and SPIRE v1.13.3 (spire-server, spire-agent, oidc-discovery-provider),
#   pinned, built once per machine into a cache outside the repository by scripts/lib/gotools.sh.
#   A cold SPIRE build is the longest of all (about 13 min on 2 cores), so both start here, in
#   the background, before the kube-apiserver hook waits for its own build: they overlap with
#   it, the other hooks and the first tests. The tests' fixtures wait for them (each tool's
#   lock) or reuse the cached binaries at once. A build left running when the run ends still
#   finishes on its own (a result is renamed into place only when complete).
# - kube-apiserver and kubectl come from 30-kube.sh (the service-account and Dex tests use them).
mkdir -p "$MICROSTAX_CACHE/logs"
(
    nice bash "$REPO/scripts/lib/gotools.sh" dex >/dev/null
    nice bash "$REPO/scripts/lib/gotools.sh" spire >/dev/null
) 2>"$MICROSTAX_CACHE/logs/gotools-idp.log" </dev/null &
