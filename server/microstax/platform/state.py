"""Shared state for every worker and replica, behind one small interface (``StateBackend``).

What lives here is exactly what a second process would need: pending device authorizations,
refresh tokens (SHA-256 digests only, never the token), revocations (RFC 7009: the ``jti`` of a
revoked access token, the ``sid`` of a revoked sign-in session, each until the tokens it names
have expired), the ``private_key_jwt`` jti replay cache, and the per-client rate-limit buckets. Keys and config are files; nothing else is
process memory that matters.

Two backends share every statement (``SqlStateStore``; the SQL is written once, with ``?``
placeholders and ``FOR UPDATE`` row locks, and each dialect adapts it):

- ``SQLiteStateStore`` (the default, alias ``StateStore``): ``state.sqlite3`` (WAL) in the data
  dir, for the workers of one host. Every read-modify-write runs in one ``BEGIN IMMEDIATE``
  transaction, so workers racing on the same row see a consistent answer.
- ``PostgresStateStore`` (``state_postgresql.py``, ``[state] backend = "postgresql"``): for
  replicas on separate hosts. Each read-modify-write is one transaction that locks its row
  (``SELECT … FOR UPDATE``, after an ``INSERT … ON CONFLICT DO NOTHING`` where the row may not
  exist yet), or a single conditional statement.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

_SCHEMA = """
CREATE TABLE IF NOT EXISTS device_codes (
    device_hash TEXT PRIMARY KEY, user_code TEXT UNIQUE NOT NULL, client_id TEXT NOT NULL,
    scope TEXT NOT NULL, issuer TEXT NOT NULL, expires REAL NOT NULL, interval INTEGER NOT NULL,
    last_poll REAL, status TEXT NOT NULL DEFAULT 'pending', user TEXT);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY, family TEXT NOT NULL, user TEXT NOT NULL,
    client_id TEXT NOT NULL, scope TEXT NOT NULL, issuer TEXT NOT NULL, expires REAL NOT NULL,
    used INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS refresh_family ON refresh_tokens(family);
CREATE TABLE IF NOT EXISTS jti_seen (
    client_id TEXT NOT NULL, jti TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (client_id, jti));
