"""Issuer metadata and keys for the client side: discovery, JWKS, verification of what we get.

``TrustStore`` fetches ``<issuer>/.well-known/openid-configuration`` (falling back to RFC 8414's
``oauth-authorization-server``), insists that the document names exactly the issuer asked for,
loads the JWKS it points to, keeps both for their ``Cache-Control: max-age`` (bounded), and
refetches the JWKS at most every ``min_refetch`` seconds when a token names a key it does not
know (rotation). Verification goes through ``jose.VerifiedTokenCache`` so a token seen again
costs a hash lookup.

The downgrade rule: when the issuer's metadata says it signs hybrid
(``microstax_hybrid_signing.required``) or its JWKS publishes a post-quantum key, a token
without a valid PQ part is rejected.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..jose import KeySet, KeyStoreError, Policy, VerifiedToken, VerifiedTokenCache, parse
from ..jose.exceptions import UnknownKey
from ..oauth.exceptions import DiscoveryError, ProtocolError
from ..oauth.tokens import parse_json_body, send

DEFAULT_TTL = 300.0
MAX_TTL = 3600.0
_MAX_AGE = re.compile(r"max-age=(\d+)")


def _ttl(response: httpx.Response, default: float = DEFAULT_TTL) -> float:
    match = _MAX_AGE.search(response.headers.get("cache-control", ""))
    if match is None:
        return default
    return min(float(match.group(1)), MAX_TTL)


@dataclass(frozen=True, slots=True)
class IssuerMetadata:
    issuer: str
    token_endpoint: str | None
    jwks_uri: str | None
    device_authorization_endpoint: str | None = None
    authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    catalog_endpoint: str | None = None
    hybrid_required: bool = False
    grant_types: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> IssuerMetadata:
        def url(name: str) -> str | None:
            value = doc.get(name)
            return value if isinstance(value, str) and value.startswith(("http://", "https://")) else None

        hybrid = doc.get("microstax_hybrid_signing")
        grants = doc.get("grant_types_supported")
        return cls(
            issuer=str(doc.get("issuer")),
            token_endpoint=url("token_endpoint"),
            jwks_uri=url("jwks_uri"),
            device_authorization_endpoint=url("device_authorization_endpoint"),
            authorization_endpoint=url("authorization_endpoint"),
            revocation_endpoint=url("revocation_endpoint"),
            catalog_endpoint=url("microstax_catalog_endpoint"),
            hybrid_required=isinstance(hybrid, dict) and hybrid.get("required") is True,
            grant_types=tuple(g for g in grants if isinstance(g, str)) if isinstance(grants, list) else (),
            raw=doc,
        )


@dataclass(slots=True)
class _Cached:
    value: Any
    until: float
    fetched: float


class TrustStore:
    """Discovery documents and key sets by issuer, shared by every call of one service."""

    def __init__(self, http: httpx.AsyncClient, *, timeout: float = 10.0, min_refetch: float = 30.0) -> None:
        self.http = http
        self.timeout = timeout
        self.min_refetch = min_refetch
        self._meta: dict[str, _Cached] = {}
        self._keys: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.cache = VerifiedTokenCache()

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def metadata(self, issuer: str, *, fresh: bool = False) -> IssuerMetadata:
        issuer = issuer.rstrip("/") if issuer.count("/") > 2 else issuer
        now = time.time()
        hit = self._meta.get(issuer)
        if hit is not None and not fresh and now < hit.until:
            return hit.value
        async with self._lock("meta:" + issuer):
            hit = self._meta.get(issuer)
            if hit is not None and not fresh and time.time() < hit.until:
                return hit.value
            meta, ttl = await self._discover(issuer)
            self._meta[issuer] = _Cached(meta, time.time() + ttl, time.time())
            return meta

    async def _discover(self, issuer: str) -> tuple[IssuerMetadata, float]:
        base = issuer.rstrip("/")
        candidates = [f"{base}/.well-known/openid-configuration"]
        parts = httpx.URL(base)
        path = parts.path.rstrip("/")
        origin = f"{parts.scheme}://{parts.netloc.decode('ascii')}"
        candidates.append(f"{origin}/.well-known/oauth-authorization-server{path}")
        last: Exception | None = None
        for url in candidates:
            response = await send(self.http, "GET", url, what="the discovery endpoint",
                                  timeout=self.timeout, headers={"Accept": "application/json"})
            if response.status_code == 404:
                last = DiscoveryError(f"no discovery document at {url} (404)", endpoint=url)
                continue
            if response.status_code != 200:
                raise DiscoveryError(f"the discovery endpoint {url} answered HTTP {response.status_code}",
                                     endpoint=url)
            try:
                doc = parse_json_body(response, "the discovery endpoint", url)
            except ProtocolError as exc:
                raise DiscoveryError(exc.message, endpoint=url) from exc
            if doc.get("issuer") not in (issuer, base, base + "/"):
                raise DiscoveryError(
                    f"the discovery document at {url} names another issuer; expected {issuer!r}",
                    endpoint=url, hint="check the issuer URL (it must match exactly, RFC 8414 §3.3)")
            return IssuerMetadata.from_document(doc), _ttl(response)
        assert last is not None
        raise last

    async def keys(self, issuer: str, *, jwks_uri: str | None = None, refetch: bool = False) -> KeySet:
        cache_key = jwks_uri or issuer
        now = time.time()
        hit = self._keys.get(cache_key)
        if hit is not None and now < hit.until and not (refetch and now - hit.fetched >= self.min_refetch):
            return hit.value
        async with self._lock("jwks:" + cache_key):
            hit = self._keys.get(cache_key)
            now = time.time()
            if hit is not None and now < hit.until and not (refetch and now - hit.fetched >= self.min_refetch):
                return hit.value
            uri = jwks_uri or (await self.metadata(issuer)).jwks_uri
            if not uri:
                raise DiscoveryError(f"the issuer {issuer} publishes no jwks_uri", endpoint=issuer)
            response = await send(self.http, "GET", uri, what="the JWKS endpoint", timeout=self.timeout,
                                  headers={"Accept": "application/json"})
            if response.status_code != 200:
                raise DiscoveryError(f"the JWKS endpoint {uri} answered HTTP {response.status_code}",
                                     endpoint=uri)
            try:
                doc = parse_json_body(response, "the JWKS endpoint", uri)
                keyset = KeySet.from_jwks(doc)
            except (ProtocolError, KeyStoreError) as exc:
                raise DiscoveryError(f"the JWKS at {uri} is not usable: "
                                     f"{getattr(exc, 'message', type(exc).__name__)}", endpoint=uri) from exc
            if not len(keyset):
                raise DiscoveryError(f"the JWKS at {uri} holds no signature key we can use", endpoint=uri)
            self._keys[cache_key] = _Cached(keyset, now + _ttl(response), now)
            return keyset

    async def verify(self, token: str, *, issuer: str, audience: str | None,
                     typ: tuple[str, ...] | None, jwks_uri: str | None = None,
                     require_pq: bool | None = None) -> VerifiedToken:
        """Verify ``token`` against ``issuer``'s keys; raises the ``JoseError`` that says why not."""
        if require_pq is None:
            try:
                meta = await self.metadata(issuer)
                require_pq = True if meta.hybrid_required else None
            except DiscoveryError:
                if jwks_uri is None:
                    raise
        policy = Policy(issuer=issuer, audience=audience, typ=typ, require_pq=require_pq)
        keys = await self.keys(issuer, jwks_uri=jwks_uri)
        try:
            return self.cache.verify(token, keys, policy)
        except UnknownKey:
            # A key we have not seen: maybe the issuer rotated. Refetch (rate limited) and retry.
            kid = parse(token).header.get("kid")
            fresh = await self.keys(issuer, jwks_uri=jwks_uri, refetch=True)
            if fresh is keys or (isinstance(kid, str) and not fresh.has_kid(kid)):
                raise
            return self.cache.verify(token, fresh, policy)
