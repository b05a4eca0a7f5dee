"""One request in, one decision out: the bearer token taken from the headers, verified by the
one verify policy (``identity.verification``), then the route's rules (cluster, service,
scopes). Every front end here (the verifier service for Envoy and nginx, the TokenReview
webhook, the ASGI middleware, ``verify_request``) goes through ``Gate``.

A refusal is a ``Refusal``: the HTTP status (401/403/503), the RFC 6750 error code, a stable
``reason`` (for metrics and audit) and a one-line description. Nothing here ever puts the
token, or any part of it, into a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from ..identity.verification import KeysUnavailable, Verification, Verifier
from .config import HeaderNames, RouteRule, VerifierConfig

#: RFC 6750 §2.1 b64token (what may follow "Bearer "): ``[A-Za-z0-9-._~+/]+=*``, checked with
#: ``bytes.translate`` (a regex over a 5-6 KB token costs more than the rest of a cached check)
_TOKEN68_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
_SPIFFE_SVC = re.compile(r"^spiffe://[^/]+/env/[^/]+/svc/([^/]+)$")
_UNSAFE = re.compile(r"[^\x20-\x7e]|[\"\\]")
QUERY_TOKEN_PARAMS = frozenset({"access_token", "token", "id_token"})
MAX_ACT_DEPTH = 16


class Refusal(Exception):
    """The request is refused; ``status`` 401/403 (or 503 when keys cannot be had)."""

    def __init__(self, status: int, reason: str, description: str, *,
                 error: str | None = "invalid_token", scope: str | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.reason = reason
        self.description = description
        self.error = error
        self.scope = scope

    def www_authenticate(self, realm: str = "microstax") -> str:
        """An RFC 6750 challenge; no error code when no token was sent at all (§3.1)."""
        parts = [f'Bearer realm="{realm}"']
        if self.error:
            parts.append(f'error="{self.error}"')
            parts.append(f'error_description="{safe_text(self.description, 200)}"')
        if self.scope:
            parts.append(f'scope="{safe_text(self.scope, 200)}"')
        return ", ".join(parts)


def safe_text(value: Any, limit: int = 256) -> str:
    """Printable ASCII without quotes or backslashes: fit for a header value or a log field."""
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub("?", text[:limit])


def header_value(value: Any, limit: int = 1024) -> str:
    """Claim text made safe for an HTTP header: non-ASCII and controls percent-encoded."""
    text = value if isinstance(value, str) else str(value)
    text = text[:limit]
    if text.isascii() and text.isprintable():  # the usual case, checked in C
        return text
    return "".join(ch if " " <= ch <= "~" and ch != "%" else
                   "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
                   for ch in text)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who called: what the upstream gets as headers and the middleware puts on the scope."""

    subject: str
    actors: tuple[str, ...]         # outermost (the current actor) first
    scopes: tuple[str, ...]
    client_id: str | None
    token_id: str | None
    issuer: str
    audience: str
    env: str | None
    cluster: str | None
    expires_at: float | None
    classical: str                  # verified
    pq: str                         # verified | absent (classical-only issuer)
    cached: bool
    claims: Mapping[str, Any]

    @property
    def verdict(self) -> str:
        return f"classical={self.classical}; pq={self.pq}"

    def headers(self, names: HeaderNames) -> dict[str, str]:
        """Every identity header, always all of them (absent values are empty), so a header
        the client sent with the same name never reaches the upstream unchanged."""
        return {
            names.subject: header_value(self.subject),
            names.actor: header_value(",".join(self.actors)),
            names.scope: header_value(" ".join(self.scopes)),
            names.client_id: header_value(self.client_id or ""),
            names.token_id: header_value(self.token_id or ""),
            names.issuer: header_value(self.issuer),
            names.env: header_value(self.env or ""),
            names.cluster: header_value(self.cluster or ""),
            names.verdict: self.verdict,
        }

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "actors": list(self.actors), "scopes": list(self.scopes),
                "clientId": self.client_id, "tokenId": self.token_id, "issuer": self.issuer,
                "audience": self.audience, "env": self.env, "cluster": self.cluster,
                "classical": self.classical, "pq": self.pq}