CREATE TABLE IF NOT EXISTS rate_buckets (
    key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS revocations (
    key TEXT PRIMARY KEY, expires REAL NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class DeviceGrant:
    client_id: str
    scope: str
    issuer: str
    user_code: str
    status: str  # pending | approved | denied | expired | slow_down
    user: str | None
    expires: float
    interval: int


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    family: str
    user: str
    client_id: str
    scope: str
    issuer: str


class RefreshReused(Exception):
    """A rotated-away refresh token came back: the whole family is revoked."""


class StateBackend(Protocol):
    """What the platform needs from its shared state; every backend implements exactly this."""

    def close(self) -> None: ...

    def purge(self, now: float | None = None, *, every: float = 60.0) -> None: ...

    def rate_take(self, key: str, rate: float, burst: int, now: float | None = None, *,
                  count: int = 1) -> tuple[int, float]: ...

    def remember_jti(self, client_id: str, jti: str, expires: float,
                     now: float | None = None) -> bool: ...

    def create_device(self, device_hash: str, user_code: str, client_id: str, scope: str,
                      issuer: str, expires: float, interval: int) -> None: ...

    def find_user_code(self, user_code: str, now: float | None = None) -> DeviceGrant | None: ...

    def decide_user_code(self, user_code: str, *, approve: bool, user: str | None,
                         now: float | None = None) -> bool: ...

    def poll_device(self, device_hash: str, client_id: str, *, auto_approve_user: str | None = None,
                    now: float | None = None) -> DeviceGrant | None: ...

    def store_refresh(self, token_hash: str, grant: RefreshGrant, expires: float) -> None: ...

    def refresh_expiry(self, token_hash: str) -> float | None: ...

    def use_refresh(self, token_hash: str, now: float | None = None) -> RefreshGrant | None: ...

    def peek_refresh(self, token_hash: str,
                     now: float | None = None) -> tuple[RefreshGrant, float] | None: ...

    def revoke_refresh(self, token_hash: str, client_id: str, *, session_until: float,
                       now: float | None = None) -> RefreshGrant | None: ...

    def revoke(self, key: str, until: float) -> None: ...

    def revoked(self, keys: Sequence[str], now: float | None = None) -> bool: ...


class _Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...


class _Db(Protocol):
    """The part of a DB-API connection the statements use (sqlite3 and psycopg both fit)."""

    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...


class SqlStateStore(ABC):
    """Every statement of the state store, once; a subclass supplies the connection and dialect.

    The SQL below uses ``?`` placeholders and may end a SELECT with ``FOR UPDATE`` (a row lock
    inside the transaction); ``_dialect`` rewrites both for the backend.
    """

    def __init__(self) -> None:
        self._last_purge = 0.0

    # -- what a backend provides -------------------------------------------------------------
    @abstractmethod
    def _dialect(self, sql: str) -> str:
        """The statement in this backend's placeholder style and locking syntax."""

    @abstractmethod
    def _tx(self) -> AbstractContextManager[_Db]:
        """One atomic read-modify-write transaction (rolled back on an exception)."""

    @abstractmethod
    def _reader(self) -> _Db:
        """A connection for single-statement reads outside a transaction."""

    @abstractmethod
    def close(self) -> None: ...

    def _run(self, db: _Db, sql: str, params: tuple[Any, ...] = ()) -> _Cursor:
        cur: _Cursor = db.execute(self._dialect(sql), params)
        return cur

    # -- housekeeping ----------------------------------------------------------------------
    def purge(self, now: float | None = None, *, every: float = 60.0) -> None:
        """Drop expired rows (at most once per ``every`` seconds per process)."""
        now = time.time() if now is None else now
        if now - self._last_purge < every:
            return
        self._last_purge = now
        with self._tx() as db:
            self._run(db, "DELETE FROM device_codes WHERE expires < ?", (now - 60,))
            self._run(db, "DELETE FROM refresh_tokens WHERE expires < ?", (now,))
            self._run(db, "DELETE FROM jti_seen WHERE expires < ?", (now,))
            self._run(db, "DELETE FROM rate_buckets WHERE updated < ?", (now - 3600,))
            self._run(db, "DELETE FROM revocations WHERE expires < ?", (now,))

    # -- rate limits -----------------------------------------------------------------------
    def rate_take(self, key: str, rate: float, burst: int, now: float | None = None, *,
                  count: int = 1) -> tuple[int, float]:
        """Take up to ``count`` tokens from ``key``'s bucket (at least one, or none).

        Returns (tokens granted, seconds until one is available when none was granted).
        """
        now = time.time() if now is None else now
        with self._tx() as db:
            # A new bucket starts full; creating it first gives every racer a row to lock.
            self._run(db, "INSERT INTO rate_buckets (key, tokens, updated) VALUES (?, ?, ?)"
                          " ON CONFLICT (key) DO NOTHING", (key, float(burst), now))
            row = self._run(db, "SELECT tokens, updated FROM rate_buckets WHERE key = ? FOR UPDATE",
                            (key,)).fetchone()
            tokens = min(float(burst), float(row[0]) + max(0.0, now - float(row[1])) * rate)
            if tokens < 1.0:
                self._run(db, "UPDATE rate_buckets SET tokens = ?, updated = ? WHERE key = ?",
                          (tokens, now, key))
                return 0, (1.0 - tokens) / rate
            granted = max(1, min(count, int(tokens)))
            self._run(db, "UPDATE rate_buckets SET tokens = ?, updated = ? WHERE key = ?",
                      (tokens - granted, now, key))
            return granted, 0.0

    # -- private_key_jwt replay cache --------------------------------------------------------
    def remember_jti(self, client_id: str, jti: str, expires: float, now: float | None = None) -> bool:
        """Record an assertion's jti; False when it was seen before (a replay).

        One statement: it inserts, or takes over an entry that has expired; a live entry is
        left alone and nothing changes (rowcount 0).
        """
        now = time.time() if now is None else now
        with self._tx() as db:
            cur = self._run(
                db, "INSERT INTO jti_seen (client_id, jti, expires) VALUES (?, ?, ?)"
                    " ON CONFLICT (client_id, jti) DO UPDATE SET expires = excluded.expires"
                    " WHERE jti_seen.expires < ?", (client_id, jti, expires, now))
            return cur.rowcount == 1

    # -- device authorization ----------------------------------------------------------------
    def create_device(self, device_hash: str, user_code: str, client_id: str, scope: str,
                      issuer: str, expires: float, interval: int) -> None:
        with self._tx() as db:
            self._run(
                db, "INSERT INTO device_codes (device_hash, user_code, client_id, scope, issuer,"
                    ' expires, "interval") VALUES (?, ?, ?, ?, ?, ?, ?)',
                (device_hash, user_code, client_id, scope, issuer, expires, interval))

    def find_user_code(self, user_code: str, now: float | None = None) -> DeviceGrant | None:
        now = time.time() if now is None else now
        row = self._run(
            self._reader(),
            'SELECT client_id, scope, issuer, user_code, status, "user", expires, "interval"'
            " FROM device_codes WHERE user_code = ? AND expires >= ?", (user_code, now)).fetchone()
        return None if row is None else _device(row)

    def decide_user_code(self, user_code: str, *, approve: bool, user: str | None,
                         now: float | None = None) -> bool:
        """Approve or deny a pending authorization; False if none is pending under that code."""
        now = time.time() if now is None else now
        with self._tx() as db:
            cur = self._run(
                db, 'UPDATE device_codes SET status = ?, "user" = ? WHERE user_code = ? AND'
                    " status = 'pending' AND expires >= ?",
                ("approved" if approve else "denied", user, user_code, now))
            return cur.rowcount == 1

    def poll_device(self, device_hash: str, client_id: str, *, auto_approve_user: str | None = None,
                    now: float | None = None) -> DeviceGrant | None:
        """One poll: the outcome, consuming the row once it is decided; None if unknown.

        ``slow_down`` when polled faster than the interval (which then grows by 5 s);
        ``auto_approve_user`` approves a pending authorization at once (dev mode).
        """
        now = time.time() if now is None else now
        with self._tx() as db:
            row = self._run(
                db, 'SELECT client_id, scope, issuer, user_code, status, "user", expires, "interval",'
                    " last_poll FROM device_codes WHERE device_hash = ? FOR UPDATE",
                (device_hash,)).fetchone()
            if row is None or row[0] != client_id:
                return None
            grant = _device(row[:8])
            last_poll = row[8]
            if now > grant.expires:
                self._run(db, "DELETE FROM device_codes WHERE device_hash = ?", (device_hash,))
                return _replace(grant, status="expired")
            if grant.status == "pending" and auto_approve_user is not None:
                grant = _replace(grant, status="approved", user=auto_approve_user)
            if grant.status in ("approved", "denied"):
                self._run(db, "DELETE FROM device_codes WHERE device_hash = ?", (device_hash,))
                return grant
            if last_poll is not None and now - float(last_poll) < grant.interval:
                interval = grant.interval + 5
                self._run(db, 'UPDATE device_codes SET last_poll = ?, "interval" = ?'
                              " WHERE device_hash = ?", (now, interval, device_hash))
                return _replace(grant, status="slow_down", interval=interval)
            self._run(db, "UPDATE device_codes SET last_poll = ? WHERE device_hash = ?",
                      (now, device_hash))
            return grant

    # -- refresh tokens ----------------------------------------------------------------------
    def store_refresh(self, token_hash: str, grant: RefreshGrant, expires: float) -> None:
        with self._tx() as db:
            self._run(
                db, 'INSERT INTO refresh_tokens (token_hash, family, "user", client_id, scope,'
                    " issuer, expires) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token_hash, grant.family, grant.user, grant.client_id, grant.scope, grant.issuer,
                 expires))

    def refresh_expiry(self, token_hash: str) -> float | None:
        """The absolute expiry of a refresh token's session (kept across rotations)."""
        row = self._run(self._reader(), "SELECT expires FROM refresh_tokens WHERE token_hash = ?",
                        (token_hash,)).fetchone()
        return None if row is None else float(row[0])

    def use_refresh(self, token_hash: str, now: float | None = None) -> RefreshGrant | None:
        """Consume a refresh token (rotation). None if unknown or expired; raises
        ``RefreshReused`` (after revoking the family) if it was already used."""
        now = time.time() if now is None else now
        with self._tx() as db:
            row = self._run(
                db, 'SELECT family, "user", client_id, scope, issuer, expires, used FROM refresh_tokens'
                    " WHERE token_hash = ? FOR UPDATE", (token_hash,)).fetchone()
            if row is None or float(row[5]) < now:
                return None
            if row[6]:
                self._run(db, "DELETE FROM refresh_tokens WHERE family = ?", (row[0],))
                reused = True
            else:
                self._run(db, "UPDATE refresh_tokens SET used = 1 WHERE token_hash = ?", (token_hash,))
                reused = False
        if reused:
            raise RefreshReused("refresh token reused; its session is revoked")
        return RefreshGrant(*row[:5])

    def peek_refresh(self, token_hash: str,
                     now: float | None = None) -> tuple[RefreshGrant, float] | None:
        """A live refresh token's grant and expiry, without using it (introspection): None if
        unknown, expired, or already rotated away."""
        now = time.time() if now is None else now
        row = self._run(
            self._reader(),
            'SELECT family, "user", client_id, scope, issuer, expires, used FROM refresh_tokens'
            " WHERE token_hash = ?", (token_hash,)).fetchone()
        if row is None or float(row[5]) < now or row[6]:
            return None
        return RefreshGrant(*row[:5]), float(row[5])

    def revoke_refresh(self, token_hash: str, client_id: str, *, session_until: float,
                       now: float | None = None) -> RefreshGrant | None:
        """Revoke a refresh token issued to ``client_id``: its whole family (every token it
        rotated from or into) is deleted, and the family (the session access tokens' ``sid``)
        is recorded as revoked until ``session_until``. None, and nothing changes, when the
        token is unknown or belongs to another client."""
        with self._tx() as db:
            row = self._run(
                db, 'SELECT family, "user", client_id, scope, issuer FROM refresh_tokens'
                    " WHERE token_hash = ? FOR UPDATE", (token_hash,)).fetchone()
            if row is None or row[2] != client_id:
                return None
            self._run(db, "DELETE FROM refresh_tokens WHERE family = ?", (row[0],))
            self._revoke(db, f"sid:{row[0]}", session_until)
        return RefreshGrant(*row[:5])

    def revoke(self, key: str, until: float) -> None:
        """Record ``key`` (``jti:<jti>`` or ``sid:<session>``) as revoked until ``until``."""
        with self._tx() as db:
            self._revoke(db, key, until)

    def _revoke(self, db: _Db, key: str, until: float) -> None:
        # One statement: insert, or lengthen an existing entry (never shorten it).
        self._run(db, "INSERT INTO revocations (key, expires) VALUES (?, ?) ON CONFLICT (key)"
                      " DO UPDATE SET expires = excluded.expires"
                      " WHERE revocations.expires < excluded.expires", (key, until))

    def revoked(self, keys: Sequence[str], now: float | None = None) -> bool:
        """Whether any of ``keys`` is revoked (and the revocation has not lapsed)."""
        if not keys:
            return False
        now = time.time() if now is None else now
        marks = ", ".join("?" for _ in keys)
        row = self._run(self._reader(),
                        f"SELECT 1 FROM revocations WHERE key IN ({marks}) AND expires >= ?",  # noqa: S608
                        (*keys, now)).fetchone()
        return row is not None


class SQLiteStateStore(SqlStateStore):
    """The default backend: SQLite (WAL) in the data dir, shared by the workers of one host."""

    FILE_NAME = "state.sqlite3"
    backend = "sqlite"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.path = Path(directory) / self.FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conn().executescript(_SCHEMA)

    def _dialect(self, sql: str) -> str:
        # BEGIN IMMEDIATE already holds the write lock for the whole transaction.
        return sql.replace(" FOR UPDATE", "")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None,
                                   check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            try:
                self.path.chmod(0o600)
            except OSError:
                pass
            self._local.conn = conn
        return conn

    def _reader(self) -> sqlite3.Connection:
        return self._conn()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


StateStore = SQLiteStateStore
"""The default backend under its historical name."""


def _device(row: Any) -> DeviceGrant:
    return DeviceGrant(row[0], row[1], row[2], row[3], row[4], row[5], float(row[6]), int(row[7]))


def _replace(grant: DeviceGrant, **changes: object) -> DeviceGrant:
    from dataclasses import replace
    return replace(grant, **changes)  # type: ignore[arg-type]
