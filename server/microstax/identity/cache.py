"""Exchanged tokens: the in-memory cache entries and the vault that outlives a process.

A token is cached per (identity, environment, target, service, scopes, audience). It is fresh
while more than ``refresh_ahead`` of its lifetime is left; after that the next caller
re-exchanges (refresh-ahead), and if that fails the old token is served until it expires.

``TokenVault`` keeps them between processes (a CLI ``federate`` then ``identity status``):
the tokens in one sealed record per environment (``tokens:<env>``, in the service's
``SealedStore``: an encrypted file whose key is in the keyring), their non-secret metadata
(cluster, service, expiry) and the last failure per cluster in
``<state dir>/tokens/<env>.json``, which ``identity status`` reads without the keyring.
A record that cannot be opened (changed or cut short) counts as empty, with a warning; the
next save replaces it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..adapters.secrets import SealedRecordUnreadable, SecretStore
from ..jose import ParsedToken, loads_json, numeric_date, read_limited, write_private_file

if TYPE_CHECKING:  # models pulls in jose.describe (and cryptography): not on kubectl's warm path
    from .models import Failure

log = logging.getLogger("microstax.identity")

#: a token is never handed out with less than this many seconds left
MIN_SECONDS_LEFT = 5.0
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class CacheKey(NamedTuple):
    """What a token is cached under. A named tuple: it is built, hashed and compared on every
    federate call, and a tuple does all three in C."""

    identity: str
    environment: str
    target: str
    service: str
    scopes: tuple[str, ...]
    audience: str

    @property
    def digest(self) -> str:
        text = json.dumps([self.identity, self.environment, self.target, self.service,
                           list(self.scopes), self.audience], separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(slots=True)
class CacheEntry:
    key: CacheKey
    token: str = field(repr=False)
    expires_at: float
    issued_at: float
    #: the parsed token (set when first described; never persisted)
    parsed: ParsedToken | None = field(default=None, repr=False, compare=False)

    @property
    def lifetime(self) -> float:
        return max(1.0, self.expires_at - self.issued_at)

    def valid(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return now < self.expires_at - MIN_SECONDS_LEFT

    def fresh(self, now: float | None = None, refresh_ahead: float = 0.25) -> bool:
        left = self.expires_at - (time.time() if now is None else now)
        return left > MIN_SECONDS_LEFT and left > refresh_ahead * self.lifetime

    def meta(self) -> dict[str, Any]:
        k = self.key
        return {"identity": k.identity, "environment": k.environment, "target": k.target,
                "service": k.service, "scopes": list(k.scopes), "audience": k.audience,
                "expiresAt": self.expires_at, "issuedAt": self.issued_at}


def tokens_key(environment: str) -> str:
    return f"tokens:{environment}"


@dataclass(slots=True)
class VaultSnapshot:
    entries: dict[str, CacheEntry] = field(default_factory=dict)
    #: entries whose token was not loaded (metadata only)
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, Failure] = field(default_factory=dict)


class TokenVault:
    """Synchronous; the service calls it from a worker thread under the environment's file lock."""

    def __init__(self, secrets: SecretStore | None, state_dir: Path) -> None:
        self.secrets = secrets
        self.dir = state_dir / "tokens"

    def meta_path(self, environment: str) -> Path:
        return self.dir / f"{_SAFE.sub('_', environment)[:100]}.json"

    def lock_path(self, environment: str) -> Path:
        return self.dir / f"{_SAFE.sub('_', environment)[:100]}.lock"

    def read_meta(self, environment: str) -> tuple[dict[str, dict[str, Any]], dict[str, Failure]]:
        try:
            doc = loads_json(read_limited(self.meta_path(environment)), "token metadata")
        except (OSError, ValueError):
            return {}, {}
        if not isinstance(doc, dict) or not isinstance(doc.get("entries") or {}, dict) \
                or not isinstance(doc.get("failures") or {}, dict):
            return {}, {}
        # times that are no moments (a hand-edited or damaged file) drop the entry
        entries = {k: v for k, v in (doc.get("entries") or {}).items() if isinstance(v, dict)
                   and numeric_date(v.get("expiresAt")) is not None
                   and ("issuedAt" not in v or numeric_date(v["issuedAt"]) is not None)}
        failures = {}
        for cluster, raw in (doc.get("failures") or {}).items():
            if isinstance(raw, dict):
                from .models import Failure

                try:
                    failures[cluster] = Failure.from_json(raw)
                except (TypeError, ValueError):
                    continue
        return entries, failures

    def load(self, environment: str, *, with_tokens: bool = True) -> VaultSnapshot:
        meta, failures = self.read_meta(environment)
        now = time.time()
        meta = {k: v for k, v in meta.items() if float(v.get("expiresAt", 0)) > now}
        snap = VaultSnapshot(meta=meta, failures=failures)
        if not with_tokens or self.secrets is None or not meta:
            return snap
        try:
            text = self.secrets.get(tokens_key(environment))
        except SealedRecordUnreadable as exc:
            log.warning("%s; the exchanged tokens are exchanged again when needed", exc.message)
            text = None
        tokens: dict[str, str] = {}
        if text:
            try:
                tokens = dict(loads_json(text, "token cache").get("tokens") or {})
            except (ValueError, AttributeError, TypeError):
                tokens = {}
        for digest, m in meta.items():
            token = tokens.get(digest)
            if not isinstance(token, str):
                continue
            try:
                key = CacheKey(str(m["identity"]), str(m["environment"]), str(m["target"]),
                               str(m["service"]), tuple(m.get("scopes") or ()), str(m["audience"]))
                snap.entries[digest] = CacheEntry(key, token, float(m["expiresAt"]), float(m["issuedAt"]))
            except (KeyError, TypeError, ValueError):
                continue
        return snap

    def save(self, environment: str, entries: list[CacheEntry], failures: dict[str, Failure],
             *, cleared: set[str] | None = None) -> None:
        """Merge ours over what is stored (another process may have added entries)."""
        now = time.time()
        stored = self.load(environment)
        merged = {d: e for d, e in stored.entries.items() if e.valid(now)}
        for entry in entries:
            if entry.valid(now):
                merged[entry.key.digest] = entry
        all_failures = dict(stored.failures)
        for cluster in cleared or ():
            all_failures.pop(cluster, None)
        all_failures.update(failures)
        doc = {"v": 1, "entries": {d: e.meta() for d, e in merged.items()},
               "failures": {c: {**f.to_json(), "atTs": f.at} for c, f in all_failures.items()}}
        if self.secrets is not None:
            blob = json.dumps({"v": 1, "tokens": {d: e.token for d, e in merged.items()}},
                              separators=(",", ":"))
            if merged:
                self.secrets.set(tokens_key(environment), blob)
            else:
                self.secrets.delete(tokens_key(environment))
        write_private_file(self.meta_path(environment), json.dumps(doc, separators=(",", ":")).encode("utf-8"))

    def clear(self, environment: str) -> None:
        if self.secrets is not None:
            self.secrets.delete(tokens_key(environment))
        try:
            self.meta_path(environment).unlink()
        except FileNotFoundError:
            pass
