"""Where secrets live: the OS keyring (service name ``microstax``), never a plain file.

    SecretStore                  get / set / delete of small secrets, keyed by name
    ├── KeyringSecretStore       the OS keyring through ``keyring`` (Secret Service, Keychain, …)
    ├── InsecureFileSecretStore  a 0600 JSON file, only with MICROSTAX_INSECURE_FILE_KEYRING=1
    ├── MemorySecretStore        process memory (tests, one-shot workloads)
    └── SealedStore              large records (sessions, token caches): AES-256-GCM files in
                                 the state dir, their key a small entry of one of the above

``default_store()`` picks the keyring, or raises ``SecretStoreUnavailable`` with a hint that
says how to get one. It refuses the fail/null backends and the plaintext ``keyrings.alt``
backends (which ``keyring`` may otherwise pick silently). The one weaker store is an explicit
opt-in, warned about on every start.

Every keyring entry stays small: Windows Credential Manager holds at most 2,560 bytes of
UTF-16 (``MAX_ENTRY_CHARS`` = 1,280 characters) per entry, and a signed-in session (~7 KB)
or a token cache (tens of KB) does not fit. ``SealedStore`` keeps such records encrypted in
0600 files and only a 32-byte key in the keyring (see its docstring and docs/client.md).

Secrets are never logged and never part of an error message: errors name the entry only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..jose import loads_json, read_limited, write_private_file

SERVICE = "microstax"
INSECURE_ENV = "MICROSTAX_INSECURE_FILE_KEYRING"
#: the most any one keyring entry may hold (Windows Credential Manager: 2,560 bytes of UTF-16)
MAX_ENTRY_CHARS = 1280

log = logging.getLogger("microstax.secrets")
_T = TypeVar("_T")

KEYRING_HINT = (
    "install and unlock an OS keyring. Linux: a Secret Service provider such as gnome-keyring "
    "on a D-Bus session bus (packages 'gnome-keyring' and 'dbus'; in a headless session start "
    "'gnome-keyring-daemon --unlock --components=secrets' with the password on stdin); macOS "
    "Keychain and Windows Credential Locker work as they are. Last resort, weaker: set "
    f"{INSECURE_ENV}=1 to keep secrets in a 0600 file (see docs/client.md)"
)


class SecretStoreUnavailable(RuntimeError):
    """No usable secret store (no keyring backend, locked, no D-Bus, plaintext only)."""

    code = "KEYRING_UNAVAILABLE"

    def __init__(self, message: str, *, hint: str | None = KEYRING_HINT) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class SecretStore(Protocol):
    """Small secrets by name. Implementations are thread-safe."""

    description: str

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> bool: ...


class MemorySecretStore:
    """Secrets in process memory only (tests; workloads that must not persist anything)."""

    description = "memory (not persisted)"

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._data.get(name)

    def set(self, name: str, value: str) -> None:
        with self._lock:
            self._data[name] = value

    def delete(self, name: str) -> bool:
        with self._lock:
            return self._data.pop(name, None) is not None

    def __repr__(self) -> str:
        return f"MemorySecretStore({len(self._data)} entries)"


def _backend_name(backend: Any) -> str:
    return f"{type(backend).__module__}.{type(backend).__qualname__}"


def check_keyring_backend(backend: Any) -> None:
    """Raise ``SecretStoreUnavailable`` unless ``backend`` is a real OS keyring."""
    from keyring.backends import chainer, fail

    name = _backend_name(backend)
    if isinstance(backend, fail.Keyring) or name.startswith("keyring.backends.null"):
        raise SecretStoreUnavailable("no OS keyring is available to hold the session's secrets")
    if name.startswith("keyrings.alt") or "plaintext" in name.lower():
        raise SecretStoreUnavailable(
            f"the only keyring backend found ({name}) keeps secrets in plain text; refusing it"
        )
    if isinstance(backend, chainer.ChainerBackend):
        inner = list(getattr(backend, "backends", []))
        if not inner:
            raise SecretStoreUnavailable("no OS keyring is available to hold the session's secrets")
        for each in inner:
            check_keyring_backend(each)


class KeyringSecretStore:
    """The OS keyring via ``keyring``; every entry under the service name ``microstax``."""

    def __init__(self, service: str = SERVICE, backend: Any = None) -> None:
        import keyring

        self.service = service
        if backend is None:
            from keyring import errors

            try:
                backend = keyring.get_keyring()
            except (errors.KeyringError, RuntimeError, OSError) as exc:
                # A backend forced by PYTHON_KEYRING_BACKEND fails here when its bus is absent.
                raise SecretStoreUnavailable(
                    f"the OS keyring could not be opened ({type(exc).__name__})"
                ) from exc
        self._backend = backend
        check_keyring_backend(self._backend)
        self.description = f"OS keyring ({_backend_name(self._backend)})"
        # Secret Service calls open their own D-Bus connection; serialise them anyway so a
        # burst of threads cannot trip over one another's unlock prompts.
        self._lock = threading.Lock()

    def _call(self, what: str, name: str, fn: Callable[[], _T]) -> _T:
        from keyring import errors

        with self._lock:
            try:
                return fn()
            except errors.KeyringLocked as exc:
                raise SecretStoreUnavailable(
                    f"the OS keyring is locked, so the entry {name!r} cannot be {what}",
                    hint="unlock the keyring (sign in to the desktop session, or run "
                    "'gnome-keyring-daemon --unlock' with the password on stdin) and retry",
                ) from exc
            except errors.PasswordDeleteError:
                raise
            except (errors.KeyringError, RuntimeError, OSError) as exc:
                # Also a missing D-Bus session bus (a plain RuntimeError from the backend).
                raise SecretStoreUnavailable(
                    f"the OS keyring failed while the entry {name!r} was {what} "
                    f"({type(exc).__name__})"
                ) from exc

    def get(self, name: str) -> str | None:
        return self._call("read", name, lambda: self._backend.get_password(self.service, name))

    def set(self, name: str, value: str) -> None:
        if len(value) > MAX_ENTRY_CHARS:
            raise SecretStoreUnavailable(
                f"the entry {name!r} would hold {len(value)} characters; an OS keyring entry holds "
                f"at most {MAX_ENTRY_CHARS} everywhere (Windows Credential Manager)",
                hint="keep a large secret in a file (0600) and refer to it as 'file:/path'")
        self._call("written", name, lambda: self._backend.set_password(self.service, name, value))

    def delete(self, name: str) -> bool:
        from keyring import errors

        def run() -> bool:
            try:
                self._backend.delete_password(self.service, name)
            except errors.PasswordDeleteError:
                return False
            return True

        return self._call("deleted", name, run)

    def __repr__(self) -> str:
        return f"KeyringSecretStore({self.description})"


class InsecureFileSecretStore:
    """Secrets in a JSON file readable only by the user (mode 0600). Weaker than a keyring:
    anything running as the user, and any backup of the file, can read them. Only ever used
    when ``MICROSTAX_INSECURE_FILE_KEYRING=1`` says so."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.description = f"INSECURE plaintext file {self.path} ({INSECURE_ENV}=1)"
        self._lock = threading.Lock()
        log.warning(
            "secrets are kept in the plaintext file %s because %s=1 is set; use an OS keyring "
            "instead wherever you can", self.path, INSECURE_ENV,
        )

    def _load(self) -> dict[str, str]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        if st.st_mode & 0o077:
            raise SecretStoreUnavailable(
                f"{self.path} is readable by others (mode {st.st_mode & 0o777:o})",
                hint=f"run 'chmod 600 {self.path}'",
            )
        try:
            doc = loads_json(read_limited(self.path), "secret file")
            if not isinstance(doc, dict) or not isinstance(doc.get("secrets", {}), dict):
                raise ValueError("not a secret file")
        except (OSError, ValueError) as exc:
            raise SecretStoreUnavailable(f"{self.path} cannot be read as a secret file",
                                         hint="delete it and sign in again") from exc
        return {str(k): str(v) for k, v in doc.get("secrets", {}).items()}

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._load().get(name)

    def set(self, name: str, value: str) -> None:
        with self._lock:
            data = self._load()
            data[name] = value
            write_private_file(self.path, json.dumps({"v": 1, "secrets": data}).encode("utf-8"))

    def delete(self, name: str) -> bool:
        with self._lock:
            data = self._load()
            if data.pop(name, None) is None:
                return False
            write_private_file(self.path, json.dumps({"v": 1, "secrets": data}).encode("utf-8"))
            return True

    def __repr__(self) -> str:
        return f"InsecureFileSecretStore({self.path})"


