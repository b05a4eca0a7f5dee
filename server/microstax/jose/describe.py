"""Describe a token for people: who, for whom, how long, what signs it. Never verifies.

A description says a token is valid only when it is given a ``Verdict`` from a real
verification; otherwise both verdicts read ``not_checked``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .compact import ParsedToken, b64url_decode, parse, parse_json_object
from .exceptions import MalformedToken
from .hybrid import PQ_HEADER, Verdict, numeric_date

#: nginx's default large_client_header_buffers is 8 KiB: a header line longer than that is
#: rejected with 400/431 by a default ingress.
DEFAULT_HEADER_BUDGET = 8 * 1024
_BEARER_OVERHEAD = len("Authorization: Bearer ")


def humanize_seconds(seconds: float) -> str:
    """``252`` -> ``4m 12s``; ``10800`` -> ``3h``: the two largest units, no zeros."""
    total = int(abs(seconds))
    if total < 60:
        return f"{total}s"
    for big, big_size, small, small_size in (
        ("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)
    ):
        if total >= big_size:
            count, rest = divmod(total, big_size)
            part = rest // small_size
            return f"{count}{big} {part}{small}" if part else f"{count}{big}"
    raise AssertionError("unreachable")


def relative(when: float, now: float) -> str:
    """``in 4m 12s`` / ``3h ago`` for a timestamp relative to ``now``."""
    delta = when - now
    return f"in {humanize_seconds(delta)}" if delta >= 0 else f"{humanize_seconds(delta)} ago"


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):  # years outside 1..9999
        return None


def _num(value: Any) -> float | None:
    """A claim as seconds: a NumericDate in range only (not bool, NaN, negative, past 9999)."""
    return numeric_date(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def identity_of(claims: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Classify the subject: kubernetes, spiffe, service, user or unknown, with details
    (``TokenDescription.identity`` also tells a JWT-SVID, which needs the header)."""
    raw_sub = claims.get("sub")
    sub = raw_sub if isinstance(raw_sub, str) else ""
    k8s = claims.get("kubernetes.io")
    if isinstance(k8s, dict):
        detail = {"namespace": _text(k8s.get("namespace")) or ""}
        for key, out in (("serviceaccount", "serviceAccount"), ("pod", "pod")):
            member = k8s.get(key)
            if isinstance(member, dict) and isinstance(member.get("name"), str):
                detail[out] = member["name"]
        return "kubernetes", detail
    if sub.startswith("system:serviceaccount:"):
        parts = sub.split(":")
        if len(parts) == 4:
            return "kubernetes", {"namespace": parts[2], "serviceAccount": parts[3]}
    if sub.startswith("spiffe://"):
        rest = sub[len("spiffe://"):]
        domain, _, path = rest.partition("/")
        return "spiffe", {"trustDomain": domain, "path": "/" + path if path else "/"}
    if any(isinstance(claims.get(k), str) for k in ("email", "preferred_username", "name")):
        return "user", {k: claims[k] for k in ("preferred_username", "email", "name")
                        if isinstance(claims.get(k), str)}
    client_id = _text(claims.get("client_id")) or _text(claims.get("azp"))
    if sub and client_id and (sub == client_id or sub.startswith("service-account-")):
        return "service", {"clientId": str(client_id)}
    if sub:
        return "user", {}
    return "unknown", {}


#: ``typ`` values a JWT-SVID may carry (SPIFFE JWT-SVID spec §2.1: optional, ``JWT`` or ``JOSE``)
JWT_SVID_TYPS = (None, "JWT", "JOSE")
_SPIFFE_ID = re.compile(r"spiffe://[a-z0-9._-]{1,255}(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+")


def is_spiffe_id(value: Any) -> bool:
    """A SPIFFE ID with a workload path (no port, user info, query or fragment; spec §2)."""
    return isinstance(value, str) and len(value) <= 2048 and _SPIFFE_ID.fullmatch(value) is not None


def is_jwt_svid(header: dict[str, Any], claims: dict[str, Any]) -> bool:
    """Shaped like a JWT-SVID: ``typ`` absent, ``JWT`` or ``JOSE`` and a SPIFFE ID as ``sub``.
    (Shape only: the verification policy decides whether one is valid.)"""
    return header.get("typ") in JWT_SVID_TYPS and is_spiffe_id(claims.get("sub"))


def actor_chain(claims: dict[str, Any]) -> list[str]:
    """The RFC 8693 ``act`` chain, current actor first, then those it acted for, and so on."""
    actors: list[str] = []
    act = claims.get("act")
    while isinstance(act, dict) and len(actors) < 32:
        actors.append(_text(act.get("sub")) or "?")
        act = act.get("act")
    return actors


