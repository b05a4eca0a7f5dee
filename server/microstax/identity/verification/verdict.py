"""The outcome of verifying one token (``Verification``), the pure check that produces it
(``evaluate``: no I/O) and the cache of verdicts by the whole token (``VerdictCache``)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from ...jose import (
    ACCESS_TOKEN_TYP,
    PQ_HEADER,
    AudienceMismatch,
    JoseError,
    KeySet,
    MalformedToken,
    ParsedToken,
    Policy,
    Verdict,
    check,
    numeric_date,
    parse,
)
from ...jose.describe import is_jwt_svid
from .keys import KeyMaterial

__all__ = ["REASONS", "SignatureCheck", "VerdictCache", "Verification", "evaluate", "stable_until"]

#: every ``Verification.reason`` (the jose layer's reasons plus the two of this layer)
REASONS: Final = frozenset({
    "malformed", "jwe", "unsupported_alg", "forbidden_header", "bad_kid", "unknown_kid",
    "bad_signature", "pq_missing", "pq_invalid", "typ_mismatch", "missing_claim", "expired",
    "not_yet_valid", "issuer_mismatch", "audience_mismatch", "no_issuer", "untrusted_issuer",
    "invalid",
})


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """One signature's verdict. classical: verified | invalid | unverifiable | not_checked;
    pq: verified | invalid | missing | absent | unverifiable | not_checked."""

    status: str
    kid: str | None = None

    @property
    def verified(self) -> bool:
        return self.status == "verified"


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of verifying one token (never holds the token text in its repr)."""

    valid: bool
    reason: str | None
    message: str | None
    issuer: str | None
    claims: Mapping[str, Any]
    header: Mapping[str, Any]
    classical: SignatureCheck
    pq: SignatureCheck
    hybrid_required: bool
    verdict: Verdict
    keys: KeyMaterial | None = None
    cached: bool = False
    parsed: ParsedToken | None = field(default=None, repr=False)
    error: JoseError | None = field(default=None, repr=False)

    @classmethod
    def from_verdict(cls, verdict: Verdict, parsed: ParsedToken | None, error: JoseError | None, *,
                     issuer: str | None, material: KeyMaterial | None) -> Verification:
        return cls(verdict.valid, verdict.reason, verdict.message, issuer,
                   parsed.claims if parsed is not None else {},
                   parsed.header if parsed is not None else {},
                   SignatureCheck(verdict.classical, verdict.classical_kid),
                   SignatureCheck(verdict.pq, verdict.pq_kid),
                   bool(material and material.hybrid_required), verdict, material, False, parsed, error)

    @classmethod
    def refused(cls, reason: str, message: str, parsed: ParsedToken | None, *,
                issuer: str | None = None) -> Verification:
        """Invalid before any signature was checked (no issuer, untrusted issuer, malformed)."""
        has_pq = parsed is not None and PQ_HEADER in parsed.header
        verdict = Verdict(False, "not_checked", "not_checked" if has_pq or parsed is None else "absent",
                          reason, message)
        error: JoseError = MalformedToken(message) if reason in ("malformed", "jwe") else JoseError(message)
        error.reason = reason
        return cls.from_verdict(verdict, parsed, error, issuer=issuer, material=None)

    def as_cached(self) -> Verification:
        """This verdict as the cache serves it (``cached``); ``dataclasses.replace`` without
        its per-call field walk."""
        return Verification(self.valid, self.reason, self.message, self.issuer, self.claims,
                            self.header, self.classical, self.pq, self.hybrid_required,
                            self.verdict, self.keys, True, self.parsed, self.error)

    def raise_for_invalid(self) -> Verification:
        """Raise the ``JoseError`` that says why the token is invalid; return self when valid."""
        if not self.valid:
            error = self.error or JoseError(self.message or self.reason or "invalid token")
            error.verdict = self.verdict  # type: ignore[attr-defined]
            raise error
        return self

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "reason": self.reason, "message": self.message,
                "issuer": self.issuer,
                "classical": {"status": self.classical.status, "kid": self.classical.kid},
                "pq": {"status": self.pq.status, "kid": self.pq.kid},
                "hybridRequired": self.hybrid_required, "cached": self.cached}


