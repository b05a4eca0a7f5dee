"""``SealedStore``: big records as AES-GCM files, only a small key in the keyring; tampering,
truncation, a lost key and odd files are clear errors; old big keyring entries migrate."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

from microstax.adapters.secrets import (
    MAX_ENTRY_CHARS,
    KeyringSecretStore,
    MemorySecretStore,
    SealedRecordUnreadable,
    SealedStore,
    SecretStoreUnavailable,
)
from microstax.identity.session import Session, SessionStore

BIG = "x" * 30_000 + "é"  # a token cache is tens of KB


def _store(tmp_path: Path, keys: MemorySecretStore | None = None) -> tuple[SealedStore, MemorySecretStore]:
    keys = keys if keys is not None else MemorySecretStore()
    return SealedStore(keys, tmp_path / "sealed"), keys


def test_round_trip_keeps_only_a_small_key_in_the_keyring(tmp_path: Path) -> None:
    store, keys = _store(tmp_path)
    assert store.get("tokens:dev") is None and store.generation("tokens:dev") is None
    store.set("tokens:dev", BIG)
    assert store.get("tokens:dev") == BIG
    assert list(keys._data) == [store.key_name] and store.key_name.startswith("storage-key:")
    assert len(keys._data[store.key_name]) <= 64 < MAX_ENTRY_CHARS
    path = store.path("tokens:dev")
    assert path.parent == tmp_path / "sealed" and path.stat().st_mode & 0o777 == 0o600
    assert b"xxxxxxxx" not in path.read_bytes()
    # another process (another instance, the same keyring and directory) reads it
    assert SealedStore(keys, tmp_path / "sealed").get("tokens:dev") == BIG


def test_generation_changes_with_every_write_and_delete(tmp_path: Path) -> None:
    store, keys = _store(tmp_path)
    store.set("session:dev", "a")
    first = store.generation("session:dev")
    other = SealedStore(keys, tmp_path / "sealed")
    other.set("session:dev", "b")
    assert store.generation("session:dev") not in (None, first)
    assert store.get("session:dev") == "b"
    assert other.delete("session:dev") and store.generation("session:dev") is None
    assert not other.delete("session:dev")


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage", "swap"])
def test_a_damaged_file_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    store, _ = _store(tmp_path)
    store.set("session:dev", '{"v": 1}')
    store.set("session:prod", '{"v": 2}')
    path = store.path("session:dev")
    data = path.read_bytes()
    if damage == "flip":
        path.write_bytes(data[:-5] + bytes([data[-5] ^ 1]) + data[-4:])
    elif damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "garbage":
        path.write_bytes(os.urandom(200))
    else:  # another record's file under this record's name
        path.write_bytes(store.path("session:prod").read_bytes())
    with pytest.raises(SealedRecordUnreadable) as info:
        store.get("session:dev")
    assert str(path) in info.value.message and "cannot be opened" in info.value.message
    store.set("session:dev", "again")  # signing in again rewrites it
    assert store.get("session:dev") == "again"


def test_a_lost_key_makes_records_unreadable_never_readable(tmp_path: Path) -> None:
    store, keys = _store(tmp_path)
    store.set("session:dev", "secret-session")
    keys.delete(store.key_name)
    fresh = SealedStore(keys, tmp_path / "sealed")
    with pytest.raises(SealedRecordUnreadable, match="its key is not in the keyring"):
        fresh.get("session:dev")
    fresh.set("session:prod", "new")  # a new key is made for new records
    with pytest.raises(SealedRecordUnreadable, match="its key is not in the keyring"):
        fresh.get("session:dev")
    # the first instance notices the keyring's newer key instead of trusting its cached one
    assert store.get("session:prod") == "new"
    keys.set(store.key_name, "not a key")
    with pytest.raises(SecretStoreUnavailable, match="not a MicroStax storage key"):
        SealedStore(keys, tmp_path / "sealed").get("session:prod")


def test_odd_files_fail_without_hanging(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    store.set("session:dev", "v")
    fifo = store.path("session:fifo")
    os.mkfifo(fifo)
    with pytest.raises(SealedRecordUnreadable, match="not a regular file"):
        store.get("session:fifo")
    link = store.path("session:link")
    link.symlink_to(store.path("session:dev"))
    with pytest.raises(SealedRecordUnreadable, match="cannot open it"):
        store.get("session:link")
    big = store.path("session:big")
    with big.open("wb") as f:
        f.truncate(SealedStore.MAX_BYTES + 10)
    with pytest.raises(SealedRecordUnreadable, match="over"):
        store.get("session:big")


def test_old_big_keyring_entries_move_into_sealed_files(tmp_path: Path) -> None:
    keys = MemorySecretStore()
    keys.set("session:dev", BIG)  # as earlier versions kept it
    store, _ = _store(tmp_path, keys)
    assert store.get("session:dev") == BIG
    assert keys.get("session:dev") is None and store.path("session:dev").exists()
    assert SealedStore(keys, tmp_path / "sealed").get("session:dev") == BIG
    keys.set("tokens:dev", BIG)  # delete removes an old entry too
    assert SealedStore(keys, tmp_path / "sealed").delete("tokens:dev")
    assert keys.get("tokens:dev") is None


def test_racing_processes_agree_on_one_key(tmp_path: Path) -> None:
    keys = MemorySecretStore()
    stores = [SealedStore(keys, tmp_path / "sealed") for _ in range(8)]
    barrier = threading.Barrier(len(stores))

    def write(i: int) -> None:
        barrier.wait()
        stores[i].set(f"tokens:e{i}", f"v{i}")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reader = SealedStore(keys, tmp_path / "sealed")
    assert [reader.get(f"tokens:e{i}") for i in range(len(stores))] == [f"v{i}" for i in range(len(stores))]


def test_a_session_that_cannot_be_opened_says_sign_in_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, _ = _store(tmp_path)
    sessions = SessionStore(store)
    session = Session(environment="dev", issuer="https://i", kind="user", subject="dev", expires_at=2e9,
                      obtained_at=1e9, token_endpoint="https://i/t", client_id="c", access_token="a" * 5000,
                      refresh_token="r" * 40)
    sessions.save(session)
    assert sessions.load("dev") == session and sessions.generation("dev") is not None
    path = store.path("session:dev")
    path.write_bytes(path.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, "microstax.identity"):
        assert sessions.load("dev") is None
    assert "cannot be opened" in caplog.text and "microstax login --env dev" in caplog.text
    assert "a" * 20 not in caplog.text


class _Backend(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.data.pop((service, username), None)


def test_the_keyring_store_refuses_an_entry_no_keyring_holds_everywhere(tmp_path: Path) -> None:
    backend = _Backend()
    store = KeyringSecretStore(backend=backend)
    store.set("client-secret", "s" * MAX_ENTRY_CHARS)
    with pytest.raises(SecretStoreUnavailable, match="at most 1280") as info:
        store.set("too-big", "s" * (MAX_ENTRY_CHARS + 1))
    assert "sss" not in info.value.message and "file:" in (info.value.hint or "")
    assert ("microstax", "too-big") not in backend.data
    sealed = SealedStore(store, tmp_path / "sealed")
    sealed.set("tokens:x", BIG)  # what is big goes sealed, its key fits
    assert all(len(v) <= MAX_ENTRY_CHARS for v in backend.data.values())
    assert sealed.delete("tokens:x")