@dataclass
class TokenDescription:
    header: dict[str, Any]
    claims: dict[str, Any]
    size_bytes: int
    now: float
    verdict: Verdict = field(default_factory=lambda: Verdict(False))
    header_budget: int = DEFAULT_HEADER_BUDGET

    # -- derived ------------------------------------------------------------------------
    @property
    def subject(self) -> str:
        sub = self.claims.get("sub")
        return sub if isinstance(sub, str) else "(no subject)"

    @property
    def identity(self) -> tuple[str, dict[str, str]]:
        kind, detail = identity_of(self.claims)
        if kind == "spiffe" and is_jwt_svid(self.header, self.claims):
            return "jwt-svid", detail
        return kind, detail

    @property
    def issuer(self) -> str | None:
        iss = self.claims.get("iss")
        return iss if isinstance(iss, str) else None

    @property
    def audience(self) -> list[str]:
        return _str_list(self.claims.get("aud"))

    @property
    def scopes(self) -> list[str]:
        scope = self.claims.get("scope")
        if isinstance(scope, str):
            return scope.split()
        return _str_list(self.claims.get("scp"))

    @property
    def issued_at(self) -> float | None:
        return _num(self.claims.get("iat"))

    @property
    def not_before(self) -> float | None:
        return _num(self.claims.get("nbf"))

    @property
    def expires_at(self) -> float | None:
        return _num(self.claims.get("exp"))

    @property
    def seconds_left(self) -> float | None:
        exp = self.expires_at
        return None if exp is None else exp - self.now

    @property
    def expired(self) -> bool:
        left = self.seconds_left
        return left is not None and left < 0

    @property
    def lifetime(self) -> float | None:
        exp, start = self.expires_at, self.issued_at or self.not_before
        return None if exp is None or start is None else exp - start

    @property
    def expires_in(self) -> str:
        exp = self.expires_at
        if exp is None:
            if "exp" in self.claims:
                return "expiry out of range ('exp' is not a NumericDate between 1970 and 9999)"
            return "never expires (no exp claim)"
        return f"expires {relative(exp, self.now)}" if exp >= self.now else f"expired {relative(exp, self.now)}"

    @property
    def signatures(self) -> dict[str, Any]:
        sigs: dict[str, Any] = {"classical": {"alg": _text(self.header.get("alg")),
                                              "kid": _text(self.header.get("kid"))}}
        part = self.header.get(PQ_HEADER)
        if isinstance(part, dict) and isinstance(part.get("protected"), str):
            try:
                pq = parse_json_object(b64url_decode(part["protected"], "PQ header"), "PQ header")
                sigs["pq"] = {"alg": _text(pq.get("alg")) or "(unreadable)", "kid": _text(pq.get("kid"))}
            except MalformedToken:
                sigs["pq"] = {"alg": "(unreadable)", "kid": None}
        return sigs

    @property
    def size_warning(self) -> str | None:
        needed = self.size_bytes + _BEARER_OVERHEAD
        if needed > self.header_budget:
            return (f"{self.size_bytes} bytes: with 'Authorization: Bearer ' the header line is "
                    f"{needed} bytes, over the {self.header_budget}-byte budget (nginx default "
                    "8 KiB); raise large_client_header_buffers on the target's ingress")
        return None

    def to_summary(self) -> dict[str, Any]:
        """The ``TokenSummary`` shape of docs/daemon-protocol.md."""
        kind, detail = self.identity
        summary: dict[str, Any] = {
            "subject": self.subject,
            "identityKind": kind,
            "identityDetail": detail,
            "issuer": self.issuer,
            "audience": self.audience,
            "scopes": self.scopes,
            "clientId": _text(self.claims.get("client_id")) or _text(self.claims.get("azp")),
            "jti": _text(self.claims.get("jti")),
            "actors": actor_chain(self.claims),
            "issuedAt": _iso(self.issued_at),
            "notBefore": _iso(self.not_before),
            "expiresAt": _iso(self.expires_at),
            "secondsLeft": None if self.seconds_left is None else int(self.seconds_left),
            "lifetimeSeconds": None if self.lifetime is None else int(self.lifetime),
            "expiresIn": self.expires_in,
            "sizeBytes": self.size_bytes,
            "sizeWarning": self.size_warning,
            "signatures": self.signatures,
            "verdict": {"classical": self.verdict.classical, "pq": self.verdict.pq,
                        "reason": self.verdict.reason},
            "environment": _text(self.claims.get("env")),
            "cluster": _text(self.claims.get("cluster")),
        }
        return summary


def describe(token: str | ParsedToken, *, verdict: Verdict | None = None, now: float | None = None,
             header_budget: int = DEFAULT_HEADER_BUDGET) -> TokenDescription:
    """Describe a token without verifying it (unless ``verdict`` comes from a verification)."""
    parsed = token if isinstance(token, ParsedToken) else parse(token)
    return TokenDescription(
        header=parsed.header,
        claims=parsed.claims,
        size_bytes=parsed.size_bytes,
        now=time.time() if now is None else now,
        verdict=verdict or Verdict(False),
        header_budget=header_budget,
    )
