"""The PostgreSQL state backend: one shared state for replicas on separate hosts.

Selected by ``[state] backend = "postgresql"``; the connection string comes from the
environment variable named by ``dsn_env`` or the file named by ``dsn_file`` (never from the
config file, and never logged). Needs the ``postgresql`` extra (``psycopg`` 3), imported only
when this backend is chosen.

The statements are ``SqlStateStore``'s; this module only supplies connections, the schema
(created on start, idempotently, under an advisory lock so replicas starting together do not
race) and the dialect (``%s`` placeholders; ``FOR UPDATE`` is kept). Connections are per
thread, in autocommit mode, with each read-modify-write in an explicit transaction; a broken
connection is replaced on the next call.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .errors import StateBackendError
from .state import SqlStateStore

if TYPE_CHECKING:
    import psycopg

# Timestamps are epoch seconds: DOUBLE PRECISION (PostgreSQL's REAL is only 4 bytes).
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS device_codes (
        device_hash TEXT PRIMARY KEY, user_code TEXT UNIQUE NOT NULL, client_id TEXT NOT NULL,
        scope TEXT NOT NULL, issuer TEXT NOT NULL, expires DOUBLE PRECISION NOT NULL,
        "interval" INTEGER NOT NULL, last_poll DOUBLE PRECISION,
        status TEXT NOT NULL DEFAULT 'pending', "user" TEXT)""",
    """CREATE TABLE IF NOT EXISTS refresh_tokens (
        token_hash TEXT PRIMARY KEY, family TEXT NOT NULL, "user" TEXT NOT NULL,
        client_id TEXT NOT NULL, scope TEXT NOT NULL, issuer TEXT NOT NULL,
        expires DOUBLE PRECISION NOT NULL, used INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS refresh_family ON refresh_tokens(family)",
    """CREATE TABLE IF NOT EXISTS jti_seen (
        client_id TEXT NOT NULL, jti TEXT NOT NULL, expires DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (client_id, jti))""",
    """CREATE TABLE IF NOT EXISTS rate_buckets (
        key TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS revocations (
        key TEXT PRIMARY KEY, expires DOUBLE PRECISION NOT NULL)""",
)
_SCHEMA_LOCK = 0x6D78_7374_6174_6531  # pg_advisory_xact_lock key ("mxstate1")
CONNECT_TIMEOUT_S = 10
STATEMENT_TIMEOUT_MS = 10_000  # like SQLite's busy_timeout: a stuck lock fails, not hangs


class PostgresStateStore(SqlStateStore):
    backend = "postgresql"

    def __init__(self, dsn: str, *, source: str = "the DSN") -> None:
        super().__init__()
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise StateBackendError(
                "the postgresql state backend needs psycopg: pip install 'microstax[postgresql]'"
            ) from exc
        self._dsn = dsn
        self._source = source  # where the DSN came from, for messages (never the DSN itself)
        self._local = threading.local()
        self._all: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        with self._tx() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in _SCHEMA:
                db.execute(statement)

    def __repr__(self) -> str:
        return f"PostgresStateStore(dsn from {self._source})"

    def _dialect(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _conn(self) -> psycopg.Connection[Any]:
        import psycopg

        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None and not (conn.closed or conn.broken):
            return conn
        try:
            conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                   application_name="microstax-platform")
        except psycopg.Error as exc:
            # psycopg's message names host and port, never the password.
            raise StateBackendError(
                f"cannot connect to the PostgreSQL state store ({self._source}): "
                f"{str(exc).strip()}") from None
        conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def _reader(self) -> psycopg.Connection[Any]:
        return self._conn()

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Any]]:
        conn = self._conn()
        with conn.transaction():
            yield conn

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
