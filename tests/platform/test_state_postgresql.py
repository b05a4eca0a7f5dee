"""The shared state: the ``StateBackend`` contract on SQLite and on a real PostgreSQL, the
``[state]`` config, and two platform processes (separate data dirs, same keys) sharing one
PostgreSQL over real HTTP: what replicas on separate hosts need.

PostgreSQL comes from tests/harness/postgres.py (the run's cluster that
scripts/lib/pre-test.d/40-postgresql.sh started, or one started here); each test gets its own
database. Nothing here skips: missing PostgreSQL binaries fail.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from tests.harness.platform import DEVICE_CODE, MICROSTAX, PlatformServer
from tests.harness.postgres import pg_admin_dsn, postgres_dsn

from microstax.jose.compact import b64url_encode
from microstax.jose.keys import SigningKey
from microstax.platform.config import StateSettings, parse_config, state_dsn
from microstax.platform.errors import ConfigError, StateBackendError
from microstax.platform.state import (
    RefreshGrant,
    RefreshReused,
    SQLiteStateStore,
    StateBackend,
    StateStore,
)
from microstax.platform.state_postgresql import PostgresStateStore

__all__ = ["pg_admin_dsn", "postgres_dsn"]

BACKENDS = ["sqlite", "postgresql"]
DSN_ENV = "MICROSTAX_STATE_DSN"
PG_STATE = {"state": {"backend": "postgresql", "dsn_env": DSN_ENV}}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

MakeStore = Callable[[], StateBackend]


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    """Opens stores on one shared state (each call: another "worker" or "replica")."""
    made: list[StateBackend] = []
    if request.param == "postgresql":
        dsn = request.getfixturevalue("postgres_dsn")

        def factory() -> StateBackend:
            made.append(PostgresStateStore(dsn))
            return made[-1]
    else:
        def factory() -> StateBackend:
            made.append(SQLiteStateStore(tmp_path))
            return made[-1]
    yield factory
    for store in made:
        store.close()


# -- the contract, on both backends ----------------------------------------------------------
def test_state_store_is_the_sqlite_backend(tmp_path: Path) -> None:
    assert StateStore is SQLiteStateStore
    store = StateStore(tmp_path)
    assert (tmp_path / "state.sqlite3").stat().st_mode & 0o777 == 0o600
    store.close()


def test_rate_limits_are_shared(make_store: MakeStore) -> None:
    a, b = make_store(), make_store()
    assert a.rate_take("k", 1.0, 2, now=100.0) == (1, 0.0)
    assert b.rate_take("k", 1.0, 2, now=100.0) == (1, 0.0)
    granted, wait = a.rate_take("k", 1.0, 2, now=100.0)
    assert granted == 0 and wait == pytest.approx(1.0)
    assert b.rate_take("k", 1.0, 2, now=101.5) == (1, 0.0)
    granted, wait = a.rate_take("k", 1.0, 2, now=101.5)
    assert granted == 0 and wait == pytest.approx(0.5)
    assert a.rate_take("j", 1.0, 10, now=100.0, count=4) == (4, 0.0)  # a worker's lease
    assert b.rate_take("j", 1.0, 10, now=100.0, count=20) == (6, 0.0)
    assert a.rate_take("j", 1.0, 10, now=200.0, count=50) == (10, 0.0)  # refilled, capped at burst


def test_rate_limit_is_atomic_under_concurrency(make_store: MakeStore) -> None:
    stores = [make_store() for _ in range(4)]
    results: list[int] = []
    lock = threading.Lock()

    def worker(store: StateBackend) -> None:
        for _ in range(15):
            granted, _ = store.rate_take("race", 1e-9, 25, now=1000.0)
            with lock:
                results.append(granted)

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 25 and len(results) == 60


def test_jti_replay_cache(make_store: MakeStore) -> None:
    a, b = make_store(), make_store()
    assert a.remember_jti("c", "j1", 200.0, now=100.0)
    assert not b.remember_jti("c", "j1", 200.0, now=150.0)
    assert not a.remember_jti("c", "j1", 200.0, now=200.0)  # still live at its expiry
    assert b.remember_jti("other", "j1", 200.0, now=150.0)  # per client
    assert b.remember_jti("c", "j1", 400.0, now=250.0)  # expired entries may be reused
    assert not a.remember_jti("c", "j1", 400.0, now=300.0)


def test_jti_is_accepted_once_under_concurrency(make_store: MakeStore) -> None:
    stores = [make_store() for _ in range(4)]
    results: list[bool] = []
    barrier = threading.Barrier(len(stores))

    def worker(store: StateBackend) -> None:
        barrier.wait()
        results.append(store.remember_jti("c", "same", time.time() + 60))

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]


def _device(store: StateBackend, code: str = "dev-hash", user_code: str = "BCDF-GHJK", *,
            expires: float = 1000.0, interval: int = 5) -> None:
    store.create_device(code, user_code, "cli", "openid federate", "http://iss", expires, interval)


def test_device_authorization_approved_on_one_polled_on_another(make_store: MakeStore) -> None:
    a, b = make_store(), make_store()
    _device(a)
    found = b.find_user_code("BCDF-GHJK", now=100.0)
    assert found is not None
    assert (found.client_id, found.scope, found.issuer, found.status, found.user) == (
        "cli", "openid federate", "http://iss", "pending", None)
    assert (found.expires, found.interval) == (1000.0, 5)
    assert b.find_user_code("BCDF-GHJK", now=1001.0) is None  # expired
    assert b.find_user_code("XXXX-XXXX", now=100.0) is None
    assert b.poll_device("dev-hash", "other-client", now=100.0) is None
    assert b.poll_device("unknown", "cli", now=100.0) is None
    polled = b.poll_device("dev-hash", "cli", now=100.0)
    assert polled is not None and polled.status == "pending"
    slow = a.poll_device("dev-hash", "cli", now=101.0)
    assert slow is not None and (slow.status, slow.interval) == ("slow_down", 10)
    assert a.poll_device("dev-hash", "cli", now=120.0).status == "pending"  # type: ignore[union-attr]
    assert a.decide_user_code("BCDF-GHJK", approve=True, user="dev", now=121.0)
    assert not b.decide_user_code("BCDF-GHJK", approve=False, user="eve", now=121.0)  # decided
    done = b.poll_device("dev-hash", "cli", now=121.5)
    assert done is not None and (done.status, done.user) == ("approved", "dev")
    assert a.poll_device("dev-hash", "cli", now=122.0) is None  # consumed
    assert not a.decide_user_code("BCDF-GHJK", approve=True, user="dev", now=122.0)


def test_device_denied_expired_and_auto_approved(make_store: MakeStore) -> None:
    a, b = make_store(), make_store()
    _device(a, "d1", "AAAA-AAAA")
    assert b.decide_user_code("AAAA-AAAA", approve=False, user="dev", now=100.0)
    denied = a.poll_device("d1", "cli", now=100.0)
    assert denied is not None and denied.status == "denied"
    _device(a, "d2", "BBBB-BBBB", expires=200.0)
    assert not b.decide_user_code("BBBB-BBBB", approve=True, user="dev", now=300.0)
    assert b.poll_device("d2", "cli", now=300.0).status == "expired"  # type: ignore[union-attr]
    assert a.poll_device("d2", "cli", now=300.0) is None
    _device(a, "d3", "CCCC-CCCC")
    auto = b.poll_device("d3", "cli", auto_approve_user="dev", now=100.0)
    assert auto is not None and (auto.status, auto.user) == ("approved", "dev")
    assert a.poll_device("d3", "cli", now=101.0) is None
    _device(a, "d4", "DDDD-DDDD")
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        _device(b, "d5", "DDDD-DDDD")  # user codes are unique


def test_refresh_rotation_reuse_and_expiry(make_store: MakeStore) -> None:
    a, b = make_store(), make_store()
    now = time.time()
    grant = RefreshGrant("fam", "dev", "cli", "federate", "http://iss")
    a.store_refresh("h1", grant, expires=now + 60)
    a.store_refresh("h2", grant, expires=now + 60)
    assert b.refresh_expiry("h1") == pytest.approx(now + 60)
    assert b.refresh_expiry("nope") is None
    assert b.use_refresh("h1") == grant
    with pytest.raises(RefreshReused):
        a.use_refresh("h1")
    assert a.use_refresh("h1") is None  # the family is gone
    assert b.use_refresh("h2") is None
    a.store_refresh("old", grant, expires=now - 1)
    assert b.use_refresh("old") is None
    assert b.use_refresh("unknown") is None


def test_revoking_a_refresh_token_ends_its_family(make_store: MakeStore) -> None:
    a, b = make_store(), make_store()
    now = time.time()
    grant = RefreshGrant("fam", "dev", "cli", "federate", "http://iss")
    other = RefreshGrant("fam2", "dev", "cli", "federate", "http://iss")
    a.store_refresh("first", grant, expires=now + 60)
    assert b.peek_refresh("first") == (grant, pytest.approx(now + 60))
    assert b.use_refresh("first") == grant  # rotated into "second"
    a.store_refresh("second", grant, expires=now + 60)
    a.store_refresh("elsewhere", other, expires=now + 60)
    assert b.peek_refresh("first") is None  # rotated away: not live
    assert b.peek_refresh("unknown") is None
    # another client's token: nothing happens
    assert b.revoke_refresh("first", "not-cli", session_until=now + 90) is None
    assert a.peek_refresh("second") is not None and not a.revoked(["sid:fam"])
    # the rotated-away ancestor revokes its live descendant, and the session's access tokens
    assert b.revoke_refresh("first", "cli", session_until=now + 90) == grant
    assert a.use_refresh("second") is None and a.peek_refresh("second") is None
    assert a.revoked(["jti:x", "sid:fam"]) and not a.revoked(["sid:fam"], now=now + 91)
    assert b.revoke_refresh("first", "cli", session_until=now + 90) is None  # already gone
    assert a.peek_refresh("elsewhere") == (other, pytest.approx(now + 60))  # other families live on
    a.store_refresh("stale", other, expires=now - 1)
    assert b.peek_refresh("stale") is None


def test_access_token_revocations(make_store: MakeStore) -> None:
    a, b = make_store(), make_store()
    now = time.time()
    assert not b.revoked([]) and not b.revoked(["jti:a"])
    a.revoke("jti:a", now + 60)
    assert b.revoked(["jti:a"]) and b.revoked(["sid:none", "jti:a"]) and not b.revoked(["jti:b"])
    a.revoke("jti:a", now - 100)  # a later, shorter revocation never shortens it
    assert b.revoked(["jti:a"]) and not b.revoked(["jti:a"], now=now + 61)
    a.revoke("jti:a", now + 600)  # a longer one lengthens it
    assert b.revoked(["jti:a"], now=now + 61)
    a.revoke("jti:gone", 50.0)
    b.purge(now=now)
    assert not a.revoked(["jti:gone"], now=10.0)  # purged
    assert a.revoked(["jti:a"])


def test_purge_drops_expired_rows(make_store: MakeStore) -> None:
    a, b = make_store(), make_store()
    grant = RefreshGrant("fam", "dev", "cli", "federate", "http://iss")
    a.store_refresh("gone", grant, expires=50.0)
    a.store_refresh("kept", grant, expires=10_000.0)
    a.remember_jti("c", "gone", 50.0, now=10.0)
    a.remember_jti("c", "kept", 10_000.0, now=10.0)
    _device(a, "gone", "GGGG-GGGG", expires=20.0)
    _device(a, "kept", "KKKK-KKKK", expires=10_000.0)
    a.rate_take("gone", 1.0, 5, now=10.0)
    a.rate_take("kept", 1.0, 5, now=5000.0)
    b.purge(now=5000.0)
    assert b.refresh_expiry("gone") is None and b.refresh_expiry("kept") == 10_000.0
    assert a.remember_jti("c", "gone", 10_000.0, now=10.0)  # no longer remembered
    assert not a.remember_jti("c", "kept", 10_000.0, now=10.0)
    assert b.find_user_code("GGGG-GGGG", now=10.0) is None
    assert b.find_user_code("KKKK-KKKK", now=10.0) is not None
    # the purged bucket starts full again; the kept one is still drained
    assert a.rate_take("gone", 1.0, 5, now=10.0, count=5) == (5, 0.0)
    assert a.rate_take("kept", 1.0, 5, now=5000.0, count=5) == (4, 0.0)
    b.purge(now=5000.0 + 1)  # at most once a minute per store: nothing happens
    _device(a, "late", "LLLL-LLLL", expires=4000.0)
    b.purge(now=5000.0 + 2)
    assert a.find_user_code("LLLL-LLLL", now=3000.0) is not None


def test_postgres_schema_creation_is_idempotent_and_concurrent(postgres_dsn: str) -> None:
    stores: list[PostgresStateStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(PostgresStateStore(postgres_dsn))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(stores) == 4
    stores[0].store_refresh("h", RefreshGrant("f", "u", "c", "s", "i"), expires=time.time() + 60)
    again = PostgresStateStore(postgres_dsn)
    assert again.refresh_expiry("h") is not None
    for store in [*stores, again]:
        store.close()


def test_postgres_reconnects_after_the_connection_drops(postgres_dsn: str) -> None:
    store = PostgresStateStore(postgres_dsn)
    assert store.remember_jti("c", "a", time.time() + 60)
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE application_name = 'microstax-platform' AND datname = current_database()")
    with pytest.raises(psycopg.OperationalError):
        store.remember_jti("c", "b", time.time() + 60)
    assert store.remember_jti("c", "b", time.time() + 60)  # a new connection
    store.close()


def test_postgres_connection_errors_name_the_key_not_the_password(pg_admin_dsn: str) -> None:
    wrong = re.sub(r":[^:@/]+@", ":Wr0ng-Pa55word@", pg_admin_dsn)
    with pytest.raises(StateBackendError) as info:
        PostgresStateStore(wrong, source="platform.toml: state.dsn_env=X")
    assert "platform.toml: state.dsn_env=X" in str(info.value)
    assert "Wr0ng-Pa55word" not in str(info.value)
    assert "Wr0ng-Pa55word" not in repr(PostgresStateStore(pg_admin_dsn))


# -- [state] config ----------------------------------------------------------------------------
@pytest.mark.parametrize(("state", "where"), [
    ({"backend": "redis"}, "platform.toml: state.backend: must be 'sqlite' or 'postgresql'"),
    ({"backend": "postgresql"}, "platform.toml: state.backend: 'postgresql' needs dsn_env or dsn_file"),
    ({"backend": "postgresql", "dsn": "postgresql://u:p@h/db"}, "platform.toml: state.dsn: no connection strings"),
    ({"backend": "postgresql", "dsn_env": "NOT A NAME"}, "platform.toml: state.dsn_env: must be an environment"),
    ({"backend": "postgresql", "dsn_env": "X", "dsn_file": "f"}, "platform.toml: state.dsn_file: give dsn_env or dsn_file"),
    ({"dsn_env": "X"}, "platform.toml: state.dsn_env: only used with backend = 'postgresql'"),
    ({"backend": "postgresql", "dsn_env": 3}, "platform.toml: state.dsn_env: expected a string"),
    ({"backend": "postgresql", "dsn_env": "X", "pool": 3}, "platform.toml: state.pool: unknown key"),
])
def test_state_config_errors_name_the_file_and_key(state: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"state": state})
    assert str(info.value).startswith(where), str(info.value)


def test_state_config_default_and_dsn_sources(tmp_path: Path) -> None:
    assert parse_config({}).state == StateSettings()
    env = parse_config({"state": {"backend": "postgresql", "dsn_env": DSN_ENV}}, file="/etc/p.toml").state
    assert (env.backend, env.dsn_env, env.file) == ("postgresql", DSN_ENV, "/etc/p.toml")
    assert state_dsn(env, tmp_path, {DSN_ENV: " postgresql://x \n"}) == "postgresql://x"
    with pytest.raises(ConfigError, match=r"^/etc/p.toml: state.dsn_env: the environment variable "
                                          r"MICROSTAX_STATE_DSN is not set or empty$"):
        state_dsn(env, tmp_path, {})
    relative = parse_config({"state": {"backend": "postgresql", "dsn_file": "dsn"}}).state
    with pytest.raises(ConfigError, match=r"^platform.toml: state.dsn_file: cannot read .*dsn"):
        state_dsn(relative, tmp_path, {})
    (tmp_path / "dsn").write_text("\n")
    with pytest.raises(ConfigError, match=r"^platform.toml: state.dsn_file: .* is empty$"):
        state_dsn(relative, tmp_path, {})
    (tmp_path / "dsn").write_text("postgresql://from-file\n")
    assert state_dsn(relative, tmp_path, {}) == "postgresql://from-file"
    absolute = parse_config({"state": {"backend": "postgresql", "dsn_file": str(tmp_path / "dsn")}}).state
    assert state_dsn(absolute, Path("/nonexistent"), {}) == "postgresql://from-file"


def test_serve_refuses_an_unusable_state_without_showing_the_dsn(tmp_path: Path,
                                                                 pg_admin_dsn: str) -> None:
    server = PlatformServer(tmp_path / "p", config_overrides=PG_STATE)
    server.init()
    base = [str(MICROSTAX), "platform", "serve", "--data-dir", str(server.data_dir), "--port", "0"]
    r = subprocess.run(base, capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert r.returncode != 0 and "state.dsn_env: the environment variable MICROSTAX_STATE_DSN" in r.stderr
    wrong = re.sub(r":[^:@/]+@", ":Wr0ng-Pa55word@", pg_admin_dsn)
    r = subprocess.run(base, capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), DSN_ENV: wrong})
    assert r.returncode != 0
    assert "cannot connect to the PostgreSQL state store" in r.stderr and "state.dsn_env" in r.stderr
    assert "Wr0ng-Pa55word" not in r.stdout + r.stderr


# -- two platform processes, one PostgreSQL, over HTTP ------------------------------------------
def _replicas(tmp_path: Path, dsn: str, overrides: dict[str, Any]) -> tuple[PlatformServer, PlatformServer]:
    """A and B: separate data dirs holding the same config and keys (copied, as a Secret /
    ConfigMap would mount them), each its own process, one PostgreSQL state."""
    env = {DSN_ENV: dsn}
    a = PlatformServer(tmp_path / "a", config_overrides={**PG_STATE, **overrides}, env=env)
    a.init()
    a.config_overrides = {}  # applied; start() would append "clients+" a second time
    b_dir = tmp_path / "b"
    b_dir.mkdir()
    for name in ("platform.toml", "keys.json", "platform.secret", "demo-workload.secret",
                 "dev-user.password"):
        if (a.data_dir / name).exists():
            shutil.copy2(a.data_dir / name, b_dir / name)
    if (a.data_dir / "clusters").is_dir():
        shutil.copytree(a.data_dir / "clusters", b_dir / "clusters")
    b = PlatformServer(b_dir, env=env, audit_to_file=False)
    assert a.data_dir != b.data_dir
    return a, b


@pytest.fixture
def replicas(tmp_path: Path, postgres_dsn: str,
             request: pytest.FixtureRequest) -> Iterator[tuple[PlatformServer, PlatformServer]]:
    overrides = getattr(request, "param", {})
    a, b = _replicas(tmp_path, postgres_dsn, overrides)
    with a, b:
        assert a.issuer != b.issuer
        assert not (a.data_dir / "state.sqlite3").exists() and not (b.data_dir / "state.sqlite3").exists()
        yield a, b


def _poll(server: PlatformServer, device_code: str) -> httpx.Response:
    return httpx.post(server.token_endpoint, timeout=30, data={
        "grant_type": DEVICE_CODE, "client_id": "microstax-cli", "device_code": device_code})


def _refresh(server: PlatformServer, token: str) -> httpx.Response:
    return httpx.post(server.token_endpoint, timeout=30, data={
        "grant_type": "refresh_token", "client_id": "microstax-cli", "refresh_token": token})


@pytest.mark.parametrize("replicas", [{"dev": None, "tokens": {"device_poll_interval": 0}}],
                         indirect=True)
def test_device_sign_in_started_on_a_completes_by_polling_b(
        replicas: tuple[PlatformServer, PlatformServer]) -> None:
    a, b = replicas
    r = httpx.post(f"{a.issuer}/oauth/device_authorization", timeout=30,
                   data={"client_id": "microstax-cli", "scope": "openid offline_access federate"})
    assert r.status_code == 200, r.text
    device = r.json()
    r = _poll(b, device["device_code"])
    assert r.status_code == 400 and r.json()["error"] == "authorization_pending", r.text
    # the user approves on A's page (its form token verifies on B too: same platform.secret)
    with httpx.Client(base_url=a.issuer, timeout=30) as browser:
        page = browser.get("/device", params={"user_code": device["user_code"]})
        assert page.status_code == 200 and device["user_code"] in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        r = browser.post("/device", data={"csrf": csrf.group(1), "user_code": device["user_code"],
                                          "username": "dev", "password": a.dev_password,
                                          "action": "approve"})
        assert r.status_code == 200, r.text
    r = _poll(b, device["device_code"])
    assert r.status_code == 200, r.text
    assert r.json()["access_token"] and r.json()["refresh_token"]
    r = _poll(a, device["device_code"])  # consumed, on every replica
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_refresh_token_from_b_is_redeemed_on_a_and_rotation_holds_on_b(
        replicas: tuple[PlatformServer, PlatformServer]) -> None:
    a, b = replicas
    session = b.device_login()  # dev auto-approve (loopback)
    r = _refresh(a, session["refresh_token"])
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["refresh_token"] != session["refresh_token"]
    r = _refresh(b, session["refresh_token"])  # the rotated-away token, replayed on B
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    r = _refresh(a, rotated["refresh_token"])  # reuse revoked the whole session
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text


JWT_KEY = SigningKey.generate("ES256")


def _assertion(key: SigningKey, audiences: list[str]) -> str:
    import json

    now = int(time.time())
    header = {"alg": "ES256", "typ": "JWT", "kid": key.kid}
    claims = {"iss": "jwt-workload", "sub": "jwt-workload", "aud": audiences, "iat": now,
              "exp": now + 60, "jti": uuid.uuid4().hex}
    h = b64url_encode(json.dumps(header).encode())
    p = b64url_encode(json.dumps(claims).encode())
    return f"{h}.{p}.{b64url_encode(key.sign(f'{h}.{p}'.encode()))}"


@pytest.mark.parametrize("replicas", [{"clients+": [{
    "client_id": "jwt-workload", "type": "confidential", "jwks": {"keys": [JWT_KEY.public_jwk]},
    "environment": "dev", "service": "orders", "grant_types": ["client_credentials"],
    "scopes": ["read"], "audiences": ["*"]}]}], indirect=True)
def test_private_key_jwt_used_on_a_is_a_replay_on_b(
        replicas: tuple[PlatformServer, PlatformServer]) -> None:
    a, b = replicas
    assertion = _assertion(JWT_KEY, [a.issuer, b.issuer])  # valid at both replicas
    data = {"grant_type": "client_credentials", "audience": "stx-eu-west-cluster",
            "client_assertion_type": ASSERTION_TYPE}
    r = httpx.post(a.token_endpoint, data={**data, "client_assertion": assertion}, timeout=30)
    assert r.status_code == 200, r.text
    r = httpx.post(b.token_endpoint, data={**data, "client_assertion": assertion}, timeout=30)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    assert "replay" in r.json()["error_description"]
    fresh = _assertion(JWT_KEY, [a.issuer, b.issuer])  # B itself works
    r = httpx.post(b.token_endpoint, data={**data, "client_assertion": fresh}, timeout=30)
    assert r.status_code == 200, r.text


def test_harness_fails_clearly_without_postgresql_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.harness import postgres

    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    with pytest.raises(postgres.PostgresUnavailable, match="install Debian's 'postgresql'"):
        postgres.PostgresCluster.start_new()
