"""What the controller knows about each entry: the token it holds, its failures, its counters.

Pure: the async loop feeds events in (``issued``, ``failed``, ``withdrawn`` …) with the time
and a random number, and reads decisions out (``next_attempt``, ``ready``, ``health``).
The health endpoint and the metrics read the same objects, so they never disagree.

Entry status, as reported by ``/healthz``:

``ok``         holds a servable token, the last refresh succeeded
``degraded``   holds a servable token, but refreshing it fails (it is served until expiry)
``expired``    held a token that expired while refreshing failed; the file was withdrawn
``pending``    has never held a token yet (starting, or failing from the start)
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..identity.models import iso
from .config import EntrySpec
from .schedule import backoff_delay, refresh_at, servable, withdraw_at


def fingerprint(token: str) -> str:
    """A short, stable, non-reversible name for a token: fit for logs and metrics."""
    return hashlib.sha256(token.strip().encode("ascii", "replace")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class TokenMeta:
    """What may be said about a token: never the token itself."""

    jti: str | None
    issued_at: float
    expires_at: float
    fingerprint: str
    subject: str | None = None
    scope: str | None = None
    #: ``issued`` (fetched by this process) or ``adopted`` (found on disk at start)
    origin: str = "issued"

    @property
    def lifetime(self) -> float:
        return max(0.0, self.expires_at - self.issued_at)

    def log_fields(self) -> dict[str, Any]:
        return {"jti": self.jti, "exp": int(self.expires_at), "expires": iso(self.expires_at),
                "fingerprint": self.fingerprint}


@dataclass(frozen=True, slots=True)
class LastError:
    cause: str
    message: str
    at: float


@dataclass
class EntryState:
    spec: EntrySpec
    token: TokenMeta | None = None
    next_attempt: float = 0.0
    failures: int = 0
    last_error: LastError | None = None
    last_success: float | None = None
    ever_held: bool = False
    issued: int = 0
    failures_by_cause: Counter[str] = field(default_factory=Counter)
    renews_by_result: Counter[str] = field(default_factory=Counter)
    credential_rotations: int = 0

    # -- events --------------------------------------------------------------------------
    def adopted(self, meta: TokenMeta, now: float) -> None:
        """A valid token was found on disk at start: serve it, and refresh right away."""
        self.token = meta
        self.ever_held = True
        self.next_attempt = now

    def issued_token(self, meta: TokenMeta, now: float, rand: float) -> float:
        """A new token is on disk. Returns the time of the next refresh."""
        self.token = meta
        self.ever_held = True
        self.failures = 0
        self.last_error = None
        self.last_success = now
        self.issued += 1
        self.next_attempt = refresh_at(meta.issued_at, meta.expires_at, self.spec.timing, rand)
        return self.next_attempt

    def failed(self, cause: str, message: str, now: float, rand: float, *,
               retry_after: float | None = None) -> float:
        """An attempt failed. Returns the delay before the next one."""
        self.failures += 1
        self.failures_by_cause[cause] += 1
        self.last_error = LastError(cause, message, now)
        remaining = self.token.expires_at - now if self.holds(now) and self.token else None
        delay = backoff_delay(self.failures, self.spec.timing, rand, retry_after=retry_after,
                              remaining=remaining)
        self.next_attempt = now + delay
        return delay

    def withdrawn(self) -> None:
        """The held token reached its withdrawal time and was taken off disk."""
        self.token = None

    def retry_now(self, now: float) -> None:
        self.next_attempt = min(self.next_attempt, now)

    # -- decisions -----------------------------------------------------------------------
    def holds(self, now: float) -> bool:
        return self.token is not None and servable(self.token.expires_at, now)

    def withdraw_due(self, now: float) -> bool:
        return self.token is not None and not servable(self.token.expires_at, now)

    def wake_at(self) -> float:
        """The next moment something is due (an attempt, or withdrawing the token)."""
        when = self.next_attempt
        if self.token is not None:
            when = min(when, withdraw_at(self.token.expires_at))
        return when

    def status(self, now: float) -> str:
        if self.holds(now):
            return "degraded" if self.failures else "ok"
        return "expired" if self.ever_held else "pending"

    def seconds_to_expiry(self, now: float) -> float:
        if self.token is None:
            return 0.0
        return max(0.0, self.token.expires_at - now)

    def health(self, now: float) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "workload": self.spec.workload, "target": self.spec.target,
            "output": str(self.spec.output), "status": self.status(now),
            "ready": self.holds(now), "consecutiveFailures": self.failures,
            "nextAttempt": iso(self.next_attempt) if math.isfinite(self.next_attempt) else None,
        }
        if self.token is not None:
            doc["token"] = {"jti": self.token.jti, "fingerprint": self.token.fingerprint,
                            "expires": iso(self.token.expires_at),
                            "expiresIn": int(self.seconds_to_expiry(now)),
                            "origin": self.token.origin}
        if self.last_success is not None:
            doc["lastSuccess"] = iso(self.last_success)
        if self.last_error is not None:
            doc["lastError"] = {"cause": self.last_error.cause, "message": self.last_error.message,
                                "at": iso(self.last_error.at)}
        return doc


def overall_health(states: list[EntryState], now: float) -> tuple[bool, dict[str, Any]]:
    """Ready when every entry holds a servable token. Returns (ready, the /healthz body)."""
    entries = [s.health(now) for s in states]
    ready = bool(entries) and all(e["ready"] for e in entries)
    counts = Counter(e["status"] for e in entries)
    status = "ready" if ready else "not_ready"
    return ready, {"status": status, "ready": ready, "entries": entries,
                   "summary": dict(sorted(counts.items()))}