class SealedRecordUnreadable(ValueError):
    """A sealed record's file was changed, cut short or replaced, or its key is not the one in
    the keyring: it cannot be opened (the fix is to sign in again, which rewrites it)."""

    def __init__(self, name: str, path: Path, why: str) -> None:
        super().__init__(f"the stored {name!r} ({path}) cannot be opened: {why}")
        self.name = name
        self.path = path
        self.message = str(self)


_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_MAGIC = b"MXS1"
_KEY_PREFIX = "v1:"
_NONCE_BYTES = 12
_KID_BYTES = 8
_TAG_BYTES = 16


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class SealedStore:
    """Large secret records in files, encrypted, with only their key in the secret store.

    ``get/set/delete`` like a ``SecretStore``. A record ``NAME`` is the file
    ``<directory>/<NAME, sanitised>-<digest>.sealed`` (0600, replaced atomically by
    ``jose.write_private_file``): ``MXS1 | key id (8) | nonce (12) | AES-256-GCM ciphertext``,
    with ``MXS1`` and the record's name as associated data, so a file that is changed, cut
    short or renamed to another record fails to open (``SealedRecordUnreadable``). The key is
    32 random bytes kept in the secret store (the OS keyring) as one small entry,
    ``storage-key:<digest of the directory>`` (~50 characters), made on first use under a file
    lock and never rotated or deleted (a sign-out deletes the records). Losing the key (or
    the keyring) makes the records unreadable, never readable by someone else.

    ``generation(NAME)`` is the record file's identity (inode, mtime, size) or ``None``: a
    cheap ``stat`` a process uses to notice that another process changed or removed a record
    (a ``microstax logout`` in a terminal while the editor's daemon holds the session).

    Migration: a record that earlier versions kept whole in the keyring under ``NAME`` is read
    once (when its file does not exist), written sealed, and its big keyring entry deleted.

    Synchronous and thread-safe; reads are bounded (``MAX_BYTES``).
    """

    MAX_BYTES = 16 * 1024 * 1024

    def __init__(self, keys: SecretStore, directory: Path) -> None:
        self.keys = keys
        self.directory = Path(directory)
        digest = hashlib.sha256(str(self.directory.resolve()).encode("utf-8")).hexdigest()[:16]
        self.key_name = f"storage-key:{digest}"
        self.description = f"sealed files in {self.directory} (key: {getattr(keys, 'description', 'secret store')})"
        self._key: bytes | None = None
        self._lock = threading.Lock()
        self._legacy_checked: set[str] = set()
        self._paths: dict[str, Path] = {}  # generation() runs on every warm federate

    # -- the key ----------------------------------------------------------------------------
    @staticmethod
    def _kid(key: bytes) -> bytes:
        return hashlib.sha256(key).digest()[:_KID_BYTES]

    def _read_key(self) -> bytes | None:
        text = self.keys.get(self.key_name)
        if not text:
            return None
        try:
            if not text.startswith(_KEY_PREFIX):
                raise ValueError
            key = base64.urlsafe_b64decode(text[len(_KEY_PREFIX):] + "=")
        except (ValueError, binascii.Error):
            key = b""
        if len(key) != 32:
            raise SecretStoreUnavailable(
                f"the keyring entry {self.key_name!r} is not a MicroStax storage key",
                hint=f"delete that entry (service '{SERVICE}') and sign in again")
        return key

    def _the_key(self, *, create: bool, fresh: bool = False) -> bytes | None:
        if self._key is not None and not fresh:
            return self._key
        key = self._read_key()
        if key is None and create:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            with _flock(self.directory / ".storage-key.lock"):
                key = self._read_key()  # another process may have made it meanwhile
                if key is None:
                    key = secrets.token_bytes(32)
                    text = _KEY_PREFIX + base64.urlsafe_b64encode(key).decode("ascii").rstrip("=")
                    self.keys.set(self.key_name, text)
        self._key = key
        return key

    # -- records ----------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        path = self._paths.get(name)
        if path is None:
            digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
            path = self._paths[name] = self.directory / f"{_SAFE.sub('_', name)[:80]}-{digest}.sealed"
        return path

    def generation(self, name: str) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path(name))
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _read_file(self, path: Path) -> bytes | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SealedRecordUnreadable(path.stem, path, f"cannot open it ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise SealedRecordUnreadable(path.stem, path, "it is not a regular file")
            data = f.read(self.MAX_BYTES + 1)
        if len(data) > self.MAX_BYTES:
            raise SealedRecordUnreadable(path.stem, path, f"it is over {self.MAX_BYTES} bytes")
        return data

    def _open(self, name: str, path: Path, blob: bytes) -> str:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        head = len(_MAGIC) + _KID_BYTES + _NONCE_BYTES
        if len(blob) < head + _TAG_BYTES or not blob.startswith(_MAGIC):
            raise SealedRecordUnreadable(name, path, "it is cut short or not a sealed record")
        kid = blob[len(_MAGIC):len(_MAGIC) + _KID_BYTES]
        key = self._the_key(create=False)
        if key is not None and self._kid(key) != kid:
            key = self._the_key(create=False, fresh=True)  # the keyring's key may be newer
        if key is None or self._kid(key) != kid:
            raise SealedRecordUnreadable(name, path, "its key is not in the keyring")
        nonce = blob[len(_MAGIC) + _KID_BYTES:head]
        try:
            plain = AESGCM(key).decrypt(nonce, blob[head:], _MAGIC + name.encode("utf-8"))
            return plain.decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise SealedRecordUnreadable(name, path, "it was changed or cut short") from None

    def _seal(self, name: str, value: str) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = self._the_key(create=True)
        assert key is not None
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, value.encode("utf-8"), _MAGIC + name.encode("utf-8"))
        return _MAGIC + self._kid(key) + nonce + sealed

    def get(self, name: str) -> str | None:
        """The record, ``None`` when there is none; ``SealedRecordUnreadable`` when its file
        cannot be opened; ``SecretStoreUnavailable`` when the keyring cannot be used."""
        path = self.path(name)
        with self._lock:
            blob = self._read_file(path)
            if blob is not None:
                return self._open(name, path, blob)
            if name in self._legacy_checked:
                return None
            legacy = self.keys.get(name)
            self._legacy_checked.add(name)
            if legacy is None:
                return None
            write_private_file(path, self._seal(name, legacy))
            self.keys.delete(name)
            log.info("moved the keyring entry %r into %s (sealed)", name, path.name)
            return legacy

    def set(self, name: str, value: str) -> None:
        with self._lock:
            write_private_file(self.path(name), self._seal(name, value))
            self._legacy_checked.add(name)

    def delete(self, name: str) -> bool:
        """Remove the record (and an entry an earlier version kept in the keyring)."""
        with self._lock:
            try:
                self.path(name).unlink()
                removed = True
            except FileNotFoundError:
                removed = False
            if name not in self._legacy_checked:
                removed = self.keys.delete(name) or removed
                self._legacy_checked.add(name)
            return removed

    def __repr__(self) -> str:
        return f"SealedStore({self.directory})"


