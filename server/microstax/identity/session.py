"""A signed-in session per environment, kept sealed (``adapters.secrets.SealedStore``).

The record ``session:<environment>`` is JSON: the access token, the refresh token (when there
is one), when they expire, who the subject is, and how to renew (refresh grant, client
credentials with a secret *reference*, or a subject-token file path). The service keeps it in
a ``SealedStore``: an AES-256-GCM file in the state dir whose key is a small OS keyring entry
(a session is ~7 KB, more than a keyring entry holds everywhere). Nothing of it is ever
written to a plain file.

``generation(environment)`` changes whenever any process saves or deletes the session; a
long-running process (the editor's daemon) compares it before serving the session from
memory, so a ``microstax logout`` in a terminal ends the session there too.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from ..adapters.secrets import SealedRecordUnreadable, SecretStore
from ..jose import loads_json
from .models import SessionInfo

log = logging.getLogger("microstax.identity")

SessionKind = Literal["user", "client_credentials", "subject_token"]
RECORD_VERSION = 1


@dataclass(frozen=True, slots=True)
class Session:
    environment: str
    issuer: str
    kind: SessionKind
    subject: str
    expires_at: float
    obtained_at: float
    token_endpoint: str
    client_id: str
    access_token: str = field(default="", repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    refresh_expires_at: float | None = None
    scope: str | None = None
    auth_method: str = "none"
    client_secret_ref: str | None = None
    subject_token_file: str | None = None
    subject_token_type: str | None = None

    @property
    def lifetime(self) -> float:
        return max(1.0, self.expires_at - self.obtained_at)

    def expired(self, now: float | None = None, *, leeway: float = 0.0) -> bool:
        return (time.time() if now is None else now) >= self.expires_at - leeway

    def refresh_due(self, now: float | None = None) -> bool:
        """True when less than max(60 s, 20 % of the lifetime) is left."""
        now = time.time() if now is None else now
        margin = max(60.0, 0.2 * self.lifetime)
        margin = min(margin, 0.5 * self.lifetime)
        return now >= self.expires_at - margin

    @property
    def renewable(self) -> bool:
        if self.kind == "user":
            return self.refresh_token is not None and (
                self.refresh_expires_at is None or time.time() < self.refresh_expires_at)
        return True

    def info(self) -> SessionInfo:
        return SessionInfo(environment=self.environment, issuer=self.issuer, subject=self.subject,
                           expires_at=self.expires_at, kind=self.kind, client_id=self.client_id,
                           refreshable=self.renewable, refresh_expires_at=self.refresh_expires_at)

    def to_record(self) -> str:
        return json.dumps({"v": RECORD_VERSION, **asdict(self)}, separators=(",", ":"))

    @classmethod
    def from_record(cls, text: str) -> Session:
        doc = loads_json(text, "session record")
        if not isinstance(doc, dict) or doc.pop("v", None) != RECORD_VERSION:
            raise ValueError("unknown session record version")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in doc.items() if k in known})

    def with_tokens(self, **changes: Any) -> Session:
        return replace(self, **changes)


def session_key(environment: str) -> str:
    return f"session:{environment}"


class SessionStore:
    """Sessions in a ``SecretStore``. Synchronous: call it from a worker thread."""

    def __init__(self, secrets: SecretStore) -> None:
        self.secrets = secrets

    def load(self, environment: str) -> Session | None:
        """The stored session; ``None`` when there is none, or (with a warning that says to
        sign in again) when its record cannot be opened or read."""
        try:
            text = self.secrets.get(session_key(environment))
        except SealedRecordUnreadable as exc:
            log.warning("%s; sign in again with 'microstax login --env %s'", exc.message, environment)
            return None
        if text is None:
            return None
        try:
            return Session.from_record(text)
        except (ValueError, TypeError, KeyError):
            log.warning("the stored session of %s is unreadable; sign in again with "
                        "'microstax login --env %s'", environment, environment)
            return None

    def save(self, session: Session) -> None:
        self.secrets.set(session_key(session.environment), session.to_record())

    def delete(self, environment: str) -> bool:
        return self.secrets.delete(session_key(environment))

    def generation(self, environment: str) -> object | None:
        """What identifies the stored session's current version (a ``stat`` of its file), or
        ``None`` when there is none; a store that cannot tell answers ``None`` too."""
        probe = getattr(self.secrets, "generation", None)
        return probe(session_key(environment)) if probe is not None else None
