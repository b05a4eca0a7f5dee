# shellcheck shell=bash
# Sourced by scripts/test before pytest: installs Debian's nginx-light (auth_request module) and
# wrk (if missing) for the verifier tests and bench (tests/receivers/verifier/, tests/bench/
# verifier_bench.py). Debian's package may start a system nginx on port 80; the tests do not use
# it: each runs its own nginx with a private -c config and -p prefix on a free loopback port
# (tests/harness/receivers.py), its pid and error log in a temp dir.
ensure_apt nginx-light wrk
