"""What the CLI keeps in the real OS keyring (gnome-keyring's Secret Service in the private
desktop session): every entry fits the smallest desktop keyring (Windows Credential Manager,
1,280 characters), the big records are sealed files, old big entries migrate, and a damaged
file asks to sign in again instead of crashing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import keyring
import pytest
from tests.cli_client.test_cli_client import EU, Client
from tests.harness.desktop import DesktopSession
from tests.harness.platform import PlatformServer

from microstax.adapters.secrets import MAX_ENTRY_CHARS, SealedStore

pytestmark = pytest.mark.desktop

CLUSTERS = (EU, "stx-us-east-cluster", "stx-ap-south-cluster")


def keyring_entries() -> dict[str, str]:
    """Every entry of the service ``microstax`` in the session's Secret Service, by name."""
    import secretstorage

    conn = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(conn)
        return {item.get_attributes().get("username", "?"): item.get_secret().decode("utf-8")
                for item in collection.search_items({"service": "microstax"})}
    finally:
        conn.close()


def sealed(client: Client) -> SealedStore:
    from microstax.adapters.secrets import KeyringSecretStore

    return SealedStore(KeyringSecretStore(), client.tmp / "state" / "sealed")


@pytest.fixture
def client(tmp_path: Path, platform: PlatformServer, desktop_session: DesktopSession) -> Client:
    c = Client(tmp_path, platform, desktop_session.env)
    yield c
    c.run("logout")


def test_no_keyring_entry_exceeds_what_every_desktop_keyring_holds(client: Client) -> None:
    assert client.run("login").returncode == 0
    for cluster in CLUSTERS:
        for service in ("default", "payments"):
            r = client.run("identity", "federate", "-t", cluster, "-s", service)
            assert r.returncode == 0, r.stderr
    store = sealed(client)
    session, tokens = store.path("session:dev"), store.path("tokens:dev")
    # what used to be keyring entries: far bigger than a Windows credential
    assert session.stat().st_size > 2 * MAX_ENTRY_CHARS and tokens.stat().st_size > 10 * MAX_ENTRY_CHARS
    assert session.stat().st_mode & 0o777 == 0o600 and tokens.stat().st_mode & 0o777 == 0o600
    entries = keyring_entries()
    assert store.key_name in entries and "session:dev" not in entries and "tokens:dev" not in entries
    too_big = {name: len(secret) for name, secret in entries.items() if len(secret) > MAX_ENTRY_CHARS}
    assert too_big == {}
    # the records are not readable without the key: no token text in any file of the state dir
    record = json.loads(store.get("session:dev") or "{}")
    files = b"".join(p.read_bytes() for p in (client.tmp / "state").rglob("*") if p.is_file())
    assert record["access_token"].encode()[-40:] not in files and record["refresh_token"].encode() not in files


def test_old_big_keyring_entries_are_moved_into_sealed_files(client: Client, platform: PlatformServer) -> None:
    env = f"legacy{os.getpid()}"  # its own names in the shared keyring
    client.write_config({"default_environment": env, "environments": {
        env: {"platform": platform.issuer, "catalog_environment": "dev"}}})
    assert client.run("login").returncode == 0
    assert client.run("identity", "federate", "-t", EU).returncode == 0
    store = sealed(client)
    old = {name: store.get(name) for name in (f"session:{env}", f"tokens:{env}")}
    assert all(old.values())
    for name, value in old.items():  # as earlier versions kept them: whole, in the keyring
        store.path(name).unlink()
        keyring.set_password("microstax", name, value)
    rc, status = client.json("identity", "status")
    assert rc == 0 and status["signedIn"] is True and status["subject"] == "dev"
    rc, doc = client.json("identity", "federate", "-t", EU)
    assert rc == 0 and doc["fromCache"] is True  # the token cache came along
    entries = keyring_entries()
    assert f"session:{env}" not in entries and f"tokens:{env}" not in entries
    assert {name: sealed(client).get(name) for name in old} == old
    assert client.run("logout").returncode == 0


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_session_file_asks_to_sign_in_again(client: Client, damage: str) -> None:
    assert client.run("login").returncode == 0
    assert client.run("identity", "federate", "-t", EU).returncode == 0
    path = sealed(client).path("session:dev")
    data = path.read_bytes()
    path.write_bytes(data[:60] if damage == "truncate" else data[:-1] + bytes([data[-1] ^ 0x40]))
    r = client.run("identity", "federate", "-t", EU)
    assert r.returncode == 3, r.stderr  # NOT_SIGNED_IN: a user error, not a crash (70)
    assert "cannot be opened" in r.stderr and "sign in again" in r.stderr and "microstax login" in r.stderr
    assert "Traceback" not in r.stderr
    r = client.run("identity", "status")
    assert r.returncode == 3 and "Traceback" not in r.stderr
    # a damaged token cache only costs a new exchange
    tokens = sealed(client).path("tokens:dev")
    tokens.write_bytes(tokens.read_bytes()[:-3])
    assert client.run("login").returncode == 0
    r = client.run("identity", "federate", "-t", EU)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
