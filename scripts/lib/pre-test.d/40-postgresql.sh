# shellcheck shell=bash
# Sourced by scripts/test before pytest: installs Debian's PostgreSQL server (if missing) and
# starts one throwaway cluster for the whole run (tests/harness/postgres.py: a temp dir under
# /tmp, 127.0.0.1 on a free port, its unix socket in that dir, password auth, run as the
# `postgres` user). Exports MICROSTAX_TEST_PG_DSN (its superuser DSN) for the state backend
# tests; they create one database each. Stopped, and its dir removed, on exit.
ensure_apt postgresql
MICROSTAX_PG_DIR="$(mktemp -d /tmp/microstax-pg.XXXXXX)"
on_exit "cd \"$REPO\" && \"$VENV/bin/python\" -m tests.harness.postgres stop \"$MICROSTAX_PG_DIR\""
MICROSTAX_TEST_PG_DSN="$(cd "$REPO" && "$VENV/bin/python" -m tests.harness.postgres start \
    "$MICROSTAX_PG_DIR" --port "$(free_port)")"
export MICROSTAX_TEST_PG_DSN
log "PostgreSQL for the tests: 127.0.0.1:${MICROSTAX_TEST_PG_DSN##*:} in $MICROSTAX_PG_DIR"