def evaluate(token: str | ParsedToken, material: KeyMaterial, *, issuer: str | None,
             audiences: Sequence[str] = (), typ: tuple[str, ...] | None = (ACCESS_TOKEN_TYP,),
             leeway: float = 30.0, required_claims: tuple[str, ...] = ("exp",),
             now: float | None = None, accept_jwt_svid: bool = True) -> Verification:
    """Check ``token`` against ``material`` (pure: no I/O). ``issuer``: the exact ``iss``
    required (None: not checked); ``audiences``: ``aud`` must contain one of them;
    ``accept_jwt_svid``: a JWT-SVID passes where ``at+jwt`` is asked for."""
    if isinstance(audiences, str):
        audiences = (audiences,)
    if accept_jwt_svid and typ is not None and ACCESS_TOKEN_TYP in typ:
        # A JWT-SVID (SPIFFE JWT-SVID spec) is what it is: typ JWT/JOSE/absent, a SPIFFE ID as
        # sub, and an audience it must carry (a validator checks it names itself; §3).
        svid = token if isinstance(token, ParsedToken) else _try_parse(token)
        if svid is not None and is_jwt_svid(svid.header, svid.claims):
            typ = None
            required_claims = tuple(dict.fromkeys((*required_claims, "aud")))
            aud = svid.claims.get("aud")
            if aud == [] or aud == "":
                return Verification.refused("missing_claim", "a JWT-SVID must name its audience "
                                            "('aud' is empty)", svid)
    policy = Policy(issuer=issuer, audience=audiences[0] if len(audiences) == 1 else None, typ=typ,
                    leeway=leeway, required_claims=required_claims,
                    require_pq=material.hybrid_required)
    verdict, parsed, error = check(token, material.keys, policy, now=now)
    if verdict.valid and parsed is not None and len(audiences) > 1:
        aud = parsed.claims.get("aud")
        have = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(a in have for a in audiences):
            error = AudienceMismatch(f"the token is not meant for any of {', '.join(map(repr, audiences))}")
            verdict = replace(verdict, valid=False, reason=error.reason, message=error.message)
    return Verification.from_verdict(verdict, parsed, error, issuer=issuer or material.issuer,
                                     material=material)


def _try_parse(token: str) -> ParsedToken | None:
    try:
        return parse(token)
    except MalformedToken:
        return None


def stable_until(claims: Mapping[str, Any], now: float, leeway: float, cap: float) -> float:
    """Until when a verdict computed at ``now`` stays right: the next moment a time claim
    changes the outcome (``exp`` passing, ``nbf``/``iat`` arriving), at most ``cap`` away.
    Signatures do not change; new keys are a new ``KeySet`` object."""
    until = now + cap
    for name, sign in (("exp", 1), ("nbf", -1), ("iat", -1)):
        value = numeric_date(claims.get(name))  # float(10**400) would raise
        if value is not None:
            moment = float(value) + sign * leeway
            if moment > now:
                until = min(until, moment)
    return until


@dataclass(slots=True)
class _Cached:
    keys: KeySet
    result: Verification
    until: float


class VerdictCache:
    """Verdicts by the whole token (a 256-bit BLAKE2b digest of its text), the checks asked for
    and the key set object: a token seen again costs a hash. Valid and invalid verdicts are
    kept until a time claim would change them (at most ``ttl``; 30 s for time-based failures,
    whose message counts seconds). Thread-safe; bounded (LRU)."""

    def __init__(self, max_entries: int = 4096, *, ttl: float = 600.0) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self._entries: OrderedDict[tuple[Any, ...], _Cached] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def digest(token: str) -> bytes:
        return hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=32).digest()

    @staticmethod
    def key(token: str, *checks: Any) -> tuple[Any, ...]:
        return (VerdictCache.digest(token), *checks)

    def get(self, key: tuple[Any, ...], keys: KeySet, now: float) -> Verification | None:
        if self.max_entries <= 0:
            return None
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit.keys is keys and hit.until > now:
                self._entries.move_to_end(key)
                self.hits += 1
                return hit.result
            self.misses += 1
            return None

    def put(self, key: tuple[Any, ...], keys: KeySet, result: Verification, now: float,
            leeway: float) -> None:
        if self.max_entries <= 0:
            return
        cap = 30.0 if result.reason in ("expired", "not_yet_valid") else self.ttl
        until = stable_until(result.claims, now, leeway, cap)
        with self._lock:
            self._entries[key] = _Cached(keys, result.as_cached(), until)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