def insecure_opt_in() -> bool:
    return os.environ.get(INSECURE_ENV, "").strip().lower() in {"1", "true", "yes"}


def default_store(state_dir: Path) -> SecretStore:
    """The OS keyring; or, only with the explicit opt-in, the plaintext file store."""
    if insecure_opt_in():
        return InsecureFileSecretStore(Path(state_dir) / "insecure-secrets.json")
    return KeyringSecretStore()


def read_secret_reference(ref: str, store: SecretStore | None) -> str | None:
    """Resolve ``keyring:NAME`` (an entry of ``store``) or ``file:/path`` (first line).

    ``None`` when the reference resolves to nothing; ``ValueError`` when it is not a
    reference at all (a secret must never be written inline).
    """
    scheme, sep, rest = ref.partition(":")
    if not sep or not rest:
        raise ValueError("a secret reference is 'keyring:NAME' or 'file:/path'")
    if scheme == "keyring":
        if store is None:
            raise SecretStoreUnavailable("no secret store to resolve a keyring reference")
        return store.get(rest)
    if scheme == "file":
        path = Path(os.path.expanduser(rest))
        try:
            text = read_limited(path, max_bytes=64 * 1024).decode("utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            raise ValueError(f"the secret file {path} is not UTF-8 text") from exc
        except OSError as exc:
            raise ValueError(f"cannot read the secret file {path}: {exc.strerror}") from exc
        value = text.strip()
        return value or None
    raise ValueError(f"unknown secret reference scheme {scheme!r}: use 'keyring:' or 'file:'")
