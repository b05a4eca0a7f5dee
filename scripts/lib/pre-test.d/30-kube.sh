# shellcheck shell=bash
# Sourced by scripts/test before pytest: what the Kubernetes tests (tests/kube/) run for real.
# - Debian's etcd (the apiserver's store; apt starts nothing, the tests run their own on free
#   loopback ports);
# - kube-apiserver, pinned, built once per machine into a cache outside the repository by
#   scripts/lib/gotools.sh (scripts/test starts that build in the background first thing, so it
#   overlaps with the other set-up; here we wait for it, or build it if nobody did);
# - kubectl (the image's /usr/bin/kubectl, Google's Debian package; Debian's own is too old).
# Exports MICROSTAX_KUBE_APISERVER (the binary) for tests/harness/kube.py.
ensure_apt etcd-server etcd-client
command -v kubectl >/dev/null 2>&1 || die "kubectl not found: the Kubernetes tests need kubectl >= 1.28 on PATH"
if [[ -n "${MICROSTAX_GOTOOLS_PID:-}" ]]; then
    wait "$MICROSTAX_GOTOOLS_PID" || log "the background Go tools build failed; building here"
fi
MICROSTAX_KUBE_APISERVER="$(nice bash "$REPO/scripts/lib/gotools.sh" kube-apiserver)"
export MICROSTAX_KUBE_APISERVER