def actor_chain(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """RFC 8693 ``act``: the current actor first, then the ones it acted for."""
    chain: list[str] = []
    act = claims.get("act")
    while isinstance(act, Mapping) and len(chain) < MAX_ACT_DEPTH:
        sub = act.get("sub")
        if isinstance(sub, str):
            chain.append(sub)
        act = act.get("act")
    return tuple(chain)


def _scopes(claims: Mapping[str, Any]) -> tuple[str, ...]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return tuple(s for s in scope.split(" ") if s)
    if isinstance(scope, list):  # some IdPs send 'scp' style arrays under 'scope'
        return tuple(s for s in scope if isinstance(s, str))
    return ()


def _opt_str(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) else None


# -- the bearer token from raw headers -----------------------------------------------------
def bearer_token(headers: Iterable[tuple[bytes, bytes]], query: bytes = b"", *,
                 max_header_bytes: int = 16384) -> str:
    """The one bearer token of a request, or a ``Refusal`` that says what is wrong with it.

    ``headers`` are raw ASGI header pairs (lower-case names). Refused: no Authorization header
    (401 without an error code), several, another scheme, a value that is not a token68,
    oversized headers, and any token in the query string (it would end up in access logs).
    """
    total = 0
    found: list[bytes] = []
    for name, value in headers:
        total += len(name) + len(value) + 4
        if name == b"authorization":
            found.append(value)
    if total > max_header_bytes:
        raise Refusal(401, "headers_too_large",
                      f"the request headers are larger than {max_header_bytes} bytes",
                      error="invalid_request")
    if query:
        try:
            names = {k.lower() for k, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)}
        except ValueError:
            names = set()
        if names & QUERY_TOKEN_PARAMS:
            raise Refusal(401, "token_in_query",
                          "tokens in the URL are refused (URLs end up in logs); "
                          "send 'Authorization: Bearer <token>'", error="invalid_request")
    if not found:
        raise Refusal(401, "no_token", "no bearer token: send 'Authorization: Bearer <token>'",
                      error=None)
    if len(found) > 1:
        raise Refusal(401, "many_authorization", "more than one Authorization header",
                      error="invalid_request")
    value = found[0].strip(b" \t")
    scheme, _, rest = value.partition(b" ")
    if scheme.lower() != b"bearer":
        shown = scheme[:20].decode("ascii", "replace") if scheme.isascii() else "(not ASCII)"
        raise Refusal(401, "bad_scheme",
                      f"the Authorization scheme is {safe_text(shown, 20)!r}; expected 'Bearer'",
                      error="invalid_request")
    token = rest.strip(b" \t")
    if not token:
        raise Refusal(401, "no_token", "the Authorization header holds no token",
                      error="invalid_request")
    if not token.isascii():
        raise Refusal(401, "malformed", "the bearer token is not ASCII (a token is base64url "
                      "text in three dot-separated parts)", error="invalid_request")
    body = token.rstrip(b"=")
    if not body or body.translate(None, _TOKEN68_CHARS):
        raise Refusal(401, "malformed", "the bearer token has characters a token never has",
                      error="invalid_token")
    return token.decode("ascii")


# -- the decision ------------------------------------------------------------------------------
def _refusal_from(result: Verification) -> Refusal:
    reason = result.reason or "invalid"
    message = result.message or "the token is not valid"
    if reason == "audience_mismatch":
        return Refusal(403, reason, message, error="insufficient_scope")
    return Refusal(401, reason, message)


def keys_unavailable(exc: KeysUnavailable) -> Refusal:
    return Refusal(503, "keys_unavailable",
                   f"the issuer's keys cannot be fetched now ({safe_text(exc.message, 150)})",
                   error=None)


