"""Where secrets live: the OS keyring (service name ``microstax``), never a plain file.

    SecretStore                  get / set / delete of small secrets, keyed by name
    ├── KeyringSecretStore       the OS keyring through ``keyring`` (Secret Service, Keychain, …)
    ├── InsecureFileSecretStore  a 0600 JSON file, only with MICROSTAX_INSECURE_FILE_KEYRING=1
    └── MemorySecretStore        process memory (tests, one-shot workloads)

``default_store()`` picks the keyring, or raises ``SecretStoreUnavailable`` with a hint that
says how to get one. It refuses the fail/null backends and the plaintext ``keyrings.alt``
backends (which ``keyring`` may otherwise pick silently). The one weaker store is an explicit
opt-in, warned about on every start.

Secrets are never logged and never part of an error message: errors name the entry only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..jose import write_private_file

SERVICE = "microstax"
INSECURE_ENV = "MICROSTAX_INSECURE_FILE_KEYRING"

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
            doc = json.loads(self.path.read_text("utf-8"))
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
            text = path.read_text("utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ValueError(f"cannot read the secret file {path}: {exc.strerror}") from exc
        value = text.strip()
        return value or None
    raise ValueError(f"unknown secret reference scheme {scheme!r}: use 'keyring:' or 'file:'")