def decide(result: Verification, *, audience: str, cluster: str | None = None,
           services: tuple[str, ...] = (), scopes: tuple[str, ...] = ()) -> Identity:
    """The route's rules on a verification: the ``Identity``, or a ``Refusal``."""
    if not result.valid:
        raise _refusal_from(result)
    claims = result.claims
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Refusal(401, "missing_claim", "the token has no 'sub'")
    if cluster is not None and claims.get("cluster") != cluster:
        raise Refusal(403, "wrong_cluster", f"the token is not scoped to cluster {cluster!r}",
                      error="insufficient_scope")
    if services:
        m = _SPIFFE_SVC.match(sub)
        if m is None or m.group(1) not in services:
            raise Refusal(403, "wrong_service",
                          "the token's subject is not one of the services allowed here",
                          error="insufficient_scope")
    granted = _scopes(claims)
    missing = [s for s in scopes if s not in granted]
    if missing:
        raise Refusal(403, "insufficient_scope", f"scope {' '.join(missing)!r} is required",
                      error="insufficient_scope", scope=" ".join(scopes))
    exp = claims.get("exp")
    return Identity(
        subject=sub, actors=actor_chain(claims), scopes=granted,
        client_id=_opt_str(claims, "client_id"), token_id=_opt_str(claims, "jti"),
        issuer=result.issuer or str(claims.get("iss")), audience=audience,
        env=_opt_str(claims, "env"), cluster=_opt_str(claims, "cluster"),
        expires_at=float(exp) if isinstance(exp, int | float) else None,
        classical=result.classical.status, pq=result.pq.status, cached=result.cached,
        claims=claims)


def route_for(config: VerifierConfig, path: str) -> RouteRule:
    rule = config.route(path)
    if rule is None:
        raise Refusal(403, "no_route", "no rule of this verifier covers the requested path",
                      error="insufficient_scope")
    return rule


class Gate:
    """The decision for one token under one route; share one per process."""

    def __init__(self, config: VerifierConfig, verifier: Verifier) -> None:
        self.config = config
        self.verifier = verifier
        #: (id of a cached verdict, route) -> (that verdict, its Identity): a token answered
        #: from the verified-token cache (the same ``Verification`` object each time) is not
        #: decided again; the verdict is kept so that its id stays its own
        self._decided: dict[tuple[int, RouteRule], tuple[Verification, Identity]] = {}

    #: bound of the decided-identity memo (cleared when full, like the key caches)
    DECIDED_ENTRIES = 4096

    def route_for(self, path: str) -> RouteRule:
        return route_for(self.config, path)

    async def check_token(self, token: str, *, audience: str, cluster: str | None = None,
                          services: tuple[str, ...] = (), scopes: tuple[str, ...] = ()) -> Identity:
        result = await self._verify(token, audience)
        return decide(result, audience=audience, cluster=cluster, services=services, scopes=scopes)

    async def _verify(self, token: str, audience: str) -> Verification:
        try:
            return await self.verifier.verify(token, audiences=(audience,))
        except KeysUnavailable as exc:
            raise keys_unavailable(exc) from exc

    async def check_route(self, token: str, rule: RouteRule) -> Identity:
        result = await self._verify(token, rule.audience)
        if not (result.cached and result.valid):
            return decide(result, audience=rule.audience, cluster=rule.cluster,
                          services=rule.services, scopes=rule.scopes)
        memo = (id(result), rule)
        hit = self._decided.get(memo)
        if hit is not None and hit[0] is result:
            return hit[1]
        identity = decide(result, audience=rule.audience, cluster=rule.cluster,
                          services=rule.services, scopes=rule.scopes)  # a Refusal is not kept
        if len(self._decided) >= self.DECIDED_ENTRIES:
            self._decided.clear()
        self._decided[memo] = (result, identity)
        return identity

    async def check_request(self, headers: Iterable[tuple[bytes, bytes]], path: str,
                            query: bytes = b"") -> Identity:
        """Route, token, verification: the ``Identity`` or a ``Refusal``."""
        token = bearer_token(headers, query, max_header_bytes=self.config.max_header_bytes)
        return await self.check_route(token, self.route_for(path))
